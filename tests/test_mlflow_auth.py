"""MLflow's basic auth keeps its users and permissions in the cluster's PostgreSQL, database `mlflow_auth`
(infra/components/mlflow_auth.py), on both targets: what the chart (mlflow 1.11.5) makes of the values, and what
MLflow (3.15) reads back from the file it writes."""

from __future__ import annotations

import configparser
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from infra.cluster.facts import PLATFORM_DATABASES
from infra.components.cloudnative_pg import HOST
from infra.components.mlflow_auth import AUTH_DATABASE, IAM_LOGIN_SECRET, ini_uri_user
from infra.offline.render import Rendered

from .conftest import REPO
from .test_ml import identity, mlflow_values, objects


def chart_database_uri(postgres: dict[str, Any], username: str, password: str) -> str:
    """basic_auth.ini's database_uri as chart 1.11.5 writes it from `auth.postgres` and the Secret's two keys
    (templates/auth_ini_configmap.yaml, then the sed of its ini-file-initializer), read back as MLflow reads it
    (mlflow/server/auth/config.py: configparser with its default interpolation)."""
    uri = f"postgresql://{username}:{password}@{postgres['host']}:{postgres['port']}/{postgres['database']}"
    config = configparser.ConfigParser()
    config.read_string(f"[mlflow]\ndatabase_uri = {uri}\n")
    return config["mlflow"]["database_uri"]


def auth_postgres(r: Rendered) -> dict[str, Any]:
    return mlflow_values(r)["auth"]["postgres"]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_on_gke_the_auth_database_is_reached_as_the_iam_user_through_the_proxy(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    postgres = auth_postgres(r)
    assert postgres["enabled"] is True and postgres["database"] == AUTH_DATABASE
    # The proxy the backend store already runs in the pod, not a second one.
    assert (postgres["host"], postgres["port"]) == ("127.0.0.1", 5432)
    assert [c["name"] for c in mlflow_values(r)["initContainers"]].count("cloud-sql-proxy") == 1
    assert postgres["existingSecret"] == {
        "name": IAM_LOGIN_SECRET,
        "usernameKey": "username",
        "passwordKey": "password",
    }
    [secret] = [s for s in objects(r, "Secret") if s["metadata"]["name"] == IAM_LOGIN_SECRET]
    assert secret["metadata"]["namespace"] == "mlflow" and set(secret["stringData"]) == {"username", "password"}
    # What MLflow connects with, once the chart has written the Secret's user name (the rendered manifest masks
    # Secret data, so the value is rebuilt from the user name the stack derives) and an empty password.
    user = identity(r, "mlflow").removesuffix(".gserviceaccount.com")
    parsed = urlsplit(chart_database_uri(postgres, ini_uri_user(user), ""))
    assert unquote(parsed.username or "") == user == f"wi-mlflow@{r.env.gke.project}.iam"
    assert parsed.password == "" and parsed.hostname == "127.0.0.1" and parsed.path == f"/{AUTH_DATABASE}"


def test_on_prem_the_auth_database_uses_the_copied_cloudnativepg_login(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    postgres = auth_postgres(r)
    assert (postgres["host"], postgres["port"], postgres["database"]) == (HOST, 5432, AUTH_DATABASE)
    copied = {
        o["spec"]["target"]["name"] for o in objects(r, "ExternalSecret") if o["metadata"]["namespace"] == "mlflow"
    }
    assert (
        copied
        == {postgres["existingSecret"]["name"]}
        == {mlflow_values(r)["backendStore"]["existingDatabaseSecret"]["name"]}
    )
    assert not [s for s in objects(r, "Secret") if s["metadata"]["name"] == IAM_LOGIN_SECRET]
    # CloudNativePG's generated passwords are letters and digits (operator 1.30: password.Generate(64, 10, 0, ...)),
    # which pass the chart's sed, the URI and configparser unchanged.
    parsed = urlsplit(chart_database_uri(postgres, "platform", "Letters0and9Digits"))
    assert (parsed.username, parsed.password, parsed.path) == (
        "platform",
        "Letters0and9Digits",
        "/mlflow_auth",
    )
    databases = {o["spec"]["name"]: o["metadata"]["name"] for o in objects(r, "Database")}
    assert databases == {"mlflow": "mlflow", "mlflow_auth": "mlflow-auth", "metadb": "metadb", "harbor": "harbor"}


def test_the_iam_user_survives_uri_and_ini_escaping() -> None:
    assert ini_uri_user("wi-mlflow@p-1.iam") == "wi-mlflow%%40p-1.iam"
    parsed = urlsplit(chart_database_uri({"host": "h", "port": 1, "database": "d"}, ini_uri_user("a@b%c"), ""))
    assert unquote(parsed.username or "") == "a@b%c"


def test_the_one_time_grant_covers_every_database_a_workload_logs_in_to() -> None:
    """docs/cloud-sql-iam.md is the only way the IAM users get rights on their databases (README, "GKE target")."""
    doc = (REPO / "docs" / "cloud-sql-iam.md").read_text()
    logins = {"mlflow": "mlflow", AUTH_DATABASE: "mlflow", "metadb": "kubeflow-metadata"}
    assert set(logins) == set(PLATFORM_DATABASES)
    for database, workload in logins.items():
        user = f'"wi-{workload}@<project>.iam"'
        assert f"\\connect {database}\n   GRANT ALL ON DATABASE {database} TO {user};" in doc, database
        assert f"GRANT ALL ON DATABASE {database} TO {user};\n   GRANT ALL ON SCHEMA public TO {user};" in doc
