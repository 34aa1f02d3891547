"""A component's namespace: Pod Security labels, a default-deny NetworkPolicy, and the declared allowances.

The allowances of a namespace are merged into as few NetworkPolicies as Kubernetes permits: one `allow` for
the rules that apply to every pod, and one per set of pod labels that rules are narrowed to. NetworkPolicies
add up, so this admits exactly what one policy per allowance would, with a fraction of the objects to review
and to apply. Which rule is which allowance is written on each policy (`ALLOWANCES_ANNOTATION`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.labels import ALLOWANCES_ANNOTATION, PART_OF, PRIVILEGED_REASON
from infra.platform.network import DNS, WITHIN_NAMESPACE, Allow, Peer, from_namespaces

MONITORING_NAMESPACE = "monitoring"
MESH_NAMESPACE = "istio-system"
MESH_INJECTION_LABEL = "istio-injection"
DEFAULT_DENY = "default-deny"
# Sidecars fetch their configuration and workload certificates from istiod (xDS over mTLS on 15012).
TO_MESH_CONTROL_PLANE = Allow("mesh-control-plane", "egress", (Peer(namespace=MESH_NAMESPACE),), (15012,))
"""Sidecars to the istiod the stack installs (`to_mesh_control_plane` for another's)."""
DIRECTIONS = ("ingress", "egress")


def secured_namespace(
    name: str,
    *,
    pod_security: str,
    kubernetes_version: str,
    allows: Sequence[Allow],
    scraped_by_prometheus: bool,
    mesh_injection: bool = False,
    opts: pulumi.ResourceOptions,
    privileged_reason: str = "",
    labels: Mapping[str, str] | None = None,
    cluster_egress: Sequence[Allow] = (),
    mesh_namespace: str = MESH_NAMESPACE,
    prometheus_namespace: str = MONITORING_NAMESPACE,
) -> k8s.core.v1.Namespace:
    """Create the namespace; everything in it is denied except DNS, same-namespace, what every namespace of the
    cluster needs (`cluster_egress`, ClusterFacts.namespace_egress) and `allows`.

    With `mesh_injection`, Istio injects a sidecar into its pods, and the sidecars may reach istiod. `labels` are
    extra namespace labels an upstream expects; Pod Security labels always win."""
    namespace = denied_namespace(
        name,
        pod_security=pod_security,
        kubernetes_version=kubernetes_version,
        mesh_injection=mesh_injection,
        opts=opts,
        privileged_reason=privileged_reason,
        labels=labels,
    )
    baseline = baseline_allowances(
        name, mesh_injection, scraped_by_prometheus, cluster_egress, mesh_namespace, prometheus_namespace
    )
    everything = [*baseline, *allows]
    allowance_policies(name, everything, after(namespace, opts))
    return namespace


def denied_namespace(
    name: str,
    *,
    pod_security: str,
    kubernetes_version: str,
    mesh_injection: bool,
    opts: pulumi.ResourceOptions,
    privileged_reason: str = "",
    labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """The namespace and its default-deny policy, for callers that declare the allowances later
    (`allowance_policies`, once every allowance is known)."""
    labels = {**(labels or {}), **pod_security_labels(pod_security, kubernetes_version)}
    if mesh_injection:
        labels[MESH_INJECTION_LABEL] = "enabled"
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if privileged_reason:
        # Reviewers (and the privileged-namespace-reason policy) read why this namespace may run privileged pods.
        metadata["annotations"] = {PRIVILEGED_REASON: privileged_reason}
    namespace = k8s.core.v1.Namespace(name, metadata=metadata, opts=opts)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-{DEFAULT_DENY}",
        metadata={"name": DEFAULT_DENY, "namespace": name},
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        opts=after(namespace, opts),
    )
    return namespace


def baseline_allowances(
    name: str,
    mesh_injection: bool,
    scraped_by_prometheus: bool,
    cluster_egress: Sequence[Allow] = (),
    mesh_namespace: str = MESH_NAMESPACE,
    prometheus_namespace: str = MONITORING_NAMESPACE,
) -> list[Allow]:
    """What every namespace allows: DNS, its own pods, what the cluster requires, istiod for sidecars,
    Prometheus scraping (istiod and Prometheus where they run: an existing installation's namespaces)."""
    allows = [DNS, *WITHIN_NAMESPACE, *cluster_egress]
    if mesh_injection:
        allows.append(to_mesh_control_plane(mesh_namespace))
    if scraped_by_prometheus and name != prometheus_namespace:
        allows.append(from_namespaces("prometheus-scrape", (prometheus_namespace,)))
    return allows


def to_mesh_control_plane(mesh_namespace: str) -> Allow:
    return Allow("mesh-control-plane", "egress", (Peer(namespace=mesh_namespace),), (15012,))


def allowance_policies(
    namespace: str, allows: Iterable[Allow], opts: pulumi.ResourceOptions
) -> list[k8s.networking.v1.NetworkPolicy]:
    """The NetworkPolicies that open what `allows` describe in `namespace`, on top of its default deny: one
    per distinct pod selector, each listing its rules by allowance name."""
    groups: dict[tuple[tuple[str, str], ...], list[Allow]] = {}
    for allow in allows:
        groups.setdefault(allow.pods, []).append(allow)
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{namespace}-{policy_name(pods)}",
            metadata={
                "name": policy_name(pods),
                "namespace": namespace,
                "annotations": {ALLOWANCES_ANNOTATION: _allowance_index(group)},
            },
            spec=policy_spec(group),
            opts=opts,
        )
        for pods, group in sorted(groups.items())
    ]


def policy_name(pods: tuple[tuple[str, str], ...]) -> str:
    """`allow` for rules on every pod; `allow-<label values>` for rules narrowed to some pods."""
    if not pods:
        return "allow"
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(value for _, value in sorted(pods)).lower()).strip("-")
    return f"allow-{slug}"[:63].rstrip("-")


def policy_spec(group: Sequence[Allow]) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": group[0].pod_selector()}
    directions = [d for d in DIRECTIONS if any(allow.direction == d for allow in group)]
    spec["policyTypes"] = [d.capitalize() for d in directions]
    for direction in directions:
        spec[direction] = [allow.rule() for allow in group if allow.direction == direction]
    return spec


def _allowance_index(group: Sequence[Allow]) -> str:
    """`ingress: a, b; egress: c`: the allowance behind each rule, in the order of the rules."""
    parts = []
    for direction in DIRECTIONS:
        names = [allow.name for allow in group if allow.direction == direction]
        if names:
            parts.append(f"{direction}: {', '.join(names)}")
    return "; ".join(parts)


def declared_allowances(policies: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rendered NetworkPolicies of one namespace read back by allowance name: its `direction`, `rule` and
    `podSelector` (for reviews, docs and tests)."""
    found: dict[str, dict[str, Any]] = {}
    for policy in policies:
        index = (policy["metadata"].get("annotations") or {}).get(ALLOWANCES_ANNOTATION, "")
        for part in filter(None, index.split("; ")):
            direction, names = part.split(": ", 1)
            for name, rule in zip(names.split(", "), policy["spec"][direction], strict=True):
                found[name] = {"direction": direction, "rule": rule, "podSelector": policy["spec"]["podSelector"]}
    return found


def after(resource: pulumi.Resource, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[resource]))


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": PART_OF}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{kubernetes_version}"
    return labels
