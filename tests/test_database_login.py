"""The one helper for "this pod reaches the cluster database" (infra/platform/database.py), on its own: the
password login, the Cloud SQL Auth Proxy sidecar, and the errors for what the cluster layer does not give.
The rendered MLflow and Kubeflow objects that use it are tested in test_ml.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infra.cluster import ClusterFacts, Database
from infra.platform.database import (
    CLOUD_SQL_PROXY_IMAGE,
    PROXY_HEALTH_PORT,
    MissingClusterService,
    cloud_sql_proxy,
    database_login,
)
from policies.crossguard.common import image_is_pinned

from .conftest import onprem_facts


def facts(database: Database | None, identities: dict[str, str] | None = None) -> ClusterFacts:
    return onprem_facts(database, identities)


CNPG = Database(kind="cloudnativepg", host="db-rw.cnpg-system.svc", credentials_secret="db-app")


def test_password_login_reads_the_cluster_secret_and_needs_no_sidecar() -> None:
    login = database_login(facts(CNPG), "mlflow", "mlflow")
    assert (login.host, login.port, login.database) == ("db-rw.cnpg-system.svc", 5432, "mlflow")
    assert login.sidecars == () and login.user is None
    assert login.credentials_env("U", "P") == [
        {"name": "U", "valueFrom": {"secretKeyRef": {"name": "db-app", "key": "username"}}},
        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db-app", "key": "password"}}},
    ]
    [egress] = login.egress
    assert egress.direction == "egress" and egress.ports == (5432,)


def test_a_target_without_a_database_is_named() -> None:
    with pytest.raises(MissingClusterService, match="mlflow needs ClusterFacts.database .* target onprem"):
        database_login(facts(None), "mlflow", "mlflow")


def test_a_database_the_cluster_does_not_create_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no database 'mlpipeline' \(it has mlflow, mlflow_auth, metadb"):
        database_login(facts(CNPG), "mlpipeline", "kubeflow-metadata")


def test_iam_login_needs_the_workloads_identity() -> None:
    cloud_sql = dataclasses.replace(CNPG, kind="cloudsql", iam_authentication=True, connection_name="p:r:i")
    with pytest.raises(ValueError, match="kubeflow-metadata: IAM database authentication needs its Workload"):
        database_login(
            facts(cloud_sql, {"mlflow": "wi-mlflow@p.iam.gserviceaccount.com"}), "metadb", "kubeflow-metadata"
        )


def flag(args: list[Any], name: str) -> str:
    [value] = [arg.split("=", 1)[1] for arg in args if isinstance(arg, str) and arg.startswith(f"--{name}=")]
    return value


def test_the_auth_proxy_is_a_pinned_native_sidecar_listening_inside_the_pod() -> None:
    proxy = cloud_sql_proxy("project:region:instance")
    assert proxy["restartPolicy"] == "Always"
    assert image_is_pinned(proxy["image"]) and proxy["image"] == CLOUD_SQL_PROXY_IMAGE
    assert proxy["image"].startswith("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.")
    args = proxy["args"]
    assert {"--auto-iam-authn", "--private-ip", "--health-check"} <= set(args) and args[-1] == "project:region:instance"
    assert (flag(args, "address"), flag(args, "port")) == ("127.0.0.1", "5432")
    # The probes ask the health server where the proxy serves it.
    assert flag(args, "http-port") == str(PROXY_HEALTH_PORT)
    assert {proxy[probe]["httpGet"]["port"] for probe in ("startupProbe", "livenessProbe")} == {PROXY_HEALTH_PORT}
    context = proxy["securityContext"]
    assert (
        context["runAsNonRoot"] and context["readOnlyRootFilesystem"] and context["capabilities"] == {"drop": ["ALL"]}
    )
    assert proxy["resources"]["requests"] and proxy["resources"]["limits"]
