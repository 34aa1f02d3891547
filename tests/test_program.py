"""The real program under the mock engine, per environment: properties of the resource graph."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.catalog import CATALOG
from infra.offline.render import Rendered
from infra.platform import labels
from infra.platform.argocd_app import SOURCE_KEY, mirrored_source
from infra.platform.existing import existing_components
from infra.platform.namespace import policy_name, policy_spec
from infra.platform.network import Allow, Peer

from .conftest import ENV_NAMES, allowances
from .conftest import ENVIRONMENTS as ENVIRONMENTS_DIR

COMPONENT_TYPE = re.compile(r"^mlops:(platform|observability|ml|delivery):[A-Z][A-Za-z0-9]+$")


def objects(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def application(r: Rendered, name: str) -> dict[str, Any]:
    """The Application of catalog key `name` (in a hub its name carries the environment's prefix)."""
    return next(app for app in objects(r, "Application") if key_of(app) == name)


def key_of(app: dict[str, Any]) -> str:
    return (app["metadata"].get("annotations") or {}).get(SOURCE_KEY, app["metadata"]["name"])


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_kubernetes_resource_is_on_the_cluster_provider_under_a_component(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    components = {res.ref for res in r.run.resources if res.type.startswith("mlops:")}
    assert components and all(COMPONENT_TYPE.match(ref.split("::")[0]) for ref in components)
    for res in r.run.resources:
        if res.type.startswith("kubernetes:"):
            assert res.provider.startswith("pulumi:providers:kubernetes::"), res.ref
            assert res.parent in components, f"{res.ref} is not parented to a component"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_argo_cd_is_bootstrapped_by_helm_and_everything_else_is_an_application(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    # The on-prem CNI is the only other Helm release (tests/test_cluster.py covers it).
    releases = [
        res
        for res in r.run.resources
        if res.type == "kubernetes:helm.sh/v3:Release" and not res.parent.startswith("mlops:platform:ClusterNetwork")
    ]
    # In hub mode (argocd.mode hub) the hub's Argo CD syncs the cluster: none is installed, names are prefixed.
    # From the chart mirror where the environment has one (oci://<charts>/argo-cd).
    hub = r.env.argocd.mode == "hub"
    prefix = f"{env}-" if hub else ""
    assert [rel.inputs["chart"].rpartition("/")[2] for rel in releases] == ([] if hub else ["argo-cd"])
    if not hub:
        assert releases[0].inputs["version"] == CATALOG["argo-cd"].version
    projects = {p["metadata"]["name"] for p in objects(r, "AppProject")}
    assert projects == {f"{prefix}platform", f"{prefix}ml-apps"}
    for app in objects(r, "Application"):
        name = key_of(app)
        source = app["spec"]["source"]
        assert source["repoURL"] == mirrored_source(CATALOG[name], r.env.mirrors).repo_url
        assert source["targetRevision"] == r.env.versions.get(name, CATALOG[name].version)
        assert app["spec"]["project"] == f"{prefix}platform"
        assert app["spec"]["destination"]["namespace"] in {
            d["namespace"]
            for d in next(p for p in objects(r, "AppProject") if p["metadata"]["name"] == f"{prefix}platform")["spec"][
                "destinations"
            ]
        }


@pytest.mark.parametrize("env", ENV_NAMES)
def test_each_namespace_has_pod_security_and_default_deny(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    policies = objects(r, "NetworkPolicy")
    for ns in objects(r, "Namespace"):
        name = ns["metadata"]["name"]
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] in {"restricted", "privileged"}
        deny = [p for p in policies if p["metadata"]["namespace"] == name and p["metadata"]["name"] == "default-deny"]
        assert deny and deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        assert allowances(r, name)["dns"]["direction"] == "egress"
    monitoring = next(ns for ns in objects(r, "Namespace") if ns["metadata"]["name"] == "monitoring")
    assert monitoring["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_allowances_are_merged_per_pod_selector_and_every_rule_is_named(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for policy in objects(r, "NetworkPolicy"):
        by_namespace.setdefault(policy["metadata"]["namespace"], []).append(policy)
    for namespace, policies in by_namespace.items():
        opening = [p for p in policies if p["metadata"]["name"] != "default-deny"]
        selectors = [json.dumps(p["spec"]["podSelector"], sort_keys=True) for p in opening]
        assert len(selectors) == len(set(selectors)), f"{namespace}: two policies select the same pods"
        rules = sum(len(p["spec"].get(direction, [])) for p in opening for direction in ("ingress", "egress"))
        # Each rule carries its allowance's name, and no name is used twice in a namespace.
        assert len(allowances(r, namespace)) == rules, namespace


def test_merging_allowances_keeps_each_rule_on_its_pods() -> None:
    gateway = (("istio", "ingressgateway"),)
    dns = Allow("dns", "egress", (Peer(namespace="kube-system"),), ((53, "UDP"),))
    public = Allow("public", "ingress", (Peer(cidr="0.0.0.0/0"),), (443,), pods=gateway)
    scrape = Allow("scrape", "ingress", (Peer(namespace="monitoring"),))
    spec = {policy_name(pods): policy_spec(group) for pods, group in {(): [dns, scrape], gateway: [public]}.items()}
    assert spec["allow"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [scrape.rule()],
        "egress": [dns.rule()],
    }
    assert spec["allow-ingressgateway"] == {
        "podSelector": {"matchLabels": {"istio": "ingressgateway"}},
        "policyTypes": ["Ingress"],
        "ingress": [public.rule()],
    }


@pytest.mark.parametrize("env", ENV_NAMES)
def test_custom_resources_wait_for_the_application_that_installs_their_crd(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    by_ref = {res.ref: res for res in r.run.resources}
    for m in r.manifests:
        group = m.object["apiVersion"].split("/")[0]
        if group in ("cert-manager.io", "monitoring.coreos.com"):
            owner = "cert-manager" if group == "cert-manager.io" else "kube-prometheus-stack"
            if owner in existing_components(r.env):
                continue  # the cluster's own installation: its CRDs exist before anything syncs
            deps = by_ref[m.resource.ref].dependencies
            assert f"kubernetes:argoproj.io/v1alpha1:Application::{owner}-application" in deps, m.path
            app_wave = int(application(r, owner)["metadata"]["annotations"][labels.SYNC_WAVE])
            assert int(m.object["metadata"]["annotations"][labels.SYNC_WAVE]) > app_wave


def test_high_availability_shapes_replicas(rendered: dict[str, Rendered]) -> None:
    prod = application(rendered["prod"], "kube-prometheus-stack")["spec"]["source"]["helm"]["valuesObject"]
    dev = application(rendered["dev"], "kube-prometheus-stack")["spec"]["source"]["helm"]["valuesObject"]
    assert prod["prometheus"]["prometheusSpec"]["replicas"] == 2
    assert prod["alertmanager"]["alertmanagerSpec"]["replicas"] == 3
    assert dev["prometheus"]["prometheusSpec"]["replicas"] == 1
    argocd = lambda env: next(  # noqa: E731
        res for res in rendered[env].run.resources if res.type == "kubernetes:helm.sh/v3:Release"
    ).inputs["values"]
    assert argocd("prod")["redis-ha"]["enabled"] is True and argocd("dev")["redis-ha"]["enabled"] is False
    assert application(rendered["prod"], "cert-manager")["spec"]["source"]["helm"]["valuesObject"]["replicaCount"] == 2


def test_target_decides_storage_and_control_plane_scraping(rendered: dict[str, Rendered]) -> None:
    def values(env: str) -> dict[str, Any]:
        return application(rendered[env], "kube-prometheus-stack")["spec"]["source"]["helm"]["valuesObject"]

    storage = lambda env: values(env)["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]  # noqa: E731
    assert storage("dev")["spec"]["storageClassName"] == "standard-rwo"
    assert storage("onprem")["spec"]["storageClassName"] == "longhorn"
    assert values("dev")["kubeControllerManager"]["enabled"] is False
    assert values("onprem")["kubeControllerManager"]["enabled"] is True
    assert storage("prod")["spec"]["resources"]["requests"]["storage"] == "200Gi"


def test_issuer_follows_the_environment(rendered: dict[str, Rendered]) -> None:
    def issuer(env: str) -> dict[str, Any]:
        return next(o for o in objects(rendered[env], "ClusterIssuer") if o["metadata"]["name"] == "platform")

    assert issuer("dev")["spec"]["acme"]["server"].startswith("https://acme-staging")
    assert issuer("dev")["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "istio"
    assert issuer("onprem")["spec"] == {"ca": {"secretName": "platform-ca"}}
    ca_certificates = [c for c in objects(rendered["onprem"], "Certificate") if c["spec"].get("isCA")]
    assert [c["metadata"]["name"] for c in ca_certificates] == ["platform-ca"]


def test_disabled_component_leaves_no_trace(tmp_path) -> None:
    from infra.offline.render import render_stack

    text = (
        (ENVIRONMENTS_DIR / "Pulumi.dev.yaml")
        .read_text()
        .replace(
            "      monitoring:\n        prometheus:", "      monitoring:\n        enabled: false\n        prometheus:"
        )
    )
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(text)
    r = render_stack(stack)
    assert "kube-prometheus-stack" not in {a["metadata"]["name"] for a in objects(r, "Application")}
    assert not objects(r, "ServiceMonitor")
    assert allowances(r, "argocd") and not [name for name in allowances(r) if name.endswith("/prometheus-scrape")]
