"""Where MLflow's basic auth keeps its users and permissions: a database of its own in the cluster's PostgreSQL,
shared by every replica and kept across restarts (instead of the chart's default, a SQLite file in the pod).

MLflow 3.15 reads `database_uri` from the ini file named by MLFLOW_AUTH_CONFIG_PATH (mlflow/server/auth/config.py,
with `configparser`'s default interpolation) and creates or migrates its tables there at start
(`store.init_db`, as the connecting user). Chart mlflow 1.11.5 writes that file from `auth.postgres`
(templates/auth_ini_configmap.yaml): `postgresql://<username>:<password>@<host>:<port>/<database>`, the two
placeholders replaced by an init container with the keys of `auth.postgres.existingSecret` (templates/deployment.yaml,
`ini-file-initializer`, a `sed`). That init container only writes the file; the server connects later, in its
main container, once the pod's native sidecars (the Cloud SQL Auth Proxy on GKE) run.

- On-prem the Secret is the CloudNativePG login (copied into the namespace, infra/platform/login_copy.py); its
  generated password is letters and digits only, so it stays whole through `sed`, the URI and `configparser`.
- On GKE there is no password: MLflow logs in as its IAM database user through the proxy. The chart reads the
  login only from a Secret, so the stack writes one holding that user name and an empty password (SQLAlchemy
  sends no password for an empty one). Nothing in it is a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.database import DatabaseLogin

AUTH_DATABASE = "mlflow_auth"
IAM_LOGIN_SECRET = "mlflow-auth-database-login"
"""On GKE: the Secret the chart reads the auth database login from (IAM user name, empty password)."""


def auth_database_values(login: DatabaseLogin, secret: str) -> dict[str, Any]:
    """The chart's `auth.postgres`: the auth database, with the login in `secret` (keys username, password)."""
    return {
        "enabled": True,
        "host": login.host,
        "port": login.port,
        "database": login.database,
        "existingSecret": {"name": secret, "usernameKey": "username", "passwordKey": "password"},
    }


def ini_uri_user(user: str) -> str:
    """A database user as it must be written into basic_auth.ini's URI: `@` (IAM users are email-like) escaped
    for the URI, then each `%` doubled for configparser's interpolation, which reads `%%` as `%`."""
    return quote(user, safe="").replace("%", "%%")


def iam_login_secret(
    login: DatabaseLogin, namespace: str, labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """The Secret that names the IAM database user to the chart (GKE); `login.user` is that user."""
    assert login.user is not None and login.credentials_secret is None
    return k8s.core.v1.Secret(
        IAM_LOGIN_SECRET,
        metadata={
            "name": IAM_LOGIN_SECRET,
            "namespace": namespace,
            "labels": dict(labels),
        },
        type="Opaque",
        string_data={"username": pulumi.Output.from_input(login.user).apply(ini_uri_user), "password": ""},
        opts=opts,
    )
