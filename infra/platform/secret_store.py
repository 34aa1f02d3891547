"""External Secrets stores of the Kubernetes provider: the Secrets of one namespace, read by an identity of its own.

The provider refuses the controller's own service account by design (so one store cannot read every namespace),
and asks the API server for a short-lived token of the store's service account instead (TokenRequest; the chart
gives the controller `serviceaccounts/token` create). Before serving, it checks with a SelfSubjectRulesReview
that this identity may `get` Secrets in the remote namespace; every authenticated identity may create that review
(Kubernetes' `system:basic-user` role), so the reader needs no rule for it. A store that only copies named Secrets
fetches each with one `get` (external-secrets v2.9.0, providers/v1/kubernetes: client.go GetSecret, validate.go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

STORE_API = "external-secrets.io/v1"


def kubernetes_provider(namespace: str, reader: str) -> dict[str, Any]:
    """The provider block of a ClusterSecretStore serving the Secrets of `namespace`, read as `reader` there."""
    return {
        "kubernetes": {
            "remoteNamespace": namespace,
            "server": {
                # The API server's CA, as every namespace has it; the URL defaults to kubernetes.default.
                "caProvider": {
                    "type": "ConfigMap",
                    "name": "kube-root-ca.crt",
                    "key": "ca.crt",
                    "namespace": namespace,
                },
            },
            "auth": {"serviceAccount": {"name": reader, "namespace": namespace}},
        }
    }


def secret_reader(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    *,
    secrets: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """The identity a Kubernetes-provider store reads with: a ServiceAccount in `namespace` (no token mounted: no
    pod runs as it) and a Role there. With `secrets` it may only `get` those, by name; without, it may read every
    Secret of the namespace (`annotations` then say why, for checkov)."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(labels)}
    rule: dict[str, Any] = {"apiGroups": [""], "resources": ["secrets"]}
    if secrets:
        rule |= {"resourceNames": list(secrets), "verbs": ["get"]}
    else:
        rule["verbs"] = ["get", "list", "watch"]
    guarded = {**metadata, **({"annotations": dict(annotations)} if annotations else {})}
    account = k8s.core.v1.ServiceAccount(name, metadata=metadata, automount_service_account_token=False, opts=opts)
    role = k8s.rbac.v1.Role(name, metadata=guarded, rules=[rule], opts=opts)
    binding = k8s.rbac.v1.RoleBinding(
        name,
        metadata=guarded,
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account, role])),
    )
    return [account, role, binding]
