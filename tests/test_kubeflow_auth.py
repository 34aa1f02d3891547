"""Sign-in in front of Kubeflow under mocks: oauth2-proxy as an OIDC client of the environment's issuer, the
ingress gateway's checks (ext_authz provider, AuthorizationPolicies, RequestAuthentication, header filter), and
the settings' validation."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.catalog import CATALOG
from infra.config import load_stack_file
from infra.offline.render import Rendered, render_stack
from infra.offline.validate import ManifestValidator
from infra.platform import labels
from tests.stack_copies import stack_copy, violations

from .conftest import allowances


def objects(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def application(r: Rendered, name: str) -> dict[str, Any]:
    return next(app for app in objects(r, "Application") if app["metadata"]["name"] == name)


def helm_values(r: Rendered, name: str) -> dict[str, Any]:
    return application(r, name)["spec"]["source"]["helm"]["valuesObject"]


def test_gateway_runs_as_the_identity_kubeflow_admits(rendered: dict[str, Rendered]) -> None:
    """Kubeflow's UIs admit only `.../sa/istio-ingressgateway-service-account`; any other name locks users out."""
    service_account = helm_values(rendered["dev"], "istio-gateway")["serviceAccount"]
    assert service_account == {"name": "istio-ingressgateway-service-account"}


# --- settings -------------------------------------------------------------------------------------------------

AUTH = "mlops-platform:platform.components.kubeflow.auth"


def edit_auth(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def edit(platform: dict[str, Any]) -> None:
        platform["components"]["kubeflow"]["auth"].update(changes)

    return edit


def without_auth(platform: dict[str, Any]) -> None:
    del platform["components"]["kubeflow"]["auth"]


def test_prod_kubeflow_needs_sign_in(tmp_path: Path) -> None:
    assert violations(tmp_path, "prod", without_auth) == [
        f"{AUTH}: is required for tier prod: without it the Kubeflow dashboard has no sign-in and trusts whatever "
        "kubeflow-userid header reaches it"
    ]


def test_kubeflow_without_sign_in_is_allowed_below_prod(tmp_path: Path) -> None:
    for env in ("dev", "staging"):
        loaded = load_stack_file(stack_copy(tmp_path, env, without_auth))
        assert loaded.components.kubeflow.enabled and loaded.components.kubeflow.auth is None


def test_sign_in_settings_stay_valid_while_kubeflow_is_off(tmp_path: Path) -> None:
    def off(platform: dict[str, Any]) -> None:
        platform["components"]["kubeflow"]["enabled"] = False

    assert load_stack_file(stack_copy(tmp_path, "staging", off)).components.kubeflow.auth is not None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"requestedScopes": ["email", "profile"]},
            f"{AUTH}.requestedScopes: must include openid: without it the identity provider issues no ID token to "
            "verify",
        ),
        ({"issuer": "http://idp.example.com"}, f"{AUTH}.issuer: 'http://idp.example.com' is not an https:// URL"),
        (
            {"allowedEmailDomains": []},
            f"{AUTH}.allowedEmailDomains: needs at least one domain (oauth2-proxy admits nobody without one); "
            "`*` admits any",
        ),
        (
            {"allowedEmailDomains": ["@example.com"]},
            f"{AUTH}.allowedEmailDomains[0]: '@example.com' is not an e-mail domain such as example.com, or * for "
            "any domain",
        ),
        (
            {"refreshInterval": "2h"},
            f"{AUTH}.refreshInterval: '2h' is not a number of minutes from 1m to 99m, such as 4m",
        ),
        ({"clientSecret": {"name": "kubeflow-oidc"}}, f"{AUTH}.clientSecret.key: is required"),
        ({"clientSecret": 42}, f"{AUTH}.clientSecret: must be a mapping of settings, got int"),
    ],
)
def test_bad_sign_in_settings_name_their_path(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    found = violations(tmp_path, "prod", edit_auth(**changes))
    assert len(found) == 1 and found[0].startswith(expected), found


# --- the rendered sign-in ---------------------------------------------------------------------------------------

SIGNED_IN = ("dev", "staging", "prod")
"""The environments whose stack files enable Kubeflow with sign-in."""


def named(r: Rendered, kind: str, name: str, namespace: str) -> dict[str, Any]:
    (found,) = [
        o for o in objects(r, kind) if o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    return found


def mesh_config(r: Rendered) -> dict[str, Any]:
    return helm_values(r, "istiod")["meshConfig"]


def gateway_pod_labels(r: Rendered) -> dict[str, str]:
    """The labels the gateway chart puts on its pods: `istio: <name without istio->` (the chart's own rule)."""
    name = helm_values(r, "istio-gateway")["name"]
    return {"istio": name.removeprefix("istio-")}


def dashboard_https_hosts(r: Rendered) -> list[str]:
    """Hosts the kubeflow-gateway serves over HTTPS, from the patch of Kubeflow's istio-resources part."""
    patches = application(r, "kubeflow-istio-resources")["spec"]["source"]["kustomize"]["patches"]
    (gateway,) = [p for p in patches if p["target"] == {"kind": "Gateway", "name": "kubeflow-gateway"}]
    servers = json.loads(gateway["patch"])[0]["value"]
    return [host for server in servers if server["port"]["protocol"] == "HTTPS" for host in server["hosts"]]


def alpha_config(r: Rendered) -> dict[str, Any]:
    return helm_values(r, "oauth2-proxy")["alphaConfig"]["configData"]


def core_config(r: Rendered) -> dict[str, Any]:
    return tomllib.loads(helm_values(r, "oauth2-proxy")["config"]["configFile"])


@pytest.fixture(scope="module")
def validator_for(crd_schemas: str) -> Callable[[str], ManifestValidator]:
    # No allow-list: these objects must validate against their real CRD schemas.
    return lambda version: ManifestValidator(version, crd_schemas, {})


@pytest.mark.parametrize("env", SIGNED_IN)
def test_istiod_names_oauth2_proxy_as_ext_authz_provider(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    (provider,) = mesh_config(r)["extensionProviders"]
    http = provider["envoyExtAuthzHttp"]
    assert provider["name"] == "oauth2-proxy"
    # The Service the chart's release makes, on the port the /oauth2/ route also uses.
    route = named(r, "VirtualService", "oauth2-proxy", "oauth2-proxy")
    destination = route["spec"]["http"][0]["route"][0]["destination"]
    assert http["service"] == destination["host"] == "oauth2-proxy.oauth2-proxy.svc.cluster.local"
    assert http["port"] == destination["port"]["number"] == 80
    assert application(r, "oauth2-proxy")["spec"]["source"]["helm"]["releaseName"] == "oauth2-proxy"
    # The one header passed on is the one oauth2-proxy writes the ID token into.
    injected = [header["name"] for header in alpha_config(r)["injectResponseHeaders"]]
    assert http["headersToUpstreamOnAllow"] == injected
    assert alpha_config(r)["injectResponseHeaders"][0]["values"] == [{"claimSource": {"claim": "id_token"}}]
    assert http["includeRequestHeadersInCheck"] == ["cookie"]
    assert {"set-cookie", "content-type"} <= set(http["headersToDownstreamOnDeny"])


@pytest.mark.parametrize("env", SIGNED_IN)
def test_gateway_checks_every_dashboard_request(
    rendered: dict[str, Rendered], validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    r = rendered[env]
    validator = validator_for(r.env.kubernetes_version)
    host = f"kubeflow.{r.env.domain}"
    assert dashboard_https_hosts(r) == [host]
    custom = named(r, "AuthorizationPolicy", "kubeflow-sign-in", "istio-system")
    deny = named(r, "AuthorizationPolicy", "kubeflow-require-id-token", "istio-system")
    for policy in (custom, deny):
        assert validator.validate(policy) == [], policy["metadata"]["name"]
        assert policy["spec"]["selector"] == {"matchLabels": gateway_pod_labels(r)}
        (rule,) = policy["spec"]["rules"]
        (operation,) = [to["operation"] for to in rule["to"]]
        # Istio compares Host exactly: with and without a port, the dashboard host is covered.
        assert operation["hosts"] == [host, f"{host}:*"]
        # Only oauth2-proxy's own routes are exempt.
        prefix = named(r, "VirtualService", "oauth2-proxy", "oauth2-proxy")["spec"]["http"][0]["match"][0]["uri"]
        assert operation["notPaths"] == [prefix["prefix"] + "*"]
    assert custom["spec"]["action"] == "CUSTOM"
    assert custom["spec"]["provider"]["name"] in {p["name"] for p in mesh_config(r)["extensionProviders"]}
    assert "when" not in custom["spec"]["rules"][0] and "from" not in custom["spec"]["rules"][0]
    assert deny["spec"]["action"] == "DENY"
    assert deny["spec"]["rules"][0]["from"] == [{"source": {"notRequestPrincipals": ["*"]}}]


@pytest.mark.parametrize("env", SIGNED_IN)
def test_gateway_verifies_the_id_token_and_sets_the_kubeflow_user(
    rendered: dict[str, Rendered], validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    r = rendered[env]
    auth = r.env.components.kubeflow.auth
    assert auth is not None
    authentication = named(r, "RequestAuthentication", "kubeflow-id-token", "istio-system")
    assert validator_for(r.env.kubernetes_version).validate(authentication) == []
    spec = authentication["spec"]
    assert spec["selector"] == {"matchLabels": gateway_pod_labels(r)}
    (jwt,) = spec["jwtRules"]
    assert jwt["issuer"] == auth.issuer == alpha_config(r)["providers"][0]["oidcConfig"]["issuerURL"]
    assert jwt["audiences"] == [auth.client_id] == [alpha_config(r)["providers"][0]["clientID"]]
    # Read from the header oauth2-proxy fills, never from Authorization (other UIs' bearer tokens live there).
    assert jwt["fromHeaders"] == [
        {"name": mesh_config(r)["extensionProviders"][0]["envoyExtAuthzHttp"]["headersToUpstreamOnAllow"][0]}
    ]
    assert jwt["forwardOriginalToken"] is False
    assert jwt["outputClaimToHeaders"] == [{"header": "kubeflow-userid", "claim": auth.email_claim}]


def lua_removed_headers(code: str) -> set[str]:
    return set(re.findall(r'headers:remove\("([^"]+)"\)', code))


@pytest.mark.parametrize("env", SIGNED_IN)
def test_client_sent_identity_headers_are_dropped_before_any_check(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    envoy_filter = named(r, "EnvoyFilter", "drop-client-identity-headers", "istio-system")
    assert envoy_filter["apiVersion"] == "networking.istio.io/v1alpha3"
    spec = envoy_filter["spec"]
    assert spec["workloadSelector"] == {"labels": gateway_pod_labels(r)}
    (patch,) = spec["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER" and patch["match"]["context"] == "GATEWAY"
    hcm = patch["match"]["listener"]["filterChain"]["filter"]["name"]
    assert hcm == "envoy.filters.network.http_connection_manager"
    # First in the chain: before ext_authz (CUSTOM) and the JWT filter (RequestAuthentication) add their values.
    assert patch["patch"]["operation"] == "INSERT_FIRST"
    config = patch["patch"]["value"]["typed_config"]
    assert config["@type"] == "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
    dropped = lua_removed_headers(config["default_source_code"]["inline_string"])
    # Every header the gateway's checks write and every header the teams' policies trust.
    written = {
        rule["header"]
        for rule in named(r, "RequestAuthentication", "kubeflow-id-token", "istio-system")["spec"]["jwtRules"][0][
            "outputClaimToHeaders"
        ]
    }
    passed = set(mesh_config(r)["extensionProviders"][0]["envoyExtAuthzHttp"]["headersToUpstreamOnAllow"])
    trusted = {
        re.fullmatch(r"request\.headers\[(.+)\]", condition["key"]).group(1)  # type: ignore[union-attr]
        for policy in objects(r, "AuthorizationPolicy")
        for rule in policy["spec"].get("rules", [])
        for condition in rule.get("when", [])
        if condition["key"].startswith("request.headers[")
    }
    assert trusted, "the teams' AuthorizationPolicies match the user header"
    assert written | passed | trusted | {"kubeflow-groups"} <= dropped


@pytest.mark.parametrize("env", SIGNED_IN)
def test_oauth2_proxy_reads_its_secrets_from_the_adopters_secrets(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    auth = r.env.components.kubeflow.auth
    assert auth is not None
    app = application(r, "oauth2-proxy")
    source = app["spec"]["source"]
    assert (source["repoURL"], source["chart"], source["targetRevision"]) == (
        "https://oauth2-proxy.github.io/manifests",
        "oauth2-proxy",
        CATALOG["oauth2-proxy"].version,
    )
    assert app["spec"]["destination"]["namespace"] == "oauth2-proxy"
    values = helm_values(r, "oauth2-proxy")
    # Kubeflow 26.03's oauth2-proxy release, on the catalog's chart.
    assert values["image"] == {"tag": "v7.14.3"}
    # No Secret made by the chart from values; each secret file comes from the Secret key the stack file names.
    assert values["proxyVarsAsSecrets"] is False
    assert not {"clientSecret", "cookieSecret", "existingSecret"} & set(values.get("config", {}))
    volumes = {v["name"]: v["secret"] for v in values["extraVolumes"]}
    mounts = {m["mountPath"]: m["name"] for m in values["extraVolumeMounts"]}

    def source_of(path: str) -> tuple[str, str]:
        directory, file = path.rsplit("/", 1)
        secret = volumes[mounts[directory]]
        (item,) = [i for i in secret["items"] if i["path"] == file]
        return secret["secretName"], item["key"]

    provider = alpha_config(r)["providers"][0]
    assert source_of(provider["clientSecretFile"]) == (auth.client_secret.name, auth.client_secret.key)
    assert source_of(core_config(r)["cookie_secret_file"]) == (auth.cookie_secret.name, auth.cookie_secret.key)
    assert provider["provider"] == "oidc" and provider["scope"].split() == list(auth.requested_scopes)
    assert provider.get("allowedGroups", []) == list(auth.allowed_groups)
    assert core_config(r)["email_domains"] == list(auth.allowed_email_domains)
    assert core_config(r)["cookie_refresh"] == auth.refresh_interval
    assert values["serviceAccount"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("env", SIGNED_IN)
def test_the_callback_is_served_over_tls_on_the_dashboard_host(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    callback = urlsplit(core_config(r)["redirect_url"])
    assert callback.scheme == "https" and callback.path == "/oauth2/callback"
    # The host the kubeflow-gateway serves over HTTPS with the dashboard's platform certificate...
    assert callback.hostname in dashboard_https_hosts(r)
    certificate = named(r, "Certificate", "kubeflow", "istio-system")
    assert callback.hostname in certificate["spec"]["dnsNames"]
    # ...where oauth2-proxy's paths are routed to it.
    route = named(r, "VirtualService", "oauth2-proxy", "oauth2-proxy")
    assert route["spec"]["gateways"] == ["kubeflow/kubeflow-gateway"]
    assert route["spec"]["hosts"] == [callback.hostname]
    assert callback.path.startswith(route["spec"]["http"][0]["match"][0]["uri"]["prefix"])


def test_oauth2_proxy_namespace_admits_only_the_gateway(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    namespace = named(r, "Namespace", "oauth2-proxy", None)  # type: ignore[arg-type]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "istio-injection" not in namespace["metadata"]["labels"]
    deny = named(r, "NetworkPolicy", "default-deny", "oauth2-proxy")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    declared = allowances(r, "oauth2-proxy")
    from_gateway = declared["from-ingress-gateway"]["rule"]
    assert from_gateway["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}
    ]
    assert from_gateway["ports"] == [{"port": 4180, "protocol": "TCP"}]
    ingress_sources = {name for name, allowance in declared.items() if allowance["direction"] == "ingress"}
    assert ingress_sources == {"from-ingress-gateway", "same-namespace-in", "prometheus-scrape"}
    assert declared["identity-provider"]["rule"]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_an_issuer_on_another_port_is_reachable_by_oauth2_proxy_and_istiod(tmp_path: Path) -> None:
    r = render_stack(stack_copy(tmp_path, "dev", edit_auth(issuer="https://idp.example.com:8443/realms/platform")))
    for namespace, pods in (("oauth2-proxy", {}), ("istio-system", {"matchLabels": {"app": "istiod"}})):
        allowance = allowances(r, namespace)["identity-provider"]
        assert allowance["podSelector"] == pods
        assert allowance["direction"] == "egress"
        assert allowance["rule"] == {
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
            "ports": [{"port": 8443, "protocol": "TCP"}],
        }


def test_kubeflow_waits_for_its_sign_in(rendered: dict[str, Rendered]) -> None:
    r = rendered["prod"]
    sign_in_wave = int(application(r, "oauth2-proxy")["metadata"]["annotations"][labels.SYNC_WAVE])
    gateway_checks = [
        named(r, kind, name, "istio-system")
        for kind, name in (
            ("AuthorizationPolicy", "kubeflow-sign-in"),
            ("AuthorizationPolicy", "kubeflow-require-id-token"),
            ("RequestAuthentication", "kubeflow-id-token"),
            ("EnvoyFilter", "drop-client-identity-headers"),
        )
    ]
    first_kubeflow = min(
        int(a["metadata"]["annotations"][labels.SYNC_WAVE])
        for a in objects(r, "Application")
        if a["metadata"]["labels"][labels.COMPONENT] == "kubeflow"
    )
    for check in gateway_checks:
        assert sign_in_wave < int(check["metadata"]["annotations"][labels.SYNC_WAVE]) < first_kubeflow
    for app in objects(r, "Application"):
        if app["metadata"]["labels"][labels.COMPONENT] == "kubeflow":
            assert "oauth2-proxy" in app["metadata"]["annotations"][labels.DEPENDS_ON].split(",")
            assert "no sign-in" not in app["metadata"]["annotations"].get(labels.ADVISORY, "")


def test_without_sign_in_kubeflow_says_so_and_nothing_is_half_configured(tmp_path: Path) -> None:
    r = render_stack(stack_copy(tmp_path, "dev", without_auth))
    assert "extensionProviders" not in mesh_config(r)
    assert "oauth2-proxy" not in {a["metadata"]["name"] for a in objects(r, "Application")}
    assert not [o for o in r.manifests if o.object["metadata"].get("namespace") == "oauth2-proxy"]
    assert not objects(r, "RequestAuthentication") and not objects(r, "EnvoyFilter")
    # The teams' Ray dashboards keep their per-team DENY policy at the gateway, on the user header (kuberay.py).
    assert not [
        p
        for p in objects(r, "AuthorizationPolicy")
        if p["metadata"]["namespace"] == "istio-system" and not p["metadata"]["name"].startswith("ray-dashboard-")
    ]
    for app in objects(r, "Application"):
        if app["metadata"]["labels"][labels.COMPONENT] == "kubeflow":
            assert "no sign-in (components.kubeflow.auth unset)" in app["metadata"]["annotations"][labels.ADVISORY]


def test_traefik_keeps_kubeflow_and_its_sign_in_out(tmp_path: Path) -> None:
    """With Traefik, Kubeflow is refused (tests/test_ml.py); without Kubeflow, its sign-in is not installed."""

    def traefik_without_ml(platform: dict[str, Any]) -> None:
        platform["ingress"] = {"provider": "traefik"}
        platform["components"]["kubeflow"]["enabled"] = False
        platform["components"]["kserve"]["enabled"] = False

    r = render_stack(stack_copy(tmp_path, "dev", traefik_without_ml))
    assert r.env.components.kubeflow.auth is not None
    assert not [o for o in r.manifests if o.object["metadata"].get("namespace") == "oauth2-proxy"]
    assert not objects(r, "EnvoyFilter") and not objects(r, "RequestAuthentication")


def test_oauth2_proxy_is_scraped_and_alerted_on(rendered: dict[str, Rendered]) -> None:
    r = rendered["staging"]
    monitor = named(r, "ServiceMonitor", "oauth2-proxy", "oauth2-proxy")
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert helm_values(r, "oauth2-proxy")["metrics"]["enabled"] is True
    alerts = {
        rule["alert"]
        for rule_set in objects(r, "PrometheusRule")
        for group in rule_set["spec"]["groups"]
        for rule in group["rules"]
        if rule.get("labels", {}).get("component") == "oauth2-proxy"
    }
    assert {"Oauth2ProxyTargetDown", "KubeflowSignInErrors"} <= alerts
