"""external-dns: keeps the DNS records of every exposed platform UI pointing at the ingress load balancer,
where the environment's zone is managed (Cloud DNS with Workload Identity, or an RFC 2136 server on-prem)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from infra.config.formats import (
    DnsName,
    Domain,
    GcpProjectId,
    Host,
    ObjectName,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, Allow
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.sources import Chart, ImageValue

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


class Rfc2136(Settings):
    host: Host
    """Address of the authoritative DNS server that accepts dynamic updates (RFC 2136)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 53
    """DNS port of that server."""
    zone: Domain
    """Zone external-dns updates, e.g. the environment's domain."""
    tsig_key_name: DnsName
    """Name of the TSIG key the server accepts updates signed with."""
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha512"] = "hmac-sha256"
    """TSIG algorithm of that key."""
    tsig_secret: ObjectName = "external-dns-tsig"
    """Secret in the external-dns namespace whose key `tsig-secret` holds the TSIG secret (never in git)."""


class ExternalDnsSettings(Settings):
    provider: Literal["google", "rfc2136", "none"] = "none"
    """Who serves the environment's DNS zone: Cloud DNS (`google`, with Workload Identity), a server that accepts
    RFC 2136 dynamic updates (on-prem), or `none` (records are managed by hand; external-dns is not installed)."""
    domain_filters: tuple[Domain, ...] = ()
    """Domains external-dns may write records in; empty means the environment's domain only."""
    google_project: GcpProjectId | None = None
    """GCP project of the Cloud DNS zone; required with provider `google`."""
    google_zone_visibility: Literal["public", "private"] = "public"
    """Which Cloud DNS zones of that project external-dns manages."""
    rfc2136: Rfc2136 | None = None
    """The DNS server to update; required with provider `rfc2136`."""
    policy: Literal["upsert-only", "sync"] = "upsert-only"
    """`upsert-only` never deletes records; `sync` also removes records of deleted routes."""


class ExternalDns(PlatformComponent):
    spec = ComponentSpec(
        name="external-dns",
        layer="platform",
        namespace="external-dns",
        provides_crds=("externaldns.k8s.io",),
        network=(KUBE_API,),
    )
    sources = {
        "external-dns": Chart(
            "https://kubernetes-sigs.github.io/external-dns/",
            "external-dns",
            "1.21.1",
            "external-dns",
            images=(ImageValue("image.repository", "registry.k8s.io/external-dns/external-dns"),),
        ),
    }
    settings = ComponentSettings(
        "external_dns",
        ExternalDnsSettings,
        "DNS records for every exposed platform UI, where the environment's DNS zone is managed.",
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
