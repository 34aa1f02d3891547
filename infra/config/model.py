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
    rate_limit_average: Annotated[int, Field(ge=1, le=100000)] = 100
    """Traefik only: requests per second each client may send to a platform UI, on average."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=100000)] = 200
    """Traefik only: requests a client may send in a burst above the average."""
    forward_auth_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """Traefik only: URL of an authentication service (e.g. oauth2-proxy's `/oauth2/auth`) every platform UI
    asks before serving a request; unset, the UIs use their own login."""


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
    acme_solver: Literal["http01", "dns01"] = "http01"
    """How ACME proves control of the domain: `http01` (a challenge served through the ingress; the domain must
    be reachable from the internet) or `dns01` (a TXT record in Cloud DNS, written with Workload Identity)."""
    cloud_dns_project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] | None = None
    """GCP project of the Cloud DNS zone that holds the domain; required with acmeSolver `dns01`."""
    cloud_dns_zone: Annotated[str, Field(pattern=K8S_NAME)] | None = None
    """Cloud DNS managed zone name of the domain; unset, cert-manager finds the zone itself."""


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


# --- ingress, mesh, TLS, DNS ---


class Rfc2136(Settings):
    host: Annotated[str, Field(min_length=1)]
    """Address of the authoritative DNS server that accepts dynamic updates (RFC 2136)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 53
    """DNS port of that server."""
    zone: Annotated[str, Field(pattern=DNS_NAME)]
    """Zone external-dns updates, e.g. the environment's domain."""
    tsig_key_name: Annotated[str, Field(min_length=1)]
    """Name of the TSIG key the server accepts updates signed with."""
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha512"] = "hmac-sha256"
    """TSIG algorithm of that key."""
    tsig_secret: Annotated[str, Field(pattern=K8S_NAME)] = "external-dns-tsig"
    """Secret in the external-dns namespace whose key `tsig-secret` holds the TSIG secret (never in git)."""


class ExternalDns(Settings):
    provider: Literal["google", "rfc2136", "none"] = "none"
    """Who serves the environment's DNS zone: Cloud DNS (`google`, with Workload Identity), a server that accepts
    RFC 2136 dynamic updates (on-prem), or `none` (records are managed by hand; external-dns is not installed)."""
    domain_filters: tuple[Annotated[str, Field(pattern=DNS_NAME)], ...] = ()
    """Domains external-dns may write records in; empty means the environment's domain only."""
    google_project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] | None = None
    """GCP project of the Cloud DNS zone; required with provider `google`."""
    google_zone_visibility: Literal["public", "private"] = "public"
    """Which Cloud DNS zones of that project external-dns manages."""
    rfc2136: Rfc2136 | None = None
    """The DNS server to update; required with provider `rfc2136`."""
    policy: Literal["upsert-only", "sync"] = "upsert-only"
    """`upsert-only` never deletes records; `sync` also removes records of deleted routes."""


class Components(Settings):
    cert_manager: CertManager = CertManager()
    """cert-manager and the platform's ClusterIssuer."""
    monitoring: Monitoring = Monitoring()
    """Metrics and alerting."""
    external_dns: ExternalDns = ExternalDns()
    """DNS records for every exposed platform UI, where the environment's DNS zone is managed."""


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
