"""Grafana dashboards as code: a small builder and the platform's dashboards.

Each dashboard is rows of panels; the builder lays them out on Grafana's 24-column grid and turns them into
the dashboard JSON that the Grafana sidecar loads from ConfigMaps labelled `grafana_dashboard: "1"`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.observability.platform_alerts import GPU_EXPORTERS

GRID_WIDTH = 24
PANEL_HEIGHT = 8
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


Needs = tuple[tuple[str, ...], ...]
"""What a panel's series come from: every entry is met when one of its names is available (an installed component,
or `aiops` where the AIOps rules are recorded)."""
AIOPS = "aiops"
"""Available where the AIOps rules record their series (monitoring.aiops.enabled)."""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "stat", "table", "bargauge"] = "timeseries"
    unit: str = "short"
    description: str = ""
    needs: Needs = ()
    """Where its series come from (see Needs); a panel whose source is not installed is left out, since it could
    only ever show "No data"."""

    def shown(self, available: frozenset[str]) -> bool:
        return all(available.intersection(alternatives) for alternatives in self.needs)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    rows: tuple[Row, ...]
    variables: tuple[str, ...] = ()
    """Label names offered as template variables (values read from `up`)."""
    tags: tuple[str, ...] = field(default=("mlops-platform",))

    def for_platform(self, available: frozenset[str]) -> Dashboard:
        """The dashboard with only the panels whose series something in the environment produces (rows left empty
        go too)."""
        rows = tuple(
            Row(row.title, panels)
            for row in self.rows
            if (panels := tuple(panel for panel in row.panels if panel.shown(available)))
        )
        return Dashboard(self.uid, self.title, rows, self.variables, self.tags)

    def to_json(self) -> dict[str, Any]:
        panels: list[dict[str, Any]] = []
        y = 0
        next_id = 1
        for row in self.rows:
            panels.append(
                {
                    "id": next_id,
                    "type": "row",
                    "title": row.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                }
            )
            next_id += 1
            y += 1
            width = GRID_WIDTH // max(1, len(row.panels))
            for column, panel in enumerate(row.panels):
                panels.append(_panel_json(panel, next_id, {"h": PANEL_HEIGHT, "w": width, "x": column * width, "y": y}))
                next_id += 1
            y += PANEL_HEIGHT
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": list(self.tags),
            "editable": False,
            "schemaVersion": 39,
            "time": {"from": "now-24h", "to": "now"},
            "refresh": "1m",
            "templating": {"list": [_datasource_variable(), *(_label_variable(v) for v in self.variables)]},
            "panels": panels,
        }

    def render(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def _panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                **({"format": "table", "instant": True} if panel.kind == "table" else {}),
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "type": "datasource", "query": "prometheus", "hide": 0}


def _label_variable(label: str) -> dict[str, Any]:
    return {
        "name": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values(up, {label})", "refId": label},
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "refresh": 2,
    }


def _q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


def _per_namespace(metric: str, selector: str, legend: str = "{{namespace}}") -> Query:
    return _q(f'sum by (namespace) ({metric}{{{selector}namespace=~"$namespace"}})', legend)


def _quota_use(resource: str) -> Panel:
    used = _per_namespace("kube_resourcequota", f'resource="requests.{resource}",type="used",').expr
    hard = _per_namespace("kube_resourcequota", f'resource="requests.{resource}",type="hard",').expr
    return Panel(
        f"{resource}: requests used / hard quota",
        (_q(f"{used} / {hard}", "{{namespace}}"),),
        "bargauge",
        unit="percentunit",
    )


def _used_vs_requested(resource: str, used: str, unit: str) -> Panel:
    """`used` is an expression with `{selector}` where the container/namespace selector goes."""
    selector = '{container!="",namespace=~"$namespace"}'
    return Panel(
        f"{resource}: used vs requested",
        (
            _q(f"sum by (namespace) ({used.format(selector=selector)})", "{{namespace}} used"),
            _per_namespace(
                "kube_pod_container_resource_requests", f'resource="{resource}",', "{{namespace}} requested"
            ),
        ),
        unit=unit,
    )


def _by_service(title: str, series: str, unit: str = "short") -> Panel:
    """An AIOps series of the mesh's services (recorded only where Istio reports their requests)."""
    query = _q(f'{series}{{namespace=~"$namespace"}}', "{{namespace}}/{{service}}")
    return Panel(title, (query,), unit=unit, needs=(("istio",), (AIOPS,)))


NODE_PRESSURE = 'kube_node_status_condition{condition=~"MemoryPressure|DiskPressure|PIDPressure",status="true"}'
CPU_USED = 'sum(rate(container_cpu_usage_seconds_total{container!=""}[5m]))'
MEMORY_USED = 'sum(container_memory_working_set_bytes{container!=""})'
ES_HEALTH = (
    'max(elasticsearch_cluster_health_status{color="yellow"}) '
    '+ 2 * max(elasticsearch_cluster_health_status{color="red"})'
)

PLATFORM_OVERVIEW = Dashboard(
    uid="mlops-platform-overview",
    title="MLOps platform / Overview",
    rows=(
        Row(
            "Health",
            (
                Panel(
                    "Firing alerts by component",
                    (_q('sum by (component) (ALERTS{alertstate="firing"})', "{{component}}"),),
                    "bargauge",
                ),
                Panel("Scrape targets down", (_q("count by (namespace) (up == 0)", "{{namespace}}"),), "bargauge"),
                Panel(
                    "Argo CD applications not healthy",
                    (_q('count by (health_status) (argocd_app_info{health_status!="Healthy"})', "{{health_status}}"),),
                    "stat",
                    needs=(("argo-cd",),),  # not in the cluster where a hub Argo CD syncs it
                ),
            ),
        ),
        Row(
            "Nodes",
            (
                Panel("Nodes under pressure", (_q(f"sum by (condition) ({NODE_PRESSURE})", "{{condition}}"),), "stat"),
                Panel(
                    "CPU used / allocatable",
                    (_q(f'{CPU_USED} / sum(kube_node_status_allocatable{{resource="cpu"}})', "cluster"),),
                    unit="percentunit",
                ),
                Panel(
                    "Memory used / allocatable",
                    (_q(f'{MEMORY_USED} / sum(kube_node_status_allocatable{{resource="memory"}})', "cluster"),),
                    unit="percentunit",
                ),
            ),
        ),
        Row(
            "Platform services",
            (
                Panel(
                    "Certificates: days to expiry",
                    (
                        _q(
                            "(certmanager_certificate_expiration_timestamp_seconds - time()) / 86400",
                            "{{namespace}}/{{name}}",
                        ),
                    ),
                    "table",
                    unit="d",
                    needs=(("cert-manager",),),
                ),
                Panel(
                    "Elasticsearch health (0 green, 1 yellow, 2 red)",
                    (_q(ES_HEALTH, "logs"),),
                    "stat",
                    needs=(("logging",),),
                ),
                Panel(
                    "Longhorn volumes not healthy",
                    (_q("count by (robustness) (longhorn_volume_robustness > 1)", "{{robustness}}"),),
                    "stat",
                    needs=(("longhorn",),),
                ),
            ),
        ),
        Row(
            "Resource optimisation",
            (
                Panel(
                    "Over-provisioned pods (CPU)",
                    (_q("count by (namespace) (aiops:pod_cpu_overprovisioned)", "{{namespace}}"),),
                    "bargauge",
                    description="Pods whose CPU request exceeds their use by monitoring.aiops.overprovisionRatio.",
                    needs=((AIOPS,),),
                ),
                Panel(
                    "Reclaimable CPU cores",
                    (_q("topk(10, aiops:namespace_cpu_cores_reclaimable)", "{{namespace}}"),),
                    "bargauge",
                    needs=((AIOPS,),),
                ),
                Panel(
                    "Idle GPU nodes",
                    (_q("count(aiops:gpu_node_idle)", "idle"), _q("count(aiops:gpu_node_utilisation:avg1h)", "all")),
                    "stat",
                    needs=((AIOPS,), GPU_EXPORTERS),
                ),
            ),
        ),
    ),
)

TEAM_RESOURCES = Dashboard(
    uid="mlops-team-resources",
    title="MLOps platform / Team resources vs quota",
    variables=("namespace",),
    rows=(
        Row(
            "Quota (each Kubeflow profile sets a ResourceQuota in its team namespace)",
            (_quota_use("cpu"), _quota_use("memory"), _quota_use("nvidia.com/gpu")),
        ),
        Row(
            "Actual use vs requests",
            (
                _used_vs_requested("cpu", "rate(container_cpu_usage_seconds_total{selector}[5m])", "cores"),
                _used_vs_requested("memory", "container_memory_working_set_bytes{selector}", "bytes"),
                Panel(
                    "Requested / used CPU per pod",
                    (_q('aiops:pod_cpu_request_to_usage:ratio{namespace=~"$namespace"} > 1', "{{namespace}}/{{pod}}"),),
                    "table",
                    needs=((AIOPS,),),
                ),
            ),
        ),
    ),
)

ML_SERVING = Dashboard(
    uid="mlops-ml-serving",
    title="MLOps platform / ML serving",
    variables=("namespace",),
    rows=(
        Row(
            "Traffic (mesh)",
            (
                _by_service("Requests/s by service", "aiops:service_requests:rate5m", "reqps"),
                _by_service("Error ratio by service", "aiops:service_errors:ratio5m", "percentunit"),
                _by_service("p95 latency by service", "aiops:service_latency_p95:5m", "ms"),
            ),
        ),
        Row(
            "Anomaly scores (standard deviations from last week's baseline)",
            (
                _by_service("Request rate z-score", "aiops:service_requests:rate5m:zscore"),
                _by_service("Error ratio z-score", "aiops:service_errors:ratio5m:zscore"),
                _by_service("Latency z-score", "aiops:service_latency_p95:5m:zscore"),
            ),
        ),
        Row(
            "Model servers",
            (
                Panel(
                    "Knative revisions: requests/s",
                    (
                        _q(
                            "sum by (namespace, revision_name) "
                            '(rate(revision_app_request_count{namespace=~"$namespace"}[5m]))',
                            "{{namespace}}/{{revision_name}}",
                        ),
                    ),
                    unit="reqps",
                    needs=(("knative",),),
                ),
                Panel(
                    "Predict latency p95",
                    (
                        _q(
                            "histogram_quantile(0.95, sum by (le, namespace) "
                            '(rate(request_predict_seconds_bucket{namespace=~"$namespace"}[5m])))',
                            "{{namespace}}",
                        ),
                    ),
                    unit="s",
                    needs=(("kserve",),),
                ),
                Panel(
                    "GPU utilisation",
                    (_q("avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}}"),),
                    unit="percent",
                    needs=(GPU_EXPORTERS,),
                ),
            ),
        ),
    ),
)

DASHBOARDS = (PLATFORM_OVERVIEW, TEAM_RESOURCES, ML_SERVING)
