"""CloudNativePG: the platform's PostgreSQL on-prem (replacement for Cloud SQL), backed up to object storage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow, Peer
from infra.platform.resources import resources
from infra.platform.secret_store import STORE_API, kubernetes_provider, secret_reader
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

CLUSTER = "platform-db"
NAMESPACE = "cnpg-system"
HOST = f"{CLUSTER}-rw.{NAMESPACE}.svc.cluster.local"
APP_SECRET = f"{CLUSTER}-app"
"""Secret CloudNativePG generates with the owner role's credentials (keys username, password, among others)."""
LOGIN_STORE = f"{CLUSTER}-login"
"""ClusterSecretStore through which External Secrets copies APP_SECRET into the namespaces of LOGIN_READERS."""
LOGIN_READER = f"{CLUSTER}-login-reader"
LOGIN_READERS = ("mlflow", "kubeflow", "harbor")
"""Namespaces whose pods log in with APP_SECRET (MLflow; Kubeflow Pipelines' ML Metadata; Harbor): only these may copy
it. Listed here, beside the Secret they may read, so that granting the database password is one reviewed line."""
API = "postgresql.cnpg.io/v1"
OWNER = "platform"
POSTGRES_PORT = 5432


class CloudNativePG(PlatformComponent):
    spec = ComponentSpec(
        name="cloudnative-pg",
        layer="platform",
        namespace=NAMESPACE,
        # External Secrets: its login store (a ClusterSecretStore) needs that CRD; ignored where it is off.
        depends_on=("minio", "longhorn", "external-secrets"),
        provides_crds=("postgresql.cnpg.io",),
        network=(
            KUBE_API,
            WEBHOOK_FROM_API_SERVER,
            Allow("postgres", "ingress", (ANY_NAMESPACE,), (POSTGRES_PORT,)),
            # WAL archive and base backups: in-cluster MinIO, or an external S3 endpoint.
            Allow("object-store", "egress", (Peer(namespace="minio"), ANYWHERE), (9000, 443)),
        ),
    )
    sources = {
        # Chart 0.29.0 = operator 1.30.0 (cloudnative-pg/charts tag cloudnative-pg-v0.29.0, 2026-07-20).
        "cloudnative-pg": Chart(
            "https://cloudnative-pg.github.io/charts",
            "cloudnative-pg",
            "0.29.0",
            "cnpg-system",
            images=(ImageValue("image.repository", "ghcr.io/cloudnative-pg/cloudnative-pg"),),
        ),
    }

    exported_families = {
        "cnpg-system/platform-db": ("cnpg_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("cloudnative-pg", "cnpg-system", "PostgreSQL"),
            group(
                "cloudnative-pg",
                [
                    alert(
                        "PostgresReplicationLagHigh",
                        "max by (namespace, pod) (cnpg_pg_replication_lag) > 300",
                        component="cloudnative-pg",
                        summary="PostgreSQL replica {{ $labels.pod }} is more than 5 minutes behind",
                        description="A failover now would lose recent writes of MLflow and Kubeflow metadata.",
                    )
                ],
            ),
        ]

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
            # Object names may not hold the underscore a database name may (mlflow_auth).
            spec = {"name": name, "owner": OWNER, "cluster": {"name": CLUSTER}}
            self.custom_resource(API, "Database", name.replace("_", "-"), spec, namespace=ns)
        if database is not None and database.credentials_store is not None:
            self.login_store(database.credentials_store, database.credentials_readers)

    def login_store(self, store: str, readers: tuple[str, ...]) -> None:
        """The store External Secrets copies the login Secret through: it reads this namespace as an identity that
        may get that one Secret, and serves only the namespaces of the enabled components among `readers` (a
        ClusterSecretStore without conditions would hand the database password to any namespace whose users may
        create an ExternalSecret, which the chart lets every `edit` role do)."""
        served = sorted(set(readers) & set(self.ctx.namespaces.values()))
        if not served:
            return
        ns = self.spec.namespace
        labels = component_labels(self.spec.name, self.spec.layer)
        reader = secret_reader(LOGIN_READER, ns, labels, secrets=(APP_SECRET,), opts=self.opts(self._own_namespace()))
        spec = {"provider": kubernetes_provider(ns, LOGIN_READER), "conditions": [{"namespaces": served}]}
        self.custom_resource(STORE_API, "ClusterSecretStore", store, spec, after=reader)

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
