"""A copy of the cluster database's login Secret in the namespace of a workload that logs in with it.

CloudNativePG writes its login Secret into its own namespace, and a pod can only read Secrets of its own. Where the
cluster layer names an External Secrets store for it (`Database.credentials_store`), an ExternalSecret keeps a copy
in the consumer's namespace, under the same name and with only the keys a login needs; without External Secrets
the copy is made by hand, and the consumer's Application says so to reviewers. With IAM database authentication
(Cloud SQL on GKE) there is no Secret and nothing to copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.cluster.facts import ClusterFacts
from infra.platform.secret_store import STORE_API

CustomResource = Callable[..., Any]
LOGIN_KEYS = ("username", "password")
# The login does not change unless someone rotates it in CloudNativePG: an hourly look is enough.
REFRESH = "1h"


def copy_database_login(facts: ClusterFacts, namespace: str, custom_resource: CustomResource) -> list[str]:
    """Keep the database login Secret in `namespace` (a component's `self.custom_resource` declares it) and return
    what reviewers must be told (a hand copy without External Secrets).

    Call it before the component's Applications: a custom resource waits for the Applications its component has
    declared so far, and those cannot become healthy without the Secret."""
    database = facts.database
    if database is None or database.iam_authentication or database.credentials_namespace in (None, namespace):
        return []
    if namespace not in database.credentials_readers:
        raise ValueError(
            f"namespace {namespace} may not copy the database login {database.credentials_secret}: add it to the "
            f"readers the cluster layer allows ({', '.join(database.credentials_readers)})"
        )
    secret = database.credentials_secret
    if database.credentials_store is None:
        return [
            f"External Secrets is off: copy the Secret {database.credentials_namespace}/{secret} (keys "
            f"{', '.join(LOGIN_KEYS)}) into {namespace} by hand, and again whenever it changes"
        ]
    custom_resource(
        STORE_API,
        "ExternalSecret",
        secret,
        {
            "refreshInterval": REFRESH,
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": database.credentials_store},
            # Owner: removing the ExternalSecret removes the copy; a copy made by hand before is taken over.
            "target": {"name": secret, "creationPolicy": "Owner"},
            "data": [{"secretKey": key, "remoteRef": {"key": secret, "property": key}} for key in LOGIN_KEYS],
        },
        namespace=namespace,
    )
    return []
