"""Traefik: the ingress controller when the environment chooses it over Istio. Serves every platform UI
through IngressRoutes behind the platform's middlewares (rate limit, identity headers, optional forward auth)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.expose import TRAEFIK_SECURE_ENTRYPOINT, load_balancer_annotations, traefik_middlewares
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, KUBE_API, Allow
from infra.platform.resources import resources
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

# The Service maps 80/443 to the pods' unprivileged entry points 8000 (web) and 8443 (websecure).
ENTRYPOINT_PORTS = (8000, 8443)
FROM_ANYWHERE = Allow("entrypoints-from-anywhere", "ingress", (ANYWHERE,), ENTRYPOINT_PORTS)
TO_BACKENDS = Allow("to-backends", "egress", (ANY_NAMESPACE,))
# Forward auth may call an authentication service outside the cluster.
TO_AUTH_SERVICE = Allow("to-auth-service", "egress", (ANYWHERE,), (443,))


class Traefik(PlatformComponent):
    spec = ComponentSpec(
        name="traefik",
        layer="platform",
        namespace="traefik",
        provides_crds=("traefik.io", "hub.traefik.io"),
        network=(KUBE_API, FROM_ANYWHERE, TO_BACKENDS),
    )
    sources = {
        # The chart's defaults are empty; it renders `docker.io/traefik`, which Docker Hub serves as library/traefik.
        "traefik": Chart(
            "https://traefik.github.io/charts",
            "traefik",
            "41.3.0",
            "traefik",
            images=(
                ImageValue("image.registry", "docker.io", "registry", implied=True),
                ImageValue("image.repository", "library/traefik", "path", implied=True),
            ),
        ),
    }

    exported_families = {
        "traefik/traefik": ("traefik_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("traefik", "traefik", "Traefik"),
            group(
                "traefik",
                [
                    alert(
                        "TraefikBackendErrorsHigh",
                        'sum by (service) (rate(traefik_service_requests_total{code=~"5.."}[5m]))'
                        " / sum by (service) (rate(traefik_service_requests_total[5m])) > 0.05",
                        component="traefik",
                        summary="More than 5% of requests to {{ $labels.service }} fail with 5xx",
                        description=(
                            "Traefik reaches the backend but it answers with server errors; check its pods and logs."
                        ),
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.ingress.provider == "traefik"

    def build(self) -> None:
        self.namespace(extra_allows=[TO_AUTH_SERVICE] if self.env.ingress.forward_auth_url else [])
        self.application(self.values())
        for name, spec in traefik_middlewares(self.env):
            self.custom_resource("traefik.io/v1alpha1", "Middleware", name, spec, namespace=self.spec.namespace)
        self.scrape("traefik", {"app.kubernetes.io/name": "traefik"}, "metrics")

    def values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        return {
            "deployment": {"replicas": 2 if ha else 1},
            "podDisruptionBudget": {"enabled": ha, "minAvailable": 1},
            "resources": resources("100m", "128Mi", "1", "256Mi"),
            "ingressClass": {"enabled": True, "isDefaultClass": False, "name": "traefik"},
            "providers": {
                # IngressRoutes live next to their Service and use the middlewares of this namespace.
                "kubernetesCRD": {"enabled": True, "allowCrossNamespace": True},
                # Plain Ingresses only for cert-manager's HTTP-01 solver.
                "kubernetesIngress": {"enabled": True},
            },
            "ports": {
                "web": {
                    "allowACMEByPass": True,
                    "http": {
                        "redirections": {
                            "entryPoint": {"to": TRAEFIK_SECURE_ENTRYPOINT, "scheme": "https", "permanent": True}
                        }
                    },
                },
            },
            "ingressRoute": {"dashboard": {"enabled": False}},
            "metrics": {"prometheus": {"service": {"enabled": self.ctx.monitoring_enabled}}},
            "service": {
                "annotations": load_balancer_annotations(self.ctx.facts.load_balancer),
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
            },
        }
