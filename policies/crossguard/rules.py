"""CrossGuard policies for the platform stacks.

The same functions run under `pulumi preview --policy-pack policies/crossguard` and offline in
`python -m infra.cli check`. Constructing a PolicyPack starts a server, so only __main__.py does that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


def _chart_versions_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    version = None
    if args.resource_type == "kubernetes:argoproj.io/v1alpha1:Application":
        source = (args.props.get("spec") or {}).get("source") or {}
        if "chart" not in source:
            return
        version = source.get("targetRevision")
    elif args.resource_type == "kubernetes:helm.sh/v3:Release":
        version = args.props.get("version")
    else:
        return
    if not isinstance(version, str) or not EXACT_VERSION.match(version):
        report(f"{args.name}: chart version {version!r} is not an exact release (no latest, ranges or branches)")


def _namespace_has_pod_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Namespace":
        return
    labels = ((args.props.get("metadata") or {}).get("labels")) or {}
    if labels.get(POD_SECURITY_ENFORCE) not in ("restricted", "baseline", "privileged"):
        report(f"namespace {args.name} has no {POD_SECURITY_ENFORCE} label")


def _namespaces_default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    namespaces = {
        _meta(r.props).get("name"): r for r in args.resources if r.resource_type == "kubernetes:core/v1:Namespace"
    }
    denied = {
        _meta(r.props).get("namespace")
        for r in args.resources
        if r.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and _denies_everything(r.props)
    }
    for name, resource in sorted(namespaces.items()):
        if name not in denied:
            report(f"namespace {name} has no default-deny NetworkPolicy", resource.urn)


def _meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return props.get("metadata") or {}


def _denies_everything(props: Mapping[str, Any]) -> bool:
    spec = props.get("spec") or {}
    return (
        not (spec.get("podSelector") or {})
        and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="chart-versions-pinned",
        description="Every Helm chart (Argo CD Application or Helm release) names an exact version.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_chart_versions_pinned,
    ),
    ResourceValidationPolicy(
        name="namespace-pod-security",
        description="Every namespace enforces a Pod Security Standard level.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_namespace_has_pod_security,
    ),
    StackValidationPolicy(
        name="namespace-default-deny",
        description="Every namespace has a default-deny NetworkPolicy for ingress and egress.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_namespaces_default_deny,
    ),
]
