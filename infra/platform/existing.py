"""The names dependants use of Istio, cert-manager and Prometheus: the stack's own installation's, or those the
environment declares for one the cluster already runs (`components.*.existing`). Every dependant asks here, so an
existing component changes them in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from infra.config.settings.common import ExistingComponent
from infra.platform.namespace import MESH_NAMESPACE, MONITORING_NAMESPACE

if TYPE_CHECKING:
    from infra.config import Environment

PLATFORM_ISSUER = "platform"
"""The ClusterIssuer (declared by cert-manager) that signs every platform certificate."""
ISTIO_GATEWAY_LABELS = {"istio": "ingressgateway"}
"""Labels of the pods of the ingress gateway the stack installs."""
EXISTING = "existing"
"""Owner of the CRDs of a component the cluster already runs (PlatformContext.crd_owners): nothing syncs them."""

# The component (its ComponentSpec name) each `components.<key>.existing` setting stands for.
EXISTING_COMPONENTS = {"istio": "istio", "certManager": "cert-manager", "monitoring": "kube-prometheus-stack"}


def existing_components(env: Environment) -> dict[str, ExistingComponent]:
    """The components the cluster already runs, by component name."""
    components = env.components
    declared = {
        "istio": components.istio.existing if env.ingress.provider == "istio" else None,
        "cert-manager": components.cert_manager.existing if components.cert_manager.enabled else None,
        "kube-prometheus-stack": components.monitoring.existing if components.monitoring.enabled else None,
    }
    return {name: existing for name, existing in declared.items() if existing is not None}


def mesh_namespace(env: Environment) -> str:
    """Where istiod runs."""
    existing = env.components.istio.existing
    return existing.namespace if existing is not None else MESH_NAMESPACE


def gateway_namespace(env: Environment) -> str:
    """Where the Istio ingress gateway runs: Gateways and the certificates it serves go there."""
    existing = env.components.istio.existing
    return existing.gateway_namespace if existing is not None else MESH_NAMESPACE


def gateway_labels(env: Environment) -> dict[str, str]:
    """The labels of the Istio ingress gateway's pods, which Gateways select."""
    existing = env.components.istio.existing
    return dict(existing.gateway_labels if existing is not None else ISTIO_GATEWAY_LABELS)


def platform_issuer(env: Environment) -> str:
    """The ClusterIssuer that signs every platform certificate."""
    existing = env.components.cert_manager.existing
    return existing.cluster_issuer if existing is not None else PLATFORM_ISSUER


def prometheus_namespace(env: Environment) -> str:
    """Where Prometheus runs: every namespace admits scraping from it."""
    existing = env.components.monitoring.existing
    return existing.namespace if existing is not None else MONITORING_NAMESPACE


def monitor_labels(env: Environment) -> Mapping[str, str]:
    """Labels a ServiceMonitor or PodMonitor needs for Prometheus to select it."""
    existing = env.components.monitoring.existing
    return existing.monitor_labels if existing is not None else {}


def rule_labels(env: Environment) -> Mapping[str, str]:
    """Labels a PrometheusRule needs for Prometheus to select it."""
    existing = env.components.monitoring.existing
    return existing.rule_labels if existing is not None else {}


def namespaces_of_existing(env: Environment) -> set[str]:
    """The namespaces of the components the cluster already runs that the platform places objects in, and the
    hub's Argo CD namespace in hub mode."""
    found: set[str] = set()
    installed = existing_components(env)
    if "istio" in installed:
        found |= {mesh_namespace(env), gateway_namespace(env)}
    if "kube-prometheus-stack" in installed:
        found.add(prometheus_namespace(env))
    if env.argocd.mode == "hub" and env.argocd.hub is not None:
        found.add(env.argocd.hub.namespace)  # on the hub, where the stack's Argo CD objects go
    return found
