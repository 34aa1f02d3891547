"""Argo CD sync waves derived from declared dependencies, and the offline check that they hold.

Applications of components at dependency depth d sync in wave 10*d; the custom resources a component
declares sync in wave 10*d + 5 of the deepest component they need (their own and their CRD's installer),
so they come after the CRDs they use and before the next depth's Applications.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infra.platform import labels

APP_STEP = 10
RESOURCE_OFFSET = 5


class DependencyCycle(Exception):
    pass


def application_waves(depends_on: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Wave of each component; dependencies on components that are not present are ignored."""
    depth: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            raise DependencyCycle(" -> ".join((*trail, name)))
        if name not in depth:
            present = [dep for dep in depends_on[name] if dep in depends_on]
            depth[name] = 1 + max((visit(dep, (*trail, name)) for dep in present), default=-1)
        return depth[name]

    for name in depends_on:
        visit(name, ())
    return {name: APP_STEP * (level + 1) for name, level in depth.items()}


def resource_wave(*application_waves_needed: int) -> int:
    return max(application_waves_needed) + RESOURCE_OFFSET


def crd_key(api_version: str, kind: str) -> tuple[str, str]:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group, f"{group}/{kind}"


def owner_of(api_version: str, kind: str, crd_owners: Mapping[str, str]) -> str | None:
    group, group_kind = crd_key(api_version, kind)
    return crd_owners.get(group_kind) or crd_owners.get(group)


def ordering_problems(objects: Iterable[Mapping[str, Any]], bootstrap_groups: Iterable[str]) -> list[str]:
    """Check rendered objects: every custom resource syncs after the Application that installs its CRD,
    and every Application after the Applications of the components it depends on. Reads only manifests."""
    objects = list(objects)
    apps = [
        obj
        for obj in objects
        if obj.get("kind") == "Application" and labels.COMPONENT in obj["metadata"].get("labels", {})
    ]
    last_wave: dict[str, int] = {}
    owners: dict[str, Mapping[str, Any]] = {}
    for app in apps:
        component = app["metadata"]["labels"][labels.COMPONENT]
        last_wave[component] = max(last_wave.get(component, _wave(app)), _wave(app))
        provided = app["metadata"].get("annotations", {}).get(labels.PROVIDES_CRDS, "")
        owners.update({entry: app for entry in provided.split(",") if entry})
    bootstrap = set(bootstrap_groups)
    problems: list[str] = []
    for app in apps:
        name, wave = app["metadata"]["name"], _wave(app)
        needs = app["metadata"].get("annotations", {}).get(labels.DEPENDS_ON, "")
        for dep in filter(None, needs.split(",")):
            if dep in last_wave and last_wave[dep] >= wave:
                problems.append(f"Application {name} (wave {wave}) syncs no later than its dependency {dep}")
    for obj in objects:
        group, group_kind = crd_key(obj.get("apiVersion", ""), obj.get("kind", ""))
        if "." not in group or group.endswith(".k8s.io") or group in bootstrap or group_kind in bootstrap:
            continue
        owner = owners.get(group_kind) or owners.get(group)
        ref = f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        if owner is None:
            problems.append(f"{ref}: no Application installs the CRD for {group_kind}")
        elif _wave(obj) <= _wave(owner):
            problems.append(
                f"{ref} (wave {_wave(obj)}) syncs no later than {owner['metadata']['name']} "
                f"(wave {_wave(owner)}), which installs its CRD"
            )
    return problems


def _wave(obj: Mapping[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get(labels.SYNC_WAVE, "0"))
