"""Sign-in in front of Kubeflow: what the Istio ingress gateway, oauth2-proxy and Kubeflow agree on.

A request to https://kubeflow.<domain> passes, at the ingress gateway and in this order:

1. a filter that drops the identity headers a client sent (`CLIENT_HEADERS_DROPPED`), so only the steps below
   can set them;
2. the CUSTOM AuthorizationPolicy: Envoy asks oauth2-proxy (the meshConfig extension provider
   `EXT_AUTHZ_PROVIDER`) whether the session cookie is valid. Without a session the browser gets the sign-in
   page; with one, oauth2-proxy answers 200 with the session's ID token in `ID_TOKEN_HEADER`;
3. the RequestAuthentication: the gateway verifies that ID token (issuer, signature, audience = client id),
   copies its e-mail claim into `USERID_HEADER` and drops the token;
4. a DENY AuthorizationPolicy: nothing reaches Kubeflow's host without a verified token (except oauth2-proxy's
   own `/oauth2/` paths), whatever the steps above let through.

Kubeflow's services and the teams' AuthorizationPolicies then trust `USERID_HEADER`, as upstream.

Upstream (kubeflow/manifests `common/oauth2-proxy`) passes the ID token in `Authorization: Bearer`. Here the
ingress gateway also serves Argo CD, Grafana and the other UIs, and a RequestAuthentication reading
`Authorization` would make Envoy reject every bearer token that is not a JWT of this issuer (the Argo CD CLI's
tokens, Grafana service-account tokens). A header of our own keeps the verification to the sign-in flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from infra.platform.network import ANYWHERE, Allow

if TYPE_CHECKING:
    from infra.components.kubeflow import KubeflowAuth
    from infra.config import Environment

EXT_AUTHZ_PROVIDER = "oauth2-proxy"
"""Name of the meshConfig extension provider that the CUSTOM AuthorizationPolicy refers to."""
NAMESPACE = "oauth2-proxy"
SERVICE = "oauth2-proxy"
"""The chart's Service (its release is named like the chart, so the chart adds no suffix)."""
SERVICE_PORT = 80
CONTAINER_PORT = 4180
PATH_PREFIX = "/oauth2/"
"""oauth2-proxy's own endpoints (sign-in, callback, sign-out): routed to it directly, never checked."""
CALLBACK_PATH = "/oauth2/callback"
KUBEFLOW_GATEWAY = "kubeflow/kubeflow-gateway"
"""The Gateway (namespace/name) Kubeflow's VirtualServices bind to; it serves the dashboard host over HTTPS."""
HOST_LABEL = "kubeflow"
"""The dashboard's host label: sign-in, callback and dashboard share https://kubeflow.<domain> (one cookie)."""

USERID_HEADER = "kubeflow-userid"
"""Header Kubeflow reads the signed-in user's e-mail from (its USERID_HEADER default, no prefix)."""
GROUPS_HEADER = "kubeflow-groups"
"""Header some Kubeflow parts read groups from; nothing here sets it, so clients must not either."""
ID_TOKEN_HEADER = "x-auth-request-id-token"
"""Carries the session's ID token from oauth2-proxy to the RequestAuthentication, inside the gateway only."""
CLIENT_HEADERS_DROPPED = (USERID_HEADER, GROUPS_HEADER, ID_TOKEN_HEADER)


def sign_in(env: Environment) -> KubeflowAuth | None:
    """The sign-in settings when the environment puts sign-in in front of Kubeflow (it needs the Istio ingress)."""
    kubeflow = env.components.kubeflow
    if not kubeflow.enabled or env.ingress.provider != "istio":
        return None
    return kubeflow.auth


def host(env: Environment) -> str:
    return f"{HOST_LABEL}.{env.domain}"


def issuer_port(issuer: str) -> int:
    return urlsplit(issuer).port or 443


def to_identity_provider(issuer: str, pods: tuple[tuple[str, str], ...] = ()) -> Allow:
    """Egress to the issuer (discovery document, signing keys, token endpoint), which is outside the cluster."""
    return Allow("identity-provider", "egress", (ANYWHERE,), (issuer_port(issuer),), pods=pods)


def ext_authz_provider() -> dict[str, Any]:
    """The meshConfig `extensionProviders` entry: Envoy's HTTP ext_authz pointed at oauth2-proxy."""
    return {
        "name": EXT_AUTHZ_PROVIDER,
        "envoyExtAuthzHttp": {
            "service": f"{SERVICE}.{NAMESPACE}.svc.cluster.local",
            "port": SERVICE_PORT,
            # Fail fast rather than hold the browser for Envoy's default of 600s when oauth2-proxy hangs.
            "timeout": "10s",
            # The session lives in the cookie; nothing else of the request matters to oauth2-proxy.
            "includeRequestHeadersInCheck": ["cookie"],
            # Overrides whatever the client sent under that name (the gateway also drops it first).
            "headersToUpstreamOnAllow": [ID_TOKEN_HEADER],
            # The sign-in page, its CSRF cookie and redirects (Location is always passed) reach the browser.
            "headersToDownstreamOnDeny": ["content-type", "set-cookie"],
            # A session refreshed during the check comes back as a new cookie.
            "headersToDownstreamOnAllow": ["set-cookie"],
        },
    }
