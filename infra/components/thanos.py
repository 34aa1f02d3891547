"""Thanos: metrics kept beyond Prometheus' local retention (`components.thanos`).

Prometheus' Thanos sidecar (kube-prometheus-stack, configured in monitoring.py) uploads every two-hour block to the
object store's `metrics` bucket; here, from the thanos-community chart: the store gateway serves the bucket's
blocks, the compactor compacts and downsamples them and deletes what is past `retention` (per resolution), and
Thanos query answers PromQL over the sidecars (recent data) and the store gateway (the rest), deduplicating the
replicas of a highly available Prometheus. Grafana's default data source is Thanos query (monitoring.py).

The bucket is reached like the platform's other buckets: on GKE as Workload Identities (the sidecar and the
compactor may write, the store gateway only reads), on-prem with the S3 keys of the namespace's
`object-store-credentials` Secret, which Thanos reads from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY) when its configuration names no key. The configuration itself holds no credential, so the
charts (or, for the chart here, the stack) write it into a Secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pulumi_kubernetes as k8s

from infra.cluster import ClusterFacts
from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.components.logging import OBJECT_STORE
from infra.config.formats import (
    ByteQuantity,
    PrometheusDuration,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.config_text import yaml_text
from infra.platform.labels import component_labels
from infra.platform.network import HTTPS_OUT, Allow, Peer
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart

if TYPE_CHECKING:
    from infra.config import Environment

NAMESPACE = "thanos"
METRICS_BUCKET = "metrics"
GRPC_PORT = 10901
HTTP_PORT = 10902
QUERY_PORT = 9090
QUERY_SERVICE = "thanos-query"
# kube-prometheus-stack's headless Service of the sidecars (prometheus.thanosService), in the monitoring namespace.
SIDECARS = "kube-prometheus-stack-thanos-discovery.monitoring.svc.cluster.local"
REPLICA_LABEL = "prometheus_replica"
"""The external label the Prometheus Operator gives each replica: query merges the replicas' series on it."""
OBJSTORE_SECRET = "thanos-objstore"
OBJSTORE_KEY = "objstore.yml"
SIDECAR_WORKLOAD = "thanos-sidecar"
STORE_WORKLOAD = "thanos-store"
COMPACTOR_WORKLOAD = "thanos-compactor"
# The Thanos image runs as this user; the data volumes are given its group.
THANOS_USER = 1001
TO_SIDECARS = Allow("prometheus-sidecars", "egress", (Peer(namespace="monitoring"),), (GRPC_PORT,))
# Every component of the chart, and the ones it turns on by default that the sidecar model does not use.
UNUSED = ("receive", "ruler", "bucket", "queryFrontend")


class ThanosRetention(Settings):
    raw: PrometheusDuration = "30d"
    """How long the compactor keeps samples at their scraped resolution, e.g. `30d`."""
    five_minutes: PrometheusDuration = "180d"
    """How long it keeps the 5-minute downsampled blocks (made from raw blocks older than 40 hours)."""
    one_hour: PrometheusDuration = "2y"
    """How long it keeps the 1-hour downsampled blocks (made from 5-minute blocks older than 10 days)."""


class ThanosSettings(Settings):
    enabled: bool = False
    """Keep metrics beyond Prometheus' own retention: Prometheus' Thanos sidecar uploads its blocks to the
    object store's `metrics` bucket, the store gateway serves them, the compactor compacts, downsamples and
    deletes them by `retention`, and Thanos query answers over both, as Grafana's default data source (query and
    the store gateway run two replicas where `highAvailability` is on). Needs `monitoring.enabled`."""
    retention: ThanosRetention = ThanosRetention()
    """How long the bucket keeps each resolution. Each must be at least as long as the finer one before it."""
    store_cache_size: ByteQuantity = "10Gi"
    """Volume of each store gateway replica for its index cache."""
    compactor_size: ByteQuantity = "20Gi"
    """Scratch volume of the compactor, which downloads the blocks it compacts."""


def objstore_config(facts: ClusterFacts) -> dict[str, Any]:
    """Thanos' object store configuration (thanos.io/tip/thanos/storage.md) for the `metrics` bucket: GCS with the
    pod's Google credentials (Workload Identity), or S3 with keys from the environment."""
    store = facts.object_store
    bucket = store.buckets[METRICS_BUCKET]
    if store.kind == "gcs":
        return {"type": "GCS", "config": {"bucket": bucket}}
    url = urlsplit(store.endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    return {
        "type": "S3",
        "config": {"bucket": bucket, "endpoint": f"{url.hostname}:{port}", "insecure": url.scheme != "https"},
    }


def credentials_env(facts: ClusterFacts) -> list[dict[str, Any]]:
    """`env` of a container that reads the object store's S3 keys (on-prem); none with Workload Identity. (Not
    `envFrom`: the chart keys its extraEnvFrom items by a `name`, which an EnvFromSource has not.)"""
    secret = facts.object_store.credentials_secret
    if secret is None:
        return []
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for key in (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)
    ]


class Thanos(PlatformComponent):
    spec = ComponentSpec(
        name="thanos",
        layer="observability",
        namespace=NAMESPACE,
        # Its chart renders a PrometheusRule; query reads the sidecars kube-prometheus-stack adds to Prometheus.
        depends_on=("kube-prometheus-stack",),
        network=(HTTPS_OUT, OBJECT_STORE, TO_SIDECARS),
    )
    sources = {
        # Long-term metrics: query, store gateway and compactor over the blocks Prometheus' sidecar uploads.
        "thanos": Chart("https://thanos-community.github.io/helm-charts", "thanos", "0.38.0", "thanos"),
    }
    settings = ComponentSettings("thanos", ThanosSettings, "Long-term metrics in the object store.")

    exported_families = {
        "thanos/thanos": ("thanos_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        # Long-term metrics: the sidecars in Prometheus' pods upload, the compactor and store gateway read the bucket.
        return [
            down("thanos", "thanos", "Thanos"),
            group(
                "thanos-long-term-metrics",
                [
                    alert(
                        "ThanosSidecarUploadsFailing",
                        "increase(thanos_shipper_upload_failures_total[1h]) > 0",
                        component="thanos",
                        summary="Prometheus {{ $labels.pod }} fails to upload its blocks to the metrics bucket",
                        description=(
                            "Blocks that are not uploaded exist only on the Prometheus volume and are gone after its "
                            "retention: check the sidecar's log (bucket permissions, the object store's reachability)."
                        ),
                    ),
                    alert(
                        "ThanosCompactorHalted",
                        "thanos_compact_halted == 1",
                        component="thanos",
                        for_="30m",
                        summary="The Thanos compactor has halted",
                        description=(
                            "It stops on overlapping or corrupt blocks: nothing is compacted, downsampled or deleted "
                            "past "
                            "its retention until the block named in its log is repaired or removed."
                        ),
                    ),
                    alert(
                        "ThanosBucketOperationsFailing",
                        "sum by (job) (rate(thanos_objstore_bucket_operation_failures_total[5m])) > 0",
                        component="thanos",
                        for_="15m",
                        summary="{{ $labels.job }} fails operations on the metrics bucket",
                        description=(
                            "Long-term queries miss data or the compactor falls behind: check credentials and quota."
                        ),
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.thanos.enabled and env.components.monitoring.enabled

    def build(self) -> None:
        self.namespace()
        self.objstore_secret()
        self.application(self.values())
        # Query, store gateway and compactor: one Service each, all with their metrics on the port `http`. Each
        # target's job is its Service's name, which the chart's rules (Thanos' mixin) match on.
        self.scrape("thanos", {"app.kubernetes.io/instance": "thanos"}, "http")

    def objstore_secret(self) -> None:
        """The object store configuration the chart's components mount (`global.objstore`). The chart renders it
        only together with its bucket web UI (templates/bucket/secret-objstore.yaml, chart 0.38.0), which the
        platform does not run, so the stack writes it."""
        k8s.core.v1.Secret(
            f"{NAMESPACE}-{OBJSTORE_SECRET}",
            metadata={
                "name": OBJSTORE_SECRET,
                "namespace": NAMESPACE,
                "labels": component_labels(self.spec.name, self.spec.layer),
                "annotations": {
                    "checkov.io/skip1": (
                        "CKV_MLOPS_4=it names the metrics bucket and its endpoint, no credential: Thanos "
                        "authenticates as its Workload Identity (GKE) or with the object store's S3 keys Secret"
                    )
                },
            },
            type="Opaque",
            string_data={OBJSTORE_KEY: yaml_text(objstore_config(self.ctx.facts))},
            opts=self.opts(depends_on=self._own_namespace()),
        )

    def values(self) -> dict[str, Any]:
        settings = self.env.components.thanos
        identity = self.ctx.facts.identity
        storage_class = self.ctx.facts.storage.default
        replicas = 2 if self.env.high_availability else 1
        pod_security = {
            "runAsNonRoot": True,
            "runAsUser": THANOS_USER,
            "runAsGroup": THANOS_USER,
            "fsGroup": THANOS_USER,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        values: dict[str, Any] = {
            "global": {
                "containerSecurityContext": restricted_container(),
                "podSecurityContext": pod_security,
                "storageClass": storage_class,
                "objstore": {"secretName": OBJSTORE_SECRET, "secretKey": OBJSTORE_KEY},
                # Nothing here calls the Kubernetes API (query finds the sidecars by DNS; the store gateway and the
                # compactor read the bucket): no token in the pods. The chart sets it on its ServiceAccounts only.
                "serviceAccount": {"automountServiceAccountToken": False},
                "extraEnv": credentials_env(self.ctx.facts),
                # The chart's PrometheusRule (Thanos' monitoring mixin) for the parts running here; the sidecar's
                # uploads are alerted on by the platform's rules (alert_groups).
                "thanosRules": {"enabled": self.ctx.monitoring_enabled},
            },
            "compactor": {
                "replicaCount": 1,
                "retention": {
                    "resolutionRaw": settings.retention.raw,
                    "resolution5m": settings.retention.five_minutes,
                    "resolution1h": settings.retention.one_hour,
                },
                "persistence": {"size": settings.compactor_size},
                "resources": resources("100m", "512Mi", "1", "2Gi"),
                "podSecurityContext": pod_security,
                "vpa": {"enabled": False},
                "serviceAccount": {"create": True, "annotations": identity.annotations(COMPACTOR_WORKLOAD)},
            },
            "storegateway": {
                "replicaCount": replicas,
                "persistence": {"size": settings.store_cache_size},
                "resources": resources("100m", "512Mi", "1", "2Gi"),
                "podSecurityContext": pod_security,
                "serviceAccount": {"create": True, "annotations": identity.annotations(STORE_WORKLOAD)},
            },
            "query": {
                "replicaCount": replicas,
                "replicaLabels": [REPLICA_LABEL],
                # The chart names its own store gateway; the sidecars are found through kube-prometheus-stack's
                # headless Service, one endpoint per Prometheus replica.
                "endpoints": {"autogen": {"enabled": True}, "static": [f"dnssrv+_grpc._tcp.{SIDECARS}"]},
                # Without it a query that names no max_source_resolution (Grafana names none) reads raw blocks
                # only, and nothing past `retention.raw` would ever be seen: with it, query picks the coarsest
                # resolution that the query's step allows (step / 5).
                "extraArgs": ["--log.level=info", "--query.auto-downsampling"],
                "resources": resources("100m", "256Mi", "1", "1Gi"),
                "podSecurityContext": pod_security,
            },
        }
        for part in UNUSED:
            values[part] = {"enabled": False}
        return values
