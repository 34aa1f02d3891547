"""The whole platform of one environment as the checks see it: the stack's own objects and everything its
Applications and Helm releases apply, each with its owner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from infra.config import Environment
from infra.expand.expansion import Expansion
from infra.expand.scope import is_crd
from infra.expand.sources import Deployer
from infra.offline.render import Rendered
from infra.offline.validate import object_ref

STACK = "stack"
"""The owner of the objects the Pulumi stack creates itself."""


@dataclass(frozen=True)
class PlatformObject:
    owner: str
    """`stack`, or the Application (or Pulumi Helm release) that applies the object."""
    object: Mapping[str, Any]
    origin: str
    """The stack's manifest path, the chart template, or the kustomize path it came from."""

    @property
    def ref(self) -> str:
        return f"{self.owner}: {object_ref(self.object)}"

    @property
    def kind(self) -> str:
        return str(self.object.get("kind"))

    @property
    def namespace(self) -> str:
        return str((self.object.get("metadata") or {}).get("namespace") or "")

    @property
    def name(self) -> str:
        return str((self.object.get("metadata") or {}).get("name") or "")


@dataclass(frozen=True)
class Platform:
    rendered: Rendered
    expansion: Expansion

    @property
    def stack(self) -> str:
        return self.rendered.stack

    @property
    def env(self) -> Environment:
        return self.rendered.env

    @cached_property
    def objects(self) -> tuple[PlatformObject, ...]:
        own = [PlatformObject(STACK, m.object, f"manifests/{m.path}") for m in self.rendered.manifests]
        applied = [PlatformObject(e.deployer, e.object, e.origin) for e in self.expansion.all_objects()]
        return (*own, *applied)

    @property
    def deployers(self) -> list[Deployer]:
        return self.expansion.deployers

    def owned_by(self, owner: str) -> Iterator[PlatformObject]:
        return (o for o in self.objects if o.owner == owner)

    @cached_property
    def crds(self) -> tuple[PlatformObject, ...]:
        """Every CustomResourceDefinition the platform installs (the stack's, and its Applications' and releases'),
        and those of the components the cluster already runs (owned `existing:<component> <version>`)."""
        existing = [
            PlatformObject(owner, crd, "chart in the chart cache")
            for owner, crds in sorted(self.expansion.existing.crds.items())
            for crd in crds
        ]
        return (*(o for o in self.objects if is_crd(o.object)), *existing)
