"""Every platform component, in the order they are declared.

A component that installs CRDs comes before the components that create its custom resources
(kube-prometheus-stack before everything that declares a ServiceMonitor). Sync waves come from each
component's declared dependencies (infra/platform/ordering.py), not from this order.
"""

from infra.components.argocd import ArgoCD
from infra.components.cert_manager import CertManager
from infra.components.external_dns import ExternalDns
from infra.components.istio import Istio
from infra.components.monitoring import Monitoring
from infra.components.traefik import Traefik
from infra.platform.component import PlatformComponent

BOOTSTRAP = ArgoCD
COMPONENTS: tuple[type[PlatformComponent], ...] = (
    Monitoring,
    CertManager,
    Istio,
    Traefik,
    ExternalDns,
)

__all__ = ["BOOTSTRAP", "COMPONENTS", "ArgoCD", "CertManager", "ExternalDns", "Istio", "Monitoring", "Traefik"]
