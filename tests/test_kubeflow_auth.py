"""Sign-in in front of Kubeflow under mocks: oauth2-proxy as an OIDC client of the environment's issuer, the
ingress gateway's checks (ext_authz provider, AuthorizationPolicies, RequestAuthentication, header filter), and
the settings' validation."""

from __future__ import annotations

from typing import Any

from infra.offline.render import Rendered


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
