"""MinIO: S3-compatible object storage in the cluster (on-prem replacement for Cloud Storage).

Licensing and maintenance: the MinIO operator is AGPL-3.0, and upstream MinIO is archived (community
maintenance and community images stopped in 2025). The operator chart 7.1.1 still works, but adopters
should prefer an existing S3 endpoint (objectStore provider `s3`) for anything long-lived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down
from infra.observability.promrules import Group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANY_NAMESPACE, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

TENANT = "platform"
S3_PORT = 9000
ROOT_CONFIG_SECRET = "minio-root-config"
"""Secret (key `config.env` with MINIO_ROOT_USER / MINIO_ROOT_PASSWORD) the adopter provides out of git."""
SERVICE = "minio"
NAMESPACE = "minio"


class MinIO(PlatformComponent):
    spec = ComponentSpec(
        name="minio",
        layer="platform",
        namespace=NAMESPACE,
        depends_on=("longhorn",),
        provides_crds=("minio.min.io", "sts.min.io"),
        network=(
            KUBE_API,
            WEBHOOK_FROM_API_SERVER,
            # Every namespace with a workload that stores artifacts or backups talks S3 here.
            Allow("s3", "ingress", (ANY_NAMESPACE,), (S3_PORT,)),
        ),
    )
    sources = {
        # AGPL-3.0, and upstream MinIO is archived (no community maintenance since 2025):
        # docs/getting-started-onprem.md.
        "minio": Chart(
            "https://operator.min.io/",
            "operator",
            "7.1.1",
            "minio",
            license="AGPL-3.0",
            images=(ImageValue("operator.image.repository", "quay.io/minio/operator"),),
        ),
    }

    exported_families = {
        "minio/minio": ("minio_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [down("minio", "minio", "MinIO")]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.onprem is not None and env.object_store.provider == "minio"

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        purpose = "MinIO's root login, as `MINIO_ROOT_USER=...` and `MINIO_ROOT_PASSWORD=...` lines"
        return (SecretToCreate(cls.spec.namespace, ROOT_CONFIG_SECRET, ("config.env",), purpose),)

    def build(self) -> None:
        self.namespace()
        self.application(self.operator_values())
        self.custom_resource("minio.min.io/v2", "Tenant", TENANT, self.tenant(), namespace=self.spec.namespace)
        self.scrape("minio", {"v1.min.io/tenant": TENANT}, "http-minio", "/minio/v2/metrics/cluster")

    def operator_values(self) -> dict[str, Any]:
        return {
            "operator": {
                "replicaCount": 2 if self.env.high_availability else 1,
                "resources": resources("100m", "128Mi", "200m", "256Mi"),
            }
        }

    def tenant(self) -> dict[str, Any]:
        assert self.env.onprem is not None
        size = self.env.onprem.minio
        return {
            "pools": [
                {
                    "name": "pool-0",
                    "servers": size.servers,
                    "volumesPerServer": size.volumes_per_server,
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": self.ctx.facts.storage.default,
                            "resources": {"requests": {"storage": size.volume_size}},
                        }
                    },
                    "resources": resources("250m", "1Gi", "1", "2Gi"),
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": True},
                    "containerSecurityContext": restricted_container(read_only_root=False),
                }
            ],
            "configuration": {"name": ROOT_CONFIG_SECRET},
            "buckets": [{"name": bucket} for bucket in sorted(self.ctx.facts.object_store.buckets.values())],
            # In-cluster plain HTTP: clients reach it by Service DNS; the mesh (where present) adds mTLS.
            "requestAutoCert": False,
            "env": [{"name": "MINIO_PROMETHEUS_AUTH_TYPE", "value": "public"}],
        }
