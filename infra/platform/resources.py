"""Container resource requests and limits, written the same way for every chart's values."""

from __future__ import annotations


def resources(cpu: str, memory: str, cpu_limit: str | None = None, memory_limit: str | None = None) -> dict:
    """Requests as given; limits default to twice the CPU request and the memory request (memory is not
    compressible, so a pod that needs more should be resized, not throttled into OOM kills elsewhere)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit or _double_cpu(cpu), "memory": memory_limit or memory},
    }


def _double_cpu(cpu: str) -> str:
    if cpu.endswith("m"):
        return f"{int(cpu[:-1]) * 2}m"
    return str(float(cpu) * 2).removesuffix(".0")
