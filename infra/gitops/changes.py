"""What a change does in the cluster, object by object: the objects each Application (or the stack) adds, removes and
changes, with the fields that change, and first what reviewers look for: the container images that change, the
CustomResourceDefinitions that change (versions added, removed, no longer served; schemas), and RBAC that widens
(verbs, resources, API groups or subjects a Role, ClusterRole or binding did not grant before).

Objects are compared as the render writes them (Secrets masked): by the Application that applies them and their
identity. Texts that are equal are not parsed, so comparing two expansions costs what differs between them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.expand.output import masked
from infra.offline.validate import object_ref

Key = tuple[str, str]
"""(owner: the Application, or `stack`; the object's identity)."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})


@dataclass(frozen=True)
class ObjectChange:
    owner: str
    ref: str
    status: str
    """`added`, `removed` or `changed`."""
    fields: tuple[tuple[str, Any, Any], ...] = ()
    """(path, old, new) of every changed leaf of a changed object; a missing side is None."""
    text: str = ""
    """An added object, as YAML."""


@dataclass(frozen=True)
class ImageChange:
    owner: str
    ref: str
    container: str
    """Path of the container in the object."""
    before: str | None
    after: str | None


@dataclass(frozen=True)
class CrdChange:
    owner: str
    name: str
    what: tuple[str, ...]


@dataclass(frozen=True)
class RbacWidening:
    owner: str
    ref: str
    grants: tuple[str, ...]


@dataclass
class Highlights:
    images: list[ImageChange] = field(default_factory=list)
    crds: list[CrdChange] = field(default_factory=list)
    rbac: list[RbacWidening] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.images or self.crds or self.rbac)


# --- comparing objects -----------------------------------------------------------------------------------------


def changed_fields(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Leaf paths whose values differ, e.g. `spec.source.targetRevision`; lists of named items (containers, env,
    ports, volumes) are matched by name, `containers[manager].image`."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            yield from changed_fields(old.get(key), new.get(key), child)
    elif isinstance(old, list) and isinstance(new, list) and _named(old) and _named(new):
        before, after = {item["name"]: item for item in old}, {item["name"]: item for item in new}
        for name in [*before, *(n for n in after if n not in before)]:
            yield from changed_fields(before.get(name), after.get(name), f"{path}[{name}]")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from changed_fields(a, b, f"{path}[{index}]")
    elif old != new:
        yield path, old, new


def _named(items: list[Any]) -> bool:
    names = [item.get("name") for item in items if isinstance(item, Mapping)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def compare(
    old: Mapping[Key, Any], new: Mapping[Key, Any], load: Callable[[Any], Mapping[str, Any]] = lambda obj: obj
) -> Iterator[tuple[Key, Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """(key, old object, new object) of every key whose values differ; values are compared as they are (texts, or
    objects) and loaded only then."""
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and before == after:
            continue
        yield (
            key,
            masked(load(before)) if before is not None else None,
            masked(load(after)) if after is not None else None,
        )


def object_changes(
    pairs: Iterable[tuple[Key, Mapping[str, Any] | None, Mapping[str, Any] | None]], dump: Callable[[Any], str]
) -> list[ObjectChange]:
    changes = []
    for (owner, _), before, after in pairs:
        if before is None and after is not None:
            changes.append(ObjectChange(owner, object_ref(after), "added", text=dump(after)))
        elif after is None and before is not None:
            changes.append(ObjectChange(owner, object_ref(before), "removed"))
        elif before is not None and after is not None:
            fields = tuple(changed_fields(before, after))
            if fields:
                changes.append(ObjectChange(owner, object_ref(after), "changed", fields))
    return changes


def highlights(pairs: Iterable[tuple[Key, Mapping[str, Any] | None, Mapping[str, Any] | None]]) -> Highlights:
    found = Highlights()
    for (owner, _), before, after in pairs:
        ref = object_ref(after if after is not None else before or {})
        found.images += image_changes(owner, ref, before, after)
        crd = crd_change(owner, before, after)
        if crd is not None:
            found.crds.append(crd)
        widened = rbac_widening(before, after)
        if widened:
            found.rbac.append(RbacWidening(owner, ref, tuple(widened)))
    return found


# --- images ----------------------------------------------------------------------------------------------------


def images(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """Every container image of every pod spec inside an object (workloads, and custom resources that carry pod
    specs), by the container's path."""
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                if key in CONTAINER_LISTS and isinstance(value, list):
                    for index, item in enumerate(value):
                        if isinstance(item, Mapping) and isinstance(item.get("image"), str):
                            found[f"{child}[{item.get('name', index)}]"] = item["image"]
                walk(value, child)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(obj or {}, "")
    return found


def image_changes(
    owner: str, ref: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[ImageChange]:
    old, new = images(before), images(after)
    return [
        ImageChange(owner, ref, path, old.get(path), new.get(path))
        for path in [*old, *(p for p in new if p not in old)]
        if old.get(path) != new.get(path)
    ]


# --- CRDs ------------------------------------------------------------------------------------------------------


def _is_crd(obj: Mapping[str, Any] | None) -> bool:
    return bool(obj) and obj.get("kind") == "CustomResourceDefinition"  # type: ignore[union-attr]


def crd_change(owner: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> CrdChange | None:
    if not (_is_crd(before) or _is_crd(after)):
        return None
    name = str(((after or before or {}).get("metadata") or {}).get("name"))
    old, new = _versions(before), _versions(after)
    kind = str((((after or before or {}).get("spec") or {}).get("names") or {}).get("kind"))
    if before is None or not _is_crd(before):
        return CrdChange(owner, name, (f"added: {kind}, versions {_listing(new)}",))
    if after is None or not _is_crd(after):
        return CrdChange(owner, name, (f"removed: deleting a CRD deletes every {kind} of it (was {_listing(old)})",))
    what = [f"version {v} added" for v in new if v not in old]
    what += [f"version {v} removed: its {kind} objects must be migrated first" for v in old if v not in new]
    for version in (v for v in new if v in old):
        a, b = old[version], new[version]
        if a.get("served", True) and not b.get("served", True):
            what.append(f"version {version} no longer served")
        if bool(a.get("storage")) != bool(b.get("storage")):
            what.append(f"version {version} {'now' if b.get('storage') else 'no longer'} the storage version")
        schema = list(changed_fields((a.get("schema") or {}), (b.get("schema") or {})))
        if schema:
            added = sum(1 for _, x, _ in schema if x is None)
            removed = sum(1 for _, _, y in schema if y is None)
            what.append(
                f"schema of {version}: {len(schema)} fields changed ({added} added, {removed} removed)"
                + (f", e.g. {', '.join(_schema_path(p) for p, _, _ in schema[:3])}" if schema else "")
            )
    rest = [
        path
        for path, _, _ in changed_fields(before.get("spec") or {}, after.get("spec") or {})
        if not path.startswith("versions")
    ]
    if rest:
        what.append(f"spec changed at {', '.join(rest[:4])}" + (" ..." if len(rest) > 4 else ""))
    return CrdChange(owner, name, tuple(what)) if what else None


def _versions(obj: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if not _is_crd(obj):
        return {}
    return {
        str(v.get("name")): v for v in ((obj or {}).get("spec") or {}).get("versions") or () if isinstance(v, Mapping)
    }


def _listing(versions: Mapping[str, Mapping[str, Any]]) -> str:
    return ", ".join(f"{name}{' (storage)' if v.get('storage') else ''}" for name, v in versions.items()) or "none"


def _schema_path(path: str) -> str:
    """`openAPIV3Schema.properties.spec.properties.replicas.type` -> `spec.replicas (type)`."""
    parts = path.removeprefix("openAPIV3Schema.").split(".")
    fields = [parts[i + 1] for i, part in enumerate(parts[:-1]) if part == "properties"]
    tail = parts[-1] if parts and parts[-1] != "properties" else ""
    return ".".join(fields) + (f" ({tail})" if tail and (not fields or tail != fields[-1]) else "") or path


# --- RBAC ------------------------------------------------------------------------------------------------------


Grant = tuple[str, str, str, str]
"""(API group, resource, verb, resource name); a non-resource URL is (`url`, the URL, verb, "")."""


def grants(rules: Any) -> set[Grant]:
    found: set[Grant] = set()
    for rule in rules or ():
        if not isinstance(rule, Mapping):
            continue
        verbs = [str(v) for v in rule.get("verbs") or ()]
        for url in rule.get("nonResourceURLs") or ():
            found |= {("url", str(url), verb, "") for verb in verbs}
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                for verb in verbs:
                    for name in rule.get("resourceNames") or [""]:
                        found.add((str(group), str(resource), verb, str(name)))
    return found


def _covered(grant: Grant, before: set[Grant]) -> bool:
    group, resource, verb, name = grant
    if group == "url":
        return any(
            g == "url" and v in (verb, "*") and (u == resource or (u.endswith("*") and resource.startswith(u[:-1])))
            for g, u, v, _ in before
        )
    base = resource.split("/")[0]
    resources = {resource, "*", f"{base}/*"} if "/" in resource else {resource, "*"}
    return any(
        (g, r, v, n) in before
        for g in (group, "*")
        for r in resources
        for v in (verb, "*")
        for n in ({name, ""} if name else {""})
    )


def rbac_widening(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """What `after` grants that `before` did not (everything, for a new Role, ClusterRole or binding)."""
    kind = str((after or {}).get("kind"))
    if after is None or not str(after.get("apiVersion", "")).startswith("rbac.authorization.k8s.io/"):
        return []
    before = before or {}
    if kind in ROLE_KINDS:
        return _role_widening(before, after)
    if kind in BINDING_KINDS:
        return _binding_widening(before, after)
    return []


def _role_widening(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old = grants(before.get("rules"))
    new = [g for g in sorted(grants(after.get("rules"))) if not _covered(g, old)]
    verbs: dict[tuple[str, str, str], list[str]] = {}
    for group, resource, verb, name in new:
        verbs.setdefault((group, resource, name), []).append(verb)
    # One line per set of verbs newly granted on a group's resources: `delete on configmaps, pods`.
    targets: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for (group, resource, name), granted in verbs.items():
        shown = resource if group in ("", "url") else f"{group}/{resource}"
        targets.setdefault((group, tuple(granted), name), []).append(shown)
    lines = [
        f"{', '.join(granted)} on {', '.join(resources)}" + (f" named {name}" if name else "")
        for (_, granted, name), resources in targets.items()
    ]
    selectors = ((after.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
    old_selectors = ((before.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
    lines += [f"aggregates every ClusterRole matching {s}" for s in selectors if s not in old_selectors]
    labels = set(((after.get("metadata") or {}).get("labels") or {}).items())
    old_labels = set(((before.get("metadata") or {}).get("labels") or {}).items())
    into = sorted(k.removeprefix(AGGREGATE_LABEL) for k, v in labels if k.startswith(AGGREGATE_LABEL) and v == "true")
    newly = sorted(k.removeprefix(AGGREGATE_LABEL) for k, v in labels - old_labels if k.startswith(AGGREGATE_LABEL))
    if newly:
        lines.append(f"now aggregated into the ClusterRoles {', '.join(newly)}: everything it grants goes there too")
    elif lines and into:
        lines = [f"{line} (aggregated into {', '.join(into)})" for line in lines]
    return lines


def _binding_widening(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    role = after.get("roleRef") or {}
    granted = f"{role.get('kind')} {role.get('name')}"
    old_role = before.get("roleRef") or {}
    lines = []
    if before and old_role and old_role != role:
        lines.append(f"now grants {granted} (was {old_role.get('kind')} {old_role.get('name')})")
    old = {_subject(s) for s in (before.get("subjects") or ()) if isinstance(s, Mapping)}
    if lines:
        old = set()  # a new role for everyone bound
    new = [_subject(s) for s in (after.get("subjects") or ()) if isinstance(s, Mapping)]
    lines += [f"grants {granted} to {subject}" for subject in new if subject not in old]
    return lines


def _subject(subject: Mapping[str, Any]) -> str:
    namespace = subject.get("namespace")
    return f"{subject.get('kind')} {namespace + '/' if namespace else ''}{subject.get('name')}"


# --- long texts ------------------------------------------------------------------------------------------------


def text_diff(old: str, new: str, limit: int) -> list[str]:
    """A unified diff of two multi-line texts (a ConfigMap's file), at most `limit` lines."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:]
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])
