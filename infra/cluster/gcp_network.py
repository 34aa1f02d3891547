"""The VPC of a GKE environment: one subnet with pod and service ranges, Cloud NAT for the private nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config.settings.cluster import GkeCluster

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


@dataclass(frozen=True)
class Network:
    vpc: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    nat: gcp.compute.RouterNat


def build_network(name: str, gke: GkeCluster, opts: pulumi.ResourceOptions) -> Network:
    ranges = gke.network
    vpc = gcp.compute.Network(
        name, name=name, project=gke.project, auto_create_subnetworks=False, routing_mode="REGIONAL", opts=opts
    )
    subnet = gcp.compute.Subnetwork(
        name,
        name=name,
        project=gke.project,
        region=gke.region,
        network=vpc.id,
        ip_cidr_range=ranges.subnet_cidr,
        # Nodes have no public IPs; Google APIs (GCS, Artifact Registry, Cloud SQL admin) stay reachable.
        private_ip_google_access=True,
        secondary_ip_ranges=[
            {"range_name": PODS_RANGE, "ip_cidr_range": ranges.pods_cidr},
            {"range_name": SERVICES_RANGE, "ip_cidr_range": ranges.services_cidr},
        ],
        log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"},
        opts=opts,
    )
    router = gcp.compute.Router(name, name=name, project=gke.project, region=gke.region, network=vpc.id, opts=opts)
    nat = gcp.compute.RouterNat(
        name,
        name=name,
        project=gke.project,
        region=gke.region,
        router=router.name,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
        subnetworks=[{"name": subnet.id, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
        log_config={"enable": True, "filter": "ERRORS_ONLY"},
        opts=opts,
    )
    _firewall(name, gke, vpc, opts)
    return Network(vpc, subnet, nat)


def _firewall(name: str, gke: GkeCluster, vpc: gcp.compute.Network, opts: pulumi.ResourceOptions) -> None:
    """GKE creates the node, pod and control-plane rules it needs itself; the only rule added is SSH to nodes
    through Identity-Aware Proxy, for break-glass debugging (everything else stays denied by the VPC default)."""
    gcp.compute.Firewall(
        f"{name}-iap-ssh",
        name=f"{name}-iap-ssh",
        project=gke.project,
        network=vpc.id,
        direction="INGRESS",
        # Google's IAP TCP forwarding range: never the internet.
        source_ranges=["35.235.240.0/20"],
        allows=[{"protocol": "tcp", "ports": ["22"]}],
        log_config={"metadata": "INCLUDE_ALL_METADATA"},
        opts=opts,
    )
