"""A component's namespace: Pod Security labels, default-deny NetworkPolicy, and the declared allowances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.labels import PART_OF
from infra.platform.network import DNS, WITHIN_NAMESPACE, Allow, from_namespaces

MONITORING_NAMESPACE = "monitoring"


def secured_namespace(
    name: str,
    *,
    pod_security: str,
    kubernetes_version: str,
    allows: Sequence[Allow],
    scraped_by_prometheus: bool,
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """Create the namespace; everything in it is denied except DNS, same-namespace and `allows`. `labels` are
    extra namespace labels an upstream expects (e.g. sidecar injection); Pod Security labels always win."""
    namespace = k8s.core.v1.Namespace(
        name,
        metadata={"name": name, "labels": {**(labels or {}), **pod_security_labels(pod_security, kubernetes_version)}},
        opts=opts,
    )
    policy_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata={"name": "default-deny", "namespace": name},
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        opts=policy_opts,
    )
    everything = [DNS, *WITHIN_NAMESPACE, *allows]
    if scraped_by_prometheus and name != MONITORING_NAMESPACE:
        everything.append(from_namespaces("prometheus-scrape", (MONITORING_NAMESPACE,)))
    for allow in everything:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-{allow.name}",
            metadata={"name": f"allow-{allow.name}", "namespace": name},
            spec={
                "podSelector": {},
                "policyTypes": [allow.direction.capitalize()],
                allow.direction: [allow.rule()],
            },
            opts=policy_opts,
        )
    return namespace


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": PART_OF}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{kubernetes_version}"
    return labels
