"""metrics-server: the resource metrics API (HPA, `kubectl top`), only where the cluster has none.

GKE runs it as a managed add-on and reverts changes to its objects, so a second copy would fight it; the
cluster layer says which clusters lack one (ClusterFacts.has_metrics_server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.cluster import ClusterFacts
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.resources import resources
from infra.platform.security import restricted_pod
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

KUBE_SYSTEM = "kube-system"
# The chart's `defaultArgs` (metrics-server 3.13.1) with one change: kubelets are reached by their InternalIP or
# host name, never an ExternalIP (on-prem nodes' external addresses need not route from the pod network). The
# flag is a list that accumulates when repeated, so it must replace the chart's own, not follow it in `args`.
DEFAULT_ARGS = (
    "--cert-dir=/tmp",
    "--kubelet-preferred-address-types=InternalIP,Hostname",
    "--kubelet-use-node-status-port",
    "--metric-resolution=15s",
)


class MetricsServer(PlatformComponent):
    spec = ComponentSpec(name="metrics-server", layer="platform", namespace=KUBE_SYSTEM)
    sources = {
        "metrics-server": Chart(
            "https://kubernetes-sigs.github.io/metrics-server/",
            "metrics-server",
            "3.13.1",
            "kube-system",
            images=(ImageValue("image.repository", "registry.k8s.io/metrics-server/metrics-server"),),
        ),
    }

    exported_families = {
        "kube-system/metrics-server": ("metrics_server_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            group(
                "metrics-server",
                [
                    # The API server's own view of the aggregated API (kube-state-metrics has no APIService metrics).
                    alert(
                        "MetricsServerUnavailable",
                        'max(aggregator_unavailable_apiservice{name="v1beta1.metrics.k8s.io"}) == 1'
                        ' or absent(up{job="metrics-server"} == 1)',
                        component="metrics-server",
                        severity="critical",
                        summary="The resource metrics API is unavailable",
                        description=(
                            "HorizontalPodAutoscalers and `kubectl top` stop working until metrics-server is back."
                        ),
                    )
                ],
            ),
        ]

    @classmethod
    def wanted(cls, env: Environment, facts: ClusterFacts) -> bool:
        return not facts.has_metrics_server

    def build(self) -> None:
        # kube-system belongs to the cluster: no namespace of our own, no default-deny there.
        self.application(self.values())
        # Its serving certificate is self-signed (the chart's default), hence no CA to verify against.
        self.scrape(
            "metrics-server",
            {"app.kubernetes.io/name": "metrics-server"},
            "https",
            endpoint={"scheme": "https", "tlsConfig": {"insecureSkipVerify": True}},
        )

    def values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        return {
            "replicas": 2 if ha else 1,
            "podDisruptionBudget": {"enabled": ha, "minAvailable": 1},
            "resources": resources("100m", "200Mi", "500m", "400Mi"),
            # The chart's container runs restricted already; its pod gets the same.
            "podSecurityContext": restricted_pod(),
            # Serves /metrics without a token (the chart adds --authorization-always-allow-paths=/metrics).
            "metrics": {"enabled": self.ctx.monitoring_enabled},
            "defaultArgs": list(DEFAULT_ARGS),
        }
