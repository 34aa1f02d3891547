"""Ingress, mesh, TLS and DNS: both ingress choices on both targets, rendered under the mock engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.expand.expansion import Expander
from infra.offline.render import Rendered, render_stack
from infra.platform import labels
from infra.platform.component import ComponentSpec, PlatformComponent

from .conftest import ENVIRONMENTS, allowances

UIS = ("argocd", "grafana")
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io")
ISTIO_APPS = ("istio-base", "istiod", "istio-gateway")


def switch_ingress(stack: str, provider: str, tmp_path: Path) -> Path:
    """A copy of a real stack file with ingress.provider changed (and, for Traefik, Kubeflow and KServe off:
    they need Istio)."""
    text = (ENVIRONMENTS / f"Pulumi.{stack}.yaml").read_text()
    other = "traefik" if provider == "istio" else "istio"
    block = f"    ingress:\n      provider: {other}\n"
    assert block in text, f"{stack} does not use {other}"
    text = text.replace(block, f"    ingress:\n      provider: {provider}\n")
    if provider == "traefik":
        for ml in ("kubeflow", "kserve"):
            text = text.replace(f"      {ml}:\n        enabled: true", f"      {ml}:\n        enabled: false")
    copy = tmp_path / f"Pulumi.{stack}.yaml"
    copy.write_text(text)
    return copy


@pytest.fixture(scope="module")
def variants(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every ingress choice on every target: the real dev (istio, GKE), onprem (istio) and onprem-traefik stacks, and
    dev with the other choice."""
    return {
        "dev-istio": rendered["dev"],
        "onprem-istio": rendered["onprem"],
        "onprem-traefik": rendered["onprem-traefik"],
        "dev-traefik": render_stack(switch_ingress("dev", "traefik", tmp_path_factory.mktemp("dev"))),
    }


ISTIO_VARIANTS = ("dev-istio", "onprem-istio")
TRAEFIK_VARIANTS = ("dev-traefik", "onprem-traefik")


def objects(r: Rendered, kind: str, group: str | None = None) -> list[dict[str, Any]]:
    return [
        m.object
        for m in r.manifests
        if m.object["kind"] == kind and (group is None or m.object["apiVersion"].startswith(f"{group}/"))
    ]


def named(items: list[dict[str, Any]], name: str, namespace: str | None = None) -> dict[str, Any]:
    matches = [
        o for o in items if o["metadata"]["name"] == name and namespace in (None, o["metadata"].get("namespace"))
    ]
    assert len(matches) == 1, f"{name} in {namespace}: {len(matches)} found"
    return matches[0]


def wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["annotations"][labels.SYNC_WAVE])


def application(r: Rendered, name: str) -> dict[str, Any]:
    return named(objects(r, "Application"), name)


def values(r: Rendered, app: str) -> dict[str, Any]:
    return application(r, app)["spec"]["source"]["helm"]["valuesObject"]


def certificate_for(r: Rendered, host: str, namespace: str) -> dict[str, Any]:
    matches = [
        c
        for c in objects(r, "Certificate")
        if host in c["spec"].get("dnsNames", []) and c["metadata"]["namespace"] == namespace
    ]
    assert len(matches) == 1, f"no single certificate for {host} in {namespace}"
    certificate = matches[0]
    assert certificate["spec"]["issuerRef"] == {"name": "platform", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    return certificate


@pytest.mark.parametrize("variant", ISTIO_VARIANTS)
def test_istio_serves_every_ui_with_tls_under_the_domain(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    for ui in UIS:
        host = f"{ui}.{r.env.domain}"
        gateway = named(objects(r, "Gateway", "networking.istio.io"), ui, "istio-system")
        https = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTPS"]
        assert https and https[0]["hosts"] == [host] and https[0]["tls"]["mode"] == "SIMPLE"
        assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
        secret = https[0]["tls"]["credentialName"]
        assert certificate_for(r, host, "istio-system")["spec"]["secretName"] == secret
        service = next(vs for vs in objects(r, "VirtualService") if vs["metadata"]["name"] == ui)
        assert service["spec"]["hosts"] == [host]
        assert service["spec"]["gateways"] == [f"istio-system/{ui}"]
        destination = service["spec"]["http"][0]["route"][0]["destination"]["host"]
        assert destination.endswith(f".{service['metadata']['namespace']}.svc.cluster.local")


@pytest.mark.parametrize("variant", TRAEFIK_VARIANTS)
def test_traefik_serves_every_ui_with_tls_under_the_domain(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    middlewares = {m["metadata"]["name"] for m in objects(r, "Middleware", "traefik.io")}
    assert {"rate-limit", "auth-headers"} <= middlewares
    for ui in UIS:
        host = f"{ui}.{r.env.domain}"
        route = named(objects(r, "IngressRoute", "traefik.io"), ui)
        namespace = route["metadata"]["namespace"]
        assert route["spec"]["entryPoints"] == ["websecure"]
        assert route["spec"]["routes"][0]["match"] == f"Host(`{host}`)"
        assert {m["name"] for m in route["spec"]["routes"][0]["middlewares"]} == middlewares
        secret = route["spec"]["tls"]["secretName"]
        assert certificate_for(r, host, namespace)["spec"]["secretName"] == secret


def test_middlewares_follow_the_ingress_settings(variants: dict[str, Rendered]) -> None:
    onprem = variants["onprem-traefik"]
    limit = named(objects(onprem, "Middleware"), "rate-limit")["spec"]["rateLimit"]
    assert limit == {"average": onprem.env.ingress.rate_limit_average, "burst": onprem.env.ingress.rate_limit_burst}
    headers = named(objects(onprem, "Middleware"), "auth-headers")["spec"]["headers"]["customRequestHeaders"]
    assert headers and set(headers.values()) == {""}, "client-sent identity headers are removed"
    # No authentication service configured: no forward auth.
    assert "forward-auth" not in {m["metadata"]["name"] for m in objects(onprem, "Middleware")}


@pytest.mark.parametrize("variant", ISTIO_VARIANTS)
def test_istio_enforces_strict_mtls_mesh_wide(variants: dict[str, Rendered], variant: str) -> None:
    policy = named(objects(variants[variant], "PeerAuthentication", "security.istio.io"), "default", "istio-system")
    assert policy["spec"] == {"mtls": {"mode": "STRICT"}}


@pytest.mark.parametrize("variant", [*ISTIO_VARIANTS, *TRAEFIK_VARIANTS])
def test_the_acme_http01_solver_class_is_served(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    provider = r.env.ingress.provider
    if provider == "istio":
        ingress_class = named(objects(r, "IngressClass"), "istio")
        assert ingress_class["spec"]["controller"] == "istio.io/ingress-controller"
        assert values(r, "istiod")["meshConfig"]["ingressClass"] == "istio"
    else:
        assert not objects(r, "IngressClass"), "the Traefik chart declares its own"
        assert values(r, "traefik")["ingressClass"]["name"] == "traefik"
        assert values(r, "traefik")["providers"]["kubernetesIngress"]["enabled"] is True


@pytest.mark.parametrize("variant", TRAEFIK_VARIANTS)
def test_traefik_environment_has_no_istio(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    groups = {m.object["apiVersion"].split("/")[0] for m in r.manifests}
    assert not groups & set(ISTIO_GROUPS)
    apps = {a["metadata"]["name"] for a in objects(r, "Application")}
    assert not apps & {*ISTIO_APPS, "istio-cni"} and "traefik" in apps
    assert "istio-system" not in {ns["metadata"]["name"] for ns in objects(r, "Namespace")}


@pytest.mark.parametrize("variant", ISTIO_VARIANTS)
def test_istio_environment_has_no_traefik(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    groups = {m.object["apiVersion"].split("/")[0] for m in r.manifests}
    assert "traefik.io" not in groups
    apps = {a["metadata"]["name"] for a in objects(r, "Application")}
    assert "traefik" not in apps and set(ISTIO_APPS) <= apps
    assert "traefik" not in {ns["metadata"]["name"] for ns in objects(r, "Namespace")}


@pytest.mark.parametrize("variant", ISTIO_VARIANTS)
def test_istio_charts_sync_in_order_and_its_resources_after_its_crds(
    variants: dict[str, Rendered], variant: str
) -> None:
    r = variants[variant]
    base, istiod, gateway = (application(r, name) for name in ISTIO_APPS)
    assert wave(base) < wave(istiod) < wave(gateway)
    assert base["metadata"]["annotations"][labels.PROVIDES_CRDS] == ",".join(sorted(ISTIO_GROUPS))
    assert labels.PROVIDES_CRDS not in istiod["metadata"]["annotations"]
    istio_resources = [m.object for m in r.manifests if m.object["apiVersion"].split("/")[0] in ISTIO_GROUPS]
    assert istio_resources
    # After the whole of Istio, so the gateway that serves them exists too.
    assert all(wave(obj) > wave(gateway) for obj in istio_resources)


@pytest.mark.parametrize("variant", ["dev-traefik"])
def test_switched_choices_pass_schemas_ordering_and_policies(
    variants: dict[str, Rendered], variant: str, crd_schemas: str, expander: Expander
) -> None:
    """`check` covers the real stacks (on-prem: both choices, onprem and onprem-traefik); the other ingress choice on
    GKE must pass the same stages (schemas on the whole platform: the stack's objects and what its Applications
    apply)."""
    from infra.cli.commands import load_crd_allowlist, preinstalled_crds
    from infra.expand.platform import Platform
    from infra.expand.schemas import PlatformValidator, schema_findings
    from infra.offline.policy import run_policies
    from infra.platform.ordering import ordering_problems

    r = variants[variant]
    platform = Platform(r, expander.expand(r))
    validator = PlatformValidator.of(platform, crd_schemas, load_crd_allowlist())
    findings = [finding for stage, _ in schema_findings(platform, validator).values() for finding in stage]
    findings += run_policies(r.run.resources)
    errors = [f for f in findings if f.severity == "error"]
    if variant == "dev-traefik":
        # Traefik turns KServe off, but the ApplicationSet still makes the model-serving Application from
        # apps/model-serving/overlays/dev (it syncs every overlay of the environment, whatever argocd.apps says), and
        # its InferenceService has no CRD: an environment without KServe needs no model-serving overlay, as on-prem.
        (serving,) = [f for f in errors if f.object_ref.startswith("model-serving: ")]
        assert "nothing installs serving.kserve.io/InferenceService" in serving.message
        errors.remove(serving)
    assert errors == []
    assert ordering_problems([m.object for m in r.manifests], preinstalled_crds(r.env)) == []


@pytest.mark.parametrize(("variant", "platform"), [("dev-istio", "gke"), ("onprem-istio", "")])
def test_meshed_pods_need_no_privileged_init_container(
    variants: dict[str, Rendered], variant: str, platform: str
) -> None:
    r = variants[variant]
    cni = application(r, "istio-cni")
    assert cni["spec"]["destination"]["namespace"] == "kube-system"
    assert wave(application(r, "istio-base")) < wave(cni) < wave(application(r, "istiod"))
    assert values(r, "istio-cni")["global"]["platform"] == platform
    assert values(r, "istiod")["cni"] == {"enabled": True}


@pytest.mark.parametrize("variant", TRAEFIK_VARIANTS)
def test_traefik_resources_sync_after_its_crds(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    traefik = application(r, "traefik")
    assert "traefik.io" in traefik["metadata"]["annotations"][labels.PROVIDES_CRDS].split(",")
    resources = [m.object for m in r.manifests if m.object["apiVersion"].startswith("traefik.io/")]
    assert resources and all(wave(obj) > wave(traefik) for obj in resources)


@pytest.mark.parametrize("variant", [*ISTIO_VARIANTS, *TRAEFIK_VARIANTS])
def test_certificates_sync_after_cert_manager(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    cert_manager = application(r, "cert-manager")
    assert all(wave(c) > wave(cert_manager) for c in objects(r, "Certificate"))


@pytest.mark.parametrize(
    ("variant", "namespace", "ports", "pods"),
    [
        ("dev-istio", "istio-system", [80, 443, 15021], {"istio": "ingressgateway"}),
        ("onprem-traefik", "traefik", [8000, 8443], None),
    ],
)
def test_ingress_namespace_admits_the_internet_and_reaches_the_backends(
    variants: dict[str, Rendered], variant: str, namespace: str, ports: list[int], pods: dict[str, str] | None
) -> None:
    r = variants[variant]
    declared = allowances(r, namespace).values()
    public = [
        a
        for a in declared
        if a["direction"] == "ingress"
        and any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in a["rule"].get("from", []))
        and sorted(port["port"] for port in a["rule"].get("ports", [])) == ports
    ]
    assert len(public) == 1
    assert public[0]["podSelector"] == ({"matchLabels": pods} if pods else {})
    egress = [
        a for a in declared if a["direction"] == "egress" and {"namespaceSelector": {}} in a["rule"].get("to", [])
    ]
    assert egress, "the ingress reaches backends in every namespace"


@pytest.mark.parametrize("variant", [*ISTIO_VARIANTS, *TRAEFIK_VARIANTS])
def test_backend_namespaces_admit_the_ingress(variants: dict[str, Rendered], variant: str) -> None:
    r = variants[variant]
    ingress_namespace = "istio-system" if r.env.ingress.provider == "istio" else "traefik"
    backends = {"argocd": "argocd", "grafana": "monitoring"}
    for ui, namespace in backends.items():
        peer = allowances(r, namespace)[f"ingress-to-{ui}"]["rule"]["from"][0]
        assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}}}


@pytest.mark.parametrize(
    ("variant", "app", "service_values"),
    [
        ("dev-istio", "istio-gateway", lambda v: (v["service"]["type"], v["service"]["annotations"])),
        ("onprem-istio", "istio-gateway", lambda v: (v["service"]["type"], v["service"]["annotations"])),
        ("dev-traefik", "traefik", lambda v: (v["service"]["spec"]["type"], v["service"]["annotations"])),
        ("onprem-traefik", "traefik", lambda v: (v["service"]["spec"]["type"], v["service"]["annotations"])),
    ],
)
def test_ingress_service_is_a_load_balancer_from_whoever_provides_them(
    variants: dict[str, Rendered], variant: str, app: str, service_values: Any
) -> None:
    service_type, annotations = service_values(values(variants[variant], app))
    assert service_type == "LoadBalancer"
    # GKE's cloud load balancer is chosen by annotation; MetalLB (on-prem) assigns an address unasked.
    expected = {"cloud.google.com/l4-rbs": "enabled"} if variant.startswith("dev") else {}
    assert annotations == expected


def test_acme_solver_follows_the_environment(rendered: dict[str, Rendered]) -> None:
    def solver(env: str) -> dict[str, Any]:
        issuer = named(objects(rendered[env], "ClusterIssuer"), "platform")
        return issuer["spec"]["acme"]["solvers"][0]

    assert solver("staging")["dns01"] == {"cloudDNS": {"project": "mlops-staging-234567"}}
    assert solver("staging")["selector"] == {"dnsZones": ["staging.ml.example.com"]}
    assert "http01" in solver("dev")
    # The DNS-01 self-check asks the zone's name servers; the HTTP-01 one fetches the challenge.
    declared = lambda env: allowances(rendered[env], "cert-manager")  # noqa: E731
    assert "acme-self-check-dns" in declared("staging") and "acme-self-check-http" not in declared("staging")
    assert "acme-self-check-http" in declared("dev")
    assert "acme-self-check-http" not in declared("onprem"), "an internal CA needs no challenge"


def test_external_dns_writes_records_where_dns_is_managed(variants: dict[str, Rendered]) -> None:
    # dev leaves DNS to someone else (provider none)
    assert "external-dns" not in {a["metadata"]["name"] for a in objects(variants["dev-istio"], "Application")}
    onprem = values(variants["onprem-traefik"], "external-dns")
    assert onprem["provider"] == {"name": "rfc2136"}
    assert "traefik-proxy" in onprem["sources"] and "istio-gateway" not in onprem["sources"]
    assert onprem["extraArgs"]["traefik-disable-legacy"] is True
    assert onprem["domainFilters"] == [variants["onprem-traefik"].env.domain]
    assert onprem["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "external-dns-tsig"
    onprem_istio = values(variants["onprem-istio"], "external-dns")
    assert "istio-gateway" in onprem_istio["sources"] and "traefik-proxy" not in onprem_istio["sources"]
    external_dns = application(variants["onprem-istio"], "external-dns")
    assert wave(external_dns) > wave(application(variants["onprem-istio"], "istio-gateway"))


def test_external_dns_uses_cloud_dns_on_gke(rendered: dict[str, Rendered]) -> None:
    staging = values(rendered["staging"], "external-dns")
    assert staging["provider"] == {"name": "google"}
    assert staging["extraArgs"]["google-project"] == "mlops-staging-234567"
    assert staging["txtOwnerId"] == "mlops-staging"


def test_a_disabled_ui_is_not_exposed(tmp_path: Path) -> None:
    text = (ENVIRONMENTS / "Pulumi.dev.yaml").read_text()
    block = "      monitoring:\n        prometheus:"
    assert block in text
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        text.replace(block, "      monitoring:\n        grafana:\n          enabled: false\n        prometheus:")
    )
    r = render_stack(stack)
    # dev's other UIs stay exposed (MLflow is on there); Grafana's is gone.
    assert {g["metadata"]["name"] for g in objects(r, "Gateway")} == {"argocd", "mlflow"}
    assert "ingress-to-grafana" not in allowances(r, "monitoring")
    assert "ingress-to-argocd" in allowances(r, "argocd")


class MeshedDemo(PlatformComponent):
    spec = ComponentSpec(name="mesh-demo", layer="ml", namespace="mesh-demo", mesh=True)

    def build(self) -> None:
        self.namespace()


@pytest.mark.parametrize(("stack", "injected"), [("dev", True), ("onprem", True), ("onprem-traefik", False)])
def test_a_component_that_joins_the_mesh_gets_injection_only_with_istio(
    monkeypatch: pytest.MonkeyPatch, stack: str, injected: bool
) -> None:
    import infra.program

    monkeypatch.setattr(infra.program, "COMPONENTS", (*infra.program.COMPONENTS, MeshedDemo))
    r = render_stack(ENVIRONMENTS / f"Pulumi.{stack}.yaml")
    namespace = named(objects(r, "Namespace"), "mesh-demo")
    assert ("istio-injection" in namespace["metadata"]["labels"]) is injected
    assert ("mesh-control-plane" in allowances(r, "mesh-demo")) is injected
    assert MeshedDemo.requires(r.env) == (("istio",) if injected else ())


BAD_INPUTS = [
    (
        {"components": {"certManager": {"enabled": False}}},
        "platform.components.certManager.enabled: must be true",
    ),
    (
        {"components": {"certManager": {"acmeSolver": "dns01"}}},
        "platform.components.certManager.cloudDnsProject: is required with acmeSolver dns01",
    ),
    (
        {"components": {"externalDns": {"provider": "google"}}},
        "platform.components.externalDns.googleProject: is required with provider google",
    ),
    (
        {"components": {"externalDns": {"provider": "rfc2136"}}},
        "platform.components.externalDns.rfc2136: is required with provider rfc2136",
    ),
    (
        {"components": {"externalDns": {"provider": "powerdns"}}},
        "platform.components.externalDns.provider: 'powerdns' is not allowed; allowed: google, rfc2136, none",
    ),
    (
        {"versions": {"istiod": "1.30.2"}},
        "platform.versions.istio-base: Istio's charts are one release",
    ),
    (
        {"ingress": {"provider": "istio", "forwardAuthUrl": "http://auth/check"}},
        "platform.ingress.forwardAuthUrl: is only used with provider traefik",
    ),
]


@pytest.mark.parametrize(("change", "expected"), BAD_INPUTS, ids=[case[1].split(":")[1] for case in BAD_INPUTS])
def test_bad_ingress_settings_name_their_path(change: dict[str, Any], expected: str) -> None:
    from infra.config import InvalidEnvironment, load_environment

    raw = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())["config"]["mlops-platform:platform"]
    with pytest.raises(InvalidEnvironment) as error:
        load_environment(merge(raw, change), "dev")
    assert any(expected in str(violation) for violation in error.value.violations), error.value.report()


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        merged[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def test_dns_writers_run_as_their_cloud_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """cert-manager (DNS-01) and external-dns take the Workload Identity the cluster layer maps to them."""
    import dataclasses

    import infra.cluster.gke
    from infra.cluster import WorkloadIdentity

    real_build = infra.cluster.gke.build
    emails = {"cert-manager": "cert-manager@p.iam.gserviceaccount.com", "external-dns": "dns@p.iam.gserviceaccount.com"}

    def with_identity(env: Any) -> Any:
        facts = real_build(env)
        # The others stay: the workloads that log in to Cloud SQL (ML Metadata, MLflow) need their own.
        return dataclasses.replace(facts, identity=WorkloadIdentity({**facts.identity.service_accounts, **emails}))

    monkeypatch.setattr(infra.cluster.gke, "build", with_identity)
    r = render_stack(ENVIRONMENTS / "Pulumi.staging.yaml")
    for app, workload in (("cert-manager", "cert-manager"), ("external-dns", "external-dns")):
        annotations = values(r, app)["serviceAccount"]["annotations"]
        assert annotations == {"iam.gke.io/gcp-service-account": emails[workload]}


def test_kibana_is_served_where_logging_runs(rendered: dict[str, Rendered]) -> None:
    onprem, dev = rendered["onprem-traefik"], rendered["dev"]
    route = named(objects(onprem, "IngressRoute", "traefik.io"), "kibana")
    assert route["spec"]["routes"][0]["match"] == f"Host(`kibana.{onprem.env.domain}`)"
    assert route["spec"]["routes"][0]["services"][0]["port"] == 5601
    kibana = named(objects(onprem, "Kibana"), "logs")
    assert kibana["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"] is True
    # The on-prem example on Istio serves it through the ingress gateway.
    assert [vs for vs in objects(rendered["onprem"], "VirtualService") if vs["metadata"]["name"] == "kibana"]
    # dev runs no ELK (Cloud Logging on GKE): nothing to serve.
    assert not [vs for vs in objects(dev, "VirtualService") if vs["metadata"]["name"] == "kibana"]
