"""Compute Engine machine types and what a GKE node of each can allocate to pods.

Shapes (vCPUs, memory, bundled GPUs) are Compute Engine's, as its machine family pages list them
(https://cloud.google.com/compute/docs/general-purpose-machines, .../accelerator-optimized-machines); Compute Engine
writes memory in GB meaning 2^30 bytes, as Kubernetes' Gi. Accelerator-optimized types are listed one by one (their
GPUs come with the shape); general-purpose ones follow their family's memory per vCPU, and custom types
(`n2-custom-4-16384`) say their shape in the name.

What a node can allocate is the machine less what GKE reserves for the kubelet, the container runtime and the
operating system, and the memory eviction threshold, as "About GKE node sizing" documents them
(https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes, "Memory and CPU reservations"):
CPU: 6% of the first core, 1% of the next, 0.5% of the next 2, 0.25% of every core above 4; memory: 255 MiB on
machines under 1 GiB, else 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112 and 2%
above 128 GiB; plus 100 MiB for eviction. The page's own example (an e2-standard-4 with 3920m allocatable CPU)
agrees on CPU; for memory the kernel keeps a little of the machine before the kubelet counts it (the example node
reports some 0.4 GiB less than this), which is within what the check can promise.
Local ephemeral storage is not modelled on GKE (its reservation depends on the boot disk and image): requests for it
are reported, not held against the disks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

GIB = Decimal(2**30)
MIB = Decimal(2**20)
SOURCE = "infra/expand/machines.py"


@dataclass(frozen=True)
class Machine:
    vcpus: int
    memory_gib: Decimal
    gpus: int = 0


# Accelerator-optimized machine types: GPUs attached with the shape.
ACCELERATOR_MACHINES: dict[str, Machine] = {
    "g2-standard-4": Machine(4, Decimal(16), 1),
    "g2-standard-8": Machine(8, Decimal(32), 1),
    "g2-standard-12": Machine(12, Decimal(48), 1),
    "g2-standard-16": Machine(16, Decimal(64), 1),
    "g2-standard-24": Machine(24, Decimal(96), 2),
    "g2-standard-32": Machine(32, Decimal(128), 1),
    "g2-standard-48": Machine(48, Decimal(192), 4),
    "a2-highgpu-1g": Machine(12, Decimal(85), 1),
    "a2-highgpu-2g": Machine(24, Decimal(170), 2),
    "a2-highgpu-4g": Machine(48, Decimal(340), 4),
    "a2-highgpu-8g": Machine(96, Decimal(680), 8),
}
# General-purpose families: memory (GiB) per vCPU of each shape, and the vCPU counts the family offers.
FAMILY_MEMORY_PER_VCPU: dict[tuple[str, str], Decimal] = {
    ("e2", "standard"): Decimal(4),
    ("e2", "highmem"): Decimal(8),
    ("e2", "highcpu"): Decimal(1),
    ("n2", "standard"): Decimal(4),
    ("n2", "highmem"): Decimal(8),
    ("n2", "highcpu"): Decimal(1),
    ("n2d", "standard"): Decimal(4),
    ("n2d", "highmem"): Decimal(8),
    ("n2d", "highcpu"): Decimal(1),
    ("n1", "standard"): Decimal("3.75"),
    ("n1", "highmem"): Decimal("6.5"),
    ("n1", "highcpu"): Decimal("0.9"),
}
FAMILY_VCPUS: dict[str, frozenset[int]] = {
    "e2": frozenset({2, 4, 8, 16, 32}),
    "n2": frozenset({2, 4, 8, 16, 32, 48, 64, 80, 96, 128}),
    "n2d": frozenset({2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224}),
    "n1": frozenset({1, 2, 4, 8, 16, 32, 64, 96}),
}
_PREDEFINED = re.compile(r"^([a-z0-9]+)-(standard|highmem|highcpu)-(\d+)$")
_CUSTOM = re.compile(r"^(?:([a-z0-9]+)-)?custom-(\d+)-(\d+)(?:-ext)?$")


def machine(name: str) -> Machine | None:
    """The shape of a machine type; None when this table does not know it."""
    if name in ACCELERATOR_MACHINES:
        return ACCELERATOR_MACHINES[name]
    predefined = _PREDEFINED.match(name)
    if predefined is not None:
        family, shape, vcpus = predefined.group(1), predefined.group(2), int(predefined.group(3))
        per_vcpu = FAMILY_MEMORY_PER_VCPU.get((family, shape))
        if per_vcpu is None or vcpus not in FAMILY_VCPUS.get(family, frozenset()):
            return None
        return Machine(vcpus, per_vcpu * vcpus)
    custom = _CUSTOM.match(name)
    if custom is not None:
        return Machine(int(custom.group(2)), Decimal(int(custom.group(3))) / 1024)
    return None


def _tiered(total: Decimal, tiers: tuple[tuple[Decimal, Decimal], ...], rest: Decimal) -> Decimal:
    """`rest` of what is above the last tier, each tier's rate of the part of `total` inside it."""
    reserved, start = Decimal(0), Decimal(0)
    for end, rate in tiers:
        reserved += max(Decimal(0), min(total, end) - start) * rate
        start = end
    return reserved + max(Decimal(0), total - start) * rest


CPU_TIERS = ((Decimal(1), Decimal("0.06")), (Decimal(2), Decimal("0.01")), (Decimal(4), Decimal("0.005")))
CPU_ABOVE = Decimal("0.0025")
MEMORY_TIERS = (
    (Decimal(4), Decimal("0.25")),
    (Decimal(8), Decimal("0.20")),
    (Decimal(16), Decimal("0.10")),
    (Decimal(128), Decimal("0.06")),
)
MEMORY_ABOVE = Decimal("0.02")
EVICTION_MEMORY = 100 * MIB


def gke_allocatable_cpu(vcpus: int) -> Decimal:
    """Cores a GKE node of `vcpus` can allocate to pods."""
    return Decimal(vcpus) - _tiered(Decimal(vcpus), CPU_TIERS, CPU_ABOVE)


def gke_allocatable_memory(memory_gib: Decimal) -> Decimal:
    """Bytes a GKE node of `memory_gib` can allocate to pods."""
    if memory_gib < 1:
        reserved = 255 * MIB
    else:
        reserved = _tiered(memory_gib, MEMORY_TIERS, MEMORY_ABOVE) * GIB
    return (memory_gib * GIB - reserved - EVICTION_MEMORY).to_integral_value(rounding=ROUND_FLOOR)
