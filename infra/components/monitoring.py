"""kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana, node-exporter and
kube-state-metrics, sized from the environment."""

from __future__ import annotations

from typing import Any

from infra.config import Environment
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources

# Node exporters and kubelets listen on node addresses, which are neither pods nor namespaces.
SCRAPE_NODES = Allow("scrape-nodes", "egress", (ANYWHERE,), (9100, 10250))
SCRAPE_PODS = Allow("scrape-pods", "egress", (ANY_NAMESPACE,))
# The Grafana subchart is named after the release.
GRAFANA_SERVICE = "kube-prometheus-stack-grafana"


class Monitoring(PlatformComponent):
    spec = ComponentSpec(
        name="kube-prometheus-stack",
        layer="observability",
        namespace="monitoring",
        provides_crds=("monitoring.coreos.com",),
        pod_security="privileged",
        privileged_reason="node-exporter reads host metrics with hostNetwork, hostPID and hostPath mounts",
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, SCRAPE_NODES, SCRAPE_PODS),
        # The Prometheus Operator CRDs exceed the annotation size limit of client-side apply.
        server_side_apply=True,
    )

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.monitoring.enabled

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        if self.env.components.monitoring.grafana.enabled:
            self.expose("grafana", GRAFANA_SERVICE, 80)

    def values(self) -> dict[str, Any]:
        settings = self.env.components.monitoring
        # A managed control plane (GKE) exposes none of these to in-cluster scraping.
        control_plane_visible = self.ctx.facts.target != "gke"
        return {
            "crds": {"enabled": True},
            "prometheus": {
                "prometheusSpec": {
                    "replicas": settings.prometheus.replicas,
                    "retention": settings.prometheus.retention,
                    "resources": resources("500m", "2Gi", "2", "4Gi"),
                    # Pick up every ServiceMonitor/PodMonitor/rule, not only those labelled for this release.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "probeSelectorNilUsesHelmValues": False,
                    "storageSpec": {
                        "volumeClaimTemplate": {
                            "spec": {
                                "storageClassName": self.ctx.facts.storage.default,
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": settings.prometheus.storage_size}},
                            }
                        }
                    },
                }
            },
            "alertmanager": {
                "alertmanagerSpec": {
                    "replicas": settings.alertmanager.replicas,
                    "resources": resources("50m", "128Mi", "200m", "256Mi"),
                }
            },
            "grafana": {
                "enabled": settings.grafana.enabled,
                "resources": resources("100m", "256Mi", "500m", "512Mi"),
                "sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}},
                "grafana.ini": {"server": {"root_url": f"https://grafana.{self.env.domain}"}},
            },
            "prometheusOperator": {"resources": resources("100m", "128Mi", "500m", "256Mi")},
            "kube-state-metrics": {"resources": resources("50m", "128Mi", "200m", "256Mi")},
            "prometheus-node-exporter": {"resources": resources("50m", "64Mi", "200m", "128Mi")},
            "kubeControllerManager": {"enabled": control_plane_visible},
            "kubeScheduler": {"enabled": control_plane_visible},
            "kubeEtcd": {"enabled": control_plane_visible},
            "kubeProxy": {"enabled": control_plane_visible},
        }
