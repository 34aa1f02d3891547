"""Registry of every stateful store the stacks declare: each is backed up on a schedule, and protected in prod.

A store is found by its type (buckets, Cloud SQL, PVCs, CloudNativePG clusters, Elasticsearch, MinIO tenants)
or, for charts and custom resources nobody has classified yet, by storage-looking settings in what it declares
(`volumeClaimTemplate`, `persistence`, `storage`...). Such an unclassified store fails until it is added to
CLASSIFIED below with how it is backed up, or to NOT_A_STORE with the reason it holds no data worth keeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import program
from infra.offline.engine import Recorded
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import plain
from infra.platform.component import ComponentSpec, PlatformComponent

from .conftest import ENVIRONMENTS

STORAGE_KEYS = frozenset(
    {"volumeClaimTemplate", "volumeClaimTemplates", "persistence", "persistentVolume", "storageSpec", "storage"}
)
# A chart's `storage` block that only configures an object-store client (KServe's storage initializer, which
# downloads models from the bucket) asks for no volume.
OBJECT_STORE_CLIENTS = frozenset({"s3", "gcs", "azure"})
# Cloud resource types whose name suggests they hold data: unknown ones fail until classified.
CLOUD_DATA_WORDS = re.compile(r"bucket|disk|database|instance|filestore|redis|bigtable|spanner|firestore|bigquery")

# Kinds that carry storage-looking settings but hold no data of their own, and why.
NOT_A_STORE: dict[str, str] = {
    "gcp:sql/database:Database": "a database inside a DatabaseInstance: backed up and protected with the instance",
    "gcp:sql/user:User": "a login of a DatabaseInstance; holds no data",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "an access grant on a bucket",
    "gcp:artifactregistry/repository:Repository": "container images, rebuilt from git by CI; prod tags are immutable",
    "gcp:compute/instance:Instance": "no VM holds platform data: state lives in buckets, Cloud SQL and PVCs",
    "kubernetes:postgresql.cnpg.io/v1:Database": "a database inside a CloudNativePG Cluster: backed up with it",
    "kubernetes:velero.io/v1:BackupStorageLocation": "where backups go: the backups bucket, classified itself",
    "kubernetes:core/v1:PersistentVolume": "the volume behind a PVC; the PVC is the store",
    "kubernetes:storage.k8s.io/v1:StorageClass": "a class of volumes, not a volume",
}


@dataclass
class Store:
    ref: str
    kind: str
    namespace: str
    protected: bool
    backups: list[str] = field(default_factory=list)
    """How it is backed up on a schedule (empty: not backed up)."""


@dataclass
class Inventory:
    stores: list[Store] = field(default_factory=list)
    unclassified: list[str] = field(default_factory=list)


def props(resource: Recorded) -> dict[str, Any]:
    return plain(resource.inputs)


def dig(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def has_storage_settings(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(
            (key in STORAGE_KEYS and item not in (None, False, {}, [])) or has_storage_settings(item)
            for key, item in value.items()
            if not (key == "persistence" and isinstance(item, Mapping) and item.get("enabled") is False)
            and not (key == "storage" and isinstance(item, Mapping) and item and set(item) <= OBJECT_STORE_CLIENTS)
        )
    if isinstance(value, list):
        return any(has_storage_settings(item) for item in value)
    return False


class Graph:
    """Lookups over one environment's recorded resources."""

    def __init__(self, resources: Sequence[Recorded]) -> None:
        self.resources = list(resources)
        self.text = json.dumps([props(r) for r in self.resources], sort_keys=True)

    def of_type(self, type_: str) -> Iterator[tuple[Recorded, dict[str, Any]]]:
        for resource in self.resources:
            if resource.type == type_:
                yield resource, props(resource)

    def volume_backups(self, namespace: str) -> list[str]:
        """Velero schedules that snapshot this namespace's volumes to somewhere off the cluster."""
        found = []
        offsite_snapshots = any(True for _ in self.of_type("kubernetes:velero.io/v1:VolumeSnapshotLocation"))
        longhorn_backups = [
            name
            for _, p in self.of_type("kubernetes:longhorn.io/v1beta2:RecurringJob")
            if dig(p, "spec", "task") in ("backup", "backup-force-create")
            for name in [dig(p, "metadata", "name")]
        ]
        for _, p in self.of_type("kubernetes:velero.io/v1:Schedule"):
            template = dig(p, "spec", "template") or {}
            included = template.get("includedNamespaces") or ["*"]
            covered = ("*" in included or namespace in included) and namespace not in (
                template.get("excludedNamespaces") or []
            )
            if covered and template.get("snapshotVolumes") is not False:
                found.append(f"velero schedule {dig(p, 'metadata', 'name')} ({dig(p, 'spec', 'schedule')})")
        if longhorn_backups:
            found += [f"longhorn recurring backup {name}" for name in longhorn_backups]
        elif not offsite_snapshots and self.has_longhorn:
            # Longhorn snapshots stay on the cluster's disks: only its own backups reach the object store.
            return []
        return found

    @property
    def has_longhorn(self) -> bool:
        return any(dig(p, "metadata", "name") == "longhorn" for _, p in self.of_type(APPLICATION))


APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
Classifier = Callable[[Recorded, dict[str, Any], Graph], Store]


def _bucket(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    store = Store(resource.ref, "bucket", "", resource.protect)
    if dig(p, "versioning", "enabled") is True:
        store.backups.append("object versioning")
    if int(dig(p, "retentionPolicy", "retentionPeriod") or 0) > 0:
        store.backups.append("retention policy (objects cannot be deleted early)")
    return store


def _sql(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    protected = resource.protect or p.get("deletionProtection") is True
    store = Store(resource.ref, "cloud sql", "", protected)
    backups = dig(p, "settings", "backupConfiguration") or {}
    if backups.get("enabled") and (backups.get("pointInTimeRecoveryEnabled") or backups.get("binaryLogEnabled")):
        store.backups.append(
            f"daily backups from {backups.get('startTime', 'default time')} with point-in-time recovery"
        )
    return store


def _namespace(p: dict[str, Any]) -> str:
    return str(dig(p, "metadata", "namespace") or "")


def _pvc(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    store = Store(resource.ref, "pvc", _namespace(p), resource.protect)
    store.backups += graph.volume_backups(store.namespace)
    return store


def _chart(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    """A chart whose values ask for persistent volumes: its volumes are backed up like PVCs."""
    namespace = str(dig(p, "spec", "destination", "namespace") or p.get("namespace") or "")
    store = Store(resource.ref, "chart volumes", namespace, True)  # charts' PVCs outlive the Application
    store.backups += graph.volume_backups(namespace)
    return store


def _cnpg(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    store = Store(resource.ref, "cloudnative-pg", _namespace(p), resource.protect)
    name = dig(p, "metadata", "name")
    wal_archive = dig(p, "spec", "backup", "barmanObjectStore") or dig(p, "spec", "plugins")
    for _, scheduled in graph.of_type("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"):
        if dig(scheduled, "spec", "cluster", "name") == name and wal_archive:
            store.backups.append(f"scheduled base backups ({dig(scheduled, 'spec', 'schedule')}) + WAL archive (PITR)")
    return store


def _elasticsearch(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    store = Store(resource.ref, "elasticsearch", _namespace(p), resource.protect)
    # ECK has no custom resource for snapshot lifecycle policies: they reach the cluster through its API, so
    # the policy appears in whatever declares it (a ConfigMap of API objects, a Job).
    if "_slm/policy/" in graph.text:
        store.backups.append("snapshot lifecycle policy to the log-snapshots bucket")
    return store


def _minio(resource: Recorded, p: dict[str, Any], graph: Graph) -> Store:
    store = Store(resource.ref, "minio tenant", _namespace(p), resource.protect)
    store.backups += graph.volume_backups(store.namespace)
    return store


CLASSIFIED: dict[str, Classifier] = {
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:sql/databaseInstance:DatabaseInstance": _sql,
    "kubernetes:core/v1:PersistentVolumeClaim": _pvc,
    "kubernetes:apps/v1:StatefulSet": _pvc,
    APPLICATION: _chart,
    "kubernetes:helm.sh/v3:Release": _chart,
    "kubernetes:postgresql.cnpg.io/v1:Cluster": _cnpg,
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch": _elasticsearch,
    "kubernetes:minio.min.io/v2:Tenant": _minio,
}
# Classified kinds that are stores only when they ask for storage (a chart without persistence is not).
STORES_ONLY_WITH_STORAGE = frozenset({APPLICATION, "kubernetes:helm.sh/v3:Release", "kubernetes:apps/v1:StatefulSet"})


def inventory(resources: Sequence[Recorded]) -> Inventory:
    graph = Graph(resources)
    result = Inventory()
    for resource in resources:
        p = props(resource)
        if resource.type in NOT_A_STORE:
            continue
        classify = CLASSIFIED.get(resource.type)
        if classify is not None:
            if resource.type not in STORES_ONLY_WITH_STORAGE or has_storage_settings(p):
                result.stores.append(classify(resource, p, graph))
            continue
        cloud = not resource.type.startswith(("kubernetes:", "pulumi:", "mlops:"))
        token = resource.type.rsplit(":", 1)[-1].lower()
        if (cloud and CLOUD_DATA_WORDS.search(token)) or (not cloud and has_storage_settings(p.get("spec"))):
            result.unclassified.append(resource.ref)
    return result


PROMETHEUS_APP = "kubernetes:argoproj.io/v1alpha1:Application::kube-prometheus-stack-application"
FEAST_REDIS = "kubernetes:apps/v1:StatefulSet::feast-redis-statefulset"


# --- the real environments ---------------------------------------------------------------------------------


def test_every_stateful_store_is_classified(rendered: dict[str, Rendered]) -> None:
    for env, result in rendered.items():
        assert inventory(result.run.resources).unclassified == [], f"{env}: classify these in tests/test_data_safety.py"


def test_every_stateful_store_is_backed_up_on_a_schedule(rendered: dict[str, Rendered]) -> None:
    for env, result in rendered.items():
        missing = [store.ref for store in inventory(result.run.resources).stores if not store.backups]
        assert missing == [], f"{env}: no scheduled backup for {missing}"


def test_every_production_store_is_protected(rendered: dict[str, Rendered]) -> None:
    stores = inventory(rendered["prod"].run.resources).stores
    assert stores, "prod declares no stateful store at all?"
    assert [store.ref for store in stores if not store.protected] == []


def test_the_inventory_sees_the_monitoring_volumes(rendered: dict[str, Rendered]) -> None:
    for env, result in rendered.items():
        stores = {store.ref: store for store in inventory(result.run.resources).stores}
        prometheus = stores[PROMETHEUS_APP]
        assert prometheus.namespace == "monitoring" and prometheus.backups, env


# --- the registry catches what it must ---------------------------------------------------------------------


def recorded(type_: str, inputs: dict[str, Any], protect: bool = False) -> Recorded:
    return Recorded(type_, "x", f"urn:pulumi:prod::p::{type_}::x", "", "", (), protect, False, True, inputs)


def test_an_unknown_kind_with_storage_fails_until_classified() -> None:
    redis = recorded("kubernetes:databases.example.com/v1:Redis", {"spec": {"storage": {"size": "10Gi"}}})
    filestore = recorded("gcp:filestore/instance:Instance", {"tier": "BASIC_HDD"})
    plain_cr = recorded("kubernetes:example.com/v1:Widget", {"spec": {"replicas": 2}})
    assert inventory([redis, filestore, plain_cr]).unclassified == [redis.ref, filestore.ref]


def test_stores_without_backup_or_protection_are_reported() -> None:
    bucket = recorded("gcp:storage/bucket:Bucket", {"versioning": {"enabled": False}})
    sql = recorded(
        "gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"backupConfiguration": {"enabled": True}}}
    )
    pvc = recorded("kubernetes:core/v1:PersistentVolumeClaim", {"metadata": {"name": "d", "namespace": "ml"}})
    cnpg = recorded("kubernetes:postgresql.cnpg.io/v1:Cluster", {"metadata": {"name": "db"}, "spec": {}})
    stores = inventory([bucket, sql, pvc, cnpg]).stores
    assert [(s.ref, s.backups, s.protected) for s in stores] == [(r.ref, [], False) for r in (bucket, sql, pvc, cnpg)]


def test_a_velero_schedule_that_skips_a_namespace_does_not_cover_it() -> None:
    pvc = recorded("kubernetes:core/v1:PersistentVolumeClaim", {"metadata": {"name": "d", "namespace": "ml"}})
    schedule = recorded(
        "kubernetes:velero.io/v1:Schedule",
        {"metadata": {"name": "s"}, "spec": {"schedule": "@daily", "template": {"includedNamespaces": ["other"]}}},
    )
    assert inventory([pvc, schedule]).stores[0].backups == []


def test_without_velero_the_chart_volumes_lose_their_backup(tmp_path: Path) -> None:
    stack = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    stack["config"]["mlops-platform:platform"]["components"]["velero"] = {"enabled": False}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(stack))
    stores = inventory(render_stack(path).run.resources).stores
    # Velero is the only off-cluster copy of volumes on GKE: Prometheus' and the Feast online store's.
    volumes = [s.ref for s in stores if s.kind in ("pvc", "chart volumes")]
    assert {PROMETHEUS_APP, FEAST_REDIS} <= set(volumes)
    assert [s.ref for s in stores if not s.backups] == volumes


@pytest.mark.parametrize("kind", sorted(NOT_A_STORE))
def test_every_exception_has_a_reason(kind: str) -> None:
    assert len(NOT_A_STORE[kind]) > 20


class _Database(PlatformComponent):
    """A stand-in for a component that declares a database as a custom resource."""

    spec = ComponentSpec(name="db-test", layer="platform", namespace="db-test", provides_crds=("postgresql.cnpg.io",))

    def build(self) -> None:
        self.custom_resource("postgresql.cnpg.io/v1", "Cluster", "db", {"instances": 1}, namespace="db-test")
        self.custom_resource("postgresql.cnpg.io/v1", "Database", "app", {"name": "app"}, namespace="db-test")


@pytest.mark.parametrize(("env", "protected"), [("prod", True), ("dev", False)])
def test_custom_resources_that_hold_data_are_protected_in_prod(
    monkeypatch: pytest.MonkeyPatch, env: str, protected: bool
) -> None:
    monkeypatch.setattr(program, "COMPONENTS", (*program.COMPONENTS, _Database))
    resources = render_stack(ENVIRONMENTS / f"Pulumi.{env}.yaml").run.resources
    flags = {r.type.rsplit(":", 1)[-1]: r.protect for r in resources if "cnpg" in r.type}
    assert flags == {"Cluster": protected, "Database": False}
