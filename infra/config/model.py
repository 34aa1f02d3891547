"""The Environment: every platform setting of one stack, typed and immutable.

A stack file holds these settings under the single config key `mlops-platform:platform`, in camelCase.
Each attribute's docstring is its description in the generated JSON Schema and in docs/environment.md,
so write it for the adopter who edits a stack file. Rules that relate several settings live in rules.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from infra.catalog import CATALOG

DNS_NAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
K8S_NAME = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
# An exact release: no "latest", no ranges, so every environment deploys what it names.
PINNED_VERSION = r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"
QUANTITY = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$"
DURATION = r"^\d+(h|d|w|y)$"
CIDR = r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"
LABEL_KEY = r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
IP_RANGE = r"^(\d{1,3}(\.\d{1,3}){3}/\d{1,2}|\d{1,3}(\.\d{1,3}){3}-\d{1,3}(\.\d{1,3}){3})$"

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
ComponentName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]


class Settings(BaseModel):
    """Base of every settings object: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


# --- cluster targets -------------------------------------------------------------------------------------


class Gpu(Settings):
    type: Literal["nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"]
    """GPU accelerator type attached to every node of the pool."""
    count: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per node."""


# --- cluster layer ---------------------------------------------------------------------------------------


class NodeTaint(Settings):
    key: Annotated[str, Field(pattern=LABEL_KEY)]
    """Taint key, e.g. `workload`."""
    value: Annotated[str, Field(max_length=63)] = ""
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What happens to pods that do not tolerate the taint."""


class GkeNetwork(Settings):
    subnet_cidr: Annotated[str, Field(pattern=CIDR)] = "10.10.0.0/20"
    """Primary range of the subnet: node addresses."""
    pods_cidr: Annotated[str, Field(pattern=CIDR)] = "10.20.0.0/14"
    """Secondary range for pod addresses."""
    services_cidr: Annotated[str, Field(pattern=CIDR)] = "10.24.0.0/20"
    """Secondary range for Service cluster IPs."""
    master_cidr: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/28$")] = "172.16.0.0/28"
    """/28 range of the private control plane endpoint; must not overlap the ranges above."""


class AuthorizedNetwork(Settings):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    """Label shown in the GKE console, e.g. `ci-runners`."""
    cidr: Annotated[str, Field(pattern=CIDR)]
    """Address range allowed to reach the control plane."""


class GcsBuckets(Settings):
    noncurrent_versions_kept: Annotated[int, Field(ge=1, le=100)] = 3
    """Older versions of an object kept besides the live one (versioned buckets)."""
    noncurrent_days: Annotated[int, Field(ge=1, le=3650)] = 30
    """Days after which an overwritten or deleted object version is removed."""
    log_snapshots_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Days after which Elasticsearch log snapshots are deleted."""
    retention_days: dict[Literal["artifacts", "dvc", "backups", "log-snapshots"], Annotated[int, Field(ge=1)]] = {}
    """Retention policy (objects cannot be deleted or overwritten before this many days) by bucket purpose.
    Cloud Storage does not allow versioning together with a retention policy, so such a bucket is unversioned."""


class CloudSql(Settings):
    tier: str = "db-custom-2-7680"
    """Machine tier of the instance, e.g. `db-custom-4-15360`."""
    postgres_version: Literal["POSTGRES_15", "POSTGRES_16", "POSTGRES_17"] = "POSTGRES_16"
    """PostgreSQL major version."""
    disk_size_gb: Annotated[int, Field(ge=10, le=65536)] = 50
    """Initial SSD size; it grows automatically."""
    backup_retention: Annotated[int, Field(ge=1, le=365)] = 14
    """Daily backups kept."""


class MetalLB(Settings):
    mode: Literal["l2", "bgp"] = "l2"
    """How addresses are announced: layer 2 (ARP/NDP, one subnet) or BGP to your routers."""
    addresses: Annotated[tuple[Annotated[str, Field(pattern=IP_RANGE)], ...], Field(min_length=1)]
    """Free address ranges (CIDR or `first-last`) MetalLB may assign to LoadBalancer services."""
    peers: tuple[BgpPeer, ...] = ()
    """BGP routers to peer with; required with mode `bgp`, unused with `l2`."""


class BgpPeer(Settings):
    address: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}$")]
    """Router address."""
    asn: Annotated[int, Field(ge=1, le=4294967294)]
    """The router's AS number."""
    my_asn: Annotated[int, Field(ge=1, le=4294967294)]
    """The AS number MetalLB speakers use."""


class Registry(Settings):
    provider: Literal["harbor", "existing"] = "harbor"
    """Install Harbor in the cluster, or use an existing registry."""
    url: str | None = None
    """Host (and path) of the existing registry, e.g. `registry.corp.example.net/mlops`; only with `existing`."""


class PostgresCluster(Settings):
    instances: Annotated[int, Field(ge=1, le=9)] = 1
    """PostgreSQL instances (one primary, the rest streaming replicas); highly available environments need 3."""
    storage_size: Annotated[str, Field(pattern=QUANTITY)] = "20Gi"
    """Volume size of each instance."""
    backup_retention: Annotated[str, Field(pattern=r"^\d+[dwm]$")] = "30d"
    """How long base backups and WAL are kept in the object store, e.g. `30d`."""


class OnPremEventing(Settings):
    broker: Literal["none", "nats"] = "none"
    """`nats`: a NATS JetStream cluster, the backing store of Knative's NatsJetStreamChannel; `none`: no broker."""
    storage_size: Annotated[str, Field(pattern=QUANTITY)] = "10Gi"
    """JetStream file store volume per NATS server."""


class MinioTenant(Settings):
    servers: Annotated[int, Field(ge=1, le=32)] = 1
    """MinIO server pods; highly available environments need at least 4 (erasure coding)."""
    volumes_per_server: Annotated[int, Field(ge=1, le=16)] = 1
    """Volumes per server."""
    volume_size: Annotated[str, Field(pattern=QUANTITY)] = "100Gi"
    """Size of each volume."""


class NodePool(Settings):
    name: Annotated[str, Field(pattern=K8S_NAME)]
    """Node pool name, unique within the cluster."""
    role: Literal["system", "general", "gpu"]
    """What the pool runs: `system` (platform add-ons), `general` (CPU workloads) or `gpu` (training and serving
    on accelerators; tainted so only GPU workloads land there)."""
    machine_type: str = "e2-standard-4"
    """Compute Engine machine type of the nodes."""
    min_nodes: Annotated[int, Field(ge=0, le=1000)] = 1
    """Autoscaler lower bound per zone. GPU pools may scale to zero."""
    max_nodes: Annotated[int, Field(ge=1, le=1000)] = 3
    """Autoscaler upper bound per zone."""
    spot: bool = False
    """Use Spot VMs (cheaper, may be reclaimed at any time)."""
    disk_size_gb: Annotated[int, Field(ge=20, le=65536)] = 100
    """Boot disk size of each node, in GB."""
    gpu: Gpu | None = None
    """Accelerators of a `gpu` pool; leave unset for other roles."""
    labels: dict[Annotated[str, Field(pattern=LABEL_KEY)], Annotated[str, Field(max_length=63)]] = {}
    """Extra Kubernetes node labels, on top of `mlops.io/pool-role: <role>` that every pool gets."""
    taints: tuple[NodeTaint, ...] = ()
    """Extra node taints. GPU pools always get `nvidia.com/gpu=present:NoSchedule` in addition."""


class GkeCluster(Settings):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    """GCP project that holds the cluster and every cloud resource of this environment."""
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]$")]
    """GCP region of the regional cluster, its network and buckets."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """GKE release channel that drives control-plane and node upgrades."""
    node_pools: Annotated[tuple[NodePool, ...], Field(min_length=1)]
    """Node pools of the cluster. Exactly one must have the `system` role."""
    network: GkeNetwork = GkeNetwork()
    """Address ranges of the VPC subnet, pods, services and the control plane."""
    master_authorized_networks: tuple[AuthorizedNetwork, ...] = ()
    """Networks allowed to reach the control plane endpoint (CI runners, VPN). Empty: only the subnet itself."""
    private_endpoint: bool = False
    """Give the control plane no public endpoint at all; `pulumi up` must then run from inside the VPC."""
    maintenance_window_start: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "03:00"
    """Start (UTC, `HH:MM`) of the daily 4-hour window in which GKE may upgrade the cluster."""
    managed_prometheus: bool = False
    """Enable Google Managed Service for Prometheus collection besides the in-cluster Prometheus."""
    buckets: GcsBuckets = GcsBuckets()
    """Lifecycle and retention of the Cloud Storage buckets."""
    database: CloudSql = CloudSql()
    """The Cloud SQL for PostgreSQL instance used by MLflow and Kubeflow Pipelines."""
    pubsub_topics: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,62}$")], ...] = ()
    """Pub/Sub topics for event-driven workloads; the `eventing` workload identity may publish and subscribe."""


class Kubeconfig(Settings):
    path: str = "~/.kube/config"
    """Path of the kubeconfig file on the machine that runs `pulumi up`. It is read there, never stored."""
    context: Annotated[str, Field(min_length=1)]
    """Context in that kubeconfig that reaches the existing cluster."""


class OnPremCluster(Settings):
    kubeconfig: Kubeconfig
    """How Pulumi reaches the existing cluster."""
    cni: Literal["cilium", "calico"] = "cilium"
    """CNI that Pulumi installs before anything else, since no pod can start without one."""
    load_balancer: MetalLB
    """MetalLB address pools that give LoadBalancer services their IPs."""
    registry: Registry = Registry()
    """Container registry: an in-cluster Harbor or an existing registry."""
    database: PostgresCluster = PostgresCluster()
    """The CloudNativePG PostgreSQL cluster used by MLflow and Kubeflow Pipelines."""
    minio: MinioTenant = MinioTenant()
    """Size of the in-cluster MinIO tenant (only with objectStore provider `minio`)."""
    eventing: OnPremEventing = OnPremEventing()
    """The message broker that replaces Pub/Sub for Knative Eventing."""


# --- platform-wide choices -------------------------------------------------------------------------------


class Ingress(Settings):
    provider: Literal["istio", "traefik"] = "istio"
    """What carries traffic into the cluster: Istio (ingress gateway and mesh) or Traefik."""


class ObjectStore(Settings):
    provider: Literal["gcs", "minio", "s3"]
    """Where ML artifacts, backups and log snapshots go: Cloud Storage (GKE), an in-cluster MinIO, or an
    existing S3-compatible endpoint (on-prem)."""
    endpoint: str | None = None
    """URL of an existing S3-compatible endpoint; only with provider `s3`."""
    bucket_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,40}$")] = "mlops"
    """Prefix of every bucket name, so environments sharing an endpoint do not collide."""


# --- components ------------------------------------------------------------------------------------------


class CertManager(Settings):
    enabled: bool = True
    """Install cert-manager, which issues the TLS certificates of every platform endpoint."""
    issuer: Literal["acme", "self-signed"] = "acme"
    """ClusterIssuer used for platform certificates: ACME (Let's Encrypt) or a self-signed CA for labs."""
    acme_email: str | None = None
    """Contact address registered with the ACME server; required with issuer `acme`."""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL; use the staging URL while testing."""


class Prometheus(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Prometheus replicas; highly available environments need at least 2."""
    retention: Annotated[str, Field(pattern=DURATION)] = "15d"
    """How long samples are kept, e.g. `15d`."""
    storage_size: Annotated[str, Field(pattern=QUANTITY)] = "50Gi"
    """Persistent volume size of each Prometheus replica."""


class Alertmanager(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Alertmanager replicas; highly available environments need at least 2."""


class Grafana(Settings):
    enabled: bool = True
    """Install Grafana with the platform dashboards."""


class Monitoring(Settings):
    enabled: bool = True
    """Install kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)."""
    prometheus: Prometheus = Prometheus()
    """Prometheus sizing."""
    alertmanager: Alertmanager = Alertmanager()
    """Alertmanager sizing."""
    grafana: Grafana = Grafana()
    """Grafana settings."""


class Components(Settings):
    cert_manager: CertManager = CertManager()
    """cert-manager and the platform's ClusterIssuer."""
    monitoring: Monitoring = Monitoring()
    """Metrics and alerting."""


# --- the environment -------------------------------------------------------------------------------------


class GitOps(Settings):
    repo_url: str = "https://github.com/example-org/mlops-platform.git"
    """Git repository Argo CD syncs the ML applications (`apps/`) from: this repository, where adopters host it."""
    revision: str = "main"
    """Branch or tag of that repository the environment follows."""


class Environment(Settings):
    name: SkipJsonSchema[str] = ""
    """Set from the stack file name (`Pulumi.<name>.yaml`), never written in it."""
    tier: Literal["dev", "staging", "prod"]
    """How critical the environment is. `prod` must be highly available and keeps its data on deletion."""
    target: Literal["gke", "onprem"]
    """Where the platform runs: a GKE cluster this stack creates, or an existing on-premises cluster."""
    kubernetes_version: Literal[KUBERNETES_VERSIONS]  # type: ignore[valid-type]
    """Kubernetes minor version of the cluster; manifests are validated against it."""
    domain: Annotated[str, Field(pattern=DNS_NAME)]
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
    versions: dict[ComponentName, Annotated[str, Field(pattern=PINNED_VERSION)]] = {}  # type: ignore[valid-type]
    """Chart versions this environment pins where it differs from the catalog, by component. Promotion copies
    these from one environment to the next."""
