"""The posture of the whole platform: checkov, with the project's own checks, over every object each environment
applies (the stack's and what its Applications and Helm releases apply), and the reviewed list of what is accepted.

Each distinct object is scanned once, whatever the number of environments that apply it, and its results are kept
by content (infra/offline/checkov.py, `ContentScan`). checkov's resource checks read one object, so they are run on
each object alone. Its graph checks (CKV2_K8S_*) judge an object with others: a RoleBinding with the Role it
grants, a pod with the NetworkPolicies that select it. checkov's graph links any two objects of a scan by name or
labels, across namespaces, so each object they judge is scanned as a unit with exactly what it is linked to on a
cluster: the Role (same namespace) or ClusterRole its `roleRef` names, and the NetworkPolicies of its own namespace.

Every failed check is an error unless `policies/checkov/accepted.yaml` accepts it for that object (by its reference,
`<Application or stack>: <apiVersion> <kind> <namespace>/<name>`) with a reason; a check suppressed by a
`checkov.io/skip` annotation of the stack's own objects carries its reason there and counts as accepted too. There
is no platform-wide skip of a check: `config.yaml`'s `skip-check` stays empty (a test holds it so). An entry that
accepts nothing in any environment fails, so the list cannot rot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from infra.expand.images import POD_SPECS
from infra.expand.platform import Platform, PlatformObject
from infra.expand.scope import group_of
from infra.offline.checkov import CheckResult, ContentScan
from infra.offline.validate import Finding

STAGE = "checkov"
REPO = Path(__file__).resolve().parents[2]
ACCEPTED = REPO / "policies" / "checkov" / "accepted.yaml"
RBAC = "rbac.authorization.k8s.io"
BINDINGS = frozenset({(RBAC, "RoleBinding"), (RBAC, "ClusterRoleBinding")})
# What checkov's graph checks judge with others, and the kinds of those others: their results are not the object's.
CONTEXT_KINDS = frozenset({"Role", "ClusterRole", "NetworkPolicy"})


class AcceptedListError(ValueError):
    """policies/checkov/accepted.yaml is malformed."""


@dataclass(frozen=True)
class Acceptance:
    object_ref: str
    check: str
    reason: str
    environments: frozenset[str] = frozenset()
    """Empty: every environment that applies the object."""


@dataclass
class AcceptedList:
    """The reviewed exceptions: per object and per check, a reason."""

    entries: dict[tuple[str, str], Acceptance]
    path: str = str(ACCEPTED.relative_to(REPO))
    used: set[tuple[str, str]] = field(default_factory=set)

    def accepts(self, object_ref: str, check: str, env: str) -> Acceptance | None:
        entry = self.entries.get((object_ref, check))
        if entry is None:  # an entry whose object has a `*` (a generated name suffix)
            patterns = (e for (ref, c), e in self.entries.items() if c == check and "*" in ref)
            entry = next((e for e in patterns if fnmatchcase(object_ref, e.object_ref)), None)
        if entry is None or (entry.environments and env not in entry.environments):
            return None
        self.used.add((entry.object_ref, check))
        return entry

    def stale(self) -> list[Finding]:
        """Entries that accepted nothing (judged when every environment is checked)."""
        return [
            Finding(
                STAGE,
                self.path,
                f"{entry.object_ref}: {entry.check}: accepts nothing in any environment; remove the entry",
            )
            for key, entry in sorted(self.entries.items())
            if key not in self.used
        ]


def load_accepted(path: Path = ACCEPTED) -> AcceptedList:
    """The list, or AcceptedListError naming the file and the entry that is wrong."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise AcceptedListError(f"{path}: {error}") from error
    if not isinstance(data, Mapping) or set(data) - {"reasons", "accepted"}:
        raise AcceptedListError(f"{path}: must map `reasons` (named reasons) and `accepted` (the entries)")
    reasons = data.get("reasons") or {}
    if not isinstance(reasons, Mapping) or not all(
        isinstance(name, str) and isinstance(text, str) and len(text.split()) >= 4 for name, text in reasons.items()
    ):
        raise AcceptedListError(f"{path}: reasons: each is `name: <a sentence saying why>`")
    entries: dict[tuple[str, str], Acceptance] = {}
    for index, entry in enumerate(data.get("accepted") or ()):
        where = f"{path}: accepted[{index}]"
        if not isinstance(entry, Mapping) or set(entry) - {"object", "checks", "environments"}:
            raise AcceptedListError(f"{where}: takes `object`, `checks` and optionally `environments`")
        ref, checks = entry.get("object"), entry.get("checks")
        if not isinstance(ref, str) or ": " not in ref:
            raise AcceptedListError(f"{where}: object must be `<owner>: <apiVersion> <kind> <namespace/name>`")
        if not isinstance(checks, Mapping) or not checks:
            raise AcceptedListError(f"{where} ({ref}): checks must map each check id to its reason")
        environments = entry.get("environments") or []
        if not isinstance(environments, list) or not all(isinstance(e, str) for e in environments):
            raise AcceptedListError(f"{where} ({ref}): environments is a list of environment names")
        for check, reason in checks.items():
            text = reasons.get(reason, reason) if isinstance(reason, str) else None
            if not isinstance(check, str) or not isinstance(text, str) or len(text.split()) < 4:
                raise AcceptedListError(
                    f"{where} ({ref}): {check}: needs a reason (a sentence, or the name of one under `reasons`)"
                )
            if (ref, check) in entries:
                raise AcceptedListError(f"{where} ({ref}): {check} is accepted twice")
            entries[(ref, check)] = Acceptance(ref, check, text, frozenset(environments))
    return AcceptedList(entries, str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path))


# --- what is scanned --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scanned:
    item: PlatformObject
    object_key: str | None
    """Its resource checks' key; None when no resource check reads its kind."""
    unit_key: str | None
    """Its graph checks' key; None when no graph check judges it."""


@dataclass
class PlatformPosture:
    env: str
    scanned: list[Scanned]


def _group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    return group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))


def _context(platform: Platform) -> tuple[dict[tuple[str, str, str], PlatformObject], dict[str, list[PlatformObject]]]:
    roles: dict[tuple[str, str, str], PlatformObject] = {}
    policies: dict[str, list[PlatformObject]] = {}
    for item in platform.objects:
        group, kind = _group_kind(item.object)
        if group == RBAC and kind in ("Role", "ClusterRole"):
            roles[(kind, item.namespace if kind == "Role" else "", item.name)] = item
        elif (group, kind) == ("networking.k8s.io", "NetworkPolicy"):
            policies.setdefault(item.namespace, []).append(item)
    return roles, policies


def unit_of(item: PlatformObject, roles: Mapping, policies: Mapping) -> list[Mapping[str, Any]] | None:
    """The object with what checkov's graph checks judge it with, or None when none judges it."""
    group, kind = _group_kind(item.object)
    if (group, kind) in BINDINGS:
        ref = item.object.get("roleRef") or {}
        role_kind = str(ref.get("kind", ""))
        role = roles.get((role_kind, item.namespace if role_kind == "Role" else "", str(ref.get("name", ""))))
        return [item.object, *([role.object] if role is not None else [])]
    if (group, kind) in POD_SPECS and kind != "PodTemplate":
        return [item.object, *(policy.object for policy in policies.get(item.namespace, ()))]
    return None


def request_scans(platform: Platform, scan: ContentScan, kinds: frozenset[str] | None) -> PlatformPosture:
    """Asks `scan` for every object of the platform that a check reads (`kinds`: what checkov's resource checks
    read, None for every kind)."""
    roles, policies = _context(platform)
    scanned = []
    for item in platform.objects:
        unit = unit_of(item, roles, policies)
        object_key = scan.object_key(item.object) if kinds is None or item.kind in kinds else None
        unit_key = scan.unit_key(unit) if unit is not None else None
        if object_key is not None or unit_key is not None:
            scanned.append(Scanned(item, object_key, unit_key))
    return PlatformPosture(platform.stack, scanned)


# --- what it found ----------------------------------------------------------------------------------------------


@dataclass
class PostureCounts:
    objects: int = 0
    passed: int = 0
    failed: int = 0
    accepted: int = 0

    def summary(self) -> str:
        return (
            f"{self.objects} objects: {self.passed} checks passed, {self.failed} failed, {self.accepted} accepted "
            "(policies/checkov/accepted.yaml, checkov.io/skip annotations)"
        )


def own_results(scanned: Scanned, scan: ContentScan) -> list[CheckResult]:
    """The results about the object itself: its resource checks, and its graph checks but not those of the objects
    in its unit."""
    results = list(scan.results(scanned.object_key)) if scanned.object_key else []
    if scanned.unit_key:
        results += [r for r in scan.results(scanned.unit_key) if r.resource.split(".", 1)[0] not in CONTEXT_KINDS]
    return results


def posture_findings(
    posture: PlatformPosture, scan: ContentScan, accepted: AcceptedList
) -> tuple[list[Finding], PostureCounts]:
    findings: list[Finding] = []
    counts = PostureCounts(objects=len(posture.scanned))
    for scanned in posture.scanned:
        ref = scanned.item.ref
        seen: set[tuple[str, str]] = set()
        for result in own_results(scanned, scan):
            if (result.check_id, result.outcome) in seen:
                continue  # a workload's pod template is judged once more as a Pod by the graph checks
            seen.add((result.check_id, result.outcome))
            if result.outcome == "passed":
                counts.passed += 1
            elif result.outcome == "skipped" or accepted.accepts(ref, result.check_id, posture.env):
                counts.accepted += 1
            else:
                counts.failed += 1
                where = result.fields or "(object)"
                findings.append(Finding(STAGE, ref, f"{where}: {result.check_id}: {result.name}"))
    return sorted(set(findings), key=lambda f: (f.object_ref, f.message)), counts


def failures(postures: Iterable[PlatformPosture], scan: ContentScan) -> Counter[tuple[str, str]]:
    """(object ref, check id) of every failed check, with the number of environments: for drafting entries."""
    found: Counter[tuple[str, str]] = Counter()
    for posture in postures:
        for scanned in posture.scanned:
            for check in {r.check_id for r in own_results(scanned, scan) if r.outcome == "failed"}:
                found[(scanned.item.ref, check)] += 1
    return found
