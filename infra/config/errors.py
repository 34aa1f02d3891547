"""Violations of the environment model, each named by its config path as the adopter wrote it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROJECT = "mlops-platform"
CONFIG_KEY = f"{PROJECT}:platform"

PathPart = str | int


def config_path(parts: Sequence[PathPart]) -> str:
    """`("gke", "nodePools", 0, "name")` -> `mlops-platform:platform.gke.nodePools[0].name`."""
    text = CONFIG_KEY
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def at(*parts: PathPart) -> str:
    return config_path(parts)


class InvalidEnvironment(Exception):
    """Raised with every violation found, so an adopter fixes a stack file in one round."""

    def __init__(self, source: str, violations: Iterable[Violation]) -> None:
        self.source = source
        self.violations = tuple(sorted(set(violations)))
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.violations)
        lines = [f"{self.source}: invalid environment ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  - {violation}" for violation in self.violations]
        return "\n".join(lines)
