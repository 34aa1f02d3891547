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

from infra.catalog import CATALOG, STACK_IMAGES
from infra.config.derived import BUCKET_PURPOSES
from infra.config.formats import (
    AddressPoolRange,
    ApplicationPattern,
    BucketPrefix,
    ByteQuantity,
    ByteQuota,
    Claim,
    CloudDnsZone,
    CloudSqlTier,
    CnpgRetention,
    ComponentLabel,
    CpuQuantity,
    DataKey,
    DnsName,
    Domain,
    ElasticAge,
    ElasticCron,
    ElasticVersion,
    Email,
    EmailDomain,
    FeastProject,
    FiveFieldCron,
    GcpProjectId,
    GcpRegion,
    GcpSubnetRange,
    GitRepository,
    GitRevision,
    GitUrlPrefix,
    GkeControlPlaneRange,
    GkePodRange,
    GoDuration,
    GrafanaGroup,
    Group,
    Host,
    HostPort,
    HttpsUrl,
    HttpUrl,
    Image,
    ImageBuild,
    ImageByDigest,
    IPAddress,
    IPv4Network,
    JvmHeap,
    KubernetesName,
    LabelKey,
    LabelValue,
    MachineType,
    Namespace,
    NodePoolName,
    ObjectName,
    OciRegistry,
    PinnedVersion,
    PrometheusDuration,
    PubSubTopic,
    PulumiConfigKey,
    RayVersion,
    RefreshMinutes,
    RegistryAddress,
    S3Endpoint,
    Scope,
    Scopes,
    SlackChannel,
    StandardCron,
    TimeOfDay,
    TimeZone,
)

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
ComponentName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]
StackImageName = Literal[STACK_IMAGES]  # type: ignore[valid-type]


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
    key: LabelKey
    """Taint key, e.g. `workload`."""
    value: LabelValue = ""
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What happens to pods that do not tolerate the taint."""


class GkeNetwork(Settings):
    subnet_cidr: GcpSubnetRange = "10.10.0.0/20"
    """Primary range of the subnet: node addresses."""
    pods_cidr: GkePodRange = "10.20.0.0/14"
    """Secondary range for pod addresses."""
    services_cidr: GcpSubnetRange = "10.24.0.0/20"
    """Secondary range for Service cluster IPs."""
    master_cidr: GkeControlPlaneRange = "172.16.0.0/28"
    """/28 range of the private control plane endpoint; must not overlap the ranges above."""


class AuthorizedNetwork(Settings):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    """Label shown in the GKE console, e.g. `ci-runners`."""
    cidr: IPv4Network
    """Address range allowed to reach the control plane."""


class GcsBuckets(Settings):
    noncurrent_versions_kept: Annotated[int, Field(ge=1, le=100)] = 3
    """Older versions of an object kept besides the live one (versioned buckets)."""
    noncurrent_days: Annotated[int, Field(ge=1, le=3650)] = 30
    """Days after which an overwritten or deleted object version is removed."""
    log_snapshots_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Days after which Elasticsearch log snapshots are deleted."""
    pipeline_runs_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    """Days after which Kubeflow Pipelines run artifacts (`pipelines/` in the artifacts bucket) are deleted, as
    any deleted object is: kept as a noncurrent version for `noncurrentDays`, and not before a retention
    policy of the bucket allows. Unset: kept until deleted by hand."""
    retention_days: dict[Literal[BUCKET_PURPOSES], Annotated[int, Field(ge=1)]] = {}  # type: ignore[valid-type]
    """Retention policy (objects cannot be deleted or overwritten before this many days) by bucket purpose.
    Cloud Storage does not allow versioning together with a retention policy, so such a bucket is unversioned."""


class CloudSql(Settings):
    tier: CloudSqlTier = "db-custom-2-7680"
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
    addresses: Annotated[tuple[AddressPoolRange, ...], Field(min_length=1)]
    """Free address ranges (CIDR or `first-last`) MetalLB may assign to LoadBalancer services."""
    peers: tuple[BgpPeer, ...] = ()
    """BGP routers to peer with; required with mode `bgp`, unused with `l2`."""


class BgpPeer(Settings):
    address: IPAddress
    """Router address."""
    asn: Annotated[int, Field(ge=1, le=4294967294)]
    """The router's AS number."""
    my_asn: Annotated[int, Field(ge=1, le=4294967294)]
    """The AS number MetalLB speakers use."""


class Registry(Settings):
    provider: Literal["harbor", "existing"] = "harbor"
    """Install Harbor in the cluster, or use an existing registry."""
    url: RegistryAddress | None = None
    """Host (and path) of the existing registry, e.g. `registry.corp.example.net/mlops`; only with `existing`."""


class PostgresCluster(Settings):
    instances: Annotated[int, Field(ge=1, le=9)] = 1
    """PostgreSQL instances (one primary, the rest streaming replicas); highly available environments need 3."""
    storage_size: ByteQuantity = "20Gi"
    """Volume size of each instance."""
    backup_retention: CnpgRetention = "30d"
    """How long base backups and WAL are kept in the object store, e.g. `30d`."""


class OnPremEventing(Settings):
    broker: Literal["none", "nats"] = "none"
    """`nats`: a NATS JetStream cluster, the backing store of Knative's NatsJetStreamChannel; `none`: no broker."""
    storage_size: ByteQuantity = "10Gi"
    """JetStream file store volume per NATS server."""


class MinioTenant(Settings):
    servers: Annotated[int, Field(ge=1, le=32)] = 1
    """MinIO server pods; highly available environments need at least 4 (erasure coding)."""
    volumes_per_server: Annotated[int, Field(ge=1, le=16)] = 1
    """Volumes per server."""
    volume_size: ByteQuantity = "100Gi"
    """Size of each volume."""


class NodePool(Settings):
    name: NodePoolName
    """Node pool name, unique within the cluster."""
    role: Literal["system", "general", "gpu"]
    """What the pool runs: `system` (platform add-ons), `general` (CPU workloads) or `gpu` (training and serving
    on accelerators; tainted so only GPU workloads land there)."""
    machine_type: MachineType = "e2-standard-4"
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
    image_type: Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"] = "COS_CONTAINERD"
    """Node OS image. Longhorn on GKE needs `UBUNTU_CONTAINERD`, which ships open-iscsi (COS does not)."""
    labels: dict[LabelKey, LabelValue] = {}
    """Extra Kubernetes node labels, on top of `mlops.io/pool-role: <role>` that every pool gets."""
    taints: tuple[NodeTaint, ...] = ()
    """Extra node taints. GPU pools always get `nvidia.com/gpu=present:NoSchedule` in addition."""


class GkeCluster(Settings):
    project: GcpProjectId
    """GCP project that holds the cluster and every cloud resource of this environment."""
    region: GcpRegion
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
    maintenance_window_start: TimeOfDay = "03:00"
    """Start (UTC, `HH:MM`) of the daily 4-hour window in which GKE may upgrade the cluster."""
    managed_prometheus: bool = False
    """Enable Google Managed Service for Prometheus collection besides the in-cluster Prometheus."""
    buckets: GcsBuckets = GcsBuckets()
    """Lifecycle and retention of the Cloud Storage buckets."""
    database: CloudSql = CloudSql()
    """The Cloud SQL for PostgreSQL instance used by MLflow and Kubeflow Pipelines."""
    pubsub_topics: tuple[PubSubTopic, ...] = ()
    """Pub/Sub topics for event-driven workloads; the `eventing` workload identity may publish and subscribe."""


class Kubeconfig(Settings):
    path: str = "~/.kube/config"
    """Path of the kubeconfig file on the machine that runs `pulumi up`. It is read there, never stored."""
    context: Annotated[str, Field(min_length=1)]
    """Context in that kubeconfig that reaches the existing cluster."""


class OnPremNodes(Settings):
    name: NodePoolName
    """Name of this group of identical worker nodes, as the capacity report calls it."""
    count: Annotated[int, Field(ge=1, le=5000)]
    """How many such nodes the cluster has."""
    cpu: CpuQuantity
    """CPU each node allocates to pods: its `status.allocatable.cpu` (after the kubelet's reservations)."""
    memory: ByteQuantity
    """Memory each node allocates to pods: its `status.allocatable.memory`."""
    gpu: Annotated[int, Field(ge=0, le=16)] = 0
    """GPUs (`nvidia.com/gpu`) each node allocates."""
    ephemeral_storage: ByteQuantity | None = None
    """Local ephemeral storage each node allocates (`status.allocatable.ephemeral-storage`); unset: not checked."""
    labels: dict[LabelKey, LabelValue] = {}
    """Labels of these nodes that pods select (nodeSelector, node affinity)."""
    taints: tuple[NodeTaint, ...] = ()
    """Taints of these nodes: only pods that tolerate them are counted there."""


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
    nodes: tuple[OnPremNodes, ...] = ()
    """The worker nodes, in groups of identical nodes: `check` holds the platform's resource requests against
    them. Empty: the cluster's capacity is unknown, and the report says so."""


# --- platform-wide choices -------------------------------------------------------------------------------


class Ingress(Settings):
    provider: Literal["istio", "traefik"] = "istio"
    """What carries traffic into the cluster: Istio (ingress gateway and mesh) or Traefik."""
    rate_limit_average: Annotated[int, Field(ge=1, le=100000)] = 100
    """Traefik only: requests per second each client may send to a platform UI, on average."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=100000)] = 200
    """Traefik only: requests a client may send in a burst above the average."""
    forward_auth_url: HttpUrl | None = None
    """Traefik only: URL of an authentication service (e.g. oauth2-proxy's `/oauth2/auth`) every platform UI
    asks before serving a request; unset, the UIs use their own login."""


class ObjectStore(Settings):
    provider: Literal["gcs", "minio", "s3"]
    """Where ML artifacts, backups and log snapshots go: Cloud Storage (GKE), an in-cluster MinIO, or an
    existing S3-compatible endpoint (on-prem)."""
    endpoint: S3Endpoint | None = None
    """URL of an existing S3-compatible endpoint; only with provider `s3`."""
    bucket_prefix: BucketPrefix = "mlops"
    """Prefix of every bucket name, so environments sharing an endpoint do not collide."""


# --- components ------------------------------------------------------------------------------------------


class ExistingComponent(Settings):
    """A component the cluster already runs, installed and upgraded by someone else: the stack installs nothing of
    it and points every dependant at it."""

    version: PinnedVersion
    """Version the cluster runs (see each component for which version). The compatibility matrix is applied to it,
    and `check` judges the platform's custom resources by its CRDs as of that version, read from its chart in the
    chart cache."""
    accept_unvalidated: Annotated[str, Field(min_length=1)] | None = None
    """Why the platform's custom resources of this component may go unvalidated when its chart at `version` is not
    in the chart cache (`check` then reports them as advisories instead of errors). Unset: `check` fails, naming
    each kind it could not validate."""


class ExistingIstio(ExistingComponent):
    """version: the Istio release, e.g. `1.30.3` (the version of its `base` and `istiod` charts)."""

    namespace: Namespace = "istio-system"
    """Namespace of its control plane (istiod), which sidecars reach on port 15012."""
    gateway_namespace: Namespace = "istio-system"
    """Namespace of its ingress gateway: the platform's Gateways, and the certificates the gateway serves, go
    there."""
    gateway_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1)] = {"istio": "ingressgateway"}
    """Labels of the ingress gateway's pods, which the platform's Gateways select."""


class Istio(Settings):
    existing: ExistingIstio | None = None
    """The cluster already runs Istio (with `ingress.provider` istio): the stack installs none of its charts and
    uses this one's ingress gateway. Unset: the stack installs Istio (base, CNI node agent, istiod, gateway)."""


class ExistingCertManager(ExistingComponent):
    """version: the cert-manager release, e.g. `v1.21.1` (its chart's version)."""

    cluster_issuer: ObjectName
    """ClusterIssuer that signs every platform certificate (it must issue for the environment's domain)."""


class ExistingMonitoring(ExistingComponent):
    """version: the version of the kube-prometheus-stack chart whose Prometheus Operator CRDs the cluster has,
    e.g. `88.5.3`."""

    namespace: Namespace = "monitoring"
    """Namespace Prometheus runs in: every platform namespace admits scraping from it, and the platform's alert
    rules are placed there."""
    monitor_labels: dict[LabelKey, LabelValue] = {}
    """Labels its Prometheus selects ServiceMonitors and PodMonitors by (`serviceMonitorSelector` and
    `podMonitorSelector` matchLabels), e.g. `release: kube-prometheus-stack`; empty when it selects every one."""
    rule_labels: dict[LabelKey, LabelValue] = {}
    """Labels its Prometheus selects PrometheusRules by (`ruleSelector` matchLabels); empty when it selects every
    one."""


class CertManager(Settings):
    enabled: bool = True
    """Install cert-manager, which issues the TLS certificates of every platform endpoint."""
    issuer: Literal["acme", "self-signed"] = "acme"
    """ClusterIssuer used for platform certificates: ACME (Let's Encrypt) or a self-signed CA for labs."""
    acme_email: Email | None = None
    """Contact address registered with the ACME server; required with issuer `acme`."""
    acme_server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL; use the staging URL while testing."""
    acme_solver: Literal["http01", "dns01"] = "http01"
    """How ACME proves control of the domain: `http01` (a challenge served through the ingress; the domain must
    be reachable from the internet) or `dns01` (a TXT record in Cloud DNS, written with Workload Identity)."""
    cloud_dns_project: GcpProjectId | None = None
    """GCP project of the Cloud DNS zone that holds the domain; required with acmeSolver `dns01`."""
    cloud_dns_zone: CloudDnsZone | None = None
    """Cloud DNS managed zone name of the domain; unset, cert-manager finds the zone itself."""
    existing: ExistingCertManager | None = None
    """The cluster already runs cert-manager: the stack installs none of it and declares no ClusterIssuer; platform
    certificates name the existing ClusterIssuer. `issuer` and the ACME settings are then unused."""


# --- observability (used by Monitoring and Components below) ---------------------------------------------


class SecretSource(Settings):
    """Where a credential comes from. Never the value itself: set exactly one of `existingSecret` and
    `configKey`."""

    existing_secret: ObjectName | None = None
    """Name of a Secret that already exists in the namespace of the consumer (e.g. created by External Secrets)."""
    config_key: PulumiConfigKey | None = None
    """Name of a Pulumi secret config value (`pulumi config set --secret mlops-platform:<configKey> ...`); the
    stack turns it into a Secret, so the value is encrypted in the stack file and masked in every preview."""
    key: DataKey = "value"
    """Key inside the Secret that holds the credential."""


class GrafanaSso(Settings):
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth2 client id Grafana was registered with at the identity provider."""
    client_secret: SecretSource
    """The OAuth2 client secret, from an existing Secret or a Pulumi secret config value."""
    auth_url: HttpsUrl
    """Authorization endpoint of the identity provider."""
    token_url: HttpsUrl
    """Token endpoint of the identity provider."""
    api_url: HttpsUrl
    """Userinfo endpoint of the identity provider."""
    allowed_groups: tuple[GrafanaGroup, ...] = ()
    """Only members of these groups may sign in; empty allows every authenticated user."""
    admin_groups: tuple[GrafanaGroup, ...] = ()
    """Members of these groups become Grafana admins; everyone else is a viewer."""
    scopes: Scopes = "openid email profile groups"
    """OAuth2 scopes requested at sign-in."""


class Receiver(Settings):
    name: KubernetesName
    """Receiver name that routes refer to."""
    type: Literal["slack", "pagerduty", "webhook"]
    """Where alerts go: a Slack incoming webhook, a PagerDuty Events v2 integration, or a generic webhook."""
    secret: SecretSource
    """The Slack webhook URL, PagerDuty routing key or webhook URL: credentials, so never written here."""
    channel: SlackChannel | None = None
    """Slack channel, e.g. `#platform-alerts`; only for type `slack`."""


class AlertRoute(Settings):
    receiver: KubernetesName
    """Receiver (by name) that gets the alerts this route matches."""
    severities: tuple[Literal["critical", "warning", "info"], ...] = ()
    """Match alerts of these severities; empty matches any severity."""
    components: tuple[ComponentLabel, ...] = ()
    """Match alerts of these platform components (their `component` label); empty matches any component."""


class Alerting(Settings):
    default_receiver: KubernetesName | None = None
    """Receiver of every alert no route matches; unset keeps unmatched alerts in the Alertmanager UI only."""
    receivers: tuple[Receiver, ...] = ()
    """Notification targets."""
    routes: tuple[AlertRoute, ...] = ()
    """Routes, first match wins."""


class Aiops(Settings):
    enabled: bool = True
    """Record per-service baselines and alert on deviations from them (seasonal z-scores)."""
    z_score_threshold: Annotated[float, Field(ge=2, le=10)] = 3.0
    """How many standard deviations from the weekly baseline make an anomaly."""
    overprovision_ratio: Annotated[float, Field(ge=1.5, le=100)] = 3.0
    """A workload whose CPU or memory request exceeds its use by this factor is reported as over-provisioned."""


class Elasticsearch(Settings):
    count: Annotated[int, Field(ge=1, le=50)] = 1
    """Elasticsearch nodes (all roles). Highly available environments need at least 3 for a master quorum."""
    heap: JvmHeap = "1g"
    """JVM heap of each node, e.g. `1g` or `512m`; keep it at most half of `memory`."""
    memory: ByteQuantity = "2Gi"
    """Memory request and limit of each node."""
    cpu: CpuQuantity = "1"
    """CPU request of each node."""
    storage_size: ByteQuantity = "50Gi"
    """Data volume size of each node."""


class LogSnapshots(Settings):
    schedule: ElasticCron = "0 30 1 * * ?"
    """When the snapshot lifecycle policy takes a snapshot (Elasticsearch cron syntax, UTC)."""
    retention: ElasticAge = "30d"
    """How long snapshots are kept in the object store."""


class Logging(Settings):
    enabled: bool | None = None
    """Install ELK. Unset: on where the cluster has no built-in log pipeline (on-prem), off where it has one
    (GKE ships container logs to Cloud Logging already; a second collector would double the log volume)."""
    version: ElasticVersion = "9.4.3"
    """Elastic Stack version of Elasticsearch, Kibana, Beats and Logstash."""
    elasticsearch: Elasticsearch = Elasticsearch()
    """Elasticsearch sizing."""
    retention: ElasticAge = "14d"
    """How long log indices are kept before the index lifecycle policy deletes them."""
    snapshots: LogSnapshots = LogSnapshots()
    """Snapshots of the log indices into the object store."""
    kibana_replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Kibana instances."""
    metricbeat: bool = True
    """Ship node and host metrics to Elasticsearch with Metricbeat as well."""
    logstash: bool = False
    """Route logs through a Logstash processing pipeline (parsing, enrichment) instead of straight into
    Elasticsearch."""


class Prometheus(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Prometheus replicas; highly available environments need at least 2."""
    retention: PrometheusDuration = "15d"
    """How long samples are kept, e.g. `15d`."""
    storage_size: ByteQuantity = "50Gi"
    """Persistent volume size of each Prometheus replica."""


class Alertmanager(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Alertmanager replicas; highly available environments need at least 2."""


class Grafana(Settings):
    enabled: bool = True
    """Install Grafana with the platform dashboards."""
    sso: GrafanaSso | None = None
    """Single sign-on through the organisation's OpenID Connect / OAuth2 provider; unset keeps the local login."""


class Monitoring(Settings):
    enabled: bool = True
    """Install kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)."""
    prometheus: Prometheus = Prometheus()
    """Prometheus sizing."""
    alertmanager: Alertmanager = Alertmanager()
    """Alertmanager sizing."""
    grafana: Grafana = Grafana()
    """Grafana settings."""
    alerting: Alerting = Alerting()
    """Where Alertmanager sends alerts."""
    aiops: Aiops = Aiops()
    """Baseline-learning anomaly detection and resource-optimisation signals."""
    existing: ExistingMonitoring | None = None
    """The cluster already runs the Prometheus Operator and a Prometheus: the stack installs no kube-prometheus-stack
    (so no Grafana, dashboards or Alertmanager routes of its own) and labels its ServiceMonitors, PodMonitors and
    alert rules for that Prometheus."""


# --- gitops delivery -------------------------------------------------------------------------------------


class SecretKeyRef(Settings):
    name: ObjectName
    """Name of a Secret in the `argocd` namespace. Create it out of band (e.g. by External Secrets) and label it
    `app.kubernetes.io/part-of: argocd` so Argo CD may read it."""
    key: DataKey
    """Key in that Secret holding the value."""


class ArgoCdOidc(Settings):
    issuer: HttpsUrl
    """OIDC issuer URL of the identity provider, e.g. `https://accounts.google.com`."""
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth client ID registered for Argo CD (redirect URL `https://argocd.<domain>/auth/callback`)."""
    client_secret: SecretKeyRef
    """Where the OAuth client secret is: a reference to a Secret key, never the secret itself."""
    display_name: str = "SSO"
    """Label of the login button."""
    requested_scopes: tuple[Scope, ...] = ("openid", "profile", "email", "groups")
    """Scopes requested from the identity provider."""
    groups_claim: Claim = "groups"
    """Token claim that carries the user's groups, which the RBAC bindings match."""


class RbacBinding(Settings):
    group: Group
    """Group name as the identity provider reports it in the groups claim."""
    role: Literal["admin", "readonly", "ml-deployer"]
    """Argo CD role of the group's members: `admin` (everything), `readonly` (view), `ml-deployer` (view, sync,
    run resource actions and read logs of the ML applications of the `ml-apps` project)."""


class ArgoCdRbac(Settings):
    default_role: Literal["none", "readonly"] = "none"
    """Role of a logged-in user no binding matches."""
    bindings: tuple[RbacBinding, ...] = ()
    """Groups and their roles, written to Argo CD's policy.csv."""


class SyncWindow(Settings):
    kind: Literal["allow", "deny"]
    """`allow`: syncs happen only inside this window (and other allow windows); `deny`: no syncs inside it."""
    schedule: FiveFieldCron
    """Start of the window as a five-field cron expression, e.g. `0 22 * * 5` (Friday 22:00)."""
    duration: GoDuration
    """Length of the window, e.g. `1h` or `60h`."""
    projects: tuple[Literal["platform", "ml-apps"], ...] = ("platform", "ml-apps")
    """Argo CD projects the window applies to: the platform add-ons and/or the ML applications."""
    applications: tuple[ApplicationPattern, ...] = ("*",)
    """Application name patterns the window applies to."""
    manual_sync: bool = False
    """Allow a person to sync by hand while automated syncs are blocked (e.g. an emergency fix)."""
    time_zone: TimeZone = "UTC"
    """Time zone of the schedule."""


class ArgoCdHub(Settings):
    kubeconfig: Kubeconfig
    """How Pulumi reaches the hub cluster, whose Argo CD syncs this environment (a GKE hub too: a context made by
    `gcloud container clusters get-credentials`)."""
    namespace: Namespace = "argocd"
    """Namespace of the hub's Argo CD: the cluster Secret, AppProjects, Applications and ApplicationSet go there."""
    version: PinnedVersion = CATALOG["argo-cd"].version
    """Version of the argo-cd chart the hub runs: `check` judges the platform's Applications by its CRDs."""
    google_service_account: Email
    """Google service account the hub's Argo CD (application controller and server) runs as through Workload
    Identity. It reaches this GKE cluster with `argocd-k8s-auth gcp` (no stored credential): the stack grants it
    `roles/container.clusterViewer` in the cluster's project and binds it to `cluster-admin` in the cluster."""


class ArgoCdSettings(Settings):
    mode: Literal["in-cluster", "hub"] = "in-cluster"
    """`in-cluster`: the stack installs Argo CD in the cluster and declares the platform's Applications there.
    `hub`: an Argo CD elsewhere (`hub`) syncs the cluster; the stack installs no Argo CD, registers the cluster in
    the hub (a cluster Secret carrying the cluster's facts) and writes the AppProjects, Applications and
    ApplicationSet into the hub, prefixed with the environment's name. GKE targets only, so far."""
    hub: ArgoCdHub | None = None
    """The hub Argo CD; required with mode `hub`, and only with it."""
    admin_enabled: bool = True
    """Keep Argo CD's local `admin` user. Disable it once SSO is configured."""
    sso: ArgoCdOidc | None = None
    """Single sign-on through an OIDC identity provider; unset means local users only."""
    rbac: ArgoCdRbac = ArgoCdRbac()
    """Who may do what in Argo CD, by identity-provider group."""
    sync_windows: tuple[SyncWindow, ...] = ()
    """When Argo CD may sync automatically (prod typically denies weekends and nights)."""
    apps: tuple[KubernetesName, ...] = ("model-serving", "scheduled-notebooks")
    """ML applications of this environment: `apps/<name>/overlays/<env>` is synced into the namespace
    `ml-<name>`, which the platform creates (Pod Security `restricted`, default-deny network policy)."""
    apps_sync: Literal["automated", "manual"] = "automated"
    """How the ML applications sync: automatically with prune and self-heal, or only when someone presses sync."""


# --- installing without internet -------------------------------------------------------------------------


class MirrorException(Settings):
    image: RegistryAddress
    """Images under this registry (and path) prefix that the platform cannot point at the image mirror (named in
    an operator's built-in defaults, e.g. `gcr.io/knative-releases`), e.g. because the cluster's container runtime
    mirrors them (containerd's registry mirror: docs/installing-without-internet.md)."""
    reason: Annotated[str, Field(min_length=20)]
    """Why, and how the cluster gets them without internet."""


class Mirrors(Settings):
    charts: OciRegistry | None = None
    """OCI registry (and path) that holds every Helm chart the platform installs, e.g.
    `oci://registry.corp.example.net/charts`: each chart at `<charts>/<chart>` with its version as tag (what `helm
    push` of the chart archive makes). Argo CD's Applications and the Pulumi Helm releases (Argo CD, the CNI) take
    their charts from there. Unset: from each chart's upstream repository."""
    images: RegistryAddress | None = None
    """Registry (and path) prefix of the image mirror: an image `<registry>/<repository>:<tag>` is pulled as
    `<images>/<registry>/<repository>:<tag>` (e.g. `quay.io/jetstack/cert-manager-controller:v1.21.1` as
    `registry.corp.example.net/mirror/quay.io/jetstack/cert-manager-controller:v1.21.1`): Harbor proxy-cache
    projects named after each upstream registry, or the layout `python -m infra.cli mirror` copies into. The
    platform points every image it can set there (chart values, its own workloads and custom resources)."""
    image_registries: dict[RegistryAddress, RegistryAddress] = {}
    """A mirror of its own for some upstream registries, by registry: `<mirror>/<repository>:<tag>`, e.g.
    `{"docker.io": "europe-docker.pkg.dev/mlops-prod/docker-hub"}` (an Artifact Registry remote repository per
    upstream, or Harbor proxy-cache projects named otherwise). The others go to `images`."""
    git: dict[GitUrlPrefix, GitUrlPrefix] = {}
    """Git mirrors by upstream URL prefix, e.g. `{"https://github.com/": "https://git.example.com/github/"}`.
    Both end with `/`, and the mirror keeps each repository at the same `<owner>/<repo>` path and with its tags.
    Argo CD's repo server gets `url.<mirror>.insteadOf <upstream>` in its system git config (`/etc/gitconfig`), so
    every git command it runs goes to the mirror, including the remote kustomize bases Kubeflow Pipelines reads at
    sync (`github.com/argoproj/argo-workflows` at v3.7.3). Argo CD resolves an Application's tag with a built-in git
    client that reads no git config, so Applications of git repositories under a prefix (Kubeflow's
    `github.com/kubeflow/manifests`, and `gitops.repoUrl` if it is there) name the mirror themselves. Mirror what
    the platform reads: `kubeflow/manifests` and `argoproj/argo-workflows` with Kubeflow on. Empty: Argo CD reaches
    the upstream hosts."""
    exceptions: tuple[MirrorException, ...] = ()
    """Images that stay outside the mirrors, each with its reason. With `charts`, `images` or `git` set, `check`
    fails on any chart, image or git reference the platform applies outside the mirrors' hosts (and the
    environment's own registry) that no exception names, and on an exception that names nothing."""

    @property
    def enabled(self) -> bool:
        return bool(self.charts or self.images or self.image_registries or self.git)


# --- storage, serverless, autoscaling ---------------------------------------------------------------------


class RecurringJob(Settings):
    cron: StandardCron
    """When the job runs, as a five-field cron expression in the cluster's time zone (UTC unless changed)."""
    retain: Annotated[int, Field(ge=1, le=100)]
    """How many snapshots or backups this job keeps per volume; older ones are deleted."""


class Longhorn(Settings):
    enabled: bool | None = None
    """Install Longhorn. Unset: on-prem yes (it is the cluster's block storage and cannot be turned off there),
    GKE no. On GKE, `true` requires every node pool to use the Ubuntu node image (Longhorn needs open-iscsi)."""
    snapshots: RecurringJob = RecurringJob(cron="0 */6 * * *", retain=8)
    """Recurring in-cluster snapshots of every Longhorn volume."""
    backups: RecurringJob = RecurringJob(cron="30 2 * * *", retain=14)
    """Recurring backups of every Longhorn volume to the object store's `backups` bucket. Only where the object
    store takes S3 keys (on-prem); on GKE the bucket is reached by Workload Identity, which Longhorn cannot use."""


class Autoscaling(Settings):
    scale_to_zero: bool = True
    """Let idle Knative services scale down to no pods (the activator buffers the first request)."""
    scale_to_zero_grace_period: GoDuration = "30s"
    """How long the last pod of an idle service is kept before it is removed, e.g. `30s`."""
    min_scale: Annotated[int, Field(ge=0, le=100)] = 0
    """Default lower bound of pods per revision; services may set their own."""
    max_scale: Annotated[int, Field(ge=0, le=1000)] = 0
    """Default upper bound of pods per revision; 0 means unbounded."""


class Eventing(Settings):
    enabled: bool = True
    """Install Knative Eventing (brokers, triggers, sources)."""
    broker_channel: Literal["cluster", "in-memory"] = "cluster"
    """What backs the default broker: `cluster` uses the event broker the cluster layer provides (NATS JetStream
    on-prem, `onprem.eventing.broker`) and falls back to the in-memory channel when it provides none;
    `in-memory` always uses it (events are lost on restart, fine for dev)."""


class Knative(Settings):
    enabled: bool = True
    """Install Knative through its operator: Serving (with the networking layer matching `ingress.provider`:
    net-istio for Istio, Kourier behind Traefik) and Eventing."""
    autoscaling: Autoscaling = Autoscaling()
    """Cluster-wide defaults of the Knative autoscaler."""
    eventing: Eventing = Eventing()
    """Knative Eventing."""


class ExampleWorker(Settings):
    enabled: bool = False
    """Declare an example queue-driven worker in namespace `ml-examples`: a Deployment that KEDA scales (from
    zero) on the length of a Redis list."""
    image: ImageByDigest = (
        "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
    )
    """Worker image, pinned by digest. The default is a placeholder that does nothing; use your worker's image."""
    redis_address: HostPort = "redis.ml-examples.svc.cluster.local:6379"
    """`host:port` of the Redis server holding the work queue."""
    list_name: Annotated[str, Field(min_length=1)] = "jobs"
    """Redis list the worker consumes."""
    items_per_replica: Annotated[int, Field(ge=1, le=10000)] = 5
    """Queue items per worker replica KEDA aims for."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    """Upper bound of worker replicas."""


class Keda(Settings):
    enabled: bool = True
    """Install KEDA for event-driven autoscaling of Deployments and Jobs (queues, streams, metrics)."""
    example_worker: ExampleWorker = ExampleWorker()
    """An example ScaledObject and the worker it scales."""


# --- policy and data safety ------------------------------------------------------------------------------


class BackupSchedule(Settings):
    name: KubernetesName
    """Schedule name; its backups are named `<name>-<timestamp>`."""
    schedule: StandardCron = "0 2 * * *"
    """Cron expression (UTC) of when a backup starts, e.g. `0 2 * * *` for 02:00 every day."""
    ttl_hours: Annotated[int, Field(ge=1, le=87600)] = 720
    """How long each backup is kept, in hours (720 = 30 days)."""
    include_namespaces: tuple[Namespace, ...] = ()
    """Namespaces to back up; empty means every namespace."""
    snapshot_volumes: bool = True
    """Also snapshot persistent volumes (Compute Engine disk snapshots on GKE, CSI snapshots on-prem)."""


class Velero(Settings):
    enabled: bool = True
    """Install Velero, which backs up Kubernetes objects and volumes to the object store's `backups` bucket."""
    schedules: Annotated[tuple[BackupSchedule, ...], Field(min_length=1)] = (BackupSchedule(name="daily"),)
    """Backup schedules; restores are described in docs/restore.md."""


class VaultStore(Settings):
    server: HttpUrl
    """URL of the Vault server, e.g. `https://vault.example.internal:8200`."""
    path: Annotated[str, Field(min_length=1)] = "secret"
    """Mount path of the KV secrets engine."""
    kv_version: Literal["v1", "v2"] = "v2"
    """Version of that KV secrets engine."""
    auth_mount: Annotated[str, Field(min_length=1)] = "kubernetes"
    """Mount path of Vault's Kubernetes auth method, which trusts this cluster's service account tokens."""
    role: Annotated[str, Field(min_length=1)] = "external-secrets"
    """Vault role bound to the `external-secrets` service account."""


class ExternalSecrets(Settings):
    enabled: bool = True
    """Install External Secrets Operator: Kubernetes Secrets are created from GCP Secret Manager (GKE, through
    Workload Identity) or from the on-prem store, never written in git."""
    onprem_store: Literal["kubernetes", "vault"] = "kubernetes"
    """On-prem only: where secrets live. `kubernetes`: Secrets the platform team keeps in the `external-secrets`
    namespace; `vault`: a HashiCorp Vault (set `vault`)."""
    vault: VaultStore | None = None
    """The Vault server; required with onpremStore `vault`, and only with it."""


# --- ingress, mesh, TLS, DNS ---


class Rfc2136(Settings):
    host: Host
    """Address of the authoritative DNS server that accepts dynamic updates (RFC 2136)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 53
    """DNS port of that server."""
    zone: Domain
    """Zone external-dns updates, e.g. the environment's domain."""
    tsig_key_name: DnsName
    """Name of the TSIG key the server accepts updates signed with."""
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha512"] = "hmac-sha256"
    """TSIG algorithm of that key."""
    tsig_secret: ObjectName = "external-dns-tsig"
    """Secret in the external-dns namespace whose key `tsig-secret` holds the TSIG secret (never in git)."""


class ExternalDns(Settings):
    provider: Literal["google", "rfc2136", "none"] = "none"
    """Who serves the environment's DNS zone: Cloud DNS (`google`, with Workload Identity), a server that accepts
    RFC 2136 dynamic updates (on-prem), or `none` (records are managed by hand; external-dns is not installed)."""
    domain_filters: tuple[Domain, ...] = ()
    """Domains external-dns may write records in; empty means the environment's domain only."""
    google_project: GcpProjectId | None = None
    """GCP project of the Cloud DNS zone; required with provider `google`."""
    google_zone_visibility: Literal["public", "private"] = "public"
    """Which Cloud DNS zones of that project external-dns manages."""
    rfc2136: Rfc2136 | None = None
    """The DNS server to update; required with provider `rfc2136`."""
    policy: Literal["upsert-only", "sync"] = "upsert-only"
    """`upsert-only` never deletes records; `sync` also removes records of deleted routes."""


# --- ML platform ------------------------------------------------------------------------------------------

NOTEBOOK_IMAGES = (
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-tensorflow-full:v1.10.0",
)


class TeamQuota(Settings):
    cpu: CpuQuantity = "8"
    """CPU the team's namespace may request in total, e.g. `8` or `500m`."""
    memory: ByteQuantity = "32Gi"
    """Memory the team's namespace may request in total."""
    gpu: Annotated[int, Field(ge=0, le=512)] = 0
    """GPUs (`nvidia.com/gpu`) the team's namespace may request in total."""
    storage: ByteQuota = "200Gi"
    """Persistent volume storage the team's namespace may claim in total."""


class RayHead(Settings):
    cpu: CpuQuantity = "2"
    """CPU of the Ray head pod (request and limit): the cluster's control processes, the dashboard and the driver
    of jobs submitted to it."""
    memory: ByteQuantity = "8Gi"
    """Memory of the Ray head pod (request and limit)."""


class RayWorkerGroup(Settings):
    name: KubernetesName
    """Group name, unique within the team's Ray cluster, e.g. `cpu` or `gpu`."""
    cpu: CpuQuantity = "4"
    """CPU of each worker pod (request and limit)."""
    memory: ByteQuantity = "16Gi"
    """Memory of each worker pod (request and limit); Ray's object store takes part of it."""
    gpu: Annotated[int, Field(ge=0, le=8)] = 0
    """GPUs (`nvidia.com/gpu`) of each worker pod. Above 0 the workers run the GPU image on the GPU nodes (the
    pools with role `gpu` on GKE), tolerating their `nvidia.com/gpu` taint."""
    min_replicas: Annotated[int, Field(ge=0, le=100)] = 0
    """Workers the autoscaler keeps when the cluster is idle; 0 scales the group to nothing."""
    max_replicas: Annotated[int, Field(ge=1, le=100)] = 2
    """Workers the autoscaler may start; with the head, the largest cluster must fit the team's quota."""


class TeamRay(Settings):
    head: RayHead = RayHead()
    """Size of the head pod."""
    worker_groups: Annotated[tuple[RayWorkerGroup, ...], Field(min_length=1)] = (RayWorkerGroup(name="cpu"),)
    """Groups of identical workers the Ray autoscaler scales between their minReplicas and maxReplicas."""
    idle_timeout_seconds: Annotated[int, Field(ge=30, le=86400)] = 600
    """How long a worker without Ray tasks or actors stays before the autoscaler removes it."""


class Team(Settings):
    name: KubernetesName
    """Team name; also the name of its Kubeflow Profile and of the namespace the Profile creates."""
    owner: Email
    """E-mail of the team's owner, as the identity provider reports it; owns the Profile."""
    members: tuple[Email, ...] = ()
    """E-mails of the other members; each becomes a contributor (edit access) of the team's namespace."""
    quota: TeamQuota = TeamQuota()
    """Compute and storage the team may use: the Profile's ResourceQuota."""
    ray: TeamRay | None = None
    """A Ray cluster in the team's namespace (`ray`), made by the KubeRay operator (`components.kuberay`):
    autoscaled workers, object store access as the team's pipeline steps have it, and its dashboard at
    `https://kubeflow.<domain>/ray/<team>/` behind the platform's sign-in, for the team's owner and members only.
    Unset: no Ray cluster."""


class ProxySecretKeyRef(Settings):
    name: ObjectName
    """Name of a Secret in the `oauth2-proxy` namespace. Create it out of band (e.g. with External Secrets); its
    value never appears in a stack file or a rendered manifest."""
    key: DataKey
    """Key in that Secret holding the value."""


class KubeflowAuth(Settings):
    issuer: HttpsUrl
    """OIDC issuer URL of the identity provider, exactly as it appears in the `iss` claim of its tokens (mind a
    trailing slash), e.g. `https://idp.example.com/realms/platform`. oauth2-proxy and istiod fetch its discovery
    document and signing keys, so it must be reachable from the cluster."""
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth client ID registered for Kubeflow, with the redirect URL `https://kubeflow.<domain>/oauth2/callback`.
    The ingress gateway accepts only ID tokens issued to this client."""
    client_secret: ProxySecretKeyRef
    """Where that client's secret is: a reference to a Secret key, never the secret itself."""
    cookie_secret: ProxySecretKeyRef
    """Where the key that encrypts the session cookie is: 16, 24 or 32 random bytes, e.g. the 32 characters
    `openssl rand -hex 16` prints. Changing it signs everybody out."""
    allowed_email_domains: tuple[EmailDomain, ...]
    """Only users whose e-mail address is in one of these domains may sign in, e.g. `example.com`; `*` admits any
    domain (then restrict with allowedGroups). At least one is needed."""
    allowed_groups: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Only members of these identity-provider groups (read from the ID token's groups claim) may sign in; empty
    admits every user of the allowed domains."""
    email_claim: Claim = "email"
    """ID token claim with the user's e-mail address: it becomes the Kubeflow user (`kubeflow-userid`) that team
    owners and members are matched against."""
    groups_claim: Claim = "groups"
    """ID token claim with the user's groups, which allowedGroups is checked against."""
    requested_scopes: tuple[Scope, ...] = ("openid", "email", "profile")
    """Scopes requested at sign-in; `openid` is required. Add the scope your identity provider needs to put groups
    into the ID token (often `groups`) when you set allowedGroups."""
    refresh_interval: RefreshMinutes = "4m"
    """How often oauth2-proxy renews a session's ID token with its refresh token, e.g. `4m`. The gateway verifies
    that token on every request, so keep this below the identity provider's ID token lifetime; the provider must
    issue refresh tokens to the client (without them users sign in again when the token expires)."""


class Kubeflow(Settings):
    enabled: bool = False
    """Install Kubeflow (Pipelines, Notebooks, Volumes, TensorBoards, Katib, training operator, dashboard, Profiles,
    and with KServe its endpoints page) from the upstream kubeflow/manifests release. Needs the Istio ingress
    provider."""
    notebook_images: Annotated[tuple[Image, ...], Field(min_length=1)] = NOTEBOOK_IMAGES
    """Images offered when a user starts a notebook server; the first is the default."""
    teams: tuple[Team, ...] = ()
    """Teams: one Kubeflow Profile (namespace, members, ResourceQuota) each."""
    auth: KubeflowAuth | None = None
    """Sign-in in front of the dashboard at `https://kubeflow.<domain>`: oauth2-proxy as an OIDC client of this
    identity provider, enforced by the Istio ingress gateway for every request to that host. Required for tier
    prod. Unset, Kubeflow has no sign-in and trusts the user header it is sent (its Applications say so in their
    advisory annotation): keep such an environment off public networks."""


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
    project: FeastProject = "platform"
    """Feast project name."""
    online_store_size: ByteQuantity = "10Gi"
    """Persistent volume size of the in-cluster Redis online store."""


class GpuOperator(Settings):
    enabled: bool = False
    """On-prem clusters with NVIDIA GPU nodes: install NVIDIA's GPU operator, which makes the GPUs schedulable
    (driver, container toolkit, device plugin) and observed (its DCGM exporter, which Prometheus scrapes for the
    GPU alerts and dashboards). Not on GKE: GKE installs the driver and device plugin on GPU pools itself, and the
    platform adds the DCGM exporter there wherever a node pool has GPUs."""
    driver: bool = True
    """Let the operator install the NVIDIA driver on the GPU nodes (a container that builds it for the node's
    kernel); false where the nodes come with a driver installed."""
    toolkit: bool = True
    """Let the operator install and configure NVIDIA's container toolkit in the nodes' container runtime; false
    where the nodes come with it configured."""


class ThanosRetention(Settings):
    raw: PrometheusDuration = "30d"
    """How long the compactor keeps samples at their scraped resolution, e.g. `30d`."""
    five_minutes: PrometheusDuration = "180d"
    """How long it keeps the 5-minute downsampled blocks (made from raw blocks older than 40 hours)."""
    one_hour: PrometheusDuration = "2y"
    """How long it keeps the 1-hour downsampled blocks (made from 5-minute blocks older than 10 days)."""


class Thanos(Settings):
    enabled: bool = False
    """Keep metrics beyond Prometheus' own retention: Prometheus' Thanos sidecar uploads its blocks to the
    object store's `metrics` bucket, the store gateway serves them, the compactor compacts, downsamples and
    deletes them by `retention`, and Thanos query answers over both, as Grafana's default data source (query and
    the store gateway run two replicas where `highAvailability` is on). Needs `monitoring.enabled`."""
    retention: ThanosRetention = ThanosRetention()
    """How long the bucket keeps each resolution. Each must be at least as long as the finer one before it."""
    store_cache_size: ByteQuantity = "10Gi"
    """Volume of each store gateway replica for its index cache."""
    compactor_size: ByteQuantity = "20Gi"
    """Scratch volume of the compactor, which downloads the blocks it compacts."""


class KubeRay(Settings):
    enabled: bool = False
    """Install the KubeRay operator. Teams opt in to a Ray cluster in their namespace with
    `kubeflow.teams[].ray`."""
    ray_version: RayVersion = "2.52.0"
    """Ray version of the teams' clusters, as KubeRay needs to know it; the images must contain this version, and
    so must the Ray client of notebooks that connect to the clusters."""
    image: Image = "rayproject/ray:2.52.0"
    """Image of the Ray head and of CPU workers."""
    gpu_image: Image = "rayproject/ray:2.52.0-gpu"
    """Image of GPU workers (Ray with CUDA)."""


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


# --- the environment -------------------------------------------------------------------------------------


class GitOps(Settings):
    repo_url: GitRepository = "https://github.com/example-org/mlops-platform.git"
    """Git repository Argo CD syncs the ML applications (`apps/`) from: this repository, where adopters host it."""
    revision: GitRevision = "main"
    """Branch or tag of that repository the environment follows."""


class DefaultImages(Settings):
    registry: RegistryAddress | None = None
    """Where the environment's nodes pull the default images from, and where .github/workflows/images.yaml pushes
    them. Unset: the environment's own registry, Artifact Registry `<region>-docker.pkg.dev/<project>/mlops-<env>`
    on GKE; on-prem `harbor.<domain>/mlops` (a Harbor project named `mlops`) or the existing registry's url."""
    tags: dict[StackImageName, ImageBuild] = {}  # type: ignore[valid-type]
    """Which build of each default image (images/<name> in this repository) the environment offers: `notebook` and
    `codeserver` first in the notebook form's JupyterLab and VS Code groups, `model-server` as the
    `platform-mlflow` serving runtime. A build is named by the git commit of its sources, the tag the images
    workflow gives it (optionally with its digest). An image without a tag here is not offered. Promotion copies
    these from one environment to the next, like `versions`."""


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
