"""The one catalog of upstream sources (Helm charts, and kustomize paths in git) and their default pins.

Each entry is declared where it is installed: a component's `sources` (infra/components/<name>.py) or the cluster
layer's CNI (infra/cluster/cni.py); this module gathers them, the bootstrap first, then the cluster layer, then the
components in their registration order (infra/components/__init__.py). Versions come from ../shared/components.md
(collected 2026-08-22). An environment may pin its own version of any entry under `versions:` in its stack file;
`effective_version` is the only place that decides which wins.

The catalog is gathered on first use, not on import: the component modules that declare the entries import the
platform helpers, which read the catalog (as `catalog.CATALOG`) only when they run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from infra.sources import Chart

if TYPE_CHECKING:
    CATALOG: Mapping[str, Chart]

__all__ = ["CATALOG", "effective_version", "gathered", "merged"]


@cache
def gathered() -> Mapping[str, Chart]:
    """Every entry by key, from the registered components and the cluster layer (gathered once)."""
    from infra.cluster.cni import SOURCES as CLUSTER_SOURCES
    from infra.components import BOOTSTRAP, COMPONENTS, ONPREM_SERVICES

    declared = [(BOOTSTRAP.__module__, BOOTSTRAP.sources), ("infra.cluster.cni", CLUSTER_SOURCES)]
    declared += [(component.__module__, component.sources) for component in (*COMPONENTS, *ONPREM_SERVICES)]
    return merged(declared)


def merged(declared: Iterable[tuple[str, Mapping[str, Chart]]]) -> dict[str, Chart]:
    """The entries of each declaring module, in order; a key two modules declare is a registration mistake."""
    catalog: dict[str, Chart] = {}
    owner: dict[str, str] = {}
    for module, sources in declared:
        for key, chart in sources.items():
            if key in catalog:
                raise ValueError(f"catalog entry {key!r} is declared twice: in {owner[key]} and in {module}")
            catalog[key], owner[key] = chart, module
    return catalog


def __getattr__(name: str) -> Any:
    if name == "CATALOG":
        return gathered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def effective_version(component: str, pins: Mapping[str, str]) -> str:
    """The chart version an environment deploys: its own pin, else the catalog default."""
    return pins.get(component, gathered()[component].version)
