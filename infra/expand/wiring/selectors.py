"""Label selectors as the API server evaluates them (`metav1.LabelSelector`, and a Service's plain map)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class InvalidSelector(ValueError):
    """A selector the API server would refuse; the message starts with the field path inside the selector."""


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector selects an object with `labels`. An empty selector selects everything; `None`
    (no selector at all) is the caller's to interpret, and here selects everything too."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    return all(_requirement_holds(index, expression, labels) for index, expression in _expressions(selector))


def selects_map(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Service's `spec.selector`: a plain map, every pair must hold. Empty or absent selects no pod (the
    Service's endpoints are then written by someone else)."""
    if not selector:
        return False
    return all(labels.get(str(key)) == str(value) for key, value in selector.items())


def validate(selector: Mapping[str, Any] | None) -> None:
    """Raise InvalidSelector for what the API server would refuse (an unknown operator, values where none
    belong, none where some must be)."""
    if selector is None:
        return
    if not isinstance(selector, Mapping):
        raise InvalidSelector(f": a label selector is a mapping, not {type(selector).__name__}")
    for index, expression in _expressions(selector):
        _requirement_holds(index, expression, {})


def describe(selector: Mapping[str, Any] | None) -> str:
    """`a=b, c in (d, e)` for messages; `everything` for an empty selector."""
    if not selector:
        return "everything"
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for _, expression in _expressions(selector):
        key, operator = expression.get("key"), expression.get("operator")
        values = ", ".join(str(v) for v in expression.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}"}.get(
                str(operator), f"!{key}"
            )
        )
    return ", ".join(parts)


def _expressions(selector: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise InvalidSelector(".matchExpressions: a list of requirements")
    return list(enumerate(expressions))


def _requirement_holds(index: int, expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    where = f".matchExpressions[{index}]"
    if not isinstance(expression, Mapping) or not expression.get("key"):
        raise InvalidSelector(f"{where}.key: every requirement names a label key")
    key, operator, values = str(expression["key"]), expression.get("operator"), expression.get("values") or []
    if operator not in OPERATORS:
        raise InvalidSelector(f"{where}.operator: {operator!r} is none of {', '.join(OPERATORS)}")
    if operator in ("In", "NotIn") and not values:
        raise InvalidSelector(f"{where}.values: {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise InvalidSelector(f"{where}.values: {operator} takes no values")
    present = key in labels
    if operator == "In":
        return present and labels[key] in {str(v) for v in values}
    if operator == "NotIn":
        return not present or labels[key] not in {str(v) for v in values}
    return present if operator == "Exists" else not present
