"""Publishing a component's UI at https://<name>.<domain> through the environment's ingress, with TLS.

A component calls `self.expose(name, service, port)` in its build; the routes are declared once every
component exists (the ingress may be declared after the component it serves). With Istio that is a
Certificate and a Gateway next to the ingress gateway and a VirtualService next to the Service; with Traefik
a Certificate and an IngressRoute next to the Service, behind the platform's middlewares. Either way the
backend namespace admits traffic from the ingress namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.platform.existing import (
    ISTIO_GATEWAY_LABELS,
    PLATFORM_ISSUER,
    gateway_labels,
    gateway_namespace,
    platform_issuer,
)
from infra.platform.namespace import MESH_NAMESPACE
from infra.platform.network import Allow, Peer

if TYPE_CHECKING:
    from infra.config import Environment

__all__ = ["ISTIO_GATEWAY_LABELS", "PLATFORM_ISSUER"]
INGRESS_NAMESPACES = {"istio": MESH_NAMESPACE, "traefik": "traefik"}
"""Where the ingress the stack installs runs, by provider (an existing Istio's: existing.gateway_namespace)."""
ISTIO_GATEWAY_NAME = "istio-ingressgateway"
TRAEFIK_SECURE_ENTRYPOINT = "websecure"
# Identity headers an authentication service (oauth2-proxy style) passes to the UIs behind it.
AUTH_HEADERS = ("X-Auth-Request-User", "X-Auth-Request-Email", "X-Forwarded-User", "X-Forwarded-Email")

CustomResource = Callable[..., Any]
"""PlatformComponent.custom_resource: (api_version, kind, name, spec, namespace=...)."""


@dataclass(frozen=True)
class Exposure:
    name: str
    """Host label (`<name>.<domain>`) and the name of the objects that route to it."""
    service: str
    port: int
    namespace: str

    def host(self, domain: str) -> str:
        return f"{self.name}.{domain}"

    @property
    def tls_secret(self) -> str:
        return f"{self.name}-tls"


def publish(exposure: Exposure, env: Environment, custom_resource: CustomResource) -> Allow:
    """Declare the routes to `exposure`; returns the allowance its namespace needs to admit the ingress."""
    provider = env.ingress.provider
    {"istio": _istio_routes, "traefik": _traefik_routes}[provider](exposure, env, custom_resource)
    return Allow(f"ingress-to-{exposure.name}", "ingress", (Peer(namespace=ingress_namespace(env)),))


def ingress_namespace(env: Environment) -> str:
    """Where the environment's ingress runs."""
    return gateway_namespace(env) if env.ingress.provider == "istio" else INGRESS_NAMESPACES[env.ingress.provider]


def certificate(exposure: Exposure, host: str, env: Environment) -> dict[str, Any]:
    return platform_certificate(env, exposure.tls_secret, host)


def platform_certificate(env: Environment, secret_name: str, *dns_names: str) -> dict[str, Any]:
    """Spec of a Certificate for `dns_names` from the platform ClusterIssuer, stored in `secret_name`."""
    return {
        "secretName": secret_name,
        "dnsNames": list(dns_names),
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": {"name": platform_issuer(env), "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def _istio_routes(exposure: Exposure, env: Environment, custom_resource: CustomResource) -> None:
    host = exposure.host(env.domain)
    gateway = gateway_namespace(env)
    # The gateway reads the TLS secret from its own namespace, so the certificate lives there.
    custom_resource(
        "cert-manager.io/v1", "Certificate", exposure.name, certificate(exposure, host, env), namespace=gateway
    )
    servers: list[dict[str, Any]] = [
        {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": [host],
            "tls": {"mode": "SIMPLE", "credentialName": exposure.tls_secret},
        }
    ]
    if not http01_challenges(env):
        # Plain HTTP only redirects, unless ACME HTTP-01 challenges must be answered on port 80.
        servers.append(
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": [host],
                "tls": {"httpsRedirect": True},
            }
        )
    custom_resource(
        "networking.istio.io/v1",
        "Gateway",
        exposure.name,
        {"selector": gateway_labels(env), "servers": servers},
        namespace=gateway,
    )
    destination = {
        "host": f"{exposure.service}.{exposure.namespace}.svc.cluster.local",
        "port": {"number": exposure.port},
    }
    custom_resource(
        "networking.istio.io/v1",
        "VirtualService",
        exposure.name,
        {
            "hosts": [host],
            "gateways": [f"{gateway}/{exposure.name}"],
            "http": [{"route": [{"destination": destination}]}],
        },
        namespace=exposure.namespace,
    )


def _traefik_routes(exposure: Exposure, env: Environment, custom_resource: CustomResource) -> None:
    host = exposure.host(env.domain)
    custom_resource(
        "cert-manager.io/v1",
        "Certificate",
        exposure.name,
        certificate(exposure, host, env),
        namespace=exposure.namespace,
    )
    middlewares = [{"name": name, "namespace": INGRESS_NAMESPACES["traefik"]} for name, _ in traefik_middlewares(env)]
    custom_resource(
        "traefik.io/v1alpha1",
        "IngressRoute",
        exposure.name,
        {
            "entryPoints": [TRAEFIK_SECURE_ENTRYPOINT],
            "routes": [
                {
                    "match": f"Host(`{host}`)",
                    "kind": "Rule",
                    "middlewares": middlewares,
                    "services": [{"name": exposure.service, "port": exposure.port}],
                }
            ],
            "tls": {"secretName": exposure.tls_secret},
        },
        namespace=exposure.namespace,
    )


def traefik_middlewares(env: Environment) -> list[tuple[str, dict[str, Any]]]:
    """Middlewares (name, spec) every platform UI passes through with Traefik, in order."""
    ingress = env.ingress
    middlewares: list[tuple[str, dict[str, Any]]] = [
        ("rate-limit", {"rateLimit": {"average": ingress.rate_limit_average, "burst": ingress.rate_limit_burst}}),
        # Identity headers come only from the authentication service, never from the client.
        (
            "auth-headers",
            {
                "headers": {
                    "customRequestHeaders": {header: "" for header in AUTH_HEADERS},
                    "stsSeconds": 31536000,
                    "stsIncludeSubdomains": True,
                    "contentTypeNosniff": True,
                    "frameDeny": True,
                }
            },
        ),
    ]
    if ingress.forward_auth_url:
        middlewares.append(
            (
                "forward-auth",
                {
                    "forwardAuth": {
                        "address": ingress.forward_auth_url,
                        "trustForwardHeader": True,
                        "authResponseHeaders": list(AUTH_HEADERS),
                    }
                },
            )
        )
    return middlewares


def http01_challenges(env: Environment) -> bool:
    """Whether ACME HTTP-01 challenges reach the cluster through its ingress (never assumed of an existing
    cert-manager's ClusterIssuer, whose solvers are its owner's)."""
    cert_manager = env.components.cert_manager
    return cert_manager.existing is None and cert_manager.issuer == "acme" and cert_manager.acme_solver == "http01"


def load_balancer_annotations(load_balancer: str) -> dict[str, str]:
    """Annotations of the ingress Service of type LoadBalancer, by who provides load balancers."""
    # GKE: a backend-service-based external passthrough load balancer (the one GKE recommends for new
    # Services); MetalLB assigns an address from its auto-assigned pools without being asked.
    return {"cloud.google.com/l4-rbs": "enabled"} if load_balancer == "cloud" else {}
