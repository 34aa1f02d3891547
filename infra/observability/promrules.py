"""Small builders for Prometheus alerting and recording rules, so every rule carries the same labels and an
explanation a person on call can act on."""

from __future__ import annotations

from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
Rule = dict[str, Any]
Group = dict[str, Any]


def alert(
    name: str,
    expr: str,
    *,
    component: str,
    summary: str,
    description: str,
    severity: Severity = "warning",
    for_: str = "10m",
) -> Rule:
    """An alerting rule; `component` becomes a label so Alertmanager routes can match it."""
    return {
        "alert": name,
        "expr": _one_line(expr),
        "for": for_,
        "labels": {"severity": severity, "component": component},
        "annotations": {"summary": summary, "description": description},
    }


def record(name: str, expr: str) -> Rule:
    return {"record": name, "expr": _one_line(expr)}


def group(name: str, rules: list[Rule], interval: str | None = None) -> Group:
    result: Group = {"name": name, "rules": rules}
    if interval is not None:
        result["interval"] = interval
    return result


def _one_line(expr: str) -> str:
    """Expressions are written over several lines here for reading; stored on one line for stable diffs."""
    return " ".join(expr.split())
