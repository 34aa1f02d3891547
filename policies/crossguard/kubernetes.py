"""Policies on the Kubernetes objects and Helm charts a stack declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.crossguard.common import (
    EXACT_VERSION,
    application_sources,
    chart_values,
    containers,
    image_is_pinned,
    is_prod,
    meta,
    unpinned_chart_images,
)

POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
# Same key as infra.platform.labels.PRIVILEGED_REASON; the pack does not import the program.
PRIVILEGED_REASON = "mlops.dev/privileged-reason"
# Mirrors infra.platform.component.STATEFUL_CUSTOM_KINDS (the pack does not import the program; a test
# keeps them equal).
STATEFUL_CUSTOM_KINDS = frozenset(
    {
        ("postgresql.cnpg.io", "Cluster"),
        ("elasticsearch.k8s.elastic.co", "Elasticsearch"),
        ("minio.min.io", "Tenant"),
    }
)


def chart_versions_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "kubernetes:argoproj.io/v1alpha1:Application":
        versions = [s.get("targetRevision") for s in application_sources(args.props) if "chart" in s]
    elif args.resource_type == "kubernetes:helm.sh/v3:Release":
        versions = [args.props.get("version")]
    else:
        return
    for version in versions:
        if not isinstance(version, str) or not EXACT_VERSION.match(version):
            report(f"{args.name}: chart version {version!r} is not an exact release (no latest, ranges or branches)")


def images_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in containers(args.props):
        image = container.get("image")
        if not isinstance(image, str) or not image_is_pinned(image):
            report(f"{args.name}: container {container.get('name')} image {image!r} has no version tag or digest")
    for values in chart_values(args.resource_type, args.props):
        for path, image in unpinned_chart_images(values):
            report(f"{args.name}: chart value {path} is {image!r}, not a fixed version")


def namespace_has_pod_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Namespace":
        return
    labels = meta(args.props).get("labels") or {}
    if labels.get(POD_SECURITY_ENFORCE) not in ("restricted", "baseline", "privileged"):
        report(f"namespace {args.name} has no {POD_SECURITY_ENFORCE} label")


def privileged_namespace_has_reason(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Namespace":
        return
    labels = meta(args.props).get("labels") or {}
    annotations = meta(args.props).get("annotations") or {}
    if labels.get(POD_SECURITY_ENFORCE) == "privileged" and not str(annotations.get(PRIVILEGED_REASON, "")).strip():
        report(f"namespace {args.name} is privileged without a {PRIVILEGED_REASON} annotation saying why")


def namespaces_default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    namespaces = {
        meta(r.props).get("name"): r for r in args.resources if r.resource_type == "kubernetes:core/v1:Namespace"
    }
    denied = {
        meta(r.props).get("namespace")
        for r in args.resources
        if r.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and _denies_everything(r.props)
    }
    for name, resource in sorted(namespaces.items()):
        if name not in denied:
            report(f"namespace {name} has no default-deny NetworkPolicy", resource.urn)


def _denies_everything(props: Mapping[str, Any]) -> bool:
    spec = props.get("spec") or {}
    return (
        not (spec.get("podSelector") or {})
        and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def containers_have_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in containers(args.props):
        resources = container.get("resources") or {}
        missing = [
            f"{part}.{kind}"
            for part in ("requests", "limits")
            for kind in ("cpu", "memory")
            if not (resources.get(part) or {}).get(kind)
        ]
        if missing:
            report(f"{args.name}: container {container.get('name')} sets no {', '.join(missing)}")


def kubernetes_stateful_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """PVCs and stateful custom resources (databases, search clusters, object stores) in production."""
    if not args.resource_type.startswith("kubernetes:") or not is_prod(args.urn, meta(args.props).get("labels")):
        return
    api_version = str(args.props.get("apiVersion", ""))
    kind = (api_version.rsplit("/", 1)[0], args.props.get("kind"))
    if args.resource_type != "kubernetes:core/v1:PersistentVolumeClaim" and kind not in STATEFUL_CUSTOM_KINDS:
        return
    if not args.opts.protect:
        report(f"{args.name}: {kind[1]} holds data in production but is not `protect`ed")
