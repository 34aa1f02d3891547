"""An image reference as a container runtime reads it: `[registry/]repository[:tag][@digest]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
# Tags that move: a pod pulling one runs whatever was pushed last (policies/crossguard/common.py has the same set).
FLOATING_TAGS = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "dev"})
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


@dataclass(frozen=True, order=True)
class Reference:
    """A parsed image reference, as the container runtime resolves it."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, text: str) -> Reference | None:
        """The reference `text` names, or None when it is not one (a word, a URL, a template)."""
        match = _REFERENCE.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            return None
        name = match.group("name")
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = DEFAULT_REGISTRY, name
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = f"library/{path}"
        return cls(registry, path, match.group("tag") or "", match.group("digest") or "")

    @property
    def name(self) -> str:
        """Registry and repository: the image without its version."""
        return f"{self.registry}/{self.repository}"

    @property
    def version(self) -> str:
        """`:tag`, `@digest` or both, as written after the name."""
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self.version

    @property
    def pinned(self) -> bool:
        return bool(self.digest) or (bool(self.tag) and self.tag.lower() not in FLOATING_TAGS)
