"""oauth2-proxy: sign-in in front of the Kubeflow dashboard, as an OIDC client of the environment's identity
provider (`components.kubeflow.auth`), and the ingress gateway policies that make every request to
https://kubeflow.<domain> pass it. The whole flow is described in infra/platform/sign_in.py.

kubeflow/manifests 26.03 ships oauth2-proxy as kustomize `common/oauth2-proxy`, wired to its bundled Dex and with
the client and cookie secrets as literals of its kustomization. Here it is the official Helm chart, whose values
take everything secret by reference, configured for the platform's own issuer and Istio.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down, server_error_ratio
from infra.observability.promrules import Group, alert, group
from infra.platform import sign_in
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.expose import ISTIO_GATEWAY_LABELS
from infra.platform.namespace import MESH_NAMESPACE
from infra.platform.network import Allow, Peer
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.platform.security import restricted_pod
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.components.kubeflow import KubeflowAuth, ProxySecretKeyRef
    from infra.config import Environment

# Kubeflow 26.03 was tested with oauth2-proxy 7.14.3, which no chart release ships as its appVersion (10.1.3 and
# 10.1.4 ship 7.14.2, 10.1.5 moves to 7.15.0). The catalog's chart runs that patch release; a chart an environment
# pins runs its own appVersion.
IMAGE_TAG_BY_CHART = {"10.1.4": "v7.14.3"}
# Only the ingress gateway talks to oauth2-proxy: the ext_authz checks and the /oauth2/ routes.
FROM_GATEWAY = Allow("from-ingress-gateway", "ingress", (Peer(namespace=MESH_NAMESPACE),), (sign_in.CONTAINER_PORT,))
SECRETS_DIR = "/var/run/secrets/oauth2-proxy"
VOLUME_FILE = "value"
# Background requests of the UIs get 401 instead of a redirect to the sign-in page, as upstream configures it:
# a redirect would pile up CSRF cookies (the Pipelines UI polls /ml_metadata without a JSON Accept header).
API_ROUTES = ("/api/", "/apis/", "^/ml_metadata")
PROVIDER_ID = "kubeflow"
COOKIE_NAME = "_oauth2_proxy_kubeflow"
# One sign-in a day; the ID token inside is renewed every `refreshInterval` (Istio checks it on each request).
SESSION_LIFETIME = "24h"


class OAuth2Proxy(PlatformComponent):
    spec = ComponentSpec(
        name="oauth2-proxy",
        layer="ml",
        namespace=sign_in.NAMESPACE,
        # Its routes and gateway policies are Istio resources; Istio's meshConfig names it as extension provider.
        depends_on=("istio",),
        network=(FROM_GATEWAY,),
    )
    sources = {
        # Sign-in in front of Kubeflow. oauth2-proxy/manifests tag oauth2-proxy-10.1.4 (2026-02-17): the last chart of
        # the 7.14 line Kubeflow 26.03 was tested with; infra/components/oauth2_proxy.py runs it with image v7.14.3.
        # The chart renders `<image.registry, else quay.io>/<image.repository>`.
        "oauth2-proxy": Chart(
            "https://oauth2-proxy.github.io/manifests",
            "oauth2-proxy",
            "10.1.4",
            "oauth2-proxy",
            images=(ImageValue("image.registry", "quay.io", "registry", implied=True),),
        ),
    }

    exported_families = {
        "oauth2-proxy/oauth2-proxy": ("oauth2_proxy_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        # oauth2-proxy answers the ingress gateway's checks for Kubeflow: 401/403 and redirects are its normal
        # answers to signed-out users, 5xx means it cannot complete a sign-in (identity provider unreachable,
        # wrong client secret).
        return [
            down("oauth2-proxy", "oauth2-proxy", "Kubeflow sign-in (oauth2-proxy)"),
            group(
                "oauth2-proxy-sign-in",
                [
                    alert(
                        "KubeflowSignInErrors",
                        f"{server_error_ratio('oauth2_proxy_requests_total', 'oauth2-proxy', 'code')} > 0.05",
                        component="oauth2-proxy",
                        summary="oauth2-proxy answers >5% of requests with a server error",
                        description=(
                            "Users cannot sign in to Kubeflow or are signed out: read oauth2-proxy's log for the "
                            "identity "
                            "provider's answer (unreachable issuer, rejected client secret, expired refresh tokens)."
                        ),
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return sign_in.sign_in(env) is not None

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        auth = sign_in.sign_in(env)
        if auth is None:
            return ()
        needed = ((auth.client_secret, "the OIDC client's secret"), (auth.cookie_secret, "the session cookie's key"))
        return tuple(
            SecretToCreate(cls.spec.namespace, ref.name, (ref.key,), f"Kubeflow sign-in: {purpose}")
            for ref, purpose in needed
        )

    @property
    def auth(self) -> KubeflowAuth:
        auth = sign_in.sign_in(self.env)
        assert auth is not None  # guaranteed by `enabled`
        return auth

    def build(self) -> None:
        self.namespace([sign_in.to_identity_provider(self.auth.issuer)])
        self.application(self.values())
        self.scrape("oauth2-proxy", {"app.kubernetes.io/name": "oauth2-proxy"}, "metrics")
        self.route()
        self.gateway_policies()

    # --- the chart --------------------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "replicaCount": 2 if self.env.high_availability else 1,
            # No chart-made Secret and no secret in values: both secrets are files from the adopter's Secrets.
            "proxyVarsAsSecrets": False,
            "config": {"configFile": self.core_config()},
            # Providers, upstreams and response headers exist only in the alpha (YAML) configuration; the ID token
            # in a header of our own needs `injectResponseHeaders`.
            "alphaConfig": {"enabled": True, "configData": self.alpha_config()},
            "extraVolumes": [_secret_volume(name, ref) for name, ref in self.secret_files()],
            "extraVolumeMounts": [
                {"name": name, "mountPath": f"{SECRETS_DIR}/{name}", "readOnly": True}
                for name, _ in self.secret_files()
            ],
            # It never calls the Kubernetes API.
            "serviceAccount": {"automountServiceAccountToken": False},
            "resources": resources("50m", "64Mi", "200m", "128Mi"),
            # The chart's container runs restricted already; its pod gets the same.
            "podSecurityContext": restricted_pod(),
            # Scraped through self.scrape, like every component; the chart's ServiceMonitor stays off.
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        }
        tag = IMAGE_TAG_BY_CHART.get(self.ctx.chart_version(self.spec.name))
        if tag is not None:
            values["image"] = {"tag": tag}
        return values

    def secret_files(self) -> list[tuple[str, ProxySecretKeyRef]]:
        return [("client-secret", self.auth.client_secret), ("cookie-secret", self.auth.cookie_secret)]

    def core_config(self) -> str:
        """oauth2_proxy.cfg (TOML): the options that stay outside the alpha configuration."""
        auth = self.auth
        settings: dict[str, Any] = {
            "email_domains": list(auth.allowed_email_domains),
            "redirect_url": f"https://{sign_in.host(self.env)}{sign_in.CALLBACK_PATH}",
            "cookie_name": COOKIE_NAME,
            "cookie_secret_file": f"{SECRETS_DIR}/cookie-secret/{VOLUME_FILE}",
            "cookie_secure": True,
            "cookie_samesite": "lax",
            "cookie_expire": SESSION_LIFETIME,
            "cookie_refresh": auth.refresh_interval,
            "api_routes": list(API_ROUTES),
            # The sign-in page comes first, so an expired session in a background tab does not start a login flow.
            "skip_provider_button": False,
        }
        return "".join(f"{key} = {_toml(value)}\n" for key, value in settings.items())

    def alpha_config(self) -> dict[str, Any]:
        auth = self.auth
        provider: dict[str, Any] = {
            "id": PROVIDER_ID,
            "provider": "oidc",
            "clientID": auth.client_id,
            "clientSecretFile": f"{SECRETS_DIR}/client-secret/{VOLUME_FILE}",
            "scope": " ".join(auth.requested_scopes),
            "code_challenge_method": "S256",
            "oidcConfig": {
                "issuerURL": auth.issuer,
                "emailClaim": auth.email_claim,
                "groupsClaim": auth.groups_claim,
                "audienceClaims": ["aud"],
            },
        }
        if auth.allowed_groups:
            provider["allowedGroups"] = list(auth.allowed_groups)
        return {
            "providers": [provider],
            # oauth2-proxy only answers Envoy's checks: a signed-in request gets an empty 200.
            "upstreamConfig": {"upstreams": [{"id": "allowed", "path": "/", "static": True, "staticCode": 200}]},
            "injectResponseHeaders": [
                {"name": sign_in.ID_TOKEN_HEADER, "values": [{"claimSource": {"claim": "id_token"}}]}
            ],
        }

    # --- routing and the gateway's checks ---------------------------------------------------------------------

    def route(self) -> None:
        """oauth2-proxy's own paths (sign-in, callback, sign-out) on the dashboard's host and gateway, so its
        cookie is the dashboard's and the callback is served with the dashboard's certificate."""
        self.custom_resource(
            "networking.istio.io/v1",
            "VirtualService",
            "oauth2-proxy",
            {
                "hosts": [sign_in.host(self.env)],
                "gateways": [sign_in.KUBEFLOW_GATEWAY],
                "http": [
                    {
                        "match": [{"uri": {"prefix": sign_in.PATH_PREFIX}}],
                        "route": [
                            {
                                "destination": {
                                    "host": f"{sign_in.SERVICE}.{sign_in.NAMESPACE}.svc.cluster.local",
                                    "port": {"number": sign_in.SERVICE_PORT},
                                }
                            }
                        ],
                    }
                ],
            },
            namespace=self.spec.namespace,
        )

    def gateway_policies(self) -> None:
        """The ingress gateway's part of the flow in infra/platform/sign_in.py, steps 1 to 4."""
        auth = self.auth
        host = sign_in.host(self.env)
        gateway = {"matchLabels": dict(ISTIO_GATEWAY_LABELS)}
        # Istio matches hosts exactly, and a client may add the port to its Host header.
        dashboard = {"hosts": [host, f"{host}:*"], "notPaths": [f"{sign_in.PATH_PREFIX}*"]}
        self.custom_resource(
            "networking.istio.io/v1alpha3",
            "EnvoyFilter",
            "drop-client-identity-headers",
            drop_headers_filter(sign_in.CLIENT_HEADERS_DROPPED),
            namespace=MESH_NAMESPACE,
        )
        self.custom_resource(
            "security.istio.io/v1",
            "AuthorizationPolicy",
            "kubeflow-sign-in",
            {
                "selector": gateway,
                "action": "CUSTOM",
                "provider": {"name": sign_in.EXT_AUTHZ_PROVIDER},
                "rules": [{"to": [{"operation": dashboard}]}],
            },
            namespace=MESH_NAMESPACE,
        )
        self.custom_resource(
            "security.istio.io/v1",
            "RequestAuthentication",
            "kubeflow-id-token",
            {
                "selector": gateway,
                "jwtRules": [
                    {
                        "issuer": auth.issuer,
                        # An ID token is issued to one client: tokens the issuer made for other clients fail here.
                        "audiences": [auth.client_id],
                        "fromHeaders": [{"name": sign_in.ID_TOKEN_HEADER}],
                        # Kubeflow needs the identity, not the token: it never leaves the gateway.
                        "forwardOriginalToken": False,
                        "outputClaimToHeaders": [{"header": sign_in.USERID_HEADER, "claim": auth.email_claim}],
                    }
                ],
            },
            namespace=MESH_NAMESPACE,
        )
        self.custom_resource(
            "security.istio.io/v1",
            "AuthorizationPolicy",
            "kubeflow-require-id-token",
            {
                "selector": gateway,
                "action": "DENY",
                "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}], "to": [{"operation": dashboard}]}],
            },
            namespace=MESH_NAMESPACE,
        )


def drop_headers_filter(headers: tuple[str, ...]) -> dict[str, Any]:
    """EnvoyFilter spec: the first HTTP filter of the ingress gateway removes `headers` from every request.

    Envoy's JWT filter (behind outputClaimToHeaders) adds the verified claim with `addCopy` and, depending on the
    Envoy version, may not clear a client's value first; a header that only this platform sets should not depend
    on that. Istio has no first-class API for it before TrafficExtension (1.30, alpha), and Kubeflow 26.03 is
    allowed with Istio 1.29, so this is an EnvoyFilter with an inline Lua filter."""
    removals = "".join(f'  headers:remove("{header}")\n' for header in headers)
    code = f"function envoy_on_request(request_handle)\n  local headers = request_handle:headers()\n{removals}end\n"
    return {
        "workloadSelector": {"labels": dict(ISTIO_GATEWAY_LABELS)},
        "configPatches": [
            {
                "applyTo": "HTTP_FILTER",
                "match": {
                    "context": "GATEWAY",
                    "listener": {"filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager"}}},
                },
                "patch": {
                    "operation": "INSERT_FIRST",
                    "value": {
                        "name": "mlops.drop-client-identity-headers",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                            "default_source_code": {"inline_string": code},
                        },
                    },
                },
            }
        ],
    }


def _secret_volume(name: str, ref: ProxySecretKeyRef) -> dict[str, Any]:
    return {"name": name, "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": VOLUME_FILE}]}}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(str(value))
