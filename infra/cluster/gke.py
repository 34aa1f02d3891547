"""GKE target: a private GKE Standard cluster and the Google Cloud services the platform uses.

Everything is driven by the Environment's `gke` section. GCP resources are grouped under one component
resource; the Kubernetes provider is built from the cluster's outputs, so nothing Kubernetes is declared
before the cluster and its node pools exist.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.cluster.facts import (
    ClusterFacts,
    Database,
    ObjectStore,
    StorageClasses,
    WorkloadIdentity,
)
from infra.cluster.gcp_identity import build_identities
from infra.cluster.gcp_network import PODS_RANGE, SERVICES_RANGE, build_network
from infra.cluster.gcp_pubsub import build_pubsub
from infra.cluster.gcp_sql import build_database
from infra.cluster.gcp_storage import build_buckets, build_registry
from infra.config.derived import bucket_names, gke_cluster_name
from infra.config.settings.cluster import NodePool
from infra.platform.labels import GPU_TAINT_KEY, POOL_ROLE_LABEL
from infra.platform.network import Allow, Peer

if TYPE_CHECKING:
    from infra.config import Environment

GPU_TAINT = {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
# Pods get their Workload Identity tokens from the GKE metadata server, which Dataplane V2 serves at the link-local
# metadata address on 80 and 8080 (on Calico clusters it would be 169.254.169.252 on 987 and 988). A namespace's
# default deny would otherwise block it, and every Google client library times out instead of authenticating.
METADATA_SERVER = Allow("gke-metadata-server", "egress", (Peer(cidr="169.254.169.254/32"),), (80, 8080))
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


class GkeStack(pulumi.ComponentResource):
    """Parent of every GCP resource of the environment, so `pulumi preview` shows them grouped."""

    def __init__(self, name: str) -> None:
        super().__init__("mlops:platform:GkeCluster", name)


def build(env: Environment) -> ClusterFacts:
    assert env.gke is not None  # guaranteed by rules.target_section_matches
    gke, name = env.gke, gke_cluster_name(env.name)
    group = GkeStack(name)
    gcp_provider = gcp.Provider(
        "gcp", project=gke.project, region=gke.region, opts=pulumi.ResourceOptions(parent=group)
    )
    opts = pulumi.ResourceOptions(parent=group, provider=gcp_provider)

    network = build_network(name, gke, opts)
    node_account = _node_service_account(name, gke.project, opts)
    cluster = _cluster(env, name, network.vpc, network.subnet, node_account, opts)
    pools = [_node_pool(env, name, cluster, pool, node_account, opts) for pool in gke.node_pools]
    names = bucket_names(env.object_store.bucket_prefix, env.name)
    buckets = build_buckets(env, names, opts)
    build_registry(env, name, opts)
    database = build_database(env, name, network.vpc, opts)
    identities = build_identities(gke.project, buckets, database, cluster, opts)
    hub = env.argocd.hub if env.argocd.mode == "hub" else None
    if hub is not None:
        # A hub's Argo CD authenticates to GKE as its Google service account: it may see the cluster to get in.
        gcp.projects.IAMMember(
            "argocd-hub-cluster-viewer",
            project=gke.project,
            role="roles/container.clusterViewer",
            member=f"serviceAccount:{hub.google_service_account}",
            opts=opts,
        )
    event_broker, eventing_identity = build_pubsub(gke, cluster, opts)
    group.register_outputs({"endpoint": cluster.endpoint})

    provider = k8s.Provider(
        "gke",
        kubeconfig=_kubeconfig(name, cluster),
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(depends_on=pools),
    )
    return ClusterFacts(
        target="gke",
        provider=provider,
        storage=StorageClasses(default="standard-rwo", fast="premium-rwo"),
        object_store=ObjectStore(
            kind="gcs",
            endpoint="https://storage.googleapis.com",
            buckets=names,
            credentials="workload-identity",
        ),
        registry=f"{gke.region}-docker.pkg.dev/{gke.project}/{name}",
        load_balancer="cloud",
        cni="dataplane-v2",
        has_metrics_server=True,
        has_managed_logging=True,
        namespace_egress=(METADATA_SERVER,),
        identity=WorkloadIdentity(service_accounts={**identities, **eventing_identity}),
        event_broker=event_broker,
        api_server=cluster.endpoint.apply(lambda endpoint: f"https://{endpoint}"),
        api_server_ca=cluster.master_auth.cluster_ca_certificate,
        database=Database(
            kind="cloudsql",
            host=database.private_ip_address,
            iam_authentication=True,
            connection_name=database.connection_name,
        ),
        ready=[cluster, *pools],
    )


def _node_service_account(name: str, project: str, opts: pulumi.ResourceOptions) -> gcp.serviceaccount.Account:
    """Nodes run as a minimal account instead of the Compute Engine default (project Editor)."""
    # Account ids have at most 30 characters and end in a letter or digit: a cut after a '-' would be refused.
    account_id = f"{name}-nodes"[:30].rstrip("-")
    account = gcp.serviceaccount.Account(
        f"{name}-nodes", account_id=account_id, project=project, display_name="GKE nodes", opts=opts
    )
    member = account.email.apply(lambda email: f"serviceAccount:{email}")
    for role in NODE_ROLES:
        gcp.projects.IAMMember(
            f"{name}-nodes-{role.rsplit('/', 1)[-1]}", project=project, role=role, member=member, opts=opts
        )
    return account


def _cluster(
    env: Environment,
    name: str,
    vpc: gcp.compute.Network,
    subnet: gcp.compute.Subnetwork,
    node_account: gcp.serviceaccount.Account,
    opts: pulumi.ResourceOptions,
) -> gcp.container.Cluster:
    gke = env.gke
    assert gke is not None
    prod = env.tier == "prod"
    return gcp.container.Cluster(
        name,
        name=name,
        project=gke.project,
        location=gke.region,
        network=vpc.id,
        subnetwork=subnet.id,
        networking_mode="VPC_NATIVE",
        ip_allocation_policy={
            "cluster_secondary_range_name": PODS_RANGE,
            "services_secondary_range_name": SERVICES_RANGE,
        },
        # Node pools are separate resources; the default pool is created (GKE requires one) and removed at once.
        remove_default_node_pool=True,
        initial_node_count=1,
        node_config={
            "service_account": node_account.email,
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "workload_metadata_config": {"mode": "GKE_METADATA"},
        },
        private_cluster_config={
            "enable_private_nodes": True,
            "enable_private_endpoint": gke.private_endpoint,
            "master_ipv4_cidr_block": gke.network.master_cidr,
            "master_global_access_config": {"enabled": True},
        },
        master_authorized_networks_config={
            "cidr_blocks": [
                {"cidr_block": gke.network.subnet_cidr, "display_name": "cluster-subnet"},
                *({"cidr_block": net.cidr, "display_name": net.name} for net in gke.master_authorized_networks),
            ],
            "gcp_public_cidrs_access_enabled": False,
        },
        # Dataplane V2 is GKE's Cilium-based dataplane: NetworkPolicy is enforced without installing a CNI.
        datapath_provider="ADVANCED_DATAPATH",
        workload_identity_config={"workload_pool": f"{gke.project}.svc.id.goog"},
        enable_shielded_nodes=True,
        release_channel={"channel": gke.release_channel},
        maintenance_policy={"daily_maintenance_window": {"start_time": gke.maintenance_window_start}},
        logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
        monitoring_config={
            # Not "DCGM", GKE's managed GPU metrics: they go to Cloud Monitoring, not to the platform's Prometheus,
            # and their exporter would compete with the platform's for the GPUs' profiling counters
            # (infra/components/dcgm_exporter.py).
            "enable_components": ["SYSTEM_COMPONENTS"],
            "managed_prometheus": {"enabled": gke.managed_prometheus},
        },
        master_auth={"client_certificate_config": {"issue_client_certificate": False}},
        enable_legacy_abac=False,
        deletion_protection=prod,
        resource_labels={"environment": env.name},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=prod)),
    )


def _node_pool(
    env: Environment,
    cluster_name: str,
    cluster: gcp.container.Cluster,
    pool: NodePool,
    node_account: gcp.serviceaccount.Account,
    opts: pulumi.ResourceOptions,
) -> gcp.container.NodePool:
    gke = env.gke
    assert gke is not None
    taints = [{"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]} for t in pool.taints]
    accelerators = []
    if pool.gpu is not None:
        taints.append(GPU_TAINT)
        accelerators.append(
            {
                "type": pool.gpu.type,
                "count": pool.gpu.count,
                # GKE installs the NVIDIA driver itself; no driver DaemonSet to maintain.
                "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
            }
        )
    return gcp.container.NodePool(
        f"{cluster_name}-{pool.name}",
        name=pool.name,
        project=gke.project,
        location=gke.region,
        cluster=cluster.name,
        initial_node_count=pool.min_nodes,
        autoscaling={
            "min_node_count": pool.min_nodes,
            "max_node_count": pool.max_nodes,
            # Spot capacity comes and goes per zone: take it wherever it is.
            "location_policy": "ANY" if pool.spot else "BALANCED",
        },
        management={"auto_repair": True, "auto_upgrade": True},
        node_config={
            "machine_type": pool.machine_type,
            "disk_size_gb": pool.disk_size_gb,
            "disk_type": "pd-balanced",
            "image_type": pool.image_type,
            "spot": pool.spot,
            "service_account": node_account.email,
            "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            "labels": {POOL_ROLE_LABEL: pool.role, **pool.labels},
            "taints": taints,
            "guest_accelerators": accelerators,
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
        },
        opts=opts,
    )


def _kubeconfig(name: str, cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (short-lived tokens, no stored credential)."""
    config = pulumi.Output.all(cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
        lambda args: textwrap.dedent(
            f"""\
            apiVersion: v1
            kind: Config
            clusters:
              - name: {name}
                cluster:
                  server: https://{args[0]}
                  certificate-authority-data: {args[1]}
            contexts:
              - name: {name}
                context: {{cluster: {name}, user: {name}}}
            current-context: {name}
            users:
              - name: {name}
                user:
                  exec:
                    apiVersion: client.authentication.k8s.io/v1beta1
                    command: gke-gcloud-auth-plugin
                    installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)
                    provideClusterInfo: true
            """
        )
    )
    return pulumi.Output.secret(config)
