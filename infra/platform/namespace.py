"""A component's namespace: Pod Security labels, default-deny NetworkPolicy, and the declared allowances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.labels import PART_OF, PRIVILEGED_REASON
from infra.platform.network import DNS, WITHIN_NAMESPACE, Allow, Peer, from_namespaces

MONITORING_NAMESPACE = "monitoring"
MESH_NAMESPACE = "istio-system"
MESH_INJECTION_LABEL = "istio-injection"
# Sidecars fetch their configuration and workload certificates from istiod (xDS over mTLS on 15012).
TO_MESH_CONTROL_PLANE = Allow("mesh-control-plane", "egress", (Peer(namespace=MESH_NAMESPACE),), (15012,))


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
) -> k8s.core.v1.Namespace:
    """Create the namespace; everything in it is denied except DNS, same-namespace and `allows`.

    With `mesh_injection`, Istio injects a sidecar into its pods, and the sidecars may reach istiod. `labels` are
    extra namespace labels an upstream expects; Pod Security labels always win."""
    labels = {**(labels or {}), **pod_security_labels(pod_security, kubernetes_version)}
    everything = [DNS, *WITHIN_NAMESPACE, *allows]
    if mesh_injection:
        labels[MESH_INJECTION_LABEL] = "enabled"
        everything.append(TO_MESH_CONTROL_PLANE)
    if scraped_by_prometheus and name != MONITORING_NAMESPACE:
        everything.append(from_namespaces("prometheus-scrape", (MONITORING_NAMESPACE,)))
    metadata: dict = {"name": name, "labels": labels}
    if privileged_reason:
        # Reviewers (and the privileged-namespace-reason policy) read why this namespace may run privileged pods.
        metadata["annotations"] = {PRIVILEGED_REASON: privileged_reason}
    namespace = k8s.core.v1.Namespace(name, metadata=metadata, opts=opts)
    policy_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata={"name": "default-deny", "namespace": name},
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        opts=policy_opts,
    )
    for allow in everything:
        allowance_policy(name, allow, policy_opts)
    return namespace


def allowance_policy(namespace: str, allow: Allow, opts: pulumi.ResourceOptions) -> k8s.networking.v1.NetworkPolicy:
    """One NetworkPolicy that opens what `allow` describes in `namespace`, on top of its default deny."""
    return k8s.networking.v1.NetworkPolicy(
        f"{namespace}-allow-{allow.name}",
        metadata={"name": f"allow-{allow.name}", "namespace": namespace},
        spec={
            "podSelector": allow.pod_selector(),
            "policyTypes": [allow.direction.capitalize()],
            allow.direction: [allow.rule()],
        },
        opts=opts,
    )


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": PART_OF}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{kubernetes_version}"
    return labels
