"""Sign-in in front of Kubeflow under mocks: oauth2-proxy as an OIDC client of the environment's issuer, the
ingress gateway's checks (ext_authz provider, AuthorizationPolicies, RequestAuthentication, header filter), and
the settings' validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import InvalidEnvironment, load_stack_file
from infra.offline.render import Rendered

from .conftest import ENVIRONMENTS


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


def stack_copy(tmp_path: Path, env: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    edit(document["config"]["mlops-platform:platform"])
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def violations(tmp_path: Path, env: str, edit: Callable[[dict[str, Any]], None]) -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(stack_copy(tmp_path, env, edit))
    return [str(v) for v in caught.value.violations]


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
