"""Every platform component, in the order they are declared.

A component that installs CRDs comes before the components that create its custom resources
(kube-prometheus-stack before everything that declares a ServiceMonitor). Sync waves come from each
component's declared dependencies (infra/platform/ordering.py), not from this order.
"""

from infra.components.argocd import ArgoCD
from infra.components.cert_manager import CertManager
from infra.components.cloudnative_pg import CloudNativePG
from infra.components.dcgm_exporter import DcgmExporter
from infra.components.eck import Eck
from infra.components.external_dns import ExternalDns
from infra.components.external_secrets import ExternalSecrets
from infra.components.feast import Feast
from infra.components.gpu_operator import GpuOperator
from infra.components.harbor import Harbor
from infra.components.istio import Istio
from infra.components.keda import Keda
from infra.components.knative import Knative
from infra.components.kserve import Kserve
from infra.components.kubeflow import Kubeflow
from infra.components.kuberay import KubeRay
from infra.components.logging import Logging
from infra.components.longhorn import Longhorn
from infra.components.metallb import MetalLB
from infra.components.metrics_server import MetricsServer
from infra.components.minio import MinIO
from infra.components.mlflow import Mlflow
from infra.components.monitoring import Monitoring
from infra.components.nats import Nats
from infra.components.oauth2_proxy import OAuth2Proxy
from infra.components.thanos import Thanos
from infra.components.traefik import Traefik
from infra.components.velero import Velero
from infra.platform.component import PlatformComponent

BOOTSTRAP = ArgoCD
COMPONENTS: tuple[type[PlatformComponent], ...] = (
    Monitoring,
    Thanos,
    CertManager,
    Istio,
    Traefik,
    ExternalDns,
    MetricsServer,
    DcgmExporter,
    GpuOperator,
    Eck,
    Logging,
    Longhorn,
    Knative,
    Keda,
    ExternalSecrets,
    Velero,
    OAuth2Proxy,
    Kubeflow,
    KubeRay,
    Kserve,
    Mlflow,
    Feast,
)
ONPREM_SERVICES: tuple[type[PlatformComponent], ...] = (MetalLB, MinIO, CloudNativePG, Harbor, Nats)
"""The on-prem replacements of cloud services, which the on-prem cluster layer adds (infra/cluster/onprem.py)."""
EVERY_COMPONENT: tuple[type[PlatformComponent], ...] = (BOOTSTRAP, *COMPONENTS, *ONPREM_SERVICES)
"""Every component some environment may install, for what is gathered from all of them (the exported families)."""

__all__ = [
    "BOOTSTRAP",
    "COMPONENTS",
    "EVERY_COMPONENT",
    "ONPREM_SERVICES",
    "ArgoCD",
    "CertManager",
    "CloudNativePG",
    "DcgmExporter",
    "Eck",
    "ExternalDns",
    "ExternalSecrets",
    "Feast",
    "GpuOperator",
    "Harbor",
    "Istio",
    "Keda",
    "Knative",
    "Kserve",
    "Kubeflow",
    "KubeRay",
    "Logging",
    "Longhorn",
    "MetalLB",
    "MetricsServer",
    "MinIO",
    "Mlflow",
    "Monitoring",
    "Nats",
    "OAuth2Proxy",
    "Thanos",
    "Traefik",
    "Velero",
]
