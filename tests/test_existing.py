"""Components the cluster already runs (components.istio/certManager/monitoring.existing): nothing of them is
installed, every dependant points at their names, and the compatibility matrix applies to their versions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli.commands import pull
from infra.config import InvalidEnvironment, load_environment
from infra.expand.caches import Caches
from infra.expand.existing import OWNER_PREFIX
from infra.expand.expansion import Expander
from infra.expand.platform import Platform
from infra.expand.schemas import PlatformValidator, schema_findings
from infra.offline.render import Rendered, render_stack
from infra.platform.existing import mesh_namespace, prometheus_namespace
from infra.platform.namespace import baseline_allowances
from infra.platform.network import Peer

from .conftest import ENVIRONMENTS, allowances

EXAMPLE = "hub-example"


def stack_config(name: str) -> dict[str, Any]:
    return yaml.safe_load((ENVIRONMENTS / f"Pulumi.{name}.yaml").read_text())["config"]["mlops-platform:platform"]


def write_stack(tmp_path: Path, name: str, platform: dict[str, Any]) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {"mlops-platform:platform": platform}}))
    return path


def objects(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def applications(r: Rendered) -> set[str]:
    return {app["metadata"]["name"] for app in objects(r, "Application")}


def elsewhere_gateway() -> dict[str, Any]:
    """The example with an Istio whose gateway runs elsewhere, an existing Prometheus, and no Kubeflow."""
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["components"]["istio"]["existing"].update(
        namespace="mesh-control", gatewayNamespace="edge", gatewayLabels={"app": "edge-gateway"}
    )
    platform["components"]["monitoring"] = {
        "existing": {
            "version": "88.5.3",
            "namespace": "observability",
            "monitorLabels": {"release": "corp-prometheus"},
            "ruleLabels": {"role": "alert-rules"},
        }
    }
    return platform


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_stack(write_stack(tmp_path_factory.mktemp("existing"), EXAMPLE, elsewhere_gateway()))


def test_nothing_of_an_existing_component_is_installed(rendered: dict[str, Rendered]) -> None:
    example = rendered[EXAMPLE]
    installed = applications(example)
    assert not installed & {"istio-base", "istio-cni", "istiod", "istio-gateway", "cert-manager"}
    assert not [m for m in example.manifests if m.object["kind"] in ("ClusterIssuer", "PeerAuthentication")]
    assert not objects(example, "IngressClass")
    namespaces = {n["metadata"]["name"] for n in objects(example, "Namespace")}
    assert not namespaces & {"istio-system", "cert-manager"}
    # The dev stack installs both: the difference is the setting.
    assert {"istiod", "cert-manager"} <= applications(rendered["dev"])


def test_certificates_name_the_existing_cluster_issuer(rendered: dict[str, Rendered]) -> None:
    certificates = objects(rendered[EXAMPLE], "Certificate")
    assert certificates
    for certificate in certificates:
        assert certificate["spec"]["issuerRef"]["name"] == "corp-acme"


def test_dependants_point_at_the_existing_gateway_and_control_plane(elsewhere: Rendered) -> None:
    gateways = objects(elsewhere, "Gateway")
    assert gateways
    for gateway in gateways:
        assert gateway["metadata"]["namespace"] == "edge"
        assert gateway["spec"]["selector"] == {"app": "edge-gateway"}
    for certificate in objects(elsewhere, "Certificate"):
        if certificate["metadata"]["name"] in ("argocd", "grafana"):
            assert certificate["metadata"]["namespace"] == "edge"
    for service in objects(elsewhere, "VirtualService"):
        assert all(gateway.startswith("edge/") for gateway in service["spec"]["gateways"])
    # UIs and the ML services admit the existing gateway; meshed namespaces reach the existing istiod.
    assert allowances(elsewhere, "mlflow")["ingress-to-mlflow"]["rule"]["from"] == [namespace_peer("edge")]
    assert namespace_peer("edge") in allowances(elsewhere, "ml-model-serving")["from-ingress"]["rule"]["from"]
    env = load_environment(elsewhere_gateway(), EXAMPLE)
    meshed = baseline_allowances("team", True, True, (), mesh_namespace(env), prometheus_namespace(env))
    assert Peer(namespace="mesh-control") in next(a for a in meshed if a.name == "mesh-control-plane").peers


def namespace_peer(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def test_an_existing_prometheus_selects_the_platforms_monitors_and_rules(elsewhere: Rendered) -> None:
    assert "kube-prometheus-stack" not in applications(elsewhere)
    assert not objects(elsewhere, "AlertmanagerConfig")
    namespaces = {n["metadata"]["name"] for n in objects(elsewhere, "Namespace")}
    assert "monitoring" not in namespaces
    monitors = [*objects(elsewhere, "ServiceMonitor"), *objects(elsewhere, "PodMonitor")]
    assert monitors
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "corp-prometheus"
    rules = objects(elsewhere, "PrometheusRule")
    assert rules
    for rule in rules:
        assert rule["metadata"]["labels"]["role"] == "alert-rules"
    assert {r["metadata"]["namespace"] for r in rules if r["metadata"]["name"] == "aiops"} == {"observability"}
    assert allowances(elsewhere, "kserve")["prometheus-scrape"]["rule"]["from"] == [namespace_peer("observability")]


def load(platform: dict[str, Any]) -> None:
    load_environment(platform, "existing-test")


def violations(platform: dict[str, Any]) -> str:
    with pytest.raises(InvalidEnvironment) as error:
        load(platform)
    return error.value.report()


def test_the_compatibility_matrix_applies_to_the_existing_version() -> None:
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["components"]["kubeflow"] = {"enabled": True}
    load(platform)  # 1.30.3 is in Kubeflow 26.03's accepted band
    platform["components"]["istio"]["existing"]["version"] = "1.27.4"
    report = violations(platform)
    assert "components.istio.existing.version" in report
    assert "istio 1.27.4 is not compatible with Kubeflow 26.03" in report
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["components"]["kubeflow"] = {"enabled": True}
    platform["components"]["certManager"]["existing"]["version"] = "v1.22.0"
    report = violations(platform)
    assert "components.certManager.existing.version" in report
    assert "cert-manager v1.22.0 is not compatible with Kubeflow 26.03" in report


def test_an_existing_component_is_not_pinned() -> None:
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["versions"] = {"cert-manager": "v1.21.1"}
    report = violations(platform)
    assert "versions.cert-manager" in report and "components.certManager.existing" in report


def test_kubeflow_needs_the_gateway_its_manifests_select() -> None:
    platform = elsewhere_gateway()
    platform["components"]["kubeflow"] = {"enabled": True}
    report = violations(platform)
    assert "components.istio.existing.gatewayNamespace" in report
    assert "components.istio.existing.gatewayLabels" in report


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("prometheus", {"retention": "30d"}),
        ("alertmanager", {"replicas": 2}),
        ("grafana", {"enabled": False}),
        ("alerting", stack_config("prod")["components"]["monitoring"]["alerting"]),
    ],
)
def test_an_existing_prometheus_refuses_the_settings_of_the_one_the_stack_would_install(
    setting: str, value: dict[str, Any]
) -> None:
    platform = elsewhere_gateway()
    platform["components"]["monitoring"][setting] = value
    report = violations(platform)
    assert f"components.monitoring.{setting}: is not used with components.monitoring.existing" in report
    load(elsewhere_gateway())  # without it, the example loads


def test_an_existing_istio_needs_the_istio_ingress() -> None:
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["ingress"] = {"provider": "traefik"}
    platform["components"]["kserve"] = {"enabled": False}
    assert "components.istio.existing: is only used with ingress provider istio" in violations(platform)


# --- offline checks: an existing component's CRDs --------------------------------------------------------------


def test_existing_crds_come_from_the_declared_chart_version(platforms: dict[str, Platform]) -> None:
    example = platforms[EXAMPLE]
    owners = {crd.owner for crd in example.crds if crd.owner.startswith(OWNER_PREFIX)}
    # (and the hub's Argo CD: tests/test_hub.py)
    assert {f"{OWNER_PREFIX}istio 1.30.3", f"{OWNER_PREFIX}cert-manager v1.21.1"} < owners
    assert not example.expansion.existing.unvalidated
    # Charts that ask the cluster for its APIs see the existing ones.
    assert "cert-manager.io/v1" in example.expansion.api_versions
    assert "networking.istio.io/v1" in example.expansion.api_versions


def test_a_custom_resource_is_judged_by_the_existing_crd(platforms: dict[str, Platform], crd_schemas: str) -> None:
    validator = PlatformValidator.of(platforms[EXAMPLE], crd_schemas, {})
    gateway = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "bad", "namespace": "istio-system"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": "eighty"}}]},
    }
    findings = validator.validate(gateway)
    assert any("spec.servers[0].port.number" in f.message for f in findings), findings
    old = {**gateway, "apiVersion": "networking.istio.io/v1alpha2", "spec": {}}
    assert any("istio 1.30.3" in f.message and "v1alpha2" in f.message for f in validator.validate(old))


@pytest.fixture(scope="module")
def uncached(tmp_path_factory: pytest.TempPathFactory, expander: Expander) -> dict[str, Platform]:
    """The example with an Istio version whose chart is not in the cache: without and with a reason to accept it."""
    found = {}
    for accepted in (None, "the organisation's Istio is validated by its own pipeline"):
        platform = copy.deepcopy(stack_config(EXAMPLE))
        platform["components"]["istio"]["existing"]["version"] = "1.29.2"
        if accepted:
            platform["components"]["istio"]["existing"]["acceptUnvalidated"] = accepted
        stack = render_stack(write_stack(tmp_path_factory.mktemp("uncached"), EXAMPLE, platform))
        found["accepted" if accepted else "refused"] = Platform(stack, expander.expand(stack))
    return found


def test_an_uncached_version_is_a_finding_per_kind_unless_accepted(
    uncached: dict[str, Platform], crd_schemas: str
) -> None:
    for case, severity in (("refused", "error"), ("accepted", "advisory")):
        platform = uncached[case]
        assert [u.component for u in platform.expansion.existing.unvalidated] == ["istio"]
        validator = PlatformValidator.of(platform, crd_schemas, {})
        findings, _ = schema_findings(platform, validator)["crd"]
        istio = [f for f in findings if "istio 1.29.2" in f.message]
        kinds = sorted(f.message.split(":")[0] for f in istio)
        # One finding per kind the platform uses (two Gateways, two VirtualServices), none per object.
        assert kinds == ["networking.istio.io/Gateway", "networking.istio.io/VirtualService"], findings
        assert {f.severity for f in istio} == {severity}
        assert all("base-1.29.2.tgz" in f.message for f in istio)
        # cert-manager's chart is there: its kinds are validated as usual.
        assert not [f for f in findings if f.severity == "error" and "istio 1.29.2" not in f.message]


def test_charts_pull_fetches_the_existing_components_charts(capsys: pytest.CaptureFixture[str]) -> None:
    """`charts pull` fills the cache with what `check` reads of an existing component: its chart at that version."""
    caches = Caches.from_environment()
    assert pull(ENVIRONMENTS, [EXAMPLE], caches) == 0
    printed = capsys.readouterr().out
    assert "chart base 1.30.3" in printed and "chart cert-manager v1.21.1" in printed
