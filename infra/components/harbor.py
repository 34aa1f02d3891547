"""Harbor: the container registry on-prem (replacement for Artifact Registry), with Trivy image scanning; its data in
the cluster's PostgreSQL (CloudNativePG), like every other workload of the platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.components import cloudnative_pg
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.database import DatabaseLogin, database_login
from infra.platform.existing import platform_issuer
from infra.platform.login_copy import copy_database_login
from infra.platform.network import ANY_NAMESPACE, HTTPS_OUT, KUBE_API, Allow
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

NAMESPACE = "harbor"
ADMIN_SECRET = "harbor-admin"
"""Secret (key HARBOR_ADMIN_PASSWORD) the adopter provides out of git: the chart's default password is public."""
INTERNAL_SECRET = "harbor-internal"
"""Secret the adopter provides out of git with the keys Harbor's parts share (INTERNAL_SECRET_KEYS). Left to the chart
they are drawn at random on every render (it keeps them only through Helm's `lookup`, which Argo CD does not run), so
every sync would rotate them and restart Harbor; its `secretKey` default is public."""
INTERNAL_SECRET_KEYS = (
    "secretKey",  # encrypts stored credentials (16 characters)
    "secret",  # core's secret for the other parts
    "tls.crt",  # token service certificate and key
    "tls.key",
    "CSRF_KEY",  # 32 characters
    "JOBSERVICE_SECRET",
    "REGISTRY_HTTP_SECRET",
    "REGISTRY_PASSWD",  # the registry's own login, and its htpasswd line
    "REGISTRY_HTPASSWD",
)
DATABASE = "harbor"
"""Harbor's database in the cluster's PostgreSQL (the cluster layer creates it). Not the chart's own PostgreSQL:
chart 1.19 sets its superuser password from `database.internal.password` only (public default `changeit`, no
existing Secret), and keeping it stable would take Helm's `lookup`, which Argo CD does not run."""
# The cluster database serves TLS with a certificate of CloudNativePG's own CA, which Harbor's pods do not hold:
# `require` encrypts the connection without verifying the server.
DATABASE_SSL_MODE = "require"


def harbor_host(domain: str) -> str:
    return f"harbor.{domain}"


class Harbor(PlatformComponent):
    spec = ComponentSpec(
        name="harbor",
        layer="platform",
        namespace=NAMESPACE,
        # CloudNativePG: the database, and the store its login is copied through.
        depends_on=("longhorn", "cert-manager", "cloudnative-pg"),
        network=(
            KUBE_API,
            # Trivy downloads its vulnerability database; replication pulls from upstream registries.
            HTTPS_OUT,
            # The ingress controller (Istio or Traefik) reaches the portal and registry.
            Allow("ingress", "ingress", (ANY_NAMESPACE,), (8080, 8443, 5000)),
        ),
    )
    sources = {
        "harbor": Chart(
            "https://helm.goharbor.io",
            "harbor",
            "1.19.1",
            "harbor",
            images=tuple(
                ImageValue(f"{path}.repository", f"docker.io/goharbor/{name}")
                for path, name in (
                    ("nginx.image", "nginx-photon"),
                    ("portal.image", "harbor-portal"),
                    ("core.image", "harbor-core"),
                    ("jobservice.image", "harbor-jobservice"),
                    ("registry.registry.image", "registry-photon"),
                    ("registry.controller.image", "harbor-registryctl"),
                    ("trivy.image", "trivy-adapter-photon"),
                    ("database.internal.image", "harbor-db"),
                    ("redis.internal.image", "redis-photon"),
                    ("exporter.image", "harbor-exporter"),
                )
            ),
        ),
    }

    exported_families = {
        "harbor/harbor": ("harbor_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [down("harbor", "harbor", "Harbor registry")]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.onprem is not None and env.onprem.registry.provider == "harbor"

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        return (
            SecretToCreate(cls.spec.namespace, ADMIN_SECRET, ("HARBOR_ADMIN_PASSWORD",), "Harbor's admin password"),
            SecretToCreate(
                cls.spec.namespace,
                INTERNAL_SECRET,
                INTERNAL_SECRET_KEYS,
                "what Harbor's parts share (encryption key, internal secrets, token certificate, registry login)",
            ),
        )

    def build(self) -> None:
        login = database_login(self.ctx.facts, DATABASE, self.spec.name)
        self.namespace(login.egress)
        notes = copy_database_login(self.ctx.facts, self.spec.namespace, self.custom_resource)
        self.application(self.values(login), advisories=notes)
        self.scrape("harbor", {"app": "harbor"}, "http-metrics")

    def values(self, login: DatabaseLogin) -> dict[str, Any]:
        host = harbor_host(self.env.domain)
        storage = self.ctx.facts.storage.default
        replicas = 2 if self.env.high_availability else 1
        small = resources("50m", "128Mi", "200m", "256Mi")
        return {
            "expose": {
                "type": "ingress",
                "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}},
                "ingress": {
                    "hosts": {"core": host},
                    "className": self.env.ingress.provider,
                    "annotations": {"cert-manager.io/cluster-issuer": platform_issuer(self.env)},
                },
            },
            "externalURL": f"https://{host}",
            "existingSecretAdminPassword": ADMIN_SECRET,
            "existingSecretSecretKey": INTERNAL_SECRET,
            "persistence": {
                "enabled": True,
                "resourcePolicy": "keep",
                "persistentVolumeClaim": {
                    part: {"storageClass": storage, "size": size}
                    for part, size in (("registry", "200Gi"), ("redis", "2Gi"), ("trivy", "10Gi"))
                }
                | {"jobservice": {"jobLog": {"storageClass": storage, "size": "2Gi"}}},
            },
            "metrics": {"enabled": self.ctx.monitoring_enabled},
            "portal": {"replicas": replicas, "resources": small},
            "core": {
                "replicas": replicas,
                "resources": resources("100m", "256Mi", "500m", "512Mi"),
                "existingSecret": INTERNAL_SECRET,
                "secretName": INTERNAL_SECRET,
                "existingXsrfSecret": INTERNAL_SECRET,
            },
            # The registry and job service keep data on ReadWriteOnce volumes: one replica each.
            "jobservice": {"replicas": 1, "resources": small, "existingSecret": INTERNAL_SECRET},
            "registry": {
                "replicas": 1,
                "registry": {"resources": resources("100m", "256Mi", "500m", "512Mi")},
                "controller": {"resources": small},
                "existingSecret": INTERNAL_SECRET,
                "credentials": {"existingSecret": INTERNAL_SECRET},
            },
            "trivy": {"resources": resources("200m", "512Mi", "1", "1Gi")},
            "database": database_values(login),
            "redis": {"internal": {"resources": small}},
            "exporter": {"resources": small},
            "nginx": {"resources": small},
        }


def database_values(login: DatabaseLogin) -> dict[str, Any]:
    """The chart's external database: the cluster's, as the owner of its databases (the user name is a value in
    this chart; only the password can come from a Secret, under the key `password`, which the login Secret has)."""
    if login.credentials_secret is None:
        raise ValueError("harbor: its chart logs in with a password; the cluster database offers IAM login only")
    return {
        "type": "external",
        "external": {
            "host": login.host,
            "port": str(login.port),
            "username": cloudnative_pg.OWNER,
            "coreDatabase": login.database,
            "existingSecret": login.credentials_secret,
            "sslmode": DATABASE_SSL_MODE,
        },
    }
