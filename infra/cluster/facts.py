"""ClusterFacts: everything the platform layer may know about the cluster it runs on.

The cluster layer (gke.py or onprem.py) fills this once; components read it and never branch on the target
themselves. What a cloud gives (object storage, block storage, database, load balancer, registry, identity)
is described here the same way whether GCP or an on-prem replacement provides it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.network import Allow

if TYPE_CHECKING:  # components import this module; importing them here at run time would be circular
    from infra.platform.component import PlatformComponent


@dataclass(frozen=True)
class StorageClasses:
    default: str
    """ReadWriteOnce block storage for databases, Prometheus, Elasticsearch."""
    fast: str
    """SSD-backed class for latency-sensitive volumes."""
    shared: str | None = None
    """ReadWriteMany class where one exists (Longhorn on-prem, Filestore on GKE)."""


@dataclass(frozen=True)
class ObjectStore:
    kind: Literal["gcs", "s3"]
    endpoint: str
    buckets: Mapping[str, str]
    """Bucket name by purpose: artifacts, dvc, backups, log-snapshots."""
    credentials: Literal["workload-identity", "secret"]
    """GKE grants access through Workload Identity; on-prem workloads read a Secret."""
    credentials_secret: str | None = None
    """Name of the Secret (in each consuming namespace) holding S3 keys when credentials is `secret`; its keys
    are S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY for every consumer (Longhorn also reads AWS_ENDPOINTS and
    Velero an AWS credentials file under `cloud`)."""


PIPELINE_RUNS_PREFIX = "pipelines"
"""Where Kubeflow Pipelines runs keep their artifacts in the artifacts bucket (one folder per team below)."""
S3_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
S3_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"


# Kubeflow Pipelines' API server and cache server cannot use PostgreSQL in KFP 2.16 (docs/ml-platform.md), so
# the cluster database serves MLflow (its tracking store, and the users and permissions of its basic auth) and
# KFP's ML Metadata store (upstream's default name for it: metadb).
PLATFORM_DATABASES = ("mlflow", "mlflow_auth", "metadb")


def iam_database_user(email: str) -> str:
    """The PostgreSQL user Cloud SQL creates for a service account: its email without `.gserviceaccount.com`."""
    return email.removesuffix(".gserviceaccount.com")


@dataclass(frozen=True)
class Database:
    kind: Literal["cloudsql", "cloudnativepg"]
    host: pulumi.Input[str]
    port: int = 5432
    credentials_secret: str = "platform-db-credentials"
    databases: tuple[str, ...] = PLATFORM_DATABASES
    """Databases created for the platform: MLflow tracking and basic auth, Kubeflow Pipelines' ML Metadata (and
    Harbor's, on-prem with Harbor as the registry)."""
    iam_authentication: bool = False
    """Workloads log in as their Workload Identity service account (Cloud SQL IAM database authentication,
    through the Cloud SQL Auth Proxy; infra/platform/database.py); credentials_secret is then unused."""
    connection_name: pulumi.Input[str] | None = None
    """Cloud SQL instance connection name (`project:region:instance`) for the Auth Proxy; None elsewhere."""
    credentials_namespace: str | None = None
    """Namespace credentials_secret is created in when that is not its users' (CloudNativePG writes it into its
    own): each user's namespace needs a copy of its own (infra/platform/login_copy.py)."""
    credentials_store: str | None = None
    """External Secrets ClusterSecretStore that copies credentials_secret into the namespaces of
    credentials_readers; None: External Secrets is off, and the copies are made by hand."""
    credentials_readers: tuple[str, ...] = ()
    """The namespaces that may have credentials_secret copied into them (the store admits only these)."""


@dataclass(frozen=True)
class EventBroker:
    """Where event-driven workloads (Knative Eventing) publish and subscribe."""

    kind: Literal["pubsub", "nats-jetstream"]
    endpoint: str
    topics: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Pub/Sub topic id by name (GKE). JetStream streams are created by the Knative channel itself."""


@dataclass(frozen=True)
class WorkloadIdentity:
    """Kubernetes service account annotations that grant a workload its cloud identity."""

    service_accounts: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Cloud identity (e.g. Google service account email) by workload name."""

    def annotations(self, workload: str) -> dict[str, pulumi.Input[str]]:
        email = self.service_accounts.get(workload)
        return {"iam.gke.io/gcp-service-account": email} if email is not None else {}


@dataclass(frozen=True)
class ClusterFacts:
    target: Literal["gke", "onprem"]
    provider: k8s.Provider
    storage: StorageClasses
    object_store: ObjectStore
    registry: str
    load_balancer: Literal["cloud", "metallb"]
    cni: Literal["dataplane-v2", "cilium", "calico"]
    has_metrics_server: bool
    has_managed_logging: bool = False
    """The cluster already ships container logs somewhere (GKE: Cloud Logging), so ELK is optional there."""
    identity: WorkloadIdentity = field(default_factory=WorkloadIdentity)
    database: Database | None = None
    ready: Sequence[pulumi.Resource] = ()
    """Resources the platform must wait for (the cluster and node pools, the CNI)."""
    event_broker: EventBroker | None = None
    """The message broker, when the environment asks for one."""
    namespace_egress: tuple[Allow, ...] = ()
    """What every namespace must reach on this cluster besides DNS (GKE: the metadata server that hands pods
    their Workload Identity tokens), added to each namespace's allowances."""
    api_server: pulumi.Input[str] | None = None
    """URL of the cluster's API server as others reach it (a hub Argo CD), where the cluster layer knows it."""
    api_server_ca: pulumi.Input[str] | None = None
    """The CA of that API server (base64 PEM), where the cluster layer knows it."""
    services: tuple[type[PlatformComponent], ...] = ()
    """Components that replace cloud services on this target (MinIO, MetalLB, CloudNativePG, Harbor on-prem),
    deployed by Argo CD with the platform components, before those that use them."""

    @property
    def crd_groups(self) -> tuple[str, ...]:
        """API groups whose CRDs exist before any Application, installed with the cluster layer."""
        return cluster_crd_groups(self.cni)


CLUSTER_LAYER = "cluster"
"""Owner name of the CRDs the cluster layer installs, next to the component names that own the others."""


def cluster_crd_groups(cni: str) -> tuple[str, ...]:
    """The Cilium agent creates the cilium.io CRDs at start, so they exist once the CNI is ready."""
    return ("cilium.io",) if cni == "cilium" else ()


def cluster_api_versions(cni: str) -> tuple[str, ...]:
    """The API versions of those CRDs, as a cluster's discovery lists them (`group/version`)."""
    return ("cilium.io/v2", "cilium.io/v2alpha1") if cni == "cilium" else ()
