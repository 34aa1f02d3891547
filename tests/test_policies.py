"""Every CrossGuard policy: silent on the real environments and on a compliant fixture, loud on a violating one.

GCP fixtures use pulumi-gcp 10.x input names as the engine records them (camelCase).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.offline.engine import Recorded
from infra.offline.policy import run_policies
from infra.offline.render import Rendered
from policies.crossguard.rules import POLICIES


def recorded(type_: str, inputs: dict[str, Any], *, stack: str = "dev", protect: bool = False) -> Recorded:
    name = "fixture"
    return Recorded(
        type_, name, f"urn:pulumi:{stack}::mlops-platform::{type_}::{name}", "", "", (), protect, False, True, inputs
    )


def pod_spec(image: str = "ghcr.io/example/app:1.2.3", resources: dict | None = None) -> dict[str, Any]:
    limits = {"cpu": "200m", "memory": "256Mi"}
    container = {"name": "app", "image": image, "resources": resources or {"requests": limits, "limits": limits}}
    return {"containers": [container]}


def workload(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    template = {"template": {"spec": spec}}
    body = {"jobTemplate": {"spec": template}} if kind == "CronJob" else template
    if kind == "Pod":
        body = spec
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "ml"}, "spec": body}


def application(revision: str, values: dict | None = None) -> dict[str, Any]:
    source = {"repoURL": "https://charts.example.com", "chart": "x", "targetRevision": revision}
    source["helm"] = {"valuesObject": values or {}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "spec": {"source": source}}


NAMESPACE = "kubernetes:core/v1:Namespace"
PSA = "pod-security.kubernetes.io/enforce"
CLUSTER_OK: dict[str, Any] = {
    "privateClusterConfig": {"enablePrivateNodes": True},
    "workloadIdentityConfig": {"workloadPool": "mlops-prod-345678.svc.id.goog"},
    "enableShieldedNodes": True,
    "removeDefaultNodePool": True,
    "deletionProtection": True,
}
NODE_POOL_OK: dict[str, Any] = {"nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": True}}}
BUCKET_OK: dict[str, Any] = {
    "uniformBucketLevelAccess": True,
    "publicAccessPrevention": "enforced",
    "versioning": {"enabled": True},
}
SQL_OK: dict[str, Any] = {
    "databaseVersion": "POSTGRES_16",
    "deletionProtection": True,
    "settings": {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True}},
}
PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
CNPG = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "db"}}


def without(props: dict[str, Any], *path: str, value: Any = None) -> dict[str, Any]:
    """A deep copy of `props` with the value at `path` replaced (removed when value is None)."""
    changed = copy.deepcopy(props)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return changed


# (policy, compliant fixture, violating fixture)
CASES: list[tuple[str, Recorded, Recorded]] = [
    (
        "chart-versions-pinned",
        recorded("kubernetes:helm.sh/v3:Release", {"chart": "x", "version": "1.2.3"}),
        recorded("kubernetes:helm.sh/v3:Release", {"chart": "x", "version": "latest"}),
    ),
    (
        "chart-versions-pinned",
        recorded("kubernetes:argoproj.io/v1alpha1:Application", application("v1.21.1")),
        recorded("kubernetes:argoproj.io/v1alpha1:Application", application("1.*")),
    ),
    *[
        (
            "images-pinned",
            recorded(f"kubernetes:apps/v1:{kind}", workload(kind, pod_spec())),
            recorded(f"kubernetes:apps/v1:{kind}", workload(kind, pod_spec(image))),
        )
        for kind, image in [
            ("Deployment", "ghcr.io/example/app"),
            ("StatefulSet", "ghcr.io/example/app:latest"),
            ("DaemonSet", "registry:5000/app"),
            ("Job", "app:main"),
            ("CronJob", "app:latest"),
            ("Pod", "app"),
        ]
    ],
    (
        "images-pinned",
        recorded("kubernetes:argoproj.io/v1alpha1:Application", application("1.0.0", {"image": {"tag": ""}})),
        recorded(
            "kubernetes:argoproj.io/v1alpha1:Application",
            application("1.0.0", {"server": {"image": {"repository": "x", "tag": "latest"}}}),
        ),
    ),
    (
        "images-pinned",
        recorded(
            "kubernetes:argoproj.io/v1alpha1:Application",
            application("1.0.0", {"initContainers": [{"name": "plugin", "image": "velero/plugin:v1.14.0"}]}),
        ),
        recorded(
            "kubernetes:argoproj.io/v1alpha1:Application",
            application("1.0.0", {"initContainers": [{"name": "plugin", "image": "velero/plugin"}]}),
        ),
    ),
    (
        "images-pinned",
        recorded("kubernetes:helm.sh/v3:Release", {"version": "1.0.0", "values": {"image": {"tag": "v1.2.3"}}}),
        recorded("kubernetes:helm.sh/v3:Release", {"version": "1.0.0", "values": {"image": {"tag": "nightly"}}}),
    ),
    (
        "namespace-pod-security",
        recorded(NAMESPACE, {"metadata": {"name": "n", "labels": {PSA: "restricted"}}}),
        recorded(NAMESPACE, {"metadata": {"name": "n"}}),
    ),
    (
        "container-resources",
        recorded("kubernetes:apps/v1:Deployment", workload("Deployment", pod_spec())),
        recorded(
            "kubernetes:apps/v1:Deployment",
            workload("Deployment", pod_spec(resources={"requests": {"cpu": "1", "memory": "1Gi"}})),
        ),
    ),
    (
        "kubernetes-stateful-protected",
        recorded("kubernetes:core/v1:PersistentVolumeClaim", PVC, stack="prod", protect=True),
        recorded("kubernetes:core/v1:PersistentVolumeClaim", PVC, stack="prod"),
    ),
    (
        "kubernetes-stateful-protected",
        recorded("kubernetes:postgresql.cnpg.io/v1:Cluster", CNPG, stack="dev"),
        recorded("kubernetes:postgresql.cnpg.io/v1:Cluster", CNPG, stack="prod"),
    ),
    (
        "privileged-namespace-reason",
        recorded(
            NAMESPACE,
            {
                "metadata": {
                    "name": "n",
                    "labels": {PSA: "privileged"},
                    "annotations": {"mlops.dev/privileged-reason": "CNI"},
                }
            },
        ),
        recorded(NAMESPACE, {"metadata": {"name": "n", "labels": {PSA: "privileged"}}}),
    ),
    (
        "gke-private-nodes",
        recorded("gcp:container/cluster:Cluster", CLUSTER_OK, stack="prod"),
        recorded("gcp:container/cluster:Cluster", without(CLUSTER_OK, "privateClusterConfig", "enablePrivateNodes")),
    ),
    (
        "gke-workload-identity",
        recorded("gcp:container/cluster:Cluster", CLUSTER_OK),
        recorded("gcp:container/cluster:Cluster", without(CLUSTER_OK, "workloadIdentityConfig")),
    ),
    (
        "gke-shielded-nodes",
        recorded("gcp:container/cluster:Cluster", CLUSTER_OK),
        recorded("gcp:container/cluster:Cluster", without(CLUSTER_OK, "enableShieldedNodes", value=False)),
    ),
    (
        "gke-shielded-nodes",
        recorded("gcp:container/nodePool:NodePool", NODE_POOL_OK),
        recorded(
            "gcp:container/nodePool:NodePool",
            without(NODE_POOL_OK, "nodeConfig", "shieldedInstanceConfig", "enableSecureBoot", value=False),
        ),
    ),
    (
        "gke-deletion-protection",
        recorded("gcp:container/cluster:Cluster", without(CLUSTER_OK, "deletionProtection"), stack="dev"),
        recorded("gcp:container/cluster:Cluster", without(CLUSTER_OK, "deletionProtection"), stack="prod"),
    ),
    (
        "bucket-uniform-access",
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK),
        recorded("gcp:storage/bucket:Bucket", without(BUCKET_OK, "uniformBucketLevelAccess", value=False)),
    ),
    (
        "bucket-public-access-prevention",
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK),
        recorded("gcp:storage/bucket:Bucket", without(BUCKET_OK, "publicAccessPrevention", value="inherited")),
    ),
    (
        "bucket-versioning",
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK),
        recorded("gcp:storage/bucket:Bucket", without(BUCKET_OK, "versioning")),
    ),
    (
        "bucket-versioning",
        recorded(
            "gcp:storage/bucket:Bucket",
            without(BUCKET_OK, "versioning", value={"enabled": False})
            | {"retentionPolicy": {"retentionPeriod": "86400"}},
        ),
        recorded("gcp:storage/bucket:Bucket", without(BUCKET_OK, "versioning", value={"enabled": False})),
    ),
    (
        "no-service-account-keys",
        recorded("gcp:serviceaccount/account:Account", {"accountId": "velero"}),
        recorded("gcp:serviceaccount/key:Key", {"serviceAccountId": "velero"}),
    ),
    (
        "cloud-stateful-protected",
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK, stack="prod", protect=True),
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK, stack="prod"),
    ),
    (
        "cloud-stateful-protected",
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK, stack="prod", protect=True),
        recorded("gcp:storage/bucket:Bucket", BUCKET_OK | {"forceDestroy": True}, stack="prod", protect=True),
    ),
    (
        "cloud-stateful-protected",
        recorded("gcp:sql/databaseInstance:DatabaseInstance", SQL_OK, stack="prod"),
        recorded("gcp:sql/databaseInstance:DatabaseInstance", without(SQL_OK, "deletionProtection"), stack="prod"),
    ),
    (
        "sql-point-in-time-recovery",
        recorded("gcp:sql/databaseInstance:DatabaseInstance", SQL_OK),
        recorded(
            "gcp:sql/databaseInstance:DatabaseInstance",
            without(SQL_OK, "settings", "backupConfiguration", "pointInTimeRecoveryEnabled", value=False),
        ),
    ),
    (
        "spot-gpu-pool-in-prod",
        recorded(
            "gcp:container/nodePool:NodePool",
            {**NODE_POOL_OK, "nodeConfig": {**NODE_POOL_OK["nodeConfig"], "spot": True, "guestAccelerators": [{}]}},
            stack="dev",
        ),
        recorded(
            "gcp:container/nodePool:NodePool",
            {**NODE_POOL_OK, "nodeConfig": {**NODE_POOL_OK["nodeConfig"], "spot": True, "guestAccelerators": [{}]}},
            stack="prod",
        ),
    ),
]


def _ids(case: tuple[str, Recorded, Recorded]) -> str:
    return f"{case[0]}-{case[2].type.rsplit(':', 1)[-1]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_policy_passes_the_compliant_fixture_and_catches_the_violating_one(case) -> None:
    policy, good, bad = case
    assert not [f for f in run_policies([good]) if f.message.startswith(f"{policy}:")]
    findings = run_policies([bad])
    assert any(f.message.startswith(f"{policy}:") for f in findings), findings


def test_every_policy_has_a_violating_fixture() -> None:
    covered = {policy for policy, _, _ in CASES} | {"namespace-default-deny"}  # stack policy: tests/test_check.py
    assert {p.name for p in POLICIES} <= covered


def test_a_resource_policy_names_the_resource_it_found() -> None:
    (finding,) = run_policies([recorded("gcp:serviceaccount/key:Key", {})])
    assert finding.object_ref == "gcp:serviceaccount/key:Key::fixture"


def test_advisory_policies_do_not_fail_check() -> None:
    spot = CASES[-1][2]
    findings = run_policies([spot])
    assert findings and all(f.severity == "advisory" for f in findings)


def test_policies_pass_on_every_real_environment(rendered: dict[str, Rendered]) -> None:
    for stack, result in rendered.items():
        assert run_policies(result.run.resources) == [], stack


def test_prod_is_read_from_the_stack_name_or_a_tier_label() -> None:
    from policies.crossguard.common import is_prod, stack_of

    assert stack_of("urn:pulumi:prod::mlops-platform::gcp:storage/bucket:Bucket::b") == "prod"
    assert is_prod("urn:pulumi:prod-eu::p::t::n") and not is_prod("urn:pulumi:production-like-dev::p::t::n")
    assert is_prod("urn:pulumi:x::p::t::n", {"tier": "prod"})


def test_the_pack_and_the_program_agree_on_which_custom_resources_hold_data() -> None:
    from infra.platform.component import STATEFUL_CUSTOM_KINDS
    from policies.crossguard.kubernetes import STATEFUL_CUSTOM_KINDS as CHECKED

    assert STATEFUL_CUSTOM_KINDS == CHECKED
