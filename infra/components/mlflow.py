"""MLflow tracking server and model registry: runs and registry in the cluster's PostgreSQL (Cloud SQL or
CloudNativePG), artifacts in its object store, reached through Workload Identity on GKE or an S3 credentials
Secret on-prem; basic auth in front of the UI and API, its users and permissions in a database of their own
(infra/components/mlflow_auth.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import pulumi
from pydantic import Field

from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.components.mlflow_auth import AUTH_DATABASE, IAM_LOGIN_SECRET, auth_database_values, iam_login_secret
from infra.config.settings.common import ComponentSettings, Settings
from infra.config.settings.platform import Mirrors
from infra.observability.platform_alerts import down, server_error_ratio
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.database import DatabaseLogin, MissingClusterService, database_login, iam_grant_advisory
from infra.platform.labels import component_labels
from infra.platform.login_copy import copy_database_login
from infra.platform.mirrors import mirrored_containers
from infra.platform.network import HTTPS_OUT, KUBE_API, Allow, Peer
from infra.platform.object_store import object_store_url
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

__all__ = ["Mlflow", "MissingClusterService"]

# The MLflow image the tracking server and its schema migration run: chart 1.11.5's
# appVersion (community-charts/helm-charts tag mlflow-1.11.5, charts/mlflow/Chart.yaml). Pinned apart from the
# chart so that the server and the migration always run one MLflow, whatever chart version an environment pins.
MLFLOW_IMAGE = "burakince/mlflow"
MLFLOW_VERSION = "3.15.1"

WORKLOAD = "mlflow"
DATABASE = "mlflow"
ADMIN_SECRET = "mlflow-admin"
"""Secret (keys username, password) with the first admin account; created out of band, never in git."""
# MinIO on-prem listens on 80/9000 inside the cluster; GCS is reached over HTTPS_OUT.
OBJECT_STORE_OUT = Allow("object-store-out", "egress", (Peer(any_namespace=True),), (80, 9000))
# Ingress gateways and the ML workloads (pipeline steps, notebooks) log runs to the tracking server.
CLIENTS = Allow("mlflow-clients", "ingress", (Peer(any_namespace=True),), (5000,))
# The chart's pods run as this user (values.yaml securityContext), and it mounts an emptyDir `tmp` at /tmp.
CHART_USER = 1001
# Creates MLflow's tables in an empty database and brings existing ones to this MLflow's schema; the same MLflow
# calls as the chart's own migration init container (templates/configmap.yaml), which cannot run here.
MIGRATE = (
    "import os; from mlflow.store.db import utils; "
    "utils._initialize_tables(utils.create_sqlalchemy_engine_with_retry(os.environ['MLFLOW_BACKEND_STORE_URI']))"
)


class MlflowSettings(Settings):
    enabled: bool = False
    """Install the MLflow tracking server and model registry (needs the cluster's database)."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Tracking server replicas; highly available environments need at least 2."""


class Mlflow(PlatformComponent):
    spec = ComponentSpec(
        name="mlflow",
        layer="ml",
        namespace="mlflow",
        # CloudNativePG (on-prem): the database, and the store its login is copied through.
        depends_on=("cert-manager", "istio", "cloudnative-pg"),
        network=(KUBE_API, HTTPS_OUT, OBJECT_STORE_OUT, CLIENTS),
    )
    sources = {
        "mlflow": Chart(
            "https://community-charts.github.io/helm-charts",
            "mlflow",
            "1.11.5",
            "mlflow",
            "MIT",
            images=(
                ImageValue("image.repository", "burakince/mlflow"),
                ImageValue("initImages.dbchecker.repository", "busybox"),
                ImageValue("initImages.mlflowDbMigration.repository", "burakince/mlflow"),
                ImageValue("initImages.iniFileInitializer.repository", "busybox"),
            ),
        ),
    }
    settings = ComponentSettings("mlflow", MlflowSettings, "Experiment tracking and model registry.")

    exported_families = {
        "mlflow/mlflow": ("flask_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("mlflow", "mlflow", "MLflow"),
            group(
                "mlflow-requests",
                [
                    # prometheus_flask_exporter, which `mlflow server --expose-prometheus` turns on.
                    alert(
                        "MlflowServerErrors",
                        f"{server_error_ratio('flask_http_request_total', 'mlflow', 'status')} > 0.05",
                        component="mlflow",
                        summary="MLflow answers >5% of requests with a server error",
                        description="Runs fail to log: check the tracking server's log and its database connection.",
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.mlflow.enabled

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        purpose = "the MLflow server's admin account (basic auth)"
        return (SecretToCreate(cls.spec.namespace, ADMIN_SECRET, ("username", "password"), purpose),)

    def build(self) -> None:
        # Without the cluster database the chart would fall back to an in-memory SQLite that loses every run.
        try:
            login = database_login(self.ctx.facts, DATABASE, WORKLOAD)
            # Same server and login, so the same sidecar and egress serve it.
            auth_login = database_login(self.ctx.facts, AUTH_DATABASE, WORKLOAD)
        except MissingClusterService as missing:
            raise MissingClusterService(
                f"{missing}: set mlops-platform:platform.components.mlflow.enabled to false"
            ) from None
        namespace = self.namespace(login.egress)
        notes = [] if login.credentials_secret else [iam_grant_advisory()]
        notes += copy_database_login(self.ctx.facts, self.spec.namespace, self.custom_resource)
        auth_secret = auth_login.credentials_secret
        if auth_secret is None:
            labels = component_labels(self.spec.name, self.spec.layer)
            iam_login_secret(auth_login, self.spec.namespace, labels, self.opts([namespace]))
            auth_secret = IAM_LOGIN_SECRET
        self.application(self.values(login, auth_database_values(auth_login, auth_secret)), advisories=notes)
        # https://mlflow.<domain>, TLS from the platform ClusterIssuer; the chart's Service is `mlflow`, port 80.
        self.expose("mlflow", service="mlflow", port=80)

    def values(self, login: DatabaseLogin, auth_database: dict[str, Any]) -> dict[str, Any]:
        facts = self.ctx.facts
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
            "image": {"repository": MLFLOW_IMAGE, "tag": MLFLOW_VERSION},
            "initImages": {"mlflowDbMigration": {"repository": MLFLOW_IMAGE, "tag": MLFLOW_VERSION}},
            # MLflow never calls the Kubernetes API: its account mounts no token (Workload Identity needs none).
            "serviceAccount": {"create": True, "automount": False, "annotations": facts.identity.annotations(WORKLOAD)},
            **backend_store(login, self.env.mirrors),
            "artifactRoot": artifacts,
            "extraEnvVars": env,
            "auth": {
                "enabled": True,
                "existingAdminSecret": {"name": ADMIN_SECRET, "usernameKey": "username", "passwordKey": "password"},
                "defaultPermission": "NO_PERMISSIONS",
                "postgres": auth_database,
            },
            "serverAllowedHosts": [f"mlflow.{self.env.domain}", f"mlflow.{self.spec.namespace}.svc"],
            "resources": resources("250m", "512Mi", "1", "1Gi"),
            # The chart's containers set no seccomp profile and its pod only fsGroup (kept: maps merge): the runtime's
            # profile for the whole pod, init containers included, or the `restricted` namespace refuses it.
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            # The chart turns on MLflow's Prometheus exporter only together with its own ServiceMonitor.
            "serviceMonitor": {
                "enabled": self.ctx.monitoring_enabled,
                "namespace": self.spec.namespace,
                "useServicePort": True,
                "labels": {},
            },
            "telemetry": {"enabled": False},
        }


def backend_store(login: DatabaseLogin, mirrors: Mirrors) -> dict[str, Any]:
    """The chart values that point the tracking server at its database.

    With a credentials Secret this is the chart's own PostgreSQL backend, schema migration and connection check
    included. Without one (Cloud SQL IAM login) the chart cannot be used that way: chart 1.11.5 requires
    `backendStore.postgres.password` unless `existingDatabaseSecret` names a Secret with a password
    (templates/secret.yaml), and its migration and connection-check init containers come before the init
    containers of the values, so they would run before the Auth Proxy sidecar exists. So the chart keeps its
    default store argument, and the server gets a second `--backend-store-uri` (extraArgs come after it, and
    `mlflow server` keeps the last value of a repeated option); the migration runs as an init container after
    the proxy, and the proxy's startup probe replaces the connection check."""
    if login.credentials_secret is not None:
        return {
            "backendStore": {
                "databaseMigration": True,
                "databaseConnectionCheck": True,
                "postgres": {"enabled": True, "host": login.host, "port": login.port, "database": login.database},
                "existingDatabaseSecret": {
                    "name": login.credentials_secret,
                    "usernameKey": "username",
                    "passwordKey": "password",
                },
            }
        }
    uri = pulumi.Output.all(login.user, login.host).apply(
        # The IAM user is an email-like name: its `@` must be escaped in the URI's user part.
        lambda args: f"postgresql://{quote(args[0], safe='')}@{args[1]}:{login.port}/{login.database}"
    )
    return {
        "backendStore": {"databaseMigration": False, "databaseConnectionCheck": False},
        "extraArgs": {"backendStoreUri": uri},
        # Containers the platform adds to the chart's pod: the chart's image values do not reach them.
        "initContainers": mirrored_containers([*login.sidecars, schema_migration(uri)], mirrors),
    }


def schema_migration(uri: pulumi.Input[str]) -> dict[str, Any]:
    """An init container that migrates MLflow's schema through the proxy, as the pod's own database user (who
    owns the tables, so later migrations need no further grant)."""
    return {
        "name": "mlflow-db-migration",
        "image": f"{MLFLOW_IMAGE}:{MLFLOW_VERSION}",
        "command": ["python", "-c", MIGRATE],
        "env": [{"name": "MLFLOW_BACKEND_STORE_URI", "value": uri}],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {**restricted_container(run_as_user=CHART_USER), "runAsGroup": CHART_USER},
        "resources": resources("250m", "512Mi", "1", "1Gi"),
    }
