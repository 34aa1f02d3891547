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
# Calendar release tags (Kubeflow's 26.03) are exact too.
PINNED_VERSION = r"^(v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?|\d{2}\.\d{2}(\.\d+)?)$"
QUANTITY = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$"
DURATION = r"^\d+(h|d|w|y)$"
CIDR = r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"
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


class GkeCluster(Settings):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    """GCP project that holds the cluster and every cloud resource of this environment."""
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]$")]
    """GCP region of the regional cluster, its network and buckets."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """GKE release channel that drives control-plane and node upgrades."""
    node_pools: Annotated[tuple[NodePool, ...], Field(min_length=1)]
    """Node pools of the cluster. Exactly one must have the `system` role."""


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


# --- ML platform ------------------------------------------------------------------------------------------

EMAIL = r"^[^@\s]+@[^@\s]+\.[a-z]{2,63}$"
CPU_QUANTITY = r"^\d+(\.\d+)?m?$"
IMAGE_REF = r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$"
NOTEBOOK_IMAGES = (
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-tensorflow-full:v1.10.0",
)


class TeamQuota(Settings):
    cpu: Annotated[str, Field(pattern=CPU_QUANTITY)] = "8"
    """CPU the team's namespace may request in total, e.g. `8` or `500m`."""
    memory: Annotated[str, Field(pattern=QUANTITY)] = "32Gi"
    """Memory the team's namespace may request in total."""
    gpu: Annotated[int, Field(ge=0, le=512)] = 0
    """GPUs (`nvidia.com/gpu`) the team's namespace may request in total."""
    storage: Annotated[str, Field(pattern=QUANTITY)] = "200Gi"
    """Persistent volume storage the team's namespace may claim in total."""


class Team(Settings):
    name: Annotated[str, Field(pattern=K8S_NAME)]
    """Team name; also the name of its Kubeflow Profile and of the namespace the Profile creates."""
    owner: Annotated[str, Field(pattern=EMAIL)]
    """E-mail of the team's owner, as the identity provider reports it; owns the Profile."""
    members: tuple[Annotated[str, Field(pattern=EMAIL)], ...] = ()
    """E-mails of the other members; each becomes a contributor (edit access) of the team's namespace."""
    quota: TeamQuota = TeamQuota()
    """Compute and storage the team may use: the Profile's ResourceQuota."""


class Kubeflow(Settings):
    enabled: bool = False
    """Install Kubeflow (Pipelines, Notebooks, Katib, training operator, dashboard, Profiles) from the upstream
    kubeflow/manifests release. Needs the Istio ingress provider."""
    notebook_images: Annotated[tuple[Annotated[str, Field(pattern=IMAGE_REF)], ...], Field(min_length=1)] = (
        NOTEBOOK_IMAGES
    )
    """Images offered when a user starts a notebook server; the first is the default."""
    teams: tuple[Team, ...] = ()
    """Teams: one Kubeflow Profile (namespace, members, ResourceQuota) each."""


class Kserve(Settings):
    enabled: bool = False
    """Install KServe in serverless mode (on Knative) with the platform's ClusterServingRuntimes."""


class Mlflow(Settings):
    enabled: bool = False
    """Install the MLflow tracking server and model registry (needs the cluster's database)."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Tracking server replicas; highly available environments need at least 2."""


class Feast(Settings):
    enabled: bool = False
    """Install the Feast feature server, with its registry in the object store and a Redis online store in
    the cluster."""
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = "platform"
    """Feast project name."""
    online_store_size: Annotated[str, Field(pattern=QUANTITY)] = "10Gi"
    """Persistent volume size of the in-cluster Redis online store."""


class Components(Settings):
    cert_manager: CertManager = CertManager()
    """cert-manager and the platform's ClusterIssuer."""
    monitoring: Monitoring = Monitoring()
    """Metrics and alerting."""
    kubeflow: Kubeflow = Kubeflow()
    """Kubeflow and the teams' Profiles."""
    kserve: Kserve = Kserve()
    """Model serving."""
    mlflow: Mlflow = Mlflow()
    """Experiment tracking and model registry."""
    feast: Feast = Feast()
    """Feature store."""


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
