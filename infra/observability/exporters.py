"""Which metric families each scrape target of the platform exports, so that every family the platform's alerts,
recording rules and dashboards read can be traced to a target of the same environment (tests/test_metric_families.py
fails on one that cannot, on a ServiceMonitor or PodMonitor missing here, and on an entry nothing needs).

Targets are named by their ServiceMonitor or PodMonitor, `<namespace>/<name>` (`*` matches any text, for the
monitors of team namespaces); a family written `prefix_*` stands for every family with that prefix. The lists
hold the families the platform reads and the exporter's own prefixes where they are documented; an exporter whose
families nothing reads may list none (it is still listed, so a new monitor is a decision).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import promql_parser

# The Prometheus Operator's Kubernetes components, kube-prometheus-stack 88.5.3's own ServiceMonitors.
KPS = "monitoring/kube-prometheus-stack"
EXPORTED: dict[str, tuple[str, ...]] = {
    f"{KPS}-alertmanager": ("alertmanager_*",),
    # The API server, including its aggregation layer's view of APIServices (metrics-server's).
    f"{KPS}-apiserver": ("apiserver_*", "aggregator_*", "etcd_*"),
    f"{KPS}-coredns": ("coredns_*",),
    f"{KPS}-kube-dns": ("kubedns_*", "skydns_*"),
    f"{KPS}-grafana": ("grafana_*",),
    f"{KPS}-kube-controller-manager": ("workqueue_*", "node_collector_*"),
    f"{KPS}-kube-etcd": ("etcd_*",),
    f"{KPS}-kube-proxy": ("kubeproxy_*",),
    f"{KPS}-kube-scheduler": ("scheduler_*",),
    f"{KPS}-kube-state-metrics": ("kube_*",),
    # The kubelet's own metrics, cAdvisor's (containers) and its probes.
    f"{KPS}-kubelet": ("kubelet_*", "container_*", "machine_*", "prober_*"),
    f"{KPS}-operator": ("prometheus_operator_*",),
    f"{KPS}-prometheus": ("prometheus_*",),
    f"{KPS}-prometheus-node-exporter": ("node_*",),
    # Prometheus' Thanos sidecar (components.thanos): its uploads of blocks to the object store.
    f"{KPS}-thanos-sidecar": ("thanos_*",),
    # The platform's components (their `self.scrape`, or a chart's own ServiceMonitor).
    "argocd/argo-cd": ("argocd_*",),
    "cert-manager/cert-manager": ("certmanager_*",),
    "cnpg-system/platform-db": ("cnpg_*",),
    "dcgm-exporter/dcgm-exporter": ("DCGM_FI_DEV_*", "DCGM_FI_PROF_*"),
    "elastic-system/eck-operator": ("controller_runtime_*", "elasticsearch_*"),
    "external-dns/external-dns": ("external_dns_*",),
    "external-secrets/external-secrets": ("externalsecret_*", "clusterexternalsecret_*", "controller_runtime_*"),
    "feast/feast-redis": ("redis_*",),
    # The operator's exporter runs DCGM's list with profiling fields (dcp-metrics-included.csv).
    "gpu-operator/gpu-operator-dcgm-exporter": ("DCGM_FI_DEV_*", "DCGM_FI_PROF_*"),
    "harbor/harbor": ("harbor_*",),
    "istio-system/istio-gateway": ("istio_*", "envoy_*"),
    "istio-system/istiod": ("pilot_*", "citadel_*", "galley_*"),
    "keda/keda-operator": ("keda_*", "controller_runtime_*"),
    # Knative's control planes (the Knative operator makes them); nothing of the platform reads their families.
    "knative-eventing/knative-eventing": (),
    "knative-serving/knative-serving": (),
    "kserve/kserve-controller": ("controller_runtime_*",),
    "kube-system/metrics-server": ("metrics_server_*",),
    # The Pipelines API server's metrics merged into its Istio agent's (kubeflow_pipelines.py).
    "kubeflow/ml-pipeline": ("istio_*", "envoy_*"),
    "kuberay/kuberay-operator": ("kuberay_*", "controller_runtime_*"),
    "logging/elasticsearch-exporter": ("elasticsearch_*",),
    "longhorn-system/longhorn-manager": ("longhorn_*",),
    "metallb-system/metallb-controller-monitor": ("metallb_*",),
    "metallb-system/metallb-speaker-monitor": ("metallb_*",),
    "minio/minio": ("minio_*",),
    "mlflow/mlflow": ("flask_*",),
    "nats/nats": ("gnatsd_*", "jetstream_*", "nats_*"),
    "oauth2-proxy/oauth2-proxy": ("oauth2_proxy_*",),
    "thanos/thanos": ("thanos_*",),
    "traefik/traefik": ("traefik_*",),
    "velero/velero": ("velero_*",),
    # Each team's Ray cluster (kuberay.py): Ray's own metrics from the head and the workers.
    "*/ray-cluster": ("ray_*",),
}

SYNTHETIC = ("up", "scrape_*", "ALERTS", "ALERTS_FOR_STATE")
"""What Prometheus records itself for every target and alerting rule."""

NOT_SCRAPED: dict[str, str] = {
    "revision_app_request_count": (
        "Knative's queue-proxy in each revision's pods is not scraped (no PodMonitor for user workloads), and Knative "
        "1.19+ (OpenTelemetry) exports kn_serving_invocation_duration_seconds_* instead: the KnativeRevision* alerts "
        "and the ML serving dashboard's revision panel need rewriting with a scrape target"
    ),
    "revision_app_request_latencies_bucket": "as revision_app_request_count",
    "request_predict_seconds_bucket": (
        "KServe's model servers (the predictor pods of InferenceServices in team and app namespaces) are not scraped"
    ),
}
"""Families the platform's rules or dashboards read that no target of the platform exports yet, with the reason;
known gaps, not exemptions to grow: each one is a rule that cannot fire."""


@dataclass(frozen=True)
class Reader:
    """An alerting or recording rule, or a dashboard panel, and the families it reads."""

    what: str
    """e.g. `PrometheusRule monitoring/knative-alerts: alert KnativeRevisionSlow`."""
    families: frozenset[str]


def families(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression selects."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return frozenset(found)


# Grafana replaces its variables before a query reaches Prometheus.
DASHBOARD_VARIABLES = {"$namespace": "ns", "${datasource}": "prometheus"}


def readers(objects: Iterable[Mapping[str, Any]]) -> Iterator[Reader]:
    """Every rule of the PrometheusRules and every panel query of the dashboard ConfigMaps among `objects`."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        where = f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
        if obj.get("kind") == "PrometheusRule":
            for group in (obj.get("spec") or {}).get("groups") or []:
                for rule in group.get("rules") or []:
                    name = f"alert {rule['alert']}" if "alert" in rule else f"record {rule.get('record')}"
                    yield Reader(f"{where}: {name}", families(str(rule["expr"])))
        elif obj.get("kind") == "ConfigMap" and "grafana_dashboard" in (meta.get("labels") or {}):
            for text in (obj.get("data") or {}).values():
                for panel in json.loads(text).get("panels") or []:
                    for target in panel.get("targets") or []:
                        expr = str(target["expr"])
                        for variable, value in DASHBOARD_VARIABLES.items():
                            expr = expr.replace(variable, value)
                        yield Reader(f"{where}: panel {panel['title']!r}", families(expr))


def monitor_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def table_entry(monitor: str) -> str | None:
    """The EXPORTED key that names `monitor` (`namespace/name`), if any."""
    return next((key for key in EXPORTED if fnmatchcase(monitor, key)), None)


def provides(patterns: Iterable[str], family: str) -> bool:
    return any(fnmatchcase(family, pattern) for pattern in patterns)


MONITOR_KINDS = ("ServiceMonitor", "PodMonitor")


@dataclass(frozen=True)
class Gaps:
    """What the platform's own rules and dashboards read that the environment's scrape targets do not export."""

    unknown_monitors: tuple[str, ...]
    """Monitors of the environment that EXPORTED does not name."""
    unexported: tuple[tuple[str, str], ...]
    """(reader, family) for every family read that no target of the environment exports, no rule of it records,
    Prometheus does not make, and NOT_SCRAPED does not list."""
    known: frozenset[str]
    """The NOT_SCRAPED families the environment reads."""


def gaps(objects: Iterable[Mapping[str, Any]], own: Iterable[Mapping[str, Any]]) -> Gaps:
    """`objects`: everything the environment applies (the stack's objects and its Applications'); `own`: the
    platform's own rules and dashboards among them, which are judged (charts' bundled rules are upstream's)."""
    monitors = sorted({monitor_key(obj) for obj in objects if obj.get("kind") in MONITOR_KINDS})
    exported: list[str] = [*SYNTHETIC]
    unknown = []
    for monitor in monitors:
        entry = table_entry(monitor)
        if entry is None:
            unknown.append(monitor)
        else:
            exported += EXPORTED[entry]
    own = list(own)
    recorded = {
        str(rule["record"])
        for obj in own
        if obj.get("kind") == "PrometheusRule"
        for group in (obj.get("spec") or {}).get("groups") or []
        for rule in group.get("rules") or []
        if "record" in rule
    }
    unexported: list[tuple[str, str]] = []
    known: set[str] = set()
    for reader in readers(own):
        for family in sorted(reader.families - recorded):
            if provides(exported, family):
                continue
            if family in NOT_SCRAPED:
                known.add(family)
            else:
                unexported.append((reader.what, family))
    return Gaps(tuple(unknown), tuple(unexported), frozenset(known))
