"""The Application's kustomize patches of a git source: each must match an object the path builds.

kustomize applies a patch to every object its target selects (kind, name, namespace, group, version as
anchored regular expressions; label and annotation selectors) and silently ignores a patch that selects nothing.
Targets are compared with the objects the path builds with the patches applied: patches change no identities
here (a patch that deletes its object is not compared; it is reported as one this check cannot judge). A
top-level `namePrefix`/`nameSuffix` is applied after the patches, so it is taken off the built names first, and so
is the content hash kustomize appends to generated ConfigMaps and Secrets last (a patch names them without it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from infra.expand.scope import group_of

# kustomize's name hash: 10 characters of hex, with 0 1 3 a e written g h k m t.
_GENERATED_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")
GENERATED_KINDS = frozenset({"ConfigMap", "Secret"})
TARGET_FIELDS = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")
_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<absent>!)\s*(?P<key1>[^\s!=,()]+)"
    r"|(?P<key2>[^\s!=,()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<set_op>in|notin)\s*\((?P<set>[^)]*)\))?)\s*$"
)


class SelectorInvalid(ValueError):
    pass


def patch_target(patch: Mapping[str, Any]) -> dict[str, str] | None:
    """The patch's `target`, or for a strategic merge patch without one the object its body names."""
    target = patch.get("target")
    if isinstance(target, Mapping):
        return {key: str(value) for key, value in target.items() if key in TARGET_FIELDS and value is not None}
    body = _body(patch)
    if not isinstance(body, Mapping) or not body.get("kind"):
        return None
    metadata = body.get("metadata") or {}
    api_version = str(body.get("apiVersion") or "")
    found = {"kind": str(body["kind"]), "name": str(metadata.get("name") or "")}
    if metadata.get("namespace"):
        found["namespace"] = str(metadata["namespace"])
    if api_version:
        found["group"] = group_of(api_version)
        found["version"] = api_version.rsplit("/", 1)[-1]
    return found


def deletes(patch: Mapping[str, Any]) -> bool:
    body = _body(patch)
    return isinstance(body, Mapping) and body.get("$patch") == "delete"


def _body(patch: Mapping[str, Any]) -> Any:
    text = patch.get("patch")
    if not isinstance(text, str):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def describe(target: Mapping[str, str]) -> str:
    return ", ".join(f"{key} {target[key]}" for key in TARGET_FIELDS if key in target) or "(empty target)"


def matches(target: Mapping[str, str], obj: Mapping[str, Any], affixes: tuple[str, str] = ("", "")) -> bool:
    metadata = obj.get("metadata") or {}
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    names = {_name_before_build(str(metadata.get("name") or ""), kind, affixes, hashed) for hashed in (False, True)}
    actual = {
        "group": group_of(api_version),
        "version": api_version.rsplit("/", 1)[-1],
        "kind": kind,
        "namespace": str(metadata.get("namespace") or ""),
    }
    for key, pattern in target.items():
        if key in actual and not _full_match(pattern, actual[key]):
            return False
    if "name" in target and not any(_full_match(target["name"], candidate) for candidate in names):
        return False
    if "labelSelector" in target and not selector_matches(target["labelSelector"], metadata.get("labels") or {}):
        return False
    annotations = metadata.get("annotations") or {}
    return "annotationSelector" not in target or selector_matches(target["annotationSelector"], annotations)


def _name_before_build(name: str, kind: str, affixes: tuple[str, str], hashed: bool) -> str:
    """The name a patch of the top-level kustomization sees: before the name hash of a generated object (when
    `hashed`) and before the top-level prefix and suffix."""
    if hashed and kind in GENERATED_KINDS:
        name = _GENERATED_SUFFIX.sub("", name)
    prefix, suffix = affixes
    if prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    if suffix and name.endswith(suffix):
        name = name[: -len(suffix)]
    return name


def _full_match(pattern: str, value: str) -> bool:
    if not pattern:
        return True
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


def selector_matches(selector: str, labels: Mapping[str, Any]) -> bool:
    """A Kubernetes label selector (`a=b,c!=d,e in (x,y),!f,g`) against a label map."""
    for requirement in _requirements(selector):
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise SelectorInvalid(f"{selector!r}: cannot read {requirement!r} as a label selector requirement")
        if match["absent"]:
            if match["key1"] in labels:
                return False
            continue
        key = match["key2"]
        present = key in labels
        value = str(labels.get(key, ""))
        if match["op"] in ("=", "=="):
            ok = present and value == match["value"]
        elif match["op"] == "!=":
            ok = not present or value != match["value"]
        elif match["set_op"]:
            choices = {choice.strip() for choice in match["set"].split(",")}
            ok = (present and value in choices) if match["set_op"] == "in" else (not present or value not in choices)
        else:
            ok = present
        if not ok:
            return False
    return True


def _requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def unmatched(
    patches: Sequence[Any], objects: Sequence[Mapping[str, Any]], affixes: tuple[str, str] = ("", "")
) -> list[tuple[int, str]]:
    """(index, why) for every patch no built object matches, or that this check cannot judge."""
    found = []
    for index, patch in enumerate(patches):
        if not isinstance(patch, Mapping):
            found.append((index, "is not a patch (a mapping with `patch` and `target`)"))
            continue
        target = patch_target(patch)
        if target is None:
            found.append((index, "has no target and its body names no object: kustomize cannot place it"))
            continue
        if deletes(patch):
            found.append(
                (
                    index,
                    "deletes its object; the values stage compares targets with the built objects "
                    "and cannot judge it: extend infra/expand/values/patches.py",
                )
            )
            continue
        try:
            hit = any(matches(target, obj, affixes) for obj in objects)
        except SelectorInvalid as error:
            found.append((index, f"target: {error}"))
            continue
        if not hit:
            found.append(
                (
                    index,
                    f"targets {describe(target)}, which matches none of the path's objects: "
                    "kustomize ignores such a patch silently",
                )
            )
    return found
