"""AIOps rules: per-service baselines that Prometheus learns from a week of history, alerts on deviations
from them (instead of fixed thresholds), and resource-optimisation signals.

The baseline is seasonal: traffic on a Tuesday at 10:00 is compared with last Tuesday at 10:00, shifted by
the week-over-week trend, and scaled by the week's standard deviation:

    z = (now - (same_time_last_week + (mean_this_week - mean_last_week))) / stddev_this_week

A service needs two weeks of history before a prediction exists, so new services never alert (no data, no
alert) while the baseline is learnt.

Per-service signals come from the mesh (Istio's standard metrics) because every service behind it has
them without instrumenting code; other sources can record the same `aiops:service_*` series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.observability.promrules import Group, Rule, alert, group, record

if TYPE_CHECKING:
    from infra.components.monitoring import Aiops

BY_SERVICE = "namespace, service"
# Istio labels the receiving service; rename to the labels every signal and dashboard uses.
MESH_REQUESTS = (
    'label_replace(label_replace(rate(istio_requests_total{reporter="destination"}[5m]), '
    '"namespace", "$1", "destination_service_namespace", "(.*)"), "service", "$1", "destination_service_name", "(.*)")'
)
MESH_LATENCY_BUCKETS = (
    'label_replace(label_replace(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m]), '
    '"namespace", "$1", "destination_service_namespace", "(.*)"), "service", "$1", "destination_service_name", "(.*)")'
)
MIN_REQUEST_RATE = 0.1
"""Requests per second below which a service is too quiet for its ratios to mean anything."""


@dataclass(frozen=True)
class Signal:
    name: str
    """Recorded series `aiops:service_<name>`."""
    what: str
    """Plain words for annotations."""
    source: str


MESH_ERRORS = MESH_REQUESTS.replace('reporter="destination"', 'reporter="destination",response_code=~"5.."')

SIGNALS = (
    Signal("requests:rate5m", "request rate", f"sum by ({BY_SERVICE}) ({MESH_REQUESTS})"),
    Signal(
        "errors:ratio5m",
        "error ratio (5xx share of requests)",
        f"""sum by ({BY_SERVICE}) ({MESH_ERRORS})
        / sum by ({BY_SERVICE}) ({MESH_REQUESTS})""",
    ),
    Signal(
        "latency_p95:5m",
        "95th percentile latency",
        f"histogram_quantile(0.95, sum by (le, {BY_SERVICE}) ({MESH_LATENCY_BUCKETS}))",
    ),
)


def series(signal: Signal, suffix: str = "") -> str:
    return f"aiops:service_{signal.name}{suffix}"


def signal_rules() -> Group:
    return group("aiops-signals", [record(series(s), s.source) for s in SIGNALS])


def baseline_rules() -> Group:
    """Week-long statistics are expensive, so they are evaluated every 5 minutes, not every scrape."""
    rules: list[Rule] = []
    for s in SIGNALS:
        now = series(s)
        rules += [
            record(series(s, ":avg_1w"), f"avg_over_time({now}[1w])"),
            record(series(s, ":stddev_1w"), f"stddev_over_time({now}[1w])"),
            record(
                series(s, ":prediction"),
                f"""avg_over_time({now}[30m] offset 1w)
                + {series(s, ":avg_1w")} - {series(s, ":avg_1w")} offset 1w""",
            ),
        ]
    return group("aiops-baselines", rules, interval="5m")


def anomaly_rules(settings: Aiops) -> Group:
    rules: list[Rule] = []
    for s in SIGNALS:
        zscore = series(s, ":zscore")
        rules.append(
            record(
                zscore,
                f"({series(s)} - {series(s, ':prediction')}) / clamp_min({series(s, ':stddev_1w')}, 1e-6)",
            )
        )
        rules.append(
            alert(
                f"ServiceAnomaly{_camel(s.name)}",
                f"""abs({zscore}) > {settings.z_score_threshold}
                and on ({BY_SERVICE}) {series(SIGNALS[0])} > {MIN_REQUEST_RATE}""",
                component="aiops",
                for_="15m",
                summary=f"Unusual {s.what} of {{{{ $labels.namespace }}}}/{{{{ $labels.service }}}}",
                description=(
                    f'The {s.what} is {{{{ $value | printf "%.1f" }}}} standard deviations from what this service '
                    "did at the same time last week (adjusted for this week's trend). The baseline is learnt from "
                    f"`{series(s)}` over one week, so the alert adapts to daily and weekly cycles instead of a fixed "
                    f"threshold; it fires only beyond {settings.z_score_threshold} sigma for 15 minutes and for "
                    f"services with more than {MIN_REQUEST_RATE} requests/s. A deploy, a traffic shift or an "
                    "upstream incident are the usual causes: compare with the ML serving dashboard."
                ),
            )
        )
    return group("aiops-anomalies", rules)


def optimisation_rules(settings: Aiops, gpus: bool) -> Group:
    ratio = settings.overprovision_ratio
    cpu_used = 'sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}[30m]))'
    memory_used = 'sum by (namespace, pod) (container_memory_working_set_bytes{container!=""})'
    return group(
        "aiops-resource-optimisation",
        [
            record(
                "aiops:pod_cpu_request_to_usage:ratio",
                f"""sum by (namespace, pod) (kube_pod_container_resource_requests{{resource="cpu"}})
                / clamp_min({cpu_used}, 0.001)""",
            ),
            record(
                "aiops:pod_memory_request_to_usage:ratio",
                f"""sum by (namespace, pod) (kube_pod_container_resource_requests{{resource="memory"}})
                / clamp_min({memory_used}, 1048576)""",
            ),
            record("aiops:pod_cpu_overprovisioned", f"aiops:pod_cpu_request_to_usage:ratio > {ratio}"),
            record("aiops:pod_memory_overprovisioned", f"aiops:pod_memory_request_to_usage:ratio > {ratio}"),
            record(
                "aiops:namespace_cpu_cores_reclaimable",
                f"""sum by (namespace) (
                  sum by (namespace, pod) (kube_pod_container_resource_requests{{resource="cpu"}}) - {cpu_used}
                ) > 0""",
            ),
            *(gpu_idle_rules() if gpus else []),
        ],
    )


def gpu_idle_rules() -> list[Rule]:
    """Idle GPU nodes, from the DCGM exporter's utilisation: only where one runs."""
    return [
        record("aiops:gpu_node_utilisation:avg1h", "avg by (Hostname) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[1h]))"),
        record("aiops:gpu_node_idle", "aiops:gpu_node_utilisation:avg1h < 5"),
        alert(
            "IdleGpuNode",
            "aiops:gpu_node_idle",
            component="aiops",
            for_="2h",
            severity="info",
            summary="GPU node {{ $labels.Hostname }} has been idle for 3 hours",
            description=(
                "Its GPUs averaged under 5% utilisation for the last hour, for two hours running. Something "
                "keeps the node from scaling down (a pod without GPU work, a minimum node count)."
            ),
        ),
    ]


def aiops_groups(settings: Aiops, *, mesh: bool, gpus: bool) -> list[Group]:
    """The AIOps rules the environment has signals for: the per-service baselines where the mesh reports its
    requests (Istio), idle GPU nodes where a GPU exporter runs."""
    if not settings.enabled:
        return []
    service_rules = [signal_rules(), baseline_rules(), anomaly_rules(settings)] if mesh else []
    return [*service_rules, optimisation_rules(settings, gpus)]


def _camel(name: str) -> str:
    words = name.replace(":", "_").replace("5m", "").split("_")
    return "".join(word.capitalize() for word in words if word)
