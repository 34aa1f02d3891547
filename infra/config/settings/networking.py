"""Networking: ingress and mesh (Istio or Traefik), TLS certificates (cert-manager) and DNS records (external-dns)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    CloudDnsZone,
    DnsName,
    Domain,
    Email,
    GcpProjectId,
    Host,
    HttpsUrl,
    HttpUrl,
    LabelKey,
    LabelValue,
    Namespace,
    ObjectName,
)
from infra.config.settings.common import ExistingComponent, Settings


class Ingress(Settings):
    provider: Literal["istio", "traefik"] = "istio"
    """What carries traffic into the cluster: Istio (ingress gateway and mesh) or Traefik."""
    rate_limit_average: Annotated[int, Field(ge=1, le=100000)] = 100
    """Traefik only: requests per second each client may send to a platform UI, on average."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=100000)] = 200
    """Traefik only: requests a client may send in a burst above the average."""
    forward_auth_url: HttpUrl | None = None
    """Traefik only: URL of an authentication service (e.g. oauth2-proxy's `/oauth2/auth`) every platform UI
    asks before serving a request; unset, the UIs use their own login."""


class ExistingIstio(ExistingComponent):
    """version: the Istio release, e.g. `1.30.3` (the version of its `base` and `istiod` charts)."""

    namespace: Namespace = "istio-system"
    """Namespace of its control plane (istiod), which sidecars reach on port 15012."""
    gateway_namespace: Namespace = "istio-system"
    """Namespace of its ingress gateway: the platform's Gateways, and the certificates the gateway serves, go
    there."""
    gateway_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1)] = {"istio": "ingressgateway"}
    """Labels of the ingress gateway's pods, which the platform's Gateways select."""


class Istio(Settings):
    existing: ExistingIstio | None = None
    """The cluster already runs Istio (with `ingress.provider` istio): the stack installs none of its charts and
    uses this one's ingress gateway. Unset: the stack installs Istio (base, CNI node agent, istiod, gateway)."""


class ExistingCertManager(ExistingComponent):
    """version: the cert-manager release, e.g. `v1.21.1` (its chart's version)."""

    cluster_issuer: ObjectName
    """ClusterIssuer that signs every platform certificate (it must issue for the environment's domain)."""


class CertManager(Settings):
    enabled: bool = True
    """Install cert-manager, which issues the TLS certificates of every platform endpoint."""
    issuer: Literal["acme", "self-signed"] = "acme"
    """ClusterIssuer used for platform certificates: ACME (Let's Encrypt) or a self-signed CA for labs."""
    acme_email: Email | None = None
    """Contact address registered with the ACME server; required with issuer `acme`."""
    acme_server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL; use the staging URL while testing."""
    acme_solver: Literal["http01", "dns01"] = "http01"
    """How ACME proves control of the domain: `http01` (a challenge served through the ingress; the domain must
    be reachable from the internet) or `dns01` (a TXT record in Cloud DNS, written with Workload Identity)."""
    cloud_dns_project: GcpProjectId | None = None
    """GCP project of the Cloud DNS zone that holds the domain; required with acmeSolver `dns01`."""
    cloud_dns_zone: CloudDnsZone | None = None
    """Cloud DNS managed zone name of the domain; unset, cert-manager finds the zone itself."""
    existing: ExistingCertManager | None = None
    """The cluster already runs cert-manager: the stack installs none of it and declares no ClusterIssuer; platform
    certificates name the existing ClusterIssuer. `issuer` and the ACME settings are then unused."""


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


class ExternalDns(Settings):
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
