"""The environment model: one validated, immutable Environment per stack.

The model and its loader are imported on first use, not with the package: the Environment is assembled from the
settings each component module declares (infra/components), and those modules import this package's leaves
(settings, formats, errors) themselves.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from infra.config.errors import CONFIG_KEY, PROJECT, InvalidEnvironment, Violation

if TYPE_CHECKING:
    from infra.config.loader import load_environment, load_stack_file, read_stack_file, stack_name
    from infra.config.model import Environment

_LAZY = {
    "Environment": "infra.config.model",
    "load_environment": "infra.config.loader",
    "load_stack_file": "infra.config.loader",
    "read_stack_file": "infra.config.loader",
    "stack_name": "infra.config.loader",
}

__all__ = [
    "CONFIG_KEY",
    "PROJECT",
    "Environment",
    "InvalidEnvironment",
    "Violation",
    "load_environment",
    "load_stack_file",
    "read_stack_file",
    "stack_name",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
