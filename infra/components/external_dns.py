"""external-dns: keeps the DNS records of every exposed platform UI pointing at the ingress load balancer,
where the environment's zone is managed (Cloud DNS with Workload Identity, or an RFC 2136 server on-prem)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, Allow
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate

if TYPE_CHECKING:
    from infra.config import Environment

# Dynamic updates go to the zone's name server, wherever the adopter runs it.
DNS_UPDATES_OUT = Allow("dns-updates", "egress", (ANYWHERE,), ((53, "UDP"), (53, "TCP")))
# Where external-dns finds host names and the load balancer address behind them, by ingress provider.
# (Plain Ingresses are left out: the only ones are cert-manager's short-lived HTTP-01 solvers.)
SOURCES = {"istio": ["service", "istio-gateway"], "traefik": ["service", "traefik-proxy"]}
# Traefik v3 has only the traefik.io CRDs; without this external-dns also watches the retired group.
TRAEFIK_V3_ONLY = "traefik-disable-legacy"
TSIG_SECRET_KEY = "tsig-secret"


class ExternalDns(PlatformComponent):
    spec = ComponentSpec(
        name="external-dns",
        layer="platform",
        namespace="external-dns",
        provides_crds=("externaldns.k8s.io",),
        network=(KUBE_API,),
    )

    exported_families = {
        "external-dns/external-dns": ("external_dns_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("external-dns", "external-dns", "external-dns"),
            group(
                "external-dns",
                [
                    alert(
                        "ExternalDnsSyncFailing",
                        "increase(external_dns_controller_verified_records_errors_total[30m]) > 0"
                        " or increase(external_dns_source_errors_total[30m]) > 0",
                        component="external-dns",
                        summary="external-dns fails to read sources or update the DNS zone",
                        description=(
                            "New or moved platform UIs keep stale DNS records until the provider answers again."
                        ),
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.external_dns.provider != "none"

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        server = env.components.external_dns.rfc2136
        if env.components.external_dns.provider != "rfc2136" or server is None:
            return ()
        purpose = f"the TSIG secret of key {server.tsig_key_name!r} that the DNS server accepts updates with"
        return (SecretToCreate(cls.spec.namespace, server.tsig_secret, (TSIG_SECRET_KEY,), purpose),)

    @classmethod
    def requires(cls, env: Environment) -> tuple[str, ...]:
        # It reads Gateways or IngressRoutes, so their CRDs must exist when it starts.
        return (*super().requires(env), env.ingress.provider)

    def build(self) -> None:
        google = self.env.components.external_dns.provider == "google"
        self.namespace(extra_allows=[HTTPS_OUT] if google else [DNS_UPDATES_OUT])
        self.application(self.values())
        self.scrape("external-dns", {"app.kubernetes.io/name": "external-dns"}, "http")

    def values(self) -> dict[str, Any]:
        settings = self.env.components.external_dns
        return {
            "provider": {"name": settings.provider},
            "sources": SOURCES[self.env.ingress.provider],
            "domainFilters": list(settings.domain_filters or (self.env.domain,)),
            "policy": settings.policy,
            "registry": "txt",
            # Records owned by this environment carry its name, so environments sharing a zone never
            # delete each other's records.
            "txtOwnerId": f"mlops-{self.env.name}",
            "extraArgs": self.extra_args(),
            "env": self.provider_env(),
            "serviceAccount": {"annotations": self.ctx.facts.identity.annotations("external-dns")},
            "resources": resources("50m", "64Mi", "100m", "128Mi"),
        }

    def extra_args(self) -> dict[str, Any]:
        """Flags beyond the chart's own, in the chart's map form (external-dns 1.21.1 renders each entry as
        `--name=value`, and `true` as a bare `--name`); its default is a map, which a list cannot merge into."""
        source_args = {TRAEFIK_V3_ONLY: True} if self.env.ingress.provider == "traefik" else {}
        return {**self.provider_args(), **source_args}

    def provider_args(self) -> dict[str, Any]:
        settings = self.env.components.external_dns
        if settings.provider == "google":
            return {
                "google-project": settings.google_project,
                "google-zone-visibility": settings.google_zone_visibility,
            }
        server = settings.rfc2136
        assert server is not None  # guaranteed by rules.external_dns_has_its_provider_settings
        return {
            "rfc2136-host": server.host,
            "rfc2136-port": server.port,
            "rfc2136-zone": server.zone,
            "rfc2136-tsig-keyname": server.tsig_key_name,
            "rfc2136-tsig-secret-alg": server.tsig_algorithm,
            "rfc2136-tsig-axfr": True,
        }

    def provider_env(self) -> list[dict[str, Any]]:
        server = self.env.components.external_dns.rfc2136
        if server is None:
            return []
        secret = {"secretKeyRef": {"name": server.tsig_secret, "key": TSIG_SECRET_KEY}}
        return [{"name": "EXTERNAL_DNS_RFC2136_TSIG_SECRET", "valueFrom": secret}]
