"""kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana, node-exporter and
kube-state-metrics, sized from the environment; plus the platform's alerting routes, alert and AIOps rules,
scrape targets of components installed before it (Argo CD) and the Grafana dashboards."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from infra.components.metallb import METRICS_PORT as METALLB_METRICS_PORT
from infra.components.metallb import MetalLB
from infra.config import Environment
from infra.config.model import GrafanaSso
from infra.observability.aiops import aiops_groups
from infra.observability.alertmanager import alertmanager_config_spec
from infra.observability.dashboards import DASHBOARDS
from infra.observability.platform_alerts import COMPONENT_ALERTS, gpu_alerts
from infra.platform.argocd_app import ARGOCD_NAMESPACE
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.existing import prometheus_namespace
from infra.platform.labels import component_labels
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources

# Node exporters, kubelets and every other target on the nodes' network listen on node addresses, which are
# neither pods nor namespaces.
NODE_EXPORTER_PORT = 9100
KUBELET_PORT = 10250
# The control plane's metrics ports, as kube-prometheus-stack's Services for them target (its defaults):
# kube-controller-manager, kube-scheduler, etcd, kube-proxy. Scraped where the cluster shows its control plane.
CONTROL_PLANE_PORTS = (10257, 10259, 2381, 10249)
SCRAPE_PODS = Allow("scrape-pods", "egress", (ANY_NAMESPACE,))
ALERTMANAGER_CONFIG = "platform"
DASHBOARD_LABEL = "grafana_dashboard"
GRAFANA_OAUTH_SECRET = "grafana-oauth-client"
# The Grafana subchart is named after the release.
GRAFANA_SERVICE = "kube-prometheus-stack-grafana"
GRAFANA_ADMIN_SECRET = "grafana-admin"
"""Secret (keys admin-user, admin-password) the adopter provides out of git: without it the chart generates a new
admin password at every render, so Argo CD would see drift on every refresh and reset it on every sync."""


class Monitoring(PlatformComponent):
    spec = ComponentSpec(
        name="kube-prometheus-stack",
        layer="observability",
        namespace="monitoring",
        provides_crds=("monitoring.coreos.com",),
        pod_security="privileged",
        privileged_reason="node-exporter reads host metrics with hostNetwork, hostPID and hostPath mounts",
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, SCRAPE_PODS),
        # The Prometheus Operator CRDs exceed the annotation size limit of client-side apply.
        server_side_apply=True,
    )

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.monitoring.enabled

    @property
    def rules_namespace(self) -> str:
        """Where the platform's own alert rules go: next to the Prometheus that evaluates them."""
        return prometheus_namespace(self.env)

    def build(self) -> None:
        if self.existing(self.env) is not None:
            self.build_for_existing()
            return
        self.namespace([scrape_nodes(self.node_ports())])
        self.application(self.values())
        self.alerting()
        self.rules()
        self.dashboards()
        if self.env.components.monitoring.grafana.enabled:
            self.expose("grafana", GRAFANA_SERVICE, 80)
        self.scrape_argocd()

    def build_for_existing(self) -> None:
        """With the cluster's own Prometheus: no chart, namespace, Grafana or Alertmanager routes of the platform's
        (those are the Prometheus owner's); the platform's alert rules and Argo CD's ServiceMonitor, labelled for
        that Prometheus to select them."""
        self.rules()
        self.scrape_argocd()

    def scrape_argocd(self) -> None:
        """Argo CD is installed before any CRD exists, so its ServiceMonitor is declared here; its metrics Services
        (controller, server, repo server, ApplicationSet) share the part-of label and port name. None where a hub's
        Argo CD syncs the cluster: it runs, and is monitored, elsewhere."""
        if not self.ctx.delivery.hub:
            self.scrape("argo-cd", {"app.kubernetes.io/part-of": "argocd"}, "http-metrics", namespace=ARGOCD_NAMESPACE)

    @property
    def control_plane_visible(self) -> bool:
        """A managed control plane (GKE) exposes none of its components to in-cluster scraping."""
        return self.ctx.facts.target != "gke"

    def node_ports(self) -> tuple[int, ...]:
        """Ports Prometheus scrapes on the nodes' addresses: node exporters, kubelets, the control plane where it
        is visible, and MetalLB's speakers (host network) where MetalLB runs."""
        ports = [NODE_EXPORTER_PORT, KUBELET_PORT]
        if self.control_plane_visible:
            ports += CONTROL_PLANE_PORTS
        if MetalLB.enabled(self.env):
            ports.append(METALLB_METRICS_PORT)
        return tuple(ports)

    def alerting(self) -> None:
        alerting = self.env.components.monitoring.alerting
        spec = alertmanager_config_spec(
            alerting, lambda receiver: self.secret_ref(receiver.secret, f"alertmanager-{receiver.name}")
        )
        self.custom_resource(
            "monitoring.coreos.com/v1alpha1", "AlertmanagerConfig", ALERTMANAGER_CONFIG, spec, self.spec.namespace
        )

    def rules(self) -> None:
        """Alerts of every installed component (Argo CD included), GPU alerts where GPU pools exist, AIOps."""
        for component in sorted(set(self.ctx.namespaces) & set(COMPONENT_ALERTS)):
            self.alerts(f"{component}-alerts", COMPONENT_ALERTS[component], self.rules_namespace)
        if self.has_gpu_nodes():
            self.alerts("gpu-alerts", gpu_alerts(), self.rules_namespace)
        self.alerts("aiops", aiops_groups(self.env.components.monitoring.aiops), self.rules_namespace)

    def has_gpu_nodes(self) -> bool:
        pools = self.env.gke.node_pools if self.env.gke is not None else ()
        return any(pool.gpu is not None for pool in pools)

    def dashboards(self) -> None:
        if not self.env.components.monitoring.grafana.enabled:
            return
        for dashboard in DASHBOARDS:
            labels = {**component_labels(self.spec.name, self.spec.layer), DASHBOARD_LABEL: "1"}
            k8s.core.v1.ConfigMap(
                f"dashboard-{dashboard.uid}",
                metadata={"name": f"dashboard-{dashboard.uid}", "namespace": self.spec.namespace, "labels": labels},
                data={f"{dashboard.uid}.json": dashboard.render()},
                opts=self.opts(depends_on=self._own_namespace()),
            )

    def values(self) -> dict[str, Any]:
        settings = self.env.components.monitoring
        control_plane_visible = self.control_plane_visible
        return {
            "crds": {"enabled": True},
            "prometheus": {
                "serviceMonitor": {"selfMonitor": True},
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
                },
            },
            "alertmanager": {
                "serviceMonitor": {"selfMonitor": True},
                "alertmanagerSpec": {
                    "replicas": settings.alertmanager.replicas,
                    "resources": resources("50m", "128Mi", "200m", "256Mi"),
                    # Routes and receivers come from the AlertmanagerConfig declared in alerting().
                    "alertmanagerConfiguration": {"name": ALERTMANAGER_CONFIG},
                },
            },
            "grafana": self.grafana_values(),
            "prometheusOperator": {
                "resources": resources("100m", "128Mi", "500m", "256Mi"),
                "serviceMonitor": {"selfMonitor": True},
            },
            "kube-state-metrics": {
                "resources": resources("50m", "128Mi", "200m", "256Mi"),
                "prometheus": {"monitor": {"enabled": True}},
            },
            "prometheus-node-exporter": {
                "resources": resources("50m", "64Mi", "200m", "128Mi"),
                "prometheus": {"monitor": {"enabled": True}},
            },
            "kubeControllerManager": {"enabled": control_plane_visible},
            "kubeScheduler": {"enabled": control_plane_visible},
            "kubeEtcd": {"enabled": control_plane_visible},
            "kubeProxy": {"enabled": control_plane_visible},
            # GKE's cluster DNS is kube-dns (metrics on 10054 and 10055), not CoreDNS (9153).
            "coreDns": {"enabled": self.ctx.facts.target != "gke"},
            "kubeDns": {"enabled": self.ctx.facts.target == "gke"},
        }

    def grafana_values(self) -> dict[str, Any]:
        grafana = self.env.components.monitoring.grafana
        values: dict[str, Any] = {
            "enabled": grafana.enabled,
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            "serviceMonitor": {"enabled": True},
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "searchNamespace": "ALL",
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                }
            },
            "grafana.ini": {"server": {"root_url": f"https://grafana.{self.env.domain}"}},
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        }
        if grafana.enabled and grafana.sso is not None:
            secret = self.secret_ref(grafana.sso.client_secret, GRAFANA_OAUTH_SECRET)
            values["grafana.ini"]["auth.generic_oauth"] = generic_oauth(grafana.sso)
            # Grafana reads GF_<SECTION>_<KEY> over grafana.ini, so the secret stays in its Secret.
            values["envValueFrom"] = {"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": {"secretKeyRef": secret}}
        return values


def scrape_nodes(ports: tuple[int, ...]) -> Allow:
    return Allow("scrape-nodes", "egress", (ANYWHERE,), ports, cluster_entities=("host", "remote-node"))


def generic_oauth(sso: GrafanaSso) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "enabled": True,
        "name": "SSO",
        "client_id": sso.client_id,
        "scopes": sso.scopes,
        "auth_url": sso.auth_url,
        "token_url": sso.token_url,
        "api_url": sso.api_url,
        "use_pkce": True,
        "allow_sign_up": True,
        "groups_attribute_path": "groups",
        "role_attribute_path": _role_path(sso.admin_groups),
    }
    if sso.allowed_groups:
        settings["allowed_groups"] = " ".join(sso.allowed_groups)
    return settings


def _role_path(admin_groups: tuple[str, ...]) -> str:
    """JMESPath Grafana evaluates on the userinfo: admins by group, everyone else a viewer."""
    checks = " || ".join(f"contains(groups[*], '{group}')" for group in admin_groups)
    return f"({checks}) && 'Admin' || 'Viewer'" if checks else "'Viewer'"
