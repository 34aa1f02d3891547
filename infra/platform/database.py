"""How a pod reaches the cluster layer's PostgreSQL (`ClusterFacts.database`), written once for every component.

On-prem (CloudNativePG) a pod connects to the database Service and logs in with the user name and password of
the cluster's credentials Secret. On GKE (Cloud SQL with IAM database authentication) there is no password: the
Cloud SQL Auth Proxy runs in the pod as a native sidecar (an init container with `restartPolicy: Always`,
Kubernetes 1.29+, so it is ready before the app starts and stops after it), authenticates as the pod's Workload
Identity with `--auto-iam-authn` and listens on 127.0.0.1:5432; the app connects there as the IAM database user
and sends no password. The user still needs privileges on its database: docs/cloud-sql-iam.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.cluster.facts import ClusterFacts, iam_database_user
from infra.platform.network import ANYWHERE, Allow
from infra.platform.resources import resources
from infra.platform.security import restricted_container

# gcr.io/cloud-sql-connectors/cloud-sql-proxy, tag v2.25.3 of GoogleCloudPlatform/cloud-sql-proxy (2026-08-20).
# A tag, not a digest: no registry was reachable to read the digest from (docs/ml-platform.md).
CLOUD_SQL_PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"
PROXY_CONTAINER = "cloud-sql-proxy"
PROXY_ADDRESS = "127.0.0.1"
PROXY_PORT = 5432
# The proxy serves /startup, /liveness and /readiness here; the kubelet probes it on the pod's address.
PROXY_HEALTH_PORT = 9801
# The image runs as the distroless `nonroot` user.
PROXY_USER = 65532
# The proxy reaches Cloud SQL on 3307 (its server-side proxy) and the SQL Admin API on 443.
CLOUD_SQL_PORT = 3307


class MissingClusterService(Exception):
    """The component needs something the cluster layer of this target does not provide."""


@dataclass(frozen=True)
class DatabaseLogin:
    """Where and as whom one workload's pods log in to one database of the cluster."""

    database: str
    host: pulumi.Input[str]
    port: int
    user: pulumi.Input[str] | None
    """The IAM database user (GKE), which logs in without a password; None: the user is in credentials_secret."""
    credentials_secret: str | None
    """Secret with the keys `username` and `password`, in the pod's namespace; None with IAM authentication."""
    sidecars: tuple[dict[str, Any], ...] = field(default=())
    """Init containers the pod needs (the Cloud SQL Auth Proxy as a native sidecar on GKE)."""
    egress: tuple[Allow, ...] = field(default=())
    """What the pod's namespace must let out for the login to reach the database."""

    def credentials_env(self, user_variable: str, password_variable: str) -> list[dict[str, Any]]:
        """Environment variables holding the user (and, with a credentials Secret, the password)."""
        if self.credentials_secret is None:
            return [{"name": user_variable, "value": self.user}]
        return [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": self.credentials_secret, "key": key}}}
            for variable, key in ((user_variable, "username"), (password_variable, "password"))
        ]


def database_login(facts: ClusterFacts, database: str, workload: str) -> DatabaseLogin:
    """How the pods of `workload` (a name in ClusterFacts.identity, e.g. `mlflow`) reach `database`."""
    cluster_database = facts.database
    if cluster_database is None:
        raise MissingClusterService(
            f"{workload} needs ClusterFacts.database (Cloud SQL on GKE, CloudNativePG on-prem); the cluster layer "
            f"of target {facts.target} provides none"
        )
    if database not in cluster_database.databases:
        raise ValueError(
            f"{workload}: the cluster database has no database {database!r} "
            f"(it has {', '.join(cluster_database.databases)}; see PLATFORM_DATABASES)"
        )
    if not cluster_database.iam_authentication:
        return DatabaseLogin(
            database=database,
            host=cluster_database.host,
            port=cluster_database.port,
            user=None,
            credentials_secret=cluster_database.credentials_secret,
            egress=(Allow("database-out", "egress", (ANYWHERE,), (cluster_database.port,)),),
        )
    email = facts.identity.service_accounts.get(workload)
    if email is None or cluster_database.connection_name is None:
        raise ValueError(
            f"{workload}: IAM database authentication needs its Workload Identity (gcp_identity.WORKLOADS) and "
            "the instance connection name"
        )
    return DatabaseLogin(
        database=database,
        host=PROXY_ADDRESS,
        port=PROXY_PORT,
        user=pulumi.Output.from_input(email).apply(iam_database_user),
        credentials_secret=None,
        sidecars=(cloud_sql_proxy(cluster_database.connection_name),),
        egress=(Allow("cloud-sql-out", "egress", (ANYWHERE,), (CLOUD_SQL_PORT, 443)),),
    )


def cloud_sql_proxy(connection_name: pulumi.Input[str]) -> dict[str, Any]:
    """The Cloud SQL Auth Proxy (v2) as a native sidecar: IAM login as the pod's identity, over the instance's
    private IP, listening only inside the pod."""
    health = {"port": PROXY_HEALTH_PORT, "scheme": "HTTP"}
    return {
        "name": PROXY_CONTAINER,
        "image": CLOUD_SQL_PROXY_IMAGE,
        "restartPolicy": "Always",
        "args": [
            "--auto-iam-authn",
            "--private-ip",
            f"--address={PROXY_ADDRESS}",
            f"--port={PROXY_PORT}",
            "--structured-logs",
            # Health checks on the pod address (the kubelet probes from the node), not on the database port.
            "--health-check",
            "--http-address=0.0.0.0",
            f"--http-port={PROXY_HEALTH_PORT}",
            # A pod that stops on purpose is not a failed proxy.
            "--exit-zero-on-sigterm",
            connection_name,
        ],
        "ports": [{"name": "proxy-health", "containerPort": PROXY_HEALTH_PORT}],
        # The app starts only once the proxy reports ready: no connection check of its own is needed.
        "startupProbe": {"httpGet": {"path": "/startup", **health}, "periodSeconds": 1, "failureThreshold": 60},
        "livenessProbe": {"httpGet": {"path": "/liveness", **health}, "periodSeconds": 10, "failureThreshold": 3},
        "securityContext": {**restricted_container(run_as_user=PROXY_USER), "runAsGroup": PROXY_USER},
        "resources": resources("50m", "64Mi", "500m", "256Mi"),
    }


def iam_grant_advisory() -> str:
    """What reviewers see on an Application whose pods log in as a Cloud SQL IAM user."""
    return (
        "Cloud SQL IAM login: the database user has no privileges on its database until the one-time grant of "
        "docs/cloud-sql-iam.md has been run; until then it cannot create its tables"
    )
