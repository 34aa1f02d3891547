"""Which metric families each scrape target of the platform exports, so that every family the platform's alerts,
recording rules and dashboards read can be traced to a target of the same environment (tests/test_metric_families.py
fails on one that cannot, on a ServiceMonitor or PodMonitor no component lists, and on an entry nothing needs).

Each component lists the families of its targets (`exported_families` in infra/components/<component>.py, described
in infra/platform/component.py); `exported_table` joins them into the table this module reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import promql_parser

if TYPE_CHECKING:
    from infra.platform.component import PlatformComponent

ExportTable = Mapping[str, tuple[str, ...]]
"""Families by monitor (`<namespace>/<name>`, `*` matching any text), as in PlatformComponent.exported_families."""


def exported_table(components: Iterable[type[PlatformComponent]]) -> dict[str, tuple[str, ...]]:
    """The `exported_families` of every component in one table; a monitor two components list is an error (which
    one's families would count is unclear)."""
    table: dict[str, tuple[str, ...]] = {}
    claimed: dict[str, str] = {}
    for component in components:
        for monitor, exported in component.exported_families.items():
            if monitor in claimed:
                raise ValueError(
                    f"monitor {monitor} is listed by both {claimed[monitor]} and {component.spec.name} "
                    "(exported_families)"
                )
            claimed[monitor] = component.spec.name
            table[monitor] = exported
    return table


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


def table_entry(monitor: str, table: ExportTable) -> str | None:
    """The key of `table` that names `monitor` (`namespace/name`), if any."""
    return next((key for key in table if fnmatchcase(monitor, key)), None)


def provides(patterns: Iterable[str], family: str) -> bool:
    return any(fnmatchcase(family, pattern) for pattern in patterns)


MONITOR_KINDS = ("ServiceMonitor", "PodMonitor")


@dataclass(frozen=True)
class Gaps:
    """What the platform's own rules and dashboards read that the environment's scrape targets do not export."""

    unknown_monitors: tuple[str, ...]
    """Monitors of the environment that the table does not name."""
    unexported: tuple[tuple[str, str], ...]
    """(reader, family) for every family read that no target of the environment exports, no rule of it records,
    Prometheus does not make, and NOT_SCRAPED does not list."""
    known: frozenset[str]
    """The NOT_SCRAPED families the environment reads."""


def gaps(objects: Iterable[Mapping[str, Any]], own: Iterable[Mapping[str, Any]], table: ExportTable) -> Gaps:
    """`objects`: everything the environment applies (the stack's objects and its Applications'); `own`: the
    platform's own rules and dashboards among them, which are judged (charts' bundled rules are upstream's);
    `table`: what each monitor exports (`exported_table`)."""
    monitors = sorted({monitor_key(obj) for obj in objects if obj.get("kind") in MONITOR_KINDS})
    exported: list[str] = [*SYNTHETIC]
    unknown = []
    for monitor in monitors:
        entry = table_entry(monitor, table)
        if entry is None:
            unknown.append(monitor)
        else:
            exported += table[entry]
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
