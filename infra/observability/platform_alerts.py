"""Builders for the alerting rule groups the platform's components share, and the GPU alerts.

Each component declares its own alerts (`alert_groups` in infra/components/<component>.py, built with these helpers
and infra/observability/promrules.py); the monitoring component emits one PrometheusRule `<component>-alerts` per
installed component that has some, so rules for components that are not installed never reach a cluster
(tests/test_observability.py fails for an installed component without alerts).
"""

from __future__ import annotations

from infra.observability.promrules import Group, alert, group


def down(component: str, namespace: str, what: str) -> Group:
    """Prometheus' own view of a namespace's scrape targets: one that stops answering."""
    return group(
        f"{component}-availability",
        [
            alert(
                f"{_camel(component)}TargetDown",
                f'up{{namespace="{namespace}"}} == 0',
                component=component,
                summary=f"A {what} metrics target is down",
                description=(
                    f"Prometheus cannot scrape {{{{ $labels.job }}}} ({{{{ $labels.instance }}}}) in {namespace} "
                    "for 10 minutes: the pod is down or its metrics port is blocked."
                ),
            )
        ],
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def deployments_unavailable(component: str, namespace: str, what: str) -> Group:
    """kube-state-metrics' view of a namespace's Deployments: replicas that stay unavailable."""
    return group(
        f"{component}-deployments",
        [
            alert(
                f"{_camel(component)}DeploymentUnavailable",
                f'kube_deployment_status_replicas_unavailable{{namespace="{namespace}"}} > 0',
                component=component,
                for_="15m",
                summary=f"{what}: {{{{ $labels.deployment }}}} has unavailable replicas",
                description=(
                    "Pods of the Deployment have not become ready for 15 minutes: read their events and logs "
                    "(image pull, crash loop, or a dependency such as the database unreachable)."
                ),
            )
        ],
    )


def reconcile_errors(component: str, namespace: str, what: str) -> Group:
    """controller-runtime's reconcile error counter, served by every operator built on it."""
    return group(
        f"{component}-reconcile",
        [
            alert(
                f"{_camel(component)}ReconcileErrors",
                f"sum by (controller) "
                f'(rate(controller_runtime_reconcile_errors_total{{namespace="{namespace}"}}[10m])) > 0',
                component=component,
                for_="15m",
                summary=f"{what} fails to reconcile {{{{ $labels.controller }}}} objects",
                description="Read the controller's log: its objects stay in their last state until it succeeds.",
            )
        ],
    )


def server_error_ratio(requests_total: str, namespace: str, status_label: str) -> str:
    """PromQL: the share of a namespace's requests (counter `requests_total`) answered with a 5xx status."""
    selector = f'namespace="{namespace}"'
    return (
        f'sum(rate({requests_total}{{{selector},{status_label}=~"5.."}}[5m]))'
        f" / sum(rate({requests_total}{{{selector}}}[5m]))"
    )


GPU_EXPORTERS = ("dcgm-exporter", "gpu-operator")
"""The components that export GPU metrics (DCGM_FI_*): where one is installed, the GPU alerts, AIOps GPU rules and
GPU dashboard panels are too."""


def gpu_alerts() -> list[Group]:
    """Where a GPU exporter (GPU_EXPORTERS) runs: DCGM_FI_DEV_GPU_UTIL comes from NVIDIA's DCGM exporter."""
    return [
        group(
            "gpu",
            [
                alert(
                    "GpuUnderutilised",
                    "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[2h])) < 10",
                    component="gpu",
                    for_="1h",
                    severity="info",
                    summary="GPU {{ $labels.gpu }} on {{ $labels.Hostname }} averaged under 10% for 2 hours",
                    description=(
                        "GPUs are the most expensive nodes: move the workload to CPU, share the GPU, or let the "
                        "pool scale down (see the resource-optimisation panels)."
                    ),
                ),
                alert(
                    "GpuSaturated",
                    "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[30m])) > 95",
                    component="gpu",
                    for_="30m",
                    summary="GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is saturated",
                    description="Requests queue behind it; add GPU replicas or raise the pool's maxNodes.",
                ),
            ],
        )
    ]
