"""Where the endpoints outside the pod network are, per target: the API server (which calls webhooks and
aggregated APIs, and which Prometheus scrapes) and the nodes (kubelets, and pods on the host network).

GKE: the control plane is in the cluster's peered control-plane range (`gke.network.masterCidr`), the nodes in
the subnet's primary range (`gke.network.subnetCidr`); NetworkPolicy ipBlocks see both.
On-prem: the API server runs on the control-plane nodes, and neither range is declared. Under Cilium, CIDR rules
never match cluster nodes or the API server: only CiliumNetworkPolicy entities do (the API server carries
`kube-apiserver` plus `host` on its own node or `remote-node` elsewhere; other nodes `host` or `remote-node`, as
seen from a pod on the same node or another). Under Calico an ipBlock sees them, but since their addresses are not
declared, only a block covering every address is known to admit them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from infra.config import Environment
from infra.expand.wiring.policies import ANY_ADDRESS, Outside

# kubeadm's API server listens on 6443; GKE's control plane endpoint on 443.
API_SERVER_PORT = {"gke": 443, "onprem": 6443}


@dataclass(frozen=True)
class ClusterEndpoints:
    api_server: Outside
    nodes: Outside
    api_server_port: int


def cluster_endpoints(env: Environment) -> ClusterEndpoints:
    if env.target == "gke":
        if env.gke is None:
            raise ValueError("target gke needs the gke section")
        network = env.gke.network
        master = ipaddress.ip_network(str(network.master_cidr))
        subnet = ipaddress.ip_network(str(network.subnet_cidr))
        return ClusterEndpoints(
            Outside(f"the API server (GKE control plane, {master})", (master,), True),  # type: ignore[arg-type]
            Outside(f"the nodes (subnet {subnet})", (subnet,), True),  # type: ignore[arg-type]
            API_SERVER_PORT["gke"],
        )
    cni = env.onprem.cni if env.onprem is not None else "cilium"
    if cni == "cilium":
        return ClusterEndpoints(
            Outside(
                "the API server (on the control-plane nodes; Cilium entity kube-apiserver)",
                (ANY_ADDRESS,),
                False,
                (frozenset({"kube-apiserver", "host"}), frozenset({"kube-apiserver", "remote-node"})),
            ),
            Outside(
                "the nodes (Cilium entities host, remote-node)",
                (ANY_ADDRESS,),
                False,
                (
                    frozenset({"host"}),
                    frozenset({"remote-node"}),
                ),
            ),
            API_SERVER_PORT["onprem"],
        )
    return ClusterEndpoints(
        Outside("the API server (on the control-plane nodes, addresses not declared)", (ANY_ADDRESS,), True),
        Outside("the nodes (addresses not declared)", (ANY_ADDRESS,), True),
        API_SERVER_PORT["onprem"],
    )
