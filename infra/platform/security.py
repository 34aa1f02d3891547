"""Container security contexts, written once: what the `restricted` Pod Security level (and checkov) ask for."""

from __future__ import annotations

from typing import Any


def restricted_container(
    *, read_only_root: bool = True, non_root: bool = True, run_as_user: int | None = None
) -> dict[str, Any]:
    """No privilege escalation, no capabilities, the runtime's seccomp profile; a read-only root filesystem
    unless the program writes to it, and a non-root user unless the image itself picks one (chart values)."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if read_only_root:
        context["readOnlyRootFilesystem"] = True
    if non_root:
        context["runAsNonRoot"] = True
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
    return context


RUNTIME_DEFAULT = {"type": "RuntimeDefault"}


def restricted_pod(*, non_root: bool = True) -> dict[str, Any]:
    """A pod's securityContext: the runtime's seccomp profile for every container, and no root user unless the
    image needs one (a database's entrypoint that drops to its own user, a node agent)."""
    context: dict[str, Any] = {"seccompProfile": dict(RUNTIME_DEFAULT)}
    if non_root:
        context["runAsNonRoot"] = True
    return context
