"""Network allowances a component declares on top of its namespace's default-deny policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Port = int | tuple[int, Literal["TCP", "UDP"]]


@dataclass(frozen=True)
class Peer:
    """Exactly one of: a namespace (by its name label), a CIDR, the namespace itself, or any namespace."""

    namespace: str | None = None
    cidr: str | None = None
    same_namespace: bool = False
    any_namespace: bool = False

    def to_k8s(self) -> dict[str, Any]:
        if self.same_namespace:
            return {"podSelector": {}}
        if self.any_namespace:
            return {"namespaceSelector": {}}
        if self.namespace is not None:
            return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}}}
        return {"ipBlock": {"cidr": self.cidr}}


@dataclass(frozen=True)
class Allow:
    name: str
    direction: Literal["ingress", "egress"]
    peers: tuple[Peer, ...] = ()
    """Empty: any peer."""
    ports: tuple[Port, ...] = ()
    """Empty: any port."""
    cluster_entities: tuple[str, ...] = field(default=(), kw_only=True)
    """Cilium entities (kube-apiserver, host, remote-node) these peers include. Cilium's CIDR rules never match
    cluster nodes or the API server, so where Cilium runs a CiliumNetworkPolicy allows these too."""
    pods: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)
    """Labels of the pods in the namespace it applies to; empty: every pod (e.g. only the ingress gateway)."""

    def pod_selector(self) -> dict[str, Any]:
        return {"matchLabels": dict(self.pods)} if self.pods else {}

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {}
        if self.peers:
            rule["from" if self.direction == "ingress" else "to"] = [peer.to_k8s() for peer in self.peers]
        if self.ports:
            rule["ports"] = [_port(port) for port in self.ports]
        return rule

    def cilium_rule(self) -> dict[str, Any]:
        """The same allowance towards `cluster_entities`, as a CiliumNetworkPolicy rule."""
        rule: dict[str, Any] = {
            ("fromEntities" if self.direction == "ingress" else "toEntities"): list(self.cluster_entities)
        }
        if self.ports:
            rule["toPorts"] = [
                {"ports": [{"port": str(p["port"]), "protocol": p["protocol"]} for p in self.rule()["ports"]]}
            ]
        return rule


def _port(port: Port) -> dict[str, Any]:
    number, protocol = port if isinstance(port, tuple) else (port, "TCP")
    return {"port": number, "protocol": protocol}


ANYWHERE = Peer(cidr="0.0.0.0/0")
ANY_NAMESPACE = Peer(any_namespace=True)

# Every namespace gets these: without DNS nothing resolves, and pods of one component talk to each other.
DNS = Allow("dns", "egress", (Peer(namespace="kube-system"),), ((53, "UDP"), (53, "TCP")))
WITHIN_NAMESPACE = (
    Allow("same-namespace-in", "ingress", (Peer(same_namespace=True),)),
    Allow("same-namespace-out", "egress", (Peer(same_namespace=True),)),
)
# The API server is outside the pod network (GKE's private endpoint listens on 443, kubeadm's on 6443).
KUBE_API = Allow("kube-api", "egress", (ANYWHERE,), (443, 6443), cluster_entities=("kube-apiserver",))
# Admission webhooks are called by the API server, whose address is not a pod or namespace.
API_SERVER_ENTITIES = ("kube-apiserver", "host", "remote-node")
WEBHOOK_FROM_API_SERVER = Allow(
    "webhooks", "ingress", (ANYWHERE,), (10250, 9443, 8443), cluster_entities=API_SERVER_ENTITIES
)
HTTPS_OUT = Allow("https-out", "egress", (ANYWHERE,), (443,))


def from_namespaces(name: str, namespaces: tuple[str, ...], ports: tuple[Port, ...] = ()) -> Allow:
    return Allow(name, "ingress", tuple(Peer(namespace=ns) for ns in namespaces), ports)
