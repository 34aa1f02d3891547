"""The wiring stage: scrape targets resolve and Prometheus may reach them, the API server may reach every webhook,
aggregated API and conversion webhook; the network policy evaluator behind it; and the defects it found."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.cli.commands import check
from infra.expand.expansion import Expander, Expansion
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.wiring import wiring_findings
from infra.expand.wiring.cluster import cluster_endpoints
from infra.expand.wiring.policies import ANY_ADDRESS, NetworkPolicies, Outside, Port
from infra.expand.wiring.runtime import RESOURCE_MAKERS, cluster_pods
from infra.expand.wiring.selectors import InvalidSelector, selects, validate
from infra.expand.wiring.workloads import ContainerPort, Pod
from infra.offline.validate import Finding

from .conftest import ENV_NAMES, ENVIRONMENTS

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


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_environment_is_wired(platforms: dict[str, Platform], env: str) -> None:
    findings, checked = wiring_findings(platforms[env])
    assert [f for f in findings if f.severity == "error"] == []
    # Only what the platform cannot contain is advisory, each naming who makes it.
    assert all(RUNTIME in f.message for f in findings), [f.message for f in findings]
    assert checked > (30 if env == "hub-example" else 60)  # the example has no Kubeflow


def test_runtime_entries_are_each_needed_by_a_real_environment(platforms: dict[str, Platform]) -> None:
    """The one list of what operators and clusters make is no longer than the environments need."""
    advisories = " ".join(f.message for p in platforms.values() for f in wiring_findings(p)[0])
    for maker in RESOURCE_MAKERS:
        assert f"from {maker.kind} " in advisories or f"of {maker.kind} " in advisories, maker.kind
    for env in ("dev", "onprem"):
        for pods in cluster_pods(platforms[env].env):
            assert pods.made_by in advisories, pods.component


def test_cert_manager_is_scraped_on_the_port_its_chart_names(platforms: dict[str, Platform]) -> None:
    """Defect: the ServiceMonitor scraped `tcp-prometheus-servicemonitor`; cert-manager v1.21.1 names it
    `http-metrics`, so Prometheus scraped nothing and the certificate alerts could never fire."""
    for env, platform in platforms.items():
        if platform.env.components.cert_manager.existing is not None:
            continue  # the cluster's own cert-manager: its owner's Prometheus scrapes it
        [monitor] = [o for o in platform.objects if o.ref == CERT_MANAGER_MONITOR]
        [service] = [o for o in platform.owned_by("cert-manager") if o.kind == "Service" and o.name == "cert-manager"]
        names = {p["name"] for p in service.object["spec"]["ports"]}
        assert {e["port"] for e in monitor.object["spec"]["endpoints"]} <= names, env
        assert about(wiring_findings(platform)[0], CERT_MANAGER_MONITOR) == [], env


def test_a_renamed_metrics_port_fails_check_naming_the_service_monitor(
    tmp_path: Path, crd_schemas: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chart version that renames its metrics port fails `check` at the ServiceMonitor that scrapes it."""
    expand = Expander.expand

    def renamed(self: Expander, rendered: Any) -> Expansion:
        expansion = expand(self, rendered)
        platform = changed(
            Platform(rendered, expansion),
            "Service",
            "cert-manager",
            "cert-manager",
            lambda s: s["spec"]["ports"][0].update(name="metrics"),
        )
        return platform.expansion

    monkeypatch.setattr(Expander, "expand", renamed)
    assert check(ENVIRONMENTS, ["dev"], tmp_path, crd_schemas, with_checkov=False) == 1
    out = capsys.readouterr().out
    assert (
        f"[wiring/error] {CERT_MANAGER_MONITOR}: spec.endpoints[0].port: no Service it selects has a port named "
        "'http-metrics' (cert-manager/cert-manager: metrics)"
    ) in out
    assert "check: 0 of 1 environments clean; failing: dev" in out


def test_a_monitor_no_prometheus_loads_is_refused(platforms: dict[str, Platform]) -> None:
    elsewhere = lambda p: p["spec"].update(serviceMonitorSelector={"matchLabels": {"release": "other"}})  # noqa: E731
    findings = errors(changed(platforms["dev"], *PROMETHEUS, elsewhere))
    [message] = about(findings, CERT_MANAGER_MONITOR)
    assert message.startswith("metadata.labels: no Prometheus of the platform loads this ServiceMonitor")
    # A null namespace selector keeps a Prometheus to its own namespace.
    own = lambda p: p["spec"].pop("serviceMonitorNamespaceSelector")  # noqa: E731
    assert about(errors(changed(platforms["dev"], *PROMETHEUS, own)), CERT_MANAGER_MONITOR)


def test_a_monitor_selecting_no_service_or_no_pods_is_refused(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    wrong_label = lambda m: m["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "cert-mgr"})  # noqa: E731
    [message] = about(
        errors(changed(dev, "ServiceMonitor", "cert-manager", "cert-manager", wrong_label)), CERT_MANAGER_MONITOR
    )
    assert message.startswith("spec.selector: selects no Service in cert-manager (app.kubernetes.io/name=cert-mgr)")
    no_pods = lambda s: s["spec"]["selector"].update(app="nothing")  # noqa: E731
    [message] = about(errors(changed(dev, "Service", "cert-manager", "cert-manager", no_pods)), CERT_MANAGER_MONITOR)
    assert "Service cert-manager/cert-manager selects no pod of the platform" in message
    wrong_target = lambda s: s["spec"]["ports"][0].update(targetPort="metrics")  # noqa: E731
    [message] = about(
        errors(changed(dev, "Service", "cert-manager", "cert-manager", wrong_target)), CERT_MANAGER_MONITOR
    )
    assert "targets the container port named 'metrics', which Deployment cert-manager/cert-manager does not" in message


def test_a_pod_monitor_naming_a_port_no_container_declares_is_refused(platforms: dict[str, Platform]) -> None:
    ref = "stack: monitoring.coreos.com/v1 PodMonitor feast/feast-redis"
    renamed = lambda m: m["spec"]["podMetricsEndpoints"][0].update(port="exporter")  # noqa: E731
    [message] = about(errors(changed(platforms["dev"], "PodMonitor", "feast", "feast-redis", renamed)), ref)
    assert message.startswith("spec.podMetricsEndpoints[0].port: no pod it selects declares container port 'exporter'")
    assert "StatefulSet feast/feast-redis: redis, metrics" in message


def test_a_scrape_path_the_target_namespace_refuses_names_its_policies(platforms: dict[str, Platform]) -> None:
    """The target's namespace must admit Prometheus' pods, as the operator labels them."""

    def only_own_pods(allow: dict[str, Any]) -> None:
        allow["spec"]["ingress"] = [r for r in allow["spec"]["ingress"] if "namespaceSelector" not in str(r)]

    findings = errors(changed(platforms["dev"], "NetworkPolicy", "cert-manager", "allow", only_own_pods))
    [message] = about(findings, CERT_MANAGER_MONITOR)
    assert message == (
        "spec.endpoints[0]: Prometheus monitoring/kube-prometheus-stack-prometheus cannot reach Deployment "
        "cert-manager/cert-manager on TCP 9402 (http-metrics), via Service cert-manager/cert-manager port "
        "http-metrics: the policies of cert-manager selecting it for ingress (NetworkPolicy allow, NetworkPolicy "
        "default-deny) admit none from its pods (monitoring, app.kubernetes.io/name=prometheus, "
        "operator.prometheus.io/name=kube-prometheus-stack-prometheus) on TCP 9402 (http-metrics)"
    )


def test_a_scrape_path_prometheus_own_namespace_refuses_is_named(platforms: dict[str, Platform]) -> None:
    def no_pod_egress(allow: dict[str, Any]) -> None:
        allow["spec"]["egress"] = [r for r in allow["spec"]["egress"] if r.get("to") != [{"namespaceSelector": {}}]]

    findings = errors(changed(platforms["dev"], "NetworkPolicy", "monitoring", "allow", no_pod_egress))
    assert any(
        "let none out to Deployment cert-manager/cert-manager" in m for m in about(findings, CERT_MANAGER_MONITOR)
    )

    # A policy narrowed to Prometheus' pods must select them by the labels the Prometheus Operator gives them.
    def narrowed(labels: dict[str, str]) -> Change:
        return lambda allow: allow["spec"].update(podSelector={"matchLabels": labels})

    operator_labels = narrowed({"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/shard": "0"})
    assert (
        about(
            errors(changed(platforms["dev"], "NetworkPolicy", "monitoring", "allow", operator_labels)),
            CERT_MANAGER_MONITOR,
        )
        == []
    )
    chart_labels = narrowed({"app": "kube-prometheus-stack-prometheus"})  # the Prometheus resource's, not its pods'
    assert about(
        errors(changed(platforms["dev"], "NetworkPolicy", "monitoring", "allow", chart_labels)), CERT_MANAGER_MONITOR
    )


def test_host_network_targets_need_prometheus_egress_to_the_nodes(platforms: dict[str, Platform]) -> None:
    """node-exporter runs on the nodes' network: on-prem only the Cilium entities reach it."""
    ref = f"{STACK_MONITOR}-prometheus-node-exporter"
    onprem = changed(platforms["onprem"], "CiliumNetworkPolicy", "monitoring", "allow-cluster-entities", None)
    [message] = about(errors(onprem), ref)
    assert "let none out to the nodes (Cilium entities host, remote-node) on TCP 9100" in message
    assert about(errors(platforms["onprem"]), ref) == []


def test_cluster_pods_serve_only_their_ports(platforms: dict[str, Platform]) -> None:
    """Defect: on GKE the chart's CoreDNS target scraped 9153 of kube-dns, which serves metrics on 10054/10055."""
    ref = f"{STACK_MONITOR}-kube-dns"
    for env in ("dev", "staging", "prod"):
        findings = wiring_findings(platforms[env])[0]
        assert [f.severity for f in findings if f.object_ref == ref] == ["advisory"], env
        assert not any("coredns" in f.object_ref for f in findings)
    coredns_port = lambda s: s["spec"]["ports"][0].update(targetPort=9153)  # noqa: E731
    broken = changed(platforms["dev"], "Service", "kube-system", "kube-prometheus-stack-kube-dns", coredns_port)
    [message] = about(errors(broken), ref)
    assert (
        "targets TCP 9153, which pods of kube-dns (the cluster's) do not serve (they serve 53, 10053, 10055, 10054)"
        in message
    )


def test_onprem_prometheus_may_reach_the_control_plane(platforms: dict[str, Platform]) -> None:
    """Defect: on-prem Prometheus' egress to the nodes allowed 9100 and 10250 only, so the control plane's
    targets (10257, 10259, 2381, 10249) were refused and their alerts fired for ever."""
    findings = wiring_findings(platforms["onprem"])[0]
    for component in ("kube-controller-manager", "kube-scheduler", "kube-etcd", "kube-proxy"):
        ref = f"{STACK_MONITOR}-{component}"
        [advisory] = about(findings, ref)
        assert "127.0.0.1" in advisory  # kubeadm's defaults, which the cluster must change
    assert not [f for f in findings if f.severity == "error"]


def test_metallb_is_scraped_where_its_metrics_are(platforms: dict[str, Platform]) -> None:
    """Defect: the PodMonitor named port `monitoring`; MetalLB 0.16.1 names it `metricshttps`, serves it over HTTPS
    to authorized callers only, and the speakers on the nodes' network (9120, which Prometheus could not reach)."""
    onprem = platforms["onprem"]
    monitors = [o for o in onprem.owned_by("metallb") if o.kind == "ServiceMonitor"]
    assert {m.name for m in monitors} == {"metallb-speaker-monitor", "metallb-controller-monitor"}
    for monitor in monitors:
        [endpoint] = monitor.object["spec"]["endpoints"]
        assert endpoint["port"] == "metricshttps" and endpoint["scheme"] == "https" and endpoint["bearerTokenFile"]
        assert about(wiring_findings(onprem)[0], monitor.ref) == []
    assert not [o for o in onprem.objects if o.kind == "PodMonitor" and o.namespace == "metallb-system"]


def test_ml_pipeline_is_scraped_through_the_sidecar_merged_metrics(platforms: dict[str, Platform]) -> None:
    """Defect: the ServiceMonitor selected `app=ml-pipeline` Services, but upstream's Service has no such label;
    and the pods carry a sidecar under STRICT mutual TLS, which Prometheus cannot speak."""
    ref = "stack: monitoring.coreos.com/v1 PodMonitor kubeflow/ml-pipeline"
    for env in ("dev", "staging", "prod"):
        assert not [f for f in wiring_findings(platforms[env])[0] if "kubeflow/ml-pipeline" in f.object_ref], env
        assert [o.ref for o in platforms[env].objects if o.namespace == "kubeflow" and "Monitor" in o.kind] == [ref]
    # On the server's own port the mesh refuses Prometheus.
    own_port = lambda m: m["spec"]["podMetricsEndpoints"][0].update(portNumber=8888)  # noqa: E731
    [message] = about(errors(changed(platforms["dev"], "PodMonitor", "kubeflow", "ml-pipeline", own_port)), ref)
    assert "its pods carry Istio's sidecar, and PeerAuthentication istio-system/default (STRICT)" in message


# --- what the API server calls -----------------------------------------------------------------------------------

CERT_MANAGER_WEBHOOK = (
    "cert-manager: admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration cert-manager-webhook"
)


def without_webhook_allowance(allow: dict[str, Any]) -> None:
    allow["spec"]["ingress"] = [r for r in allow["spec"]["ingress"] if "ipBlock" not in str(r)]


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_a_webhook_the_api_server_cannot_reach_blocks_writes(platforms: dict[str, Platform], env: str) -> None:
    platform = changed(platforms[env], "NetworkPolicy", "cert-manager", "allow", without_webhook_allowance)
    if env == "onprem":  # Cilium: the entity rule admits the API server where the ipBlock cannot
        assert about(errors(platform), CERT_MANAGER_WEBHOOK) == []
        platform = changed(platform, "CiliumNetworkPolicy", "cert-manager", "allow-cluster-entities", None)
    [message] = about(errors(platform), CERT_MANAGER_WEBHOOK)
    assert message.startswith(
        "webhooks[0].clientConfig.service: Service cert-manager/cert-manager-webhook port 443 leads to Deployment "
        "cert-manager/cert-manager-webhook on TCP 10250 (https), where the policies of cert-manager selecting it for "
        "ingress"
    )
    assert message.endswith("failurePolicy Fail: the API server refuses every request it intercepts")


def test_webhook_backends_must_exist_with_their_port(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    gone = changed(dev, "Service", "cert-manager", "cert-manager-webhook", None)
    assert (
        "Service cert-manager/cert-manager-webhook is not in the platform"
        in about(errors(gone), CERT_MANAGER_WEBHOOK)[0]
    )
    moved = lambda s: s["spec"]["ports"][0].update(port=8443)  # noqa: E731
    [message] = about(
        errors(changed(dev, "Service", "cert-manager", "cert-manager-webhook", moved)), CERT_MANAGER_WEBHOOK
    )
    assert "Service cert-manager/cert-manager-webhook has no port 443 (it has https" in message


def test_an_ignored_webhook_unreachable_is_an_advisory(platforms: dict[str, Platform]) -> None:
    """Defect: the mesh-wide STRICT mode refused the API server at the Pipelines cache server's webhook, so
    caching was silently off (failurePolicy Ignore); a workload PeerAuthentication now leaves that port plain."""
    ref = "kubeflow-pipelines: admissionregistration.k8s.io/v1 MutatingWebhookConfiguration cache-webhook-kubeflow"
    assert about(wiring_findings(platforms["dev"])[0], ref) == []
    strict = changed(platforms["dev"], "PeerAuthentication", "kubeflow", "cache-server-webhook", None)
    [finding] = [f for f in wiring_findings(strict)[0] if f.object_ref == ref]
    assert finding.severity == "advisory"
    assert (
        "whose Istio sidecar accepts only mutual TLS there (PeerAuthentication istio-system/default, STRICT)"
        in finding.message
    )
    assert finding.message.endswith("failurePolicy Ignore: its checks and defaults are silently skipped")


def test_aggregated_apis_and_conversion_webhooks_are_reached_too(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    keda = "keda: apiregistration.k8s.io/v1 APIService v1beta1.external.metrics.k8s.io"
    closed = lambda a: a["spec"].update(ingress=[r for r in a["spec"]["ingress"] if "6443" not in str(r)])  # noqa: E731
    [message] = about(errors(changed(dev, "NetworkPolicy", "keda", "allow", closed)), keda)
    assert message.startswith("spec.service: Service keda/keda-operator-metrics-apiserver port 443 leads to")
    assert "every request for v1beta1.external.metrics.k8s.io fails" in message
    crd = "knative: apiextensions.k8s.io/v1 CustomResourceDefinition knativeservings.operator.knative.dev"
    findings = errors(changed(dev, "NetworkPolicy", "knative-operator", "allow", without_webhook_allowance))
    [message] = about(findings, crd)
    assert message.startswith("spec.conversion.webhook.clientConfig.service: Service knative-operator/operator-webhook")


def test_a_policy_with_a_selector_the_api_server_refuses_is_reported(platforms: dict[str, Platform]) -> None:
    bad = lambda a: a["spec"].update(podSelector={"matchExpressions": [{"key": "a", "operator": "Is"}]})  # noqa: E731
    findings = wiring_findings(changed(platforms["dev"], "NetworkPolicy", "cert-manager", "allow", bad))[0]
    [message] = about(findings, "stack: networking.k8s.io/v1 NetworkPolicy cert-manager/allow")
    assert message.startswith("spec.podSelector.matchExpressions[0].operator: 'Is' is none of In, NotIn")


def test_a_prometheus_with_a_selector_the_api_server_refuses_is_reported(platforms: dict[str, Platform]) -> None:
    bad = lambda p: p["spec"].update(podMonitorSelector={"matchExpressions": [{"key": "a", "operator": "Is"}]})  # noqa: E731
    findings = wiring_findings(changed(platforms["dev"], *PROMETHEUS, bad))[0]
    [message] = about(
        findings, f"kube-prometheus-stack: monitoring.coreos.com/v1 Prometheus {'/'.join(PROMETHEUS[1:])}"
    )
    assert message.startswith("spec.podMonitorSelector.matchExpressions[0].operator: 'Is' is none of In, NotIn")
    assert message.endswith(": it loads no monitor")
    # Its monitors are then loaded by no Prometheus.
    assert about(findings, CERT_MANAGER_MONITOR)[0].startswith("metadata.labels: no Prometheus of the platform loads")


def test_ml_apps_on_prem_may_reach_minio_and_on_gke_only_https(platforms: dict[str, Platform]) -> None:
    """The model-serving predictor downloads its model from MinIO's pods (port 9000 behind the Service's 80)."""
    predictor = pod("ml-model-serving", **{"serving.kserve.io/inferenceservice": "iris-classifier"})
    minio = pod("minio", (ContainerPort(9000, "http-minio"),), **{"v1.min.io/tenant": "platform"})
    onprem = NetworkPolicies(platforms["onprem"].objects)
    assert onprem.egress(predictor, Port(9000, name="http-minio"), minio).allowed
    assert onprem.ingress(minio, Port(9000, name="http-minio"), predictor).allowed
    gcs = Outside("storage.googleapis.com", (ANY_ADDRESS,), True)
    dev = NetworkPolicies(platforms["dev"].objects)
    assert dev.egress(predictor, Port(443), gcs).allowed
    assert not dev.egress(predictor, Port(9000), minio).allowed
