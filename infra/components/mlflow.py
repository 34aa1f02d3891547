"""MLflow tracking server and model registry: runs and registry in the cluster's PostgreSQL (Cloud SQL or
CloudNativePG), artifacts in its object store, reached through Workload Identity on GKE or an S3 credentials
Secret on-prem; basic auth in front of the UI and API."""

from __future__ import annotations

from typing import Any

from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.config import Environment
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, Allow, Peer
from infra.platform.object_store import object_store_url
from infra.platform.resources import resources

WORKLOAD = "mlflow"
DATABASE = "mlflow"
ADMIN_SECRET = "mlflow-admin"
"""Secret (keys username, password) with the first admin account; created out of band, never in git."""
DATABASE_OUT = Allow("database-out", "egress", (ANYWHERE,), (5432,))
# MinIO on-prem listens on 80/9000 inside the cluster; GCS is reached over HTTPS_OUT.
OBJECT_STORE_OUT = Allow("object-store-out", "egress", (Peer(any_namespace=True),), (80, 9000))
# Ingress gateways and the ML workloads (pipeline steps, notebooks) log runs to the tracking server.
CLIENTS = Allow("mlflow-clients", "ingress", (Peer(any_namespace=True),), (5000,))


class MissingClusterService(Exception):
    pass


class Mlflow(PlatformComponent):
    spec = ComponentSpec(
        name="mlflow",
        layer="ml",
        namespace="mlflow",
        depends_on=("cert-manager", "istio"),
        network=(KUBE_API, HTTPS_OUT, DATABASE_OUT, OBJECT_STORE_OUT, CLIENTS),
    )

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.mlflow.enabled

    def build(self) -> None:
        if self.ctx.facts.database is None:
            # Without it the chart falls back to an in-memory SQLite that loses every run on restart.
            raise MissingClusterService(
                "mlflow needs ClusterFacts.database (Cloud SQL on GKE, CloudNativePG on-prem) from the cluster "
                "layer; this target provides none yet: set mlops-platform:platform.components.mlflow.enabled to false"
            )
        self.namespace()
        # NOT DONE: with Cloud SQL IAM authentication (`database.iam_authentication`, GKE) there is no password
        # and no credentials Secret; MLflow would need the Cloud SQL Auth Proxy (`--auto-iam-authn`) as a sidecar
        # logging in as its Workload Identity. Until then it reaches only password databases (CloudNativePG).
        self.application(self.values())
        # https://mlflow.<domain>, TLS from the platform ClusterIssuer; the chart's Service is `mlflow`, port 80.
        self.expose("mlflow", service="mlflow", port=80)

    def values(self) -> dict[str, Any]:
        facts = self.ctx.facts
        database = facts.database
        assert database is not None
        store = facts.object_store
        settings = self.env.components.mlflow
        artifacts: dict[str, Any] = {
            "proxiedArtifactStorage": True,
            "defaultArtifactsDestination": object_store_url(store, "artifacts", "mlflow"),
        }
        env: dict[str, str] = {}
        if store.credentials == "workload-identity":
            artifacts["gcs"] = {"enabled": True, "bucket": store.buckets["artifacts"], "path": "mlflow"}
        else:
            artifacts["s3"] = {
                "enabled": True,
                "bucket": store.buckets["artifacts"],
                "path": "mlflow",
                "existingSecret": {
                    "name": store.credentials_secret,
                    "keyOfAccessKeyId": S3_ACCESS_KEY_ID,
                    "keyOfSecretAccessKey": S3_SECRET_ACCESS_KEY,
                },
            }
            env["MLFLOW_S3_ENDPOINT_URL"] = store.endpoint
        return {
            "replicaCount": settings.replicas,
            "serviceAccount": {"create": True, "annotations": facts.identity.annotations(WORKLOAD)},
            "backendStore": {
                "databaseMigration": True,
                "databaseConnectionCheck": True,
                "postgres": {"enabled": True, "host": database.host, "port": database.port, "database": DATABASE},
                "existingDatabaseSecret": {
                    "name": database.credentials_secret,
                    "usernameKey": "username",
                    "passwordKey": "password",
                },
            },
            "artifactRoot": artifacts,
            "extraEnvVars": env,
            "auth": {
                "enabled": True,
                "existingAdminSecret": {"name": ADMIN_SECRET, "usernameKey": "username", "passwordKey": "password"},
                "defaultPermission": "NO_PERMISSIONS",
            },
            "serverAllowedHosts": [f"mlflow.{self.env.domain}", f"mlflow.{self.spec.namespace}.svc"],
            "resources": resources("250m", "512Mi", "1", "1Gi"),
            # The chart turns on MLflow's Prometheus exporter only together with its own ServiceMonitor.
            "serviceMonitor": {
                "enabled": self.ctx.monitoring_enabled,
                "namespace": self.spec.namespace,
                "useServicePort": True,
                "labels": {},
            },
            "telemetry": {"enabled": False},
        }
