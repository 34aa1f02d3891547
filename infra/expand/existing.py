"""The CRDs of the components the cluster already runs (components.*.existing), as the checks need them: read from
the component's chart at the declared version in the chart cache, exactly as the platform's own are read.

Where that version is not in the cache, nothing is assumed: the API groups are recorded as unvalidated, and the
`crd` stage reports each kind of them the platform uses (an error, or an advisory when the environment gives a
reason in `existing.acceptUnvalidated`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.catalog import CATALOG
from infra.config import Environment
from infra.config.model import ExistingComponent
from infra.expand.caches import SourceMissing
from infra.expand.scope import is_crd
from infra.expand.sources import Source, canonical
from infra.platform.existing import existing_components

# Per component: the catalog entry of the chart that carries its CRDs, and the values that make it render them.
CRD_CHARTS: dict[str, tuple[str, dict[str, Any]]] = {
    "istio": ("istio-base", {}),
    "cert-manager": ("cert-manager", {"crds": {"enabled": True}}),
    "kube-prometheus-stack": ("kube-prometheus-stack", {"crds": {"enabled": True}}),
    # The hub's Argo CD (argocd.mode hub), whose CRDs judge the Applications the stack writes there.
    "argo-cd": ("argo-cd", {}),
}
OWNER_PREFIX = "existing:"
"""PlatformObject owner of an existing component's CRDs: `existing:<component> <version>`."""


class CrdsUnreadable(Exception):
    """The chart of an existing component is in the cache but does not render."""


@dataclass(frozen=True)
class Unvalidated:
    """An existing component whose CRDs could not be read: its API groups, and why."""

    component: str
    version: str
    groups: tuple[str, ...]
    reason: str
    """Why the CRDs could not be read (the chart missing from the cache)."""
    accepted: str | None
    """The environment's reason to accept it (existing.acceptUnvalidated), if any."""


@dataclass
class ExistingCrds:
    crds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """By owner (`existing:<component> <version>`)."""
    unvalidated: list[Unvalidated] = field(default_factory=list)

    def all(self) -> list[dict[str, Any]]:
        return [crd for crds in self.crds.values() for crd in crds]


def existing_sources(env: Environment) -> dict[str, tuple[ExistingComponent, Source, str]]:
    """Per existing component: its setting, the chart source of its CRDs at the declared version, its namespace."""
    found = {}
    installed: dict[str, ExistingComponent] = dict(existing_components(env))
    if env.argocd.mode == "hub" and env.argocd.hub is not None:
        installed["argo-cd"] = ExistingComponent(version=env.argocd.hub.version)
    for component, existing in installed.items():
        key, values = CRD_CHARTS[component]
        chart = CATALOG[key]
        source = Source(
            "chart",
            chart.repo_url,
            existing.version,
            chart=chart.chart,
            values_json=canonical(values),
            release=key,
        )
        found[component] = (existing, source, chart.namespace)
    return found


def provided_groups(component: str) -> tuple[str, ...]:
    from infra.components import BOOTSTRAP, COMPONENTS

    spec = next(c.spec for c in (BOOTSTRAP, *COMPONENTS) if c.spec.name == component)
    return tuple(sorted({entry.split("/")[0] for entry in spec.provides_crds}))


def owner_name(component: str, version: str) -> str:
    return f"{OWNER_PREFIX}{component} {version}"


def crds_of(existing: Mapping[str, tuple[ExistingComponent, Source, str]], read: Any) -> ExistingCrds:
    """`read(source, namespace)` gives the objects a chart source renders (SourceMissing without its archive)."""
    result = ExistingCrds()
    for component, (setting, source, namespace) in sorted(existing.items()):
        try:
            objects = read(source, namespace)
        except (SourceMissing, CrdsUnreadable) as missing:
            result.unvalidated.append(
                Unvalidated(
                    component, setting.version, provided_groups(component), str(missing), setting.accept_unvalidated
                )
            )
            continue
        result.crds[owner_name(component, setting.version)] = [obj for obj in objects if is_crd(obj)]
    return result
