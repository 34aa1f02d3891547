"""Plausible outputs of the Google Cloud resources whose outputs the program reads, for the mock engine.

Keys are wire (camelCase) names. Values are derived from the inputs so that rendered output is stable.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

MOCK_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nmock cluster CA\n-----END CERTIFICATE-----\n").decode()


def _cluster(name: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return {
        "endpoint": "203.0.113.10",
        "masterAuth": {"clusterCaCertificate": MOCK_CA},
        "name": inputs.get("name", name),
    }


def _service_account(name: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    email = f"{inputs['accountId']}@{inputs.get('project', 'mock-project')}.iam.gserviceaccount.com"
    return {"email": email, "name": f"projects/{inputs.get('project', 'mock-project')}/serviceAccounts/{email}"}


def _sql_instance(name: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    project = inputs.get("project", "mock-project")
    return {
        "privateIpAddress": "10.100.0.3",
        "connectionName": f"{project}:{inputs.get('region', 'mock-region')}:{inputs.get('name', name)}",
        "name": inputs.get("name", name),
    }


def _named(name: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"name": inputs.get("name", name)}


GCP_MOCK_OUTPUTS = {
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:storage/bucket:Bucket": _named,
    "gcp:compute/router:Router": _named,
    "gcp:compute/globalAddress:GlobalAddress": _named,
}
