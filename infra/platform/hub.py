"""Hub mode (argocd.mode hub): an Argo CD elsewhere syncs this cluster, as in gitops-bridge. Pulumi reaches the
hub through a Kubernetes provider of its own and registers the cluster there with a cluster Secret whose labels
and annotations carry the facts the platform's values were computed from, so ApplicationSets on the hub can select
clusters by them and fill templates with them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import ClusterFacts
from infra.platform.argocd_app import ARGOCD_NAMESPACE, ENVIRONMENT_LABEL, IN_CLUSTER_DELIVERY, Delivery
from infra.platform.existing import gateway_namespace, platform_issuer, prometheus_namespace

if TYPE_CHECKING:
    from infra.config import Environment

CLUSTER_SECRET_TYPE = {"argocd.argoproj.io/secret-type": "cluster"}
# The binding that lets the hub's Argo CD manage this cluster (`argocd cluster add` would make one too).
MANAGER = "argocd-hub-manager"


def delivery_of(env: Environment) -> Delivery:
    """In-cluster delivery, or the hub's: its namespace, the environment prefix and the hub's provider."""
    hub = env.argocd.hub
    if env.argocd.mode != "hub" or hub is None:
        return IN_CLUSTER_DELIVERY
    provider = k8s.Provider(
        "argocd-hub",
        context=hub.kubeconfig.context,
        # Only the path: the provider reads the file where `pulumi up` runs (as the on-prem cluster's provider).
        kubeconfig=pulumi.Output.secret(hub.kubeconfig.path),
    )
    return Delivery(
        namespace=hub.namespace, prefix=f"{env.name}-", cluster=env.name, provider=provider, environment=env.name
    )


def fact_labels(env: Environment, facts: ClusterFacts, components: list[str]) -> dict[str, str]:
    """Labels of the cluster Secret: what hub ApplicationSets select clusters by (gitops-bridge's `enable_<addon>`
    convention for the installed components)."""
    labels = {
        **CLUSTER_SECRET_TYPE,
        ENVIRONMENT_LABEL: env.name,
        "mlops.dev/tier": env.tier,
        "mlops.dev/target": facts.target,
        "mlops.dev/kubernetes-version": env.kubernetes_version,
        "mlops.dev/ingress": env.ingress.provider,
    }
    labels.update({f"mlops.dev/enable-{component}": "true" for component in sorted(components)})
    return labels


def fact_annotations(env: Environment, facts: ClusterFacts) -> dict[str, str]:
    """Annotations of the cluster Secret: the ClusterFacts the platform's values depend on, for hub templates."""
    annotations = {
        "mlops.dev/domain": env.domain,
        "mlops.dev/storage-class-default": facts.storage.default,
        "mlops.dev/storage-class-fast": facts.storage.fast,
        "mlops.dev/object-store": facts.object_store.kind,
        "mlops.dev/object-store-endpoint": facts.object_store.endpoint,
        "mlops.dev/buckets": json.dumps(dict(facts.object_store.buckets), sort_keys=True),
        "mlops.dev/registry": facts.registry,
        "mlops.dev/load-balancer": facts.load_balancer,
        "mlops.dev/cni": facts.cni,
        "mlops.dev/cluster-issuer": platform_issuer(env),
        "mlops.dev/prometheus-namespace": prometheus_namespace(env),
        "mlops.dev/gitops-repo": env.gitops.repo_url,
        "mlops.dev/gitops-revision": env.gitops.revision,
    }
    if facts.storage.shared:
        annotations["mlops.dev/storage-class-shared"] = facts.storage.shared
    if env.ingress.provider == "istio":
        annotations["mlops.dev/gateway-namespace"] = gateway_namespace(env)
    return annotations


def cluster_config(ca: str | None) -> str:
    """The cluster Secret's `config`: Argo CD's GKE Workload Identity login (its `argocd-k8s-auth gcp` plugin) and
    the cluster's CA (base64 PEM)."""
    return json.dumps(
        {
            "execProviderConfig": {
                "command": "argocd-k8s-auth",
                "args": ["gcp"],
                "apiVersion": "client.authentication.k8s.io/v1beta1",
            },
            "tlsClientConfig": {"insecure": False, "caData": ca or ""},
        },
        sort_keys=True,
    )


def argocd_target(env: Environment) -> tuple[str, str, str]:
    """Where the environment's Applications are, for tools outside Pulumi (the drift workflow): the kubeconfig
    context (`-`: the current one), the namespace, and the label selector of this environment's (`-`: all)."""
    hub = env.argocd.hub
    if env.argocd.mode != "hub" or hub is None:
        return "-", ARGOCD_NAMESPACE, "-"
    return hub.kubeconfig.context, hub.namespace, f"{ENVIRONMENT_LABEL}={env.name}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from infra.config.loader import load_stack_file

    print(*argocd_target(load_stack_file(Path(sys.argv[1]))))
