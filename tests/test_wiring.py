"""The wiring stage: scrape targets resolve and Prometheus may reach them, the API server may reach every webhook,
aggregated API and conversion webhook; the network policy evaluator behind it; and the defects it found."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.wiring import wiring_findings
from infra.expand.wiring.cluster import cluster_endpoints
from infra.expand.wiring.policies import ANY_ADDRESS, NetworkPolicies, Outside, Port
from infra.expand.wiring.selectors import InvalidSelector, selects, validate
from infra.expand.wiring.workloads import ContainerPort, Pod
from infra.offline.validate import Finding

Change = Callable[[dict[str, Any]], None]
RUNTIME = "resolve to what the platform's manifests do not contain"


# --- helpers -----------------------------------------------------------------------------------------------------


def changed(platform: Platform, kind: str, namespace: str, name: str, change: Change | None) -> Platform:
    """The platform with one object (the stack's or an Application's) changed in a copy, or removed (`None`)."""
    hits = []

    def edit(obj: dict[str, Any]) -> dict[str, Any] | None:
        meta = obj.get("metadata") or {}
        if (obj.get("kind"), meta.get("namespace", ""), meta.get("name")) != (kind, namespace, name):
            return obj
        hits.append(obj)
        if change is None:
            return None
        edited = copy.deepcopy(obj)
        change(edited)
        return edited

    manifests = tuple(
        dataclasses.replace(m, object=o) for m in platform.rendered.manifests if (o := edit(m.object)) is not None
    )
    objects = {
        deployer: [dataclasses.replace(e, object=o) for e in found if (o := edit(e.object)) is not None]
        for deployer, found in platform.expansion.objects.items()
    }
    assert len(hits) == 1, f"{kind} {namespace}/{name}: {len(hits)} objects"
    rendered = dataclasses.replace(platform.rendered, manifests=manifests)
    return Platform(rendered, dataclasses.replace(platform.expansion, objects=objects))


def errors(platform: Platform) -> list[Finding]:
    return [f for f in wiring_findings(platform)[0] if f.severity == "error"]


def about(findings: list[Finding], ref: str) -> list[str]:
    return [f.message for f in findings if f.object_ref == ref]


def policy(namespace: str, name: str, spec: dict[str, Any]) -> PlatformObject:
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
    }
    return PlatformObject(STACK, {**obj, "spec": spec}, "test")


def namespace(name: str, **labels: str) -> PlatformObject:
    return PlatformObject(
        STACK, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}, "t"
    )


def pod(ns: str, ports: tuple[ContainerPort, ...] = (), **labels: str) -> Pod:
    return Pod(ns, labels, ports, f"pods in {ns}")


WEB = ContainerPort(8080, "http")
SERVER = pod("app", (WEB,), app="server")
CLIENT = pod("client", app="client")
DENY_ALL = policy("app", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


HTTP = Port(8080, name="http")


def admits(*objects: PlatformObject, port: Port = HTTP, source: Pod | Outside = CLIENT) -> bool:
    return (
        NetworkPolicies([namespace("app"), namespace("client", team="a"), *objects])
        .ingress(SERVER, port, source)
        .allowed
    )


# --- label selectors ---------------------------------------------------------------------------------------------


def test_selectors_evaluate_match_labels_and_each_operator() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selects({}, labels) and selects(None, labels)
    assert selects({"matchLabels": {"app": "web"}}, labels) and not selects({"matchLabels": {"app": "db"}}, labels)
    expression = lambda op, *values: {"matchExpressions": [{"key": "tier", "operator": op, "values": list(values)}]}  # noqa: E731
    assert selects(expression("In", "front", "back"), labels) and not selects(expression("In", "back"), labels)
    assert selects(expression("NotIn", "back"), labels) and not selects(expression("NotIn", "front"), labels)
    assert selects(expression("NotIn", "x"), {})  # a missing key is not in any set
    assert selects(expression("Exists"), labels) and not selects(expression("Exists"), {})
    assert selects(expression("DoesNotExist"), {}) and not selects(expression("DoesNotExist"), labels)


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ({"key": "a", "operator": "Equals", "values": ["b"]}, "operator"),
        ({"key": "a", "operator": "In", "values": []}, "values"),
        ({"key": "a", "operator": "Exists", "values": ["b"]}, "values"),
        ({"operator": "Exists"}, "key"),
    ],
)
def test_a_selector_the_api_server_refuses_is_named(expression: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSelector, match=rf"^\.matchExpressions\[0\]\.{field}:"):
        validate({"matchExpressions": [expression]})


# --- the network policy evaluator --------------------------------------------------------------------------------


def test_a_pod_no_policy_selects_accepts_everything_and_a_selected_one_only_what_a_policy_admits() -> None:
    assert admits()
    assert admits(policy("app", "other-pods", {"podSelector": {"matchLabels": {"app": "db"}}}))
    assert not admits(DENY_ALL)
    # policyTypes absent: Ingress always, Egress only with egress rules.
    assert not admits(policy("app", "no-types", {"podSelector": {}}))
    egress_only = policy("app", "egress", {"podSelector": {}, "policyTypes": ["Egress"]})
    assert admits(egress_only)


def test_peers_by_namespace_and_pod_selector() -> None:
    def rule(*entries: dict[str, Any]) -> PlatformObject:
        return policy("app", "allow", {"podSelector": {}, "ingress": [{"from": list(entries)}]})

    assert admits(DENY_ALL, rule({"namespaceSelector": {"matchLabels": {"team": "a"}}}))
    assert not admits(DENY_ALL, rule({"namespaceSelector": {"matchLabels": {"team": "b"}}}))
    by_name = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["client"]}]}
    assert admits(DENY_ALL, rule({"namespaceSelector": by_name}))
    assert admits(DENY_ALL, rule({"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "client"}}}))
    assert not admits(DENY_ALL, rule({"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "other"}}}))
    # A podSelector alone means pods of the policy's own namespace.
    assert not admits(DENY_ALL, rule({"podSelector": {}}))
    # An ipBlock is not relied on for pods (Cilium's CIDR rules skip them).
    assert not admits(DENY_ALL, rule({"ipBlock": {"cidr": "0.0.0.0/0"}}))
    # No `from`: every source.
    assert admits(DENY_ALL, policy("app", "any", {"podSelector": {}, "ingress": [{}]}))


def test_ports_by_number_range_name_and_protocol() -> None:
    def on(*ports: dict[str, Any]) -> PlatformObject:
        return policy("app", "allow", {"podSelector": {}, "ingress": [{"ports": list(ports)}]})

    assert admits(DENY_ALL, on({"port": 8080}))
    assert not admits(DENY_ALL, on({"port": 9090}))
    assert admits(DENY_ALL, on({"port": 8000, "endPort": 8100}))
    assert not admits(DENY_ALL, on({"port": 8000, "endPort": 8079}))
    # A named port is the destination pod's container port of that name.
    assert admits(DENY_ALL, on({"port": "http"}))
    assert not admits(DENY_ALL, on({"port": "metrics"}))
    assert not admits(DENY_ALL, on({"port": 8080, "protocol": "UDP"}))
    # A port not known offline is admitted only by a rule for every port.
    assert not admits(DENY_ALL, on({"port": 8080}), port=Port(None))
    assert admits(DENY_ALL, on({"protocol": "TCP"}), port=Port(None))


def test_ip_blocks_admit_an_outside_endpoint_they_cover_outside_their_exceptions() -> None:
    control_plane = Outside("control plane", (ipaddress.ip_network("172.16.0.0/28"),), True)
    hidden = dataclasses.replace(control_plane, cidr_rules_apply=False)

    def block(cidr: str, *excepted: str) -> PlatformObject:
        entry = {"ipBlock": {"cidr": cidr, "except": list(excepted)}}
        return policy("app", "allow", {"podSelector": {}, "ingress": [{"from": [entry]}]})

    assert admits(DENY_ALL, block("0.0.0.0/0"), source=control_plane)
    assert admits(DENY_ALL, block("172.16.0.0/12"), source=control_plane)
    assert not admits(DENY_ALL, block("10.0.0.0/8"), source=control_plane)
    assert not admits(DENY_ALL, block("0.0.0.0/0", "172.16.0.0/24"), source=control_plane)
    assert not admits(DENY_ALL, block("172.16.0.0/29"), source=control_plane)  # half of the range
    assert not admits(DENY_ALL, block("0.0.0.0/0"), source=hidden)  # Cilium: CIDR rules never see it
    # Selectors never match what is outside the pod network.
    assert not admits(
        DENY_ALL,
        policy("app", "all", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
        source=control_plane,
    )


def test_cilium_entities_admit_the_api_server_and_nodes_where_cidr_rules_cannot() -> None:
    api_server = Outside(
        "api",
        (ANY_ADDRESS,),
        False,
        (frozenset({"kube-apiserver", "host"}), frozenset({"kube-apiserver", "remote-node"})),
    )

    def cilium(
        entities: list[str], default_deny: bool | None = False, ports: list[str] | None = None
    ) -> PlatformObject:
        rule: dict[str, Any] = {"fromEntities": entities}
        if ports:
            rule["toPorts"] = [{"ports": [{"port": p, "protocol": "TCP"} for p in ports]}]
        spec: dict[str, Any] = {"endpointSelector": {}, "ingress": [rule]}
        if default_deny is not None:
            spec["enableDefaultDeny"] = {"ingress": default_deny, "egress": default_deny}
        obj = {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "c", "namespace": "app"},
        }
        return PlatformObject(STACK, {**obj, "spec": spec}, "t")

    assert admits(DENY_ALL, cilium(["kube-apiserver"]), source=api_server)
    assert admits(DENY_ALL, cilium(["host", "remote-node"], ports=["8080"]), source=api_server)
    assert not admits(DENY_ALL, cilium(["remote-node"]), source=api_server)  # not from its own node
    assert not admits(DENY_ALL, cilium(["kube-apiserver"], ports=["9443"]), source=api_server)
    assert admits(DENY_ALL, cilium(["cluster"]), source=api_server) and admits(DENY_ALL, cilium(["cluster"]))
    assert not admits(DENY_ALL, cilium(["world"]), source=api_server)
    # A Cilium policy with rules isolates its pods unless it turns default deny off.
    assert not admits(cilium(["kube-apiserver"], default_deny=None))
    assert admits(cilium(["kube-apiserver"], default_deny=False))


def test_egress_is_judged_by_the_source_namespace() -> None:
    out = policy(
        "client",
        "out",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}],
        },
    )
    policies = NetworkPolicies([namespace("app"), namespace("client"), out])
    assert policies.egress(CLIENT, Port(8080, name="http"), SERVER).allowed
    assert not policies.egress(CLIENT, Port(9090, name="metrics"), SERVER).allowed
    nodes = Outside("nodes", (ipaddress.ip_network("10.10.0.0/20"),), True)
    assert not policies.egress(CLIENT, Port(10250), nodes).allowed


def test_cluster_endpoints_follow_the_target(platforms: dict[str, Platform]) -> None:
    dev = cluster_endpoints(platforms["dev"].env)
    assert dev.api_server.cidrs == (ipaddress.ip_network(platforms["dev"].env.gke.network.master_cidr),)
    onprem = cluster_endpoints(platforms["onprem"].env)
    assert not onprem.api_server.cidr_rules_apply
    assert all("kube-apiserver" in identity for identity in onprem.api_server.identities)


# --- the real environments ---------------------------------------------------------------------------------------

CERT_MANAGER_MONITOR = "stack: monitoring.coreos.com/v1 ServiceMonitor cert-manager/cert-manager"
PROMETHEUS = ("Prometheus", "monitoring", "kube-prometheus-stack-prometheus")
STACK_MONITOR = "kube-prometheus-stack: monitoring.coreos.com/v1 ServiceMonitor monitoring/kube-prometheus-stack"


# --- what the API server calls -----------------------------------------------------------------------------------

CERT_MANAGER_WEBHOOK = (
    "cert-manager: admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration cert-manager-webhook"
)


def without_webhook_allowance(allow: dict[str, Any]) -> None:
    allow["spec"]["ingress"] = [r for r in allow["spec"]["ingress"] if "ipBlock" not in str(r)]
