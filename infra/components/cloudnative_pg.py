"""CloudNativePG: the platform's PostgreSQL on-prem (replacement for Cloud SQL), backed up to object storage."""

from __future__ import annotations

from typing import Any

from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.config import Environment
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow, Peer
from infra.platform.resources import resources

CLUSTER = "platform-db"
NAMESPACE = "cnpg-system"
HOST = f"{CLUSTER}-rw.{NAMESPACE}.svc.cluster.local"
APP_SECRET = f"{CLUSTER}-app"
"""Secret CloudNativePG generates with the owner role's credentials."""
API = "postgresql.cnpg.io/v1"
OWNER = "platform"
POSTGRES_PORT = 5432


class CloudNativePG(PlatformComponent):
    spec = ComponentSpec(
        name="cloudnative-pg",
        layer="platform",
        namespace=NAMESPACE,
        depends_on=("minio", "longhorn"),
        provides_crds=("postgresql.cnpg.io",),
        network=(
            KUBE_API,
            WEBHOOK_FROM_API_SERVER,
            Allow("postgres", "ingress", (ANY_NAMESPACE,), (POSTGRES_PORT,)),
            # WAL archive and base backups: in-cluster MinIO, or an external S3 endpoint.
            Allow("object-store", "egress", (Peer(namespace="minio"), ANYWHERE), (9000, 443)),
        ),
    )

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.onprem is not None

    def build(self) -> None:
        self.namespace()
        self.application(self.operator_values())
        ns = self.spec.namespace
        self.custom_resource(API, "Cluster", CLUSTER, self.cluster(), namespace=ns)
        self.scrape(CLUSTER, {"cnpg.io/cluster": CLUSTER}, "metrics", pods=True)
        self.custom_resource(
            API,
            "ScheduledBackup",
            f"{CLUSTER}-daily",
            {
                "schedule": "0 0 2 * * *",
                "cluster": {"name": CLUSTER},
                "backupOwnerReference": "self",
                "method": "barmanObjectStore",
            },
            namespace=ns,
        )
        database = self.ctx.facts.database
        for name in database.databases if database is not None else ():
            self.custom_resource(
                API, "Database", name, {"name": name, "owner": OWNER, "cluster": {"name": CLUSTER}}, namespace=ns
            )

    def operator_values(self) -> dict[str, Any]:
        return {
            "replicaCount": 2 if self.env.high_availability else 1,
            "crds": {"create": True},
            "resources": resources("100m", "128Mi", "200m", "256Mi"),
        }

    def cluster(self) -> dict[str, Any]:
        assert self.env.onprem is not None
        settings = self.env.onprem.database
        store = self.ctx.facts.object_store
        credentials = store.credentials_secret or ""
        return {
            "instances": settings.instances,
            "storage": {"size": settings.storage_size, "storageClass": self.ctx.facts.storage.fast},
            "resources": resources("250m", "512Mi", "1", "1Gi"),
            "enableSuperuserAccess": False,
            "bootstrap": {"initdb": {"database": OWNER, "owner": OWNER}},
            "affinity": {"enablePodAntiAffinity": True, "topologyKey": "kubernetes.io/hostname"},
            # The in-tree Barman Cloud backup is deprecated since CloudNativePG 1.26 and removed in 1.31; moving
            # to the barman-cloud plugin (ObjectStore CR) is the follow-up before upgrading past 1.30.
            "backup": {
                "retentionPolicy": settings.backup_retention,
                "barmanObjectStore": {
                    "destinationPath": f"s3://{store.buckets['backups']}/postgres",
                    "endpointURL": store.endpoint,
                    "s3Credentials": {
                        "accessKeyId": {"name": credentials, "key": S3_ACCESS_KEY_ID},
                        "secretAccessKey": {"name": credentials, "key": S3_SECRET_ACCESS_KEY},
                    },
                    "wal": {"compression": "gzip"},
                    "data": {"compression": "gzip"},
                },
            },
        }
