"""The Environment: every platform setting of one stack, typed and immutable.

The settings of each area are in infra/config/settings/<area>.py (their package docstring says how to write them);
this module assembles them into Components and the Environment, and re-exports every settings class so the rest of
the code imports them from one place: `from infra.config.model import ...`.
"""

from __future__ import annotations

from typing import Literal

from pydantic.json_schema import SkipJsonSchema

from infra.catalog import CATALOG
from infra.config.formats import Domain, PinnedVersion
from infra.config.settings.cluster import (
    AuthorizedNetwork,
    BgpPeer,
    CloudSql,
    GcsBuckets,
    GkeCluster,
    GkeNetwork,
    Gpu,
    Kubeconfig,
    MetalLB,
    MinioTenant,
    NodePool,
    NodeTaint,
    OnPremCluster,
    OnPremEventing,
    OnPremNodes,
    PostgresCluster,
    Registry,
)
from infra.config.settings.common import (
    ExistingComponent,
    SecretSource,
    Settings,
)
from infra.config.settings.data_safety import (
    BackupSchedule,
    ExternalSecrets,
    VaultStore,
    Velero,
)
from infra.config.settings.delivery import (
    ArgoCdHub,
    ArgoCdOidc,
    ArgoCdRbac,
    ArgoCdSettings,
    GitOps,
    MirrorException,
    Mirrors,
    RbacBinding,
    SecretKeyRef,
    SyncWindow,
)
from infra.config.settings.ml import (
    NOTEBOOK_IMAGES,
    DefaultImages,
    Feast,
    GpuOperator,
    Kserve,
    Kubeflow,
    KubeflowAuth,
    KubeRay,
    Mlflow,
    ProxySecretKeyRef,
    RayHead,
    RayWorkerGroup,
    Team,
    TeamQuota,
    TeamRay,
)
from infra.config.settings.networking import (
    CertManager,
    ExistingCertManager,
    ExistingIstio,
    ExternalDns,
    Ingress,
    Istio,
    Rfc2136,
)
from infra.config.settings.observability import (
    Aiops,
    Alerting,
    Alertmanager,
    AlertRoute,
    Elasticsearch,
    ExistingMonitoring,
    Grafana,
    GrafanaSso,
    Logging,
    LogSnapshots,
    Monitoring,
    Prometheus,
    Receiver,
    Thanos,
    ThanosRetention,
)
from infra.config.settings.serverless import (
    Autoscaling,
    Eventing,
    ExampleWorker,
    Keda,
    Knative,
)
from infra.config.settings.storage import (
    Longhorn,
    ObjectStore,
    RecurringJob,
)

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
ComponentName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]

__all__ = [
    "KUBERNETES_VERSIONS",
    "ComponentName",
    "Components",
    "Environment",
    "Settings",
    "ExistingComponent",
    "SecretSource",
    "Gpu",
    "NodeTaint",
    "GkeNetwork",
    "AuthorizedNetwork",
    "GcsBuckets",
    "CloudSql",
    "MetalLB",
    "BgpPeer",
    "Registry",
    "PostgresCluster",
    "OnPremEventing",
    "MinioTenant",
    "NodePool",
    "GkeCluster",
    "Kubeconfig",
    "OnPremNodes",
    "OnPremCluster",
    "Ingress",
    "ExistingIstio",
    "Istio",
    "ExistingCertManager",
    "CertManager",
    "Rfc2136",
    "ExternalDns",
    "ObjectStore",
    "RecurringJob",
    "Longhorn",
    "Autoscaling",
    "Eventing",
    "Knative",
    "ExampleWorker",
    "Keda",
    "ExistingMonitoring",
    "GrafanaSso",
    "Receiver",
    "AlertRoute",
    "Alerting",
    "Aiops",
    "Elasticsearch",
    "LogSnapshots",
    "Logging",
    "Prometheus",
    "Alertmanager",
    "Grafana",
    "Monitoring",
    "ThanosRetention",
    "Thanos",
    "TeamQuota",
    "RayHead",
    "RayWorkerGroup",
    "TeamRay",
    "Team",
    "ProxySecretKeyRef",
    "KubeflowAuth",
    "Kubeflow",
    "Kserve",
    "Mlflow",
    "Feast",
    "GpuOperator",
    "KubeRay",
    "DefaultImages",
    "NOTEBOOK_IMAGES",
    "SecretKeyRef",
    "ArgoCdOidc",
    "RbacBinding",
    "ArgoCdRbac",
    "SyncWindow",
    "ArgoCdHub",
    "ArgoCdSettings",
    "MirrorException",
    "Mirrors",
    "GitOps",
    "BackupSchedule",
    "Velero",
    "VaultStore",
    "ExternalSecrets",
]


class Components(Settings):
    cert_manager: CertManager = CertManager()
    """cert-manager and the platform's ClusterIssuer."""
    istio: Istio = Istio()
    """Istio, when `ingress.provider` is istio: installed by the stack, or one the cluster already runs."""
    monitoring: Monitoring = Monitoring()
    """Metrics and alerting."""
    logging: Logging = Logging()
    """Logs in Elasticsearch (ELK) through Elastic's ECK operator."""
    longhorn: Longhorn = Longhorn()
    """Longhorn block storage, its storage classes, snapshots and backups."""
    knative: Knative = Knative()
    """Knative Serving and Eventing (serverless model serving, scale to zero, events)."""
    keda: Keda = Keda()
    """KEDA event-driven autoscaling."""
    velero: Velero = Velero()
    """Scheduled backups of Kubernetes objects and volumes."""
    external_secrets: ExternalSecrets = ExternalSecrets()
    """Secrets from a secret store instead of git."""
    external_dns: ExternalDns = ExternalDns()
    """DNS records for every exposed platform UI, where the environment's DNS zone is managed."""
    kubeflow: Kubeflow = Kubeflow()
    """Kubeflow and the teams' Profiles."""
    kserve: Kserve = Kserve()
    """Model serving."""
    mlflow: Mlflow = Mlflow()
    """Experiment tracking and model registry."""
    feast: Feast = Feast()
    """Feature store."""
    gpu_operator: GpuOperator = GpuOperator()
    """NVIDIA GPU operator for on-prem GPU nodes."""
    thanos: Thanos = Thanos()
    """Long-term metrics in the object store."""
    kuberay: KubeRay = KubeRay()
    """The KubeRay operator and the teams' Ray clusters."""


class Environment(Settings):
    name: SkipJsonSchema[str] = ""
    """Set from the stack file name (`Pulumi.<name>.yaml`), never written in it."""
    tier: Literal["dev", "staging", "prod"]
    """How critical the environment is. `prod` must be highly available and keeps its data on deletion."""
    target: Literal["gke", "onprem"]
    """Where the platform runs: a GKE cluster this stack creates, or an existing on-premises cluster."""
    kubernetes_version: Literal[KUBERNETES_VERSIONS]  # type: ignore[valid-type]
    """Kubernetes minor version of the cluster; manifests are validated against it."""
    domain: Domain
    """DNS domain under which every platform UI is exposed, e.g. `grafana.<domain>`."""
    high_availability: bool = False
    """Run replicated control components (Argo CD, Prometheus, Alertmanager) across nodes."""
    gke: GkeCluster | None = None
    """The GKE cluster; required when target is `gke`."""
    onprem: OnPremCluster | None = None
    """The existing cluster; required when target is `onprem`."""
    ingress: Ingress = Ingress()
    """Ingress and mesh choice."""
    object_store: ObjectStore
    """Object storage for artifacts and backups."""
    components: Components = Components()
    """Optional components and their settings."""
    gitops: GitOps = GitOps()
    """Where Argo CD finds this repository."""
    versions: dict[ComponentName, PinnedVersion] = {}  # type: ignore[valid-type]
    """Chart versions this environment pins where it differs from the catalog, by component. Promotion copies
    these from one environment to the next."""
    default_images: DefaultImages = DefaultImages()
    """The platform's default images (images/ in this repository): where they are and which builds are offered."""
    argocd: ArgoCdSettings = ArgoCdSettings()
    """Argo CD: single sign-on, RBAC, sync windows and the ML applications it syncs from `apps/`."""
    mirrors: Mirrors = Mirrors()
    """Where a cluster without internet access gets charts, images and git repositories
    (docs/installing-without-internet.md); `python -m infra.cli mirror` lists what to copy there."""
