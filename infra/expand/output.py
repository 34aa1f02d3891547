"""The expansion as files: `expanded/<application>/<kind>-<namespace>-<name>.yaml`, one object each, keys sorted,
Secrets masked (as the stack's own manifests are)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.expand.expansion import ExpandedObject, Expansion
from infra.offline.serialize import MASK, dump_yaml

CLUSTER_FOLDER = "_cluster"
SECRET_FIELDS = ("data", "stringData")


def object_file(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or CLUSTER_FOLDER
    return f"{str(obj.get('kind')).lower()}-{namespace}-{metadata.get('name')}.yaml"


def masked(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    hidden = {
        key: {name: MASK for name in value} if isinstance(value, Mapping) else MASK
        for key, value in obj.items()
        if key in SECRET_FIELDS
    }
    return {**obj, **hidden}


def expanded_files(expansion: Expansion) -> list[tuple[str, str]]:
    files = []
    for name in sorted(expansion.objects):
        for expanded in expansion.objects[name]:
            files.append((f"expanded/{name}/{object_file(expanded.object)}", _text(expanded)))
    return sorted(files)


def expanded_objects(expansion: Expansion) -> list[tuple[str, Mapping[str, Any]]]:
    """The files of `expanded_files` as (path, the object its YAML text is made of), for a writer process that
    makes the text: the same object for an object environments share, so it crosses to the writer once."""
    files = []
    for name in sorted(expansion.objects):
        for expanded in expansion.objects[name]:
            files.append((f"expanded/{name}/{object_file(expanded.object)}", _shown(expanded)))
    return sorted(files, key=lambda file: file[0])


_shown_objects: dict[int, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}


def _shown(expanded: ExpandedObject) -> Mapping[str, Any]:
    key = id(expanded.object)
    if key not in _shown_objects:
        _shown_objects[key] = (expanded.object, masked(expanded.object))  # the object is kept: ids stay unique
    return _shown_objects[key][1]


_texts: dict[int, tuple[Mapping[str, Any], str]] = {}


def _text(expanded: ExpandedObject) -> str:
    """An object's file text, written once per object: environments that share a rendered source share its objects."""
    key = id(expanded.object)
    if key not in _texts:
        _texts[key] = (expanded.object, dump_yaml(masked(expanded.object)))  # the object is kept: ids stay unique
    return _texts[key][1]


def inventory_section(expansion: Expansion) -> dict[str, Any]:
    """What the inventory says of the expansion: each Application's (and Helm release's) object count."""
    kinds = {d.name: d.kind for d in expansion.deployers}
    return {
        "objects": sum(expansion.counts().values()),
        "applications": {name: {"kind": kinds[name], "objects": count} for name, count in expansion.counts().items()},
    }


def expansion_summary(expansion: Expansion) -> str:
    counts = expansion.counts()
    releases = sum(d.kind == "Release" for d in expansion.deployers)
    kinds: dict[str, int] = {}
    for expanded in expansion.all_objects():
        kinds[str(expanded.object.get("kind"))] = kinds.get(str(expanded.object.get("kind")), 0) + 1
    top = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[:8]
    lines = [
        f"  expanded: {sum(counts.values())} objects from {len(counts) - releases} Applications and {releases} "
        f"Helm releases (most: {', '.join(f'{kind} {n}' for kind, n in top)})"
    ]
    lines += [f"  - [expand/{p.severity}] {p.deployer}: {p.subject}: {p.message}" for p in expansion.problems]
    return "\n".join(lines)
