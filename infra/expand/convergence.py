"""The `convergence` stage: nothing a controller changes after a sync keeps an Application OutOfSync or fights its
self-heal, and nothing it changes in the stack's own objects is set back by `pulumi up`.

Each runtime writer of infra/expand/writers.py is applied to the objects it touches; the result (what the cluster
holds a moment after a sync) is compared with the rendered object as Argo CD compares them:
- only fields the rendered object sets are compared. Argo CD's three diff strategies agree on this (the legacy
  three-way diff, the structured-merge diff of ServerSideApply Applications, server-side diff; argo-cd
  gitops-engine/pkg/diff/diff.go): a field only the cluster holds, such as a CA bundle no chart renders, is left
  to the cluster, and a sync does not remove it;
- before comparing, both sides lose what the Application's `ignoreDifferences` name. Modelled are entries by
  group, kind, name and namespace with `jsonPointers`, each an RFC 6902 `remove` that is skipped where the field is
  absent (argo-cd util/argo/normalizers/diff_normalizer.go). `jqPathExpressions`, `managedFieldsManagers`,
  group or kind patterns and system-level settings in `argocd-cm` are refused with a finding, not guessed at;
- lists compare element by element, and a list of another length differs as a whole.

Objects of the Pulumi Helm releases (Argo CD itself, the CNI) are not judged: a Helm release compares its chart and
values, never the objects it installed. The stack's own objects are judged like an Application's, without ignores.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.writers import WRITERS, FieldPath, Touch, Writer, group_kind
from infra.offline.validate import Finding
from infra.platform.argocd_app import RESPECT_IGNORE_DIFFERENCES

STAGE = "convergence"
APPLICATION = ("argoproj.io", "Application")
APPLICATION_SET = ("argoproj.io", "ApplicationSet")
ARGOCD_CONFIG = "argocd-cm"
MODELLED_ENTRY_KEYS = frozenset({"group", "kind", "name", "namespace", "jsonPointers"})
SYSTEM_DIFF_KEYS = ("resource.compareoptions", "resource.customizations.ignoreDifferences")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class IgnoreRule:
    """One modelled entry of an Application's `ignoreDifferences`."""

    index: int
    group: str
    kind: str
    name: str
    namespace: str
    pointers: tuple[str, ...]

    def matches(self, item: PlatformObject) -> bool:
        return (
            group_kind(item) == (self.group, self.kind)
            and self.name in ("", item.name)
            and self.namespace in ("", item.namespace)
        )


@dataclass(frozen=True)
class ApplicationSettings:
    ref: str
    rules: tuple[IgnoreRule, ...]
    respects_ignores: bool
    self_heal: bool


# --- JSON pointers and paths ---------------------------------------------------------------------------------------


def pointer_segments(pointer: str) -> tuple[str, ...] | None:
    """RFC 6901 segments of a pointer, or None when it is not one."""
    if not pointer.startswith("/"):
        return None
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _step(node: Any, segment: str | int) -> tuple[bool, Any]:
    if isinstance(node, Mapping):
        return (str(segment) in node, node.get(str(segment)))
    if isinstance(node, list) and str(segment).isdigit() and int(segment) < len(node):
        return True, node[int(segment)]
    return False, None


def remove_at(obj: Any, segments: Sequence[str]) -> bool:
    """Remove the field at `segments` (as a JSON patch `remove`); False, changing nothing, where there is none."""
    node = obj
    for segment in segments[:-1]:
        found, node = _step(node, segment)
        if not found:
            return False
    last = segments[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]
        return True
    return False


def set_at(obj: Any, path: FieldPath, value: Any) -> None:
    node = obj
    for segment in path[:-1]:
        node = node[segment]
    node[path[-1]] = value


def value_at(obj: Any, path: FieldPath) -> Any:
    node = obj
    for segment in path:
        _, node = _step(node, segment)
    return node


def differences(desired: Any, live: Any, path: FieldPath = ()) -> Iterator[FieldPath]:
    """Paths of the fields `desired` sets that `live` holds otherwise (fields only `live` holds are not compared)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            yield path
            return
        for key, value in desired.items():
            if key not in live:
                yield (*path, key)
            else:
                yield from differences(value, live[key], (*path, key))
    elif isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            yield path
            return
        for index, (mine, theirs) in enumerate(zip(desired, live, strict=True)):
            yield from differences(mine, theirs, (*path, index))
    elif desired != live:
        yield path


def dotted(path: FieldPath) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else str(segment))
    return text or "(the object)"


def _as_segments(path: FieldPath) -> tuple[str, ...]:
    return tuple(str(segment) for segment in path)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- what Argo CD is told ------------------------------------------------------------------------------------------


def _entry_rule(entry: Any, index: int, where: str, ref: str) -> tuple[IgnoreRule | None, list[Finding]]:
    field = f"spec.ignoreDifferences[{index}]"
    if not isinstance(entry, Mapping):
        return None, [Finding(STAGE, ref, f"{field}: not a mapping")]
    problems = []
    for key in sorted(set(entry) - MODELLED_ENTRY_KEYS):
        problems.append(
            f"{field}.{key}: not modelled by the convergence stage (it models jsonPointers by group, kind, name "
            "and namespace); name the fields with jsonPointers"
        )
    for key in ("group", "kind"):
        if GLOB_CHARACTERS & set(str(entry.get(key, ""))):
            problems.append(f"{field}.{key}: patterns are not modelled by the convergence stage; name one {key}")
    if not entry.get("kind"):
        problems.append(f"{field}.kind: missing; name the kind of the object whose fields are ignored")
    pointers = [str(pointer) for pointer in entry.get("jsonPointers") or []]
    for position, pointer in enumerate(pointers):
        if pointer_segments(pointer) is None:
            problems.append(f"{field}.jsonPointers[{position}]: {pointer!r} is not a JSON pointer (starts with /)")
    if problems:
        return None, [Finding(STAGE, ref, f"{message} ({where})") for message in problems]
    rule = IgnoreRule(
        index,
        str(entry.get("group", "")),
        str(entry["kind"]),
        str(entry.get("name", "")),
        str(entry.get("namespace", "")),
        tuple(pointers),
    )
    return rule, []


def application_settings(platform: Platform) -> tuple[dict[str, ApplicationSettings], list[Finding]]:
    """Each stack Application's ignores and sync options. The ApplicationSet's Applications carry none: an
    ApplicationSet template with ignoreDifferences is refused (its templating is not modelled here)."""
    settings: dict[str, ApplicationSettings] = {}
    findings: list[Finding] = []
    for item in platform.owned_by(STACK):
        spec = item.object.get("spec") or {}
        if group_kind(item) == APPLICATION_SET and (spec.get("template") or {}).get("spec", {}).get(
            "ignoreDifferences"
        ):
            findings.append(
                Finding(
                    STAGE,
                    item.ref,
                    "spec.template.spec.ignoreDifferences: not modelled by the convergence stage for ApplicationSets",
                )
            )
        if group_kind(item) != APPLICATION:
            continue
        rules = []
        for index, entry in enumerate(spec.get("ignoreDifferences") or []):
            rule, problems = _entry_rule(entry, index, f"Application {item.name}", item.ref)
            findings += problems
            if rule is not None:
                rules.append(rule)
        policy = spec.get("syncPolicy") or {}
        settings[item.name] = ApplicationSettings(
            item.ref,
            tuple(rules),
            RESPECT_IGNORE_DIFFERENCES in (policy.get("syncOptions") or []),
            bool((policy.get("automated") or {}).get("selfHeal")),
        )
    return settings, findings


def system_settings_findings(platform: Platform) -> list[Finding]:
    """Argo CD's own configuration may ignore differences for every Application; this stage does not model it."""
    findings = []
    for item in platform.objects:
        if group_kind(item) != ("", "ConfigMap") or item.name != ARGOCD_CONFIG:
            continue
        data = item.object.get("data") or {}
        for key in sorted(data):
            legacy = key == "resource.customizations" and "ignoreDifferences" in str(data[key])
            if key.startswith(SYSTEM_DIFF_KEYS) or legacy:
                findings.append(
                    Finding(
                        STAGE,
                        item.ref,
                        f"data.{key}: system-level diff settings are not modelled by the convergence stage; declare "
                        "the ignored fields on the Applications (IgnoredDifference in the component's spec)",
                    )
                )
    return findings


# --- the stage -----------------------------------------------------------------------------------------------------


@dataclass
class Judged:
    """One object some runtime writer touches, and each field it writes."""

    item: PlatformObject
    writes: list[tuple[Writer, Touch]]


def touched(objects: Sequence[PlatformObject]) -> list[Judged]:
    judged: dict[int, Judged] = {}
    for writer in WRITERS:
        for touch in writer.find(objects):
            judged.setdefault(id(touch.item), Judged(touch.item, [])).writes.append((writer, touch))
    return list(judged.values())


def _consequence(item: PlatformObject, app: ApplicationSettings | None) -> str:
    if item.owner == STACK:
        return (
            "the stack renders otherwise, so each `pulumi up` that updates the object sets it back (and "
            "`pulumi preview --refresh` reports drift)"
        )
    if app is None:
        return f"Argo CD keeps Application {item.owner} OutOfSync (and self-heal, where on, writes it back)"
    if app.self_heal:
        return f"Argo CD keeps Application {item.owner} OutOfSync and self-heal writes it back: they never settle"
    return f"Argo CD keeps Application {item.owner} OutOfSync, and each sync writes it back"


def _judge(judged: Judged, app: ApplicationSettings | None, used: set[tuple[str, int, str]]) -> list[Finding]:
    item = judged.item
    desired = copy.deepcopy(dict(item.object))
    live = copy.deepcopy(desired)
    for _, touch in judged.writes:
        set_at(live, touch.path, touch.value)
    changed = [_as_segments(path) for path in differences(desired, live)]
    for rule in app.rules if app is not None and item.owner != STACK else ():
        if not rule.matches(item):
            continue
        for pointer in rule.pointers:
            segments = pointer_segments(pointer) or ()
            if any(path[: len(segments)] == segments for path in changed):
                used.add((item.owner, rule.index, pointer))
            remove_at(desired, segments)
            remove_at(live, segments)
    findings = []
    for path in differences(desired, live):
        for writer, touch in judged.writes:
            if touch.path != path:
                continue
            rendered = value_at(item.object, path)
            findings.append(
                Finding(
                    STAGE,
                    item.ref,
                    f"{dotted(path)}: {writer.controller} sets it to {touch.value} after each apply; the manifest "
                    f"has {_shown(rendered)}: {_consequence(item, app)}. Fix: {writer.remedy} (writer {writer.key})",
                )
            )
    return findings


def _unneeded(
    platform: Platform, settings: Mapping[str, ApplicationSettings], used: set[tuple[str, int, str]]
) -> list[Finding]:
    findings = []
    for name, app in sorted(settings.items()):
        if app.rules and not app.respects_ignores:
            findings.append(
                Finding(
                    STAGE,
                    app.ref,
                    f"spec.syncPolicy.syncOptions: ignoreDifferences without {RESPECT_IGNORE_DIFFERENCES}: each sync "
                    "applies the rendered values of the ignored fields, and their controllers must write them again",
                )
            )
        applied = list(platform.owned_by(name))
        for rule in app.rules:
            field = f"spec.ignoreDifferences[{rule.index}]"
            target = f"{rule.kind} {rule.name or '*'}"
            if not any(rule.matches(item) for item in applied):
                findings.append(
                    Finding(STAGE, app.ref, f"{field}: {target} matches no object Application {name} applies")
                )
                continue
            for position, pointer in enumerate(rule.pointers):
                if (name, rule.index, pointer) not in used:
                    findings.append(
                        Finding(
                            STAGE,
                            app.ref,
                            f"{field}.jsonPointers[{position}]: {pointer} of {target}: no known writer changes this "
                            "field where the manifest sets it, so ignoring it only hides drift; remove it, or add "
                            "its writer to infra/expand/writers.py",
                        )
                    )
    return findings


def convergence_findings(platform: Platform) -> tuple[list[Finding], int]:
    """Findings, and the number of objects some runtime writer changes."""
    findings = system_settings_findings(platform)
    settings, problems = application_settings(platform)
    findings += problems
    releases = {deployer.name for deployer in platform.deployers if deployer.kind == "Release"}
    judged = touched([item for item in platform.objects if item.owner not in releases])
    used: set[tuple[str, int, str]] = set()
    for each in judged:
        findings += _judge(each, settings.get(each.item.owner), used)
    findings += _unneeded(platform, settings, used)
    return findings, len(judged)
