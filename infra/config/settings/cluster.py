"""The cluster layer: the GKE cluster this stack creates (node pools, network, buckets, Cloud SQL), or the existing
on-premises cluster (kubeconfig, CNI, MetalLB, registry, PostgreSQL, MinIO, broker, nodes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.derived import BUCKET_PURPOSES
from infra.config.formats import (
    AddressPoolRange,
    ByteQuantity,
    CloudSqlTier,
    CnpgRetention,
    CpuQuantity,
    GcpProjectId,
    GcpRegion,
    GcpSubnetRange,
    GkeControlPlaneRange,
    GkePodRange,
    IPAddress,
    IPv4Network,
    LabelKey,
    LabelValue,
    MachineType,
    NodePoolName,
    PubSubTopic,
    RegistryAddress,
    TimeOfDay,
)
from infra.config.settings.common import Settings


class Gpu(Settings):
    type: Literal["nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"]
    """GPU accelerator type attached to every node of the pool."""
    count: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per node."""


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
