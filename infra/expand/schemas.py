"""The `kubernetes` and `crd` stages: every object of the platform (the stack's and what its Applications and Helm
releases apply) against the schema the cluster would judge it by.

Built-in kinds (CustomResourceDefinitions included) are checked strictly at the environment's Kubernetes version.
A custom resource is checked against the CRD the platform itself installs (its `openAPIV3Schema` at the pinned
version, infra/expand/crd_schemas.py) and must be of a version that CRD serves. Only for CRDs installed elsewhere (the
cluster layer's: Cilium's operator creates cilium.io on-prem at run time) is the CRD catalog used, where the
allow-list (policies/crd-allowlist.yaml) may excuse a kind the catalog lacks. A custom resource of a kind nothing
installs is an error: the API server would refuse it.

Results are memoized by content (infra/offline/validate.py): the environments of a fleet share most objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

from infra.cluster import cni_of
from infra.cluster.facts import cluster_crd_groups
from infra.expand.crd_schemas import (
    OBJECT_META_DEFINITION,
    UnsupportedSchema,
    compile_version,
    formats_key,
    minor_of,
)
from infra.expand.existing import OWNER_PREFIX, Unvalidated
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.offline.validate import (
    Finding,
    ManifestValidator,
    content_digest,
    core_registry,
    definition_digest,
    memoized,
    one_line,
)

KUBERNETES = "kubernetes"
CRD = "crd"


@dataclass(frozen=True)
class InstalledCrd:
    owner: str
    """`stack`, or the Application (or Pulumi Helm release) that applies the CRD."""
    object: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str((self.object.get("metadata") or {}).get("name"))

    @property
    def applied_by(self) -> str:
        if self.owner.startswith(OWNER_PREFIX):
            return f"the cluster's {self.owner.removeprefix(OWNER_PREFIX)}, components.*.existing"
        return "the stack" if self.owner == STACK else f"Application {self.owner}"

    def version(self, name: str) -> Mapping[str, Any] | None:
        versions = (self.object.get("spec") or {}).get("versions") or []
        return next((v for v in versions if isinstance(v, Mapping) and v.get("name") == name), None)

    def served(self) -> list[str]:
        versions = (self.object.get("spec") or {}).get("versions") or []
        return [str(v.get("name")) for v in versions if isinstance(v, Mapping) and v.get("served")]


def installed_crds(crds: Iterable[PlatformObject]) -> dict[tuple[str, str], InstalledCrd]:
    """The platform's CRDs by (group, kind)."""
    found: dict[tuple[str, str], InstalledCrd] = {}
    for item in crds:
        spec = item.object.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if spec.get("group") and kind:
            found.setdefault((str(spec["group"]), str(kind)), InstalledCrd(item.owner, item.object))
    return found


class PlatformValidator(ManifestValidator):
    """A ManifestValidator that judges custom resources by the platform's own CRDs, and by the CRD catalog only
    those of `elsewhere` (API groups whose CRDs the cluster layer installs)."""

    def __init__(
        self,
        kubernetes_version: str,
        crd_schema_location: str,
        crd_allowlist: Mapping[str, str],
        crds: Iterable[PlatformObject],
        elsewhere: Sequence[str],
        unvalidated: Sequence[Unvalidated] = (),
    ) -> None:
        super().__init__(kubernetes_version, crd_schema_location, crd_allowlist)
        self.crds = installed_crds(crds)
        self.elsewhere = tuple(elsewhere)
        self.unvalidated = {group: entry for entry in unvalidated for group in entry.groups}
        self._unvalidated_reported: set[tuple[str, str]] = set()
        self._unjudged_reported: set[tuple[str, str]] = set()
        self._crd_digests: dict[int, str] = {}

    @classmethod
    def of(cls, platform: Platform, crd_schema_location: str, crd_allowlist: Mapping[str, str]) -> PlatformValidator:
        return cls(
            platform.env.kubernetes_version,
            crd_schema_location,
            crd_allowlist,
            platform.crds,
            cluster_crd_groups(cni_of(platform.env)),
            platform.expansion.existing.unvalidated,
        )

    def _validate_custom_resource(
        self, obj: Mapping[str, Any], ref: str, group: str, kind: str, api_version: str
    ) -> list[Finding]:
        installed = self.crds.get((group, kind))
        if installed is None and group in self.unvalidated:
            return self._unvalidated(group, kind)
        if installed is None:
            if group in self.elsewhere:
                return super()._validate_custom_resource(obj, ref, group, kind, api_version)
            elsewhere = f" (the cluster layer installs only {', '.join(self.elsewhere)})" if self.elsewhere else ""
            return [
                Finding(
                    CRD,
                    ref,
                    f"apiVersion: nothing installs {group}/{kind}: no CRD of the platform defines it and the cluster "
                    f"layer installs no CRD of {group}{elsewhere}; the API server would refuse it",
                )
            ]
        version = api_version.rpartition("/")[2]
        entry = installed.version(version)
        served = ", ".join(installed.served()) or "none"
        if entry is None or not entry.get("served"):
            what = "does not serve" if entry is not None else "has no version"
            return [
                Finding(
                    CRD,
                    ref,
                    f"apiVersion: the CRD {installed.name} ({installed.applied_by}) {what} {version} "
                    f"(served: {served}); the API server would refuse {api_version} {kind}",
                )
            ]
        findings = []
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
            findings.append(Finding(CRD, ref, "metadata.name: required, must be a non-empty string"))
        schema = (entry.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, Mapping):
            findings.append(
                Finding(
                    CRD,
                    ref,
                    f"(root): the CRD {installed.name} ({installed.applied_by}) has no openAPIV3Schema "
                    f"for {version}; apiextensions.k8s.io/v1 requires one",
                )
            )
            return findings
        minor = minor_of(self.kubernetes_version)
        meta = definition_digest(self.schema_dir, OBJECT_META_DEFINITION)
        crd_digest = self._digest(installed)
        try:
            compiled = compile_version(
                installed.name, version, schema, crd_digest, minor, core_registry(self.schema_dir), meta
            )
        except UnsupportedSchema as error:
            findings.append(
                Finding(CRD, ref, f"(root): the schema of the CRD {installed.name} {version} cannot be judged: {error}")
            )
            return findings
        key = (CRD, installed.name, version, crd_digest, meta, formats_key(minor), content_digest(obj))
        messages = memoized(key, lambda: [one_line(f"{path}: {message}") for path, message in compiled.errors(obj)])
        unjudged = memoized((*key, "unjudged"), lambda: [json.dumps(astuple(r)) for r in compiled.unjudged_rules(obj)])
        return findings + [Finding(CRD, ref, message) for message in messages] + self._unjudged(installed, unjudged)

    def _unjudged(self, installed: InstalledCrd, rules: list[str]) -> list[Finding]:
        """Once per CRD and rule: a CEL rule that applies to the platform's resources and cannot be judged offline
        (infra/expand/cel.py says which of Kubernetes' CEL libraries are provided)."""
        findings = []
        for entry in rules:
            rule, reason = json.loads(entry)
            if (installed.name, rule) in self._unjudged_reported:
                continue
            self._unjudged_reported.add((installed.name, rule))
            message = one_line(f"CEL rule of the CRD {installed.name} not judged ({reason}): {rule}")
            findings.append(Finding(CRD, "", message, "advisory"))
        return findings

    def _unvalidated(self, group: str, kind: str) -> list[Finding]:
        """Once per kind: the cluster's own installation serves it, but its CRDs could not be read."""
        if (group, kind) in self._unvalidated_reported:
            return []
        self._unvalidated_reported.add((group, kind))
        entry = self.unvalidated[group]
        where = (
            f"{group}/{kind}: every one of the platform is unvalidated: the CRDs of the cluster's {entry.component} "
            f"{entry.version} (components.*.existing) could not be read ({entry.reason})"
        )
        if entry.accepted:
            return [Finding(CRD, "", f"{where}; accepted by the environment: {entry.accepted}", "advisory")]
        fix = "add that chart version to the cache, or give a reason in existing.acceptUnvalidated"
        return [Finding(CRD, "", f"{where}; {fix}")]

    def _digest(self, installed: InstalledCrd) -> str:
        key = id(installed.object)
        if key not in self._crd_digests:
            self._crd_digests[key] = content_digest(installed.object)
        return self._crd_digests[key]


def schema_findings(platform: Platform, validator: ManifestValidator) -> dict[str, tuple[list[Finding], int]]:
    """The findings and object counts of the `kubernetes` and `crd` stages, each finding naming the object's owner."""
    stages: dict[str, tuple[list[Finding], int]] = {KUBERNETES: ([], 0), CRD: ([], 0)}
    for item in platform.objects:
        stage = KUBERNETES if validator.is_built_in(str(item.object.get("apiVersion", ""))) else CRD
        findings, count = stages[stage]
        findings += [Finding(f.stage, item.ref, f.message, f.severity) for f in validator.validate(item.object)]
        stages[stage] = (findings, count + 1)
    return stages


@dataclass
class AllowlistUse:
    """What the CRD allow-list let through across the environments checked, so an entry nothing needs fails."""

    used: set[str] = field(default_factory=set)
    installed: dict[str, set[str]] = field(default_factory=dict)
    """Entry -> where the platform installs a CRD of its kind (`<env>: Application <name>`)."""
    environments: list[str] = field(default_factory=list)

    def record(self, platform: Platform, validator: ManifestValidator) -> None:
        self.environments.append(platform.stack)
        self.used |= validator.allowlist_used
        crds = installed_crds(platform.crds)
        for entry in validator.crd_allowlist:
            group, _, kind = entry.rpartition("/")
            if (group, kind) in crds:
                self.installed.setdefault(entry, set()).add(f"{platform.stack}: {crds[(group, kind)].applied_by}")

    def stale(self, allowlist: Mapping[str, str], source: str) -> list[Finding]:
        """An error for each entry of `allowlist` that let nothing through in any environment recorded."""
        findings = []
        for entry in sorted(set(allowlist) - self.used):
            where = sorted(self.installed.get(entry, ()))
            why = (
                f"the platform installs its CRD ({'; '.join(where)}), which validates it"
                if where
                else "no custom resource needs it (its kind is not installed by the cluster layer, or its schema "
                "is in the catalog)"
            )
            findings.append(
                Finding(
                    CRD,
                    source,
                    f"{entry}: allow-list entry matches nothing in the environments checked "
                    f"({', '.join(sorted(self.environments))}): {why}; remove it",
                )
            )
        return findings
