"""cert-manager: TLS certificates for every platform endpoint, and the platform's ClusterIssuer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from infra.config.formats import (
    CloudDnsZone,
    Email,
    GcpProjectId,
    HttpsUrl,
    ObjectName,
)
from infra.config.settings.common import ComponentSettings, ExistingComponent, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.expose import PLATFORM_ISSUER, http01_challenges
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources
from infra.sources import Chart, registry_values

if TYPE_CHECKING:
    from infra.config import Environment

# Before asking the ACME server, cert-manager checks the challenge itself: HTTP-01 by fetching it from the
# public address, DNS-01 by asking the zone's authoritative name servers.
SELF_CHECK_HTTP = Allow("acme-self-check-http", "egress", (ANYWHERE,), (80,))
SELF_CHECK_DNS = Allow("acme-self-check-dns", "egress", (ANYWHERE,), ((53, "UDP"), (53, "TCP")))
BOOTSTRAP_ISSUER = "selfsigned-bootstrap"
CA_SECRET = "platform-ca"
METRICS_PORT = "http-metrics"


class ExistingCertManager(ExistingComponent):
    """version: the cert-manager release, e.g. `v1.21.1` (its chart's version)."""

    cluster_issuer: ObjectName
    """ClusterIssuer that signs every platform certificate (it must issue for the environment's domain)."""


class CertManagerSettings(Settings):
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


class CertManager(PlatformComponent):
    spec = ComponentSpec(
        name="cert-manager",
        layer="platform",
        namespace="cert-manager",
        provides_crds=("cert-manager.io", "acme.cert-manager.io"),
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER),
        sync="automated-no-prune",
        sync_reason="its chart carries the cert-manager CRDs: pruning them would delete every Certificate and Issuer",
    )
    sources = {
        "cert-manager": Chart(
            "https://charts.jetstack.io",
            "cert-manager",
            "v1.21.1",
            "cert-manager",
            images=registry_values("imageRegistry", upstream="quay.io"),
        ),
    }
    settings = ComponentSettings("cert_manager", CertManagerSettings, "cert-manager and the platform's ClusterIssuer.")

    exported_families = {
        "cert-manager/cert-manager": ("certmanager_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("cert-manager", "cert-manager", "cert-manager"),
            group(
                "certificates",
                [
                    alert(
                        "CertificateExpiresSoon",
                        "certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 24 * 3600",
                        component="cert-manager",
                        for_="1h",
                        summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within 14 days",
                        description=(
                            "cert-manager renews 30 days ahead by default, so a certificate this close to expiry "
                            "failed to renew: check its CertificateRequest and the issuer."
                        ),
                    ),
                    alert(
                        "CertificateNotReady",
                        'certmanager_certificate_ready_status{condition="False"} == 1',
                        component="cert-manager",
                        for_="30m",
                        severity="critical",
                        summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} is not ready",
                        description=(
                            "The certificate could not be issued; services using it serve an old or no certificate."
                        ),
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        """Unless the cluster runs a cert-manager already (components.certManager.existing)."""
        return env.components.cert_manager.enabled and env.components.cert_manager.existing is None

    def build(self) -> None:
        self.namespace(extra_allows=self.self_check_allows())
        self.application(self.values())
        self.issuers()
        # The controller's Service names its metrics port `http-metrics` (chart v1.21.1, templates/service.yaml).
        self.scrape("cert-manager", {"app.kubernetes.io/name": "cert-manager"}, METRICS_PORT)

    def values(self) -> dict[str, Any]:
        replicas = 2 if self.env.high_availability else 1
        return {
            "crds": {"enabled": True, "keep": True},
            "replicaCount": replicas,
            "podDisruptionBudget": {"enabled": self.env.high_availability},
            "resources": resources("50m", "128Mi", "200m", "256Mi"),
            "webhook": {"replicaCount": replicas, "resources": resources("25m", "64Mi", "100m", "128Mi")},
            "cainjector": {"replicaCount": replicas, "resources": resources("50m", "128Mi", "200m", "256Mi")},
            "startupapicheck": {"resources": resources("10m", "32Mi", "50m", "64Mi")},
            "prometheus": {"enabled": self.ctx.monitoring_enabled, "servicemonitor": {"enabled": False}},
            "global": {"leaderElection": {"namespace": self.spec.namespace}},
            # Workload Identity (GKE): the controller writes DNS-01 records in Cloud DNS as its cloud identity.
            "serviceAccount": {"annotations": self.ctx.facts.identity.annotations("cert-manager")},
        }

    def self_check_allows(self) -> list[Allow]:
        if self.env.components.cert_manager.issuer != "acme":
            return []
        return [SELF_CHECK_HTTP] if http01_challenges(self.env) else [SELF_CHECK_DNS]

    def acme_solver(self) -> dict[str, Any]:
        settings = self.env.components.cert_manager
        if http01_challenges(self.env):
            return {"http01": {"ingress": {"ingressClassName": self.env.ingress.provider}}}
        cloud_dns: dict[str, Any] = {"project": settings.cloud_dns_project}
        if settings.cloud_dns_zone:
            cloud_dns["hostedZoneName"] = settings.cloud_dns_zone
        # No key secret: ambient credentials are the Workload Identity of the controller's service account.
        return {"selector": {"dnsZones": [self.env.domain]}, "dns01": {"cloudDNS": cloud_dns}}

    def issuers(self) -> None:
        settings = self.env.components.cert_manager
        self.custom_resource("cert-manager.io/v1", "ClusterIssuer", BOOTSTRAP_ISSUER, {"selfSigned": {}})
        if settings.issuer == "acme":
            self.custom_resource(
                "cert-manager.io/v1",
                "ClusterIssuer",
                PLATFORM_ISSUER,
                {
                    "acme": {
                        "server": settings.acme_server,
                        "email": settings.acme_email,
                        "privateKeySecretRef": {"name": f"{PLATFORM_ISSUER}-acme-account"},
                        "solvers": [self.acme_solver()],
                    }
                },
            )
            return
        self.custom_resource(
            "cert-manager.io/v1",
            "Certificate",
            CA_SECRET,
            {
                "isCA": True,
                "commonName": f"{self.env.name} platform CA",
                "secretName": CA_SECRET,
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": BOOTSTRAP_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            namespace=self.spec.namespace,
        )
        self.custom_resource("cert-manager.io/v1", "ClusterIssuer", PLATFORM_ISSUER, {"ca": {"secretName": CA_SECRET}})
