"""Every platform component, in the order they are declared.

A component that installs CRDs comes before the components that create its custom resources
(kube-prometheus-stack before everything that declares a ServiceMonitor). Sync waves come from each
component's declared dependencies (infra/platform/ordering.py), not from this order.
"""

from infra.components.argocd import ArgoCD
from infra.components.cert_manager import CertManager
from infra.components.feast import Feast
from infra.components.kserve import Kserve
from infra.components.kubeflow import Kubeflow
from infra.components.mlflow import Mlflow
from infra.components.monitoring import Monitoring
from infra.platform.component import PlatformComponent

BOOTSTRAP = ArgoCD
COMPONENTS: tuple[type[PlatformComponent], ...] = (
    Monitoring,
    CertManager,
    Kubeflow,
    Kserve,
    Mlflow,
    Feast,
)

__all__ = ["BOOTSTRAP", "COMPONENTS", "ArgoCD", "CertManager", "Feast", "Kserve", "Kubeflow", "Mlflow", "Monitoring"]
