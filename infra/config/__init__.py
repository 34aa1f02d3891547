"""The environment model: one validated, immutable Environment per stack."""

from infra.config.errors import CONFIG_KEY, PROJECT, InvalidEnvironment, Violation
from infra.config.loader import load_environment, load_stack_file, read_stack_file, stack_name
from infra.config.model import Environment

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
