"""kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana, node-exporter and
kube-state-metrics, sized from the environment; plus the platform's alerting routes, alert and AIOps rules,
scrape targets of components installed before it (Argo CD) and the Grafana dashboards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import pulumi_kubernetes as k8s
from pydantic import Field

from infra.components.logging import OBJECT_STORE
from infra.components.metallb import METRICS_PORT as METALLB_METRICS_PORT
from infra.components.metallb import MetalLB
from infra.components.thanos import GRPC_PORT as THANOS_GRPC_PORT
from infra.components.thanos import NAMESPACE as THANOS_NAMESPACE
from infra.components.thanos import QUERY_PORT as THANOS_QUERY_PORT
from infra.components.thanos import QUERY_SERVICE as THANOS_QUERY_SERVICE
from infra.components.thanos import SIDECAR_WORKLOAD as THANOS_SIDECAR_WORKLOAD
from infra.components.thanos import Thanos, credentials_env, objstore_config
from infra.config.formats import (
    ByteQuantity,
    ComponentLabel,
    GrafanaGroup,
    HttpsUrl,
    KubernetesName,
    LabelKey,
    LabelValue,
    Namespace,
    PrometheusDuration,
    Scopes,
    SlackChannel,
)
from infra.config.settings.common import ComponentSettings, ExistingComponent, SecretSource, Settings
from infra.observability.aiops import aiops_groups
from infra.observability.alertmanager import alertmanager_config_spec
from infra.observability.dashboards import AIOPS, DASHBOARDS
from infra.observability.platform_alerts import GPU_EXPORTERS, gpu_alerts
from infra.observability.promrules import Group, alert, group
from infra.platform.argocd_app import ARGOCD_NAMESPACE
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.existing import prometheus_namespace
from infra.platform.labels import component_labels
from infra.platform.network import (
    ANY_NAMESPACE,
    ANYWHERE,
    HTTPS_OUT,
    KUBE_API,
    WEBHOOK_FROM_API_SERVER,
    Allow,
    from_namespaces,
)
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate, existing_secret_to_create
from infra.platform.security import RUNTIME_DEFAULT
from infra.sources import Chart, registry_values

if TYPE_CHECKING:
    from infra.config import Environment

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


class ExistingMonitoring(ExistingComponent):
    """version: the version of the kube-prometheus-stack chart whose Prometheus Operator CRDs the cluster has,
    e.g. `88.5.3`."""

    namespace: Namespace = "monitoring"
    """Namespace Prometheus runs in: every platform namespace admits scraping from it, and the platform's alert
    rules are placed there."""
    monitor_labels: dict[LabelKey, LabelValue] = {}
    """Labels its Prometheus selects ServiceMonitors and PodMonitors by (`serviceMonitorSelector` and
    `podMonitorSelector` matchLabels), e.g. `release: kube-prometheus-stack`; empty when it selects every one."""
    rule_labels: dict[LabelKey, LabelValue] = {}
    """Labels its Prometheus selects PrometheusRules by (`ruleSelector` matchLabels); empty when it selects every
    one."""


class GrafanaSso(Settings):
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth2 client id Grafana was registered with at the identity provider."""
    client_secret: SecretSource
    """The OAuth2 client secret, from an existing Secret or a Pulumi secret config value."""
    auth_url: HttpsUrl
    """Authorization endpoint of the identity provider."""
    token_url: HttpsUrl
    """Token endpoint of the identity provider."""
    api_url: HttpsUrl
    """Userinfo endpoint of the identity provider."""
    allowed_groups: tuple[GrafanaGroup, ...] = ()
    """Only members of these groups may sign in; empty allows every authenticated user."""
    admin_groups: tuple[GrafanaGroup, ...] = ()
    """Members of these groups become Grafana admins; everyone else is a viewer."""
    scopes: Scopes = "openid email profile groups"
    """OAuth2 scopes requested at sign-in."""


class Receiver(Settings):
    name: KubernetesName
    """Receiver name that routes refer to."""
    type: Literal["slack", "pagerduty", "webhook"]
    """Where alerts go: a Slack incoming webhook, a PagerDuty Events v2 integration, or a generic webhook."""
    secret: SecretSource
    """The Slack webhook URL, PagerDuty routing key or webhook URL: credentials, so never written here."""
    channel: SlackChannel | None = None
    """Slack channel, e.g. `#platform-alerts`; only for type `slack`."""


class AlertRoute(Settings):
    receiver: KubernetesName
    """Receiver (by name) that gets the alerts this route matches."""
    severities: tuple[Literal["critical", "warning", "info"], ...] = ()
    """Match alerts of these severities; empty matches any severity."""
    components: tuple[ComponentLabel, ...] = ()
    """Match alerts of these platform components (their `component` label); empty matches any component."""


class Alerting(Settings):
    default_receiver: KubernetesName | None = None
    """Receiver of every alert no route matches; unset keeps unmatched alerts in the Alertmanager UI only."""
    receivers: tuple[Receiver, ...] = ()
    """Notification targets."""
    routes: tuple[AlertRoute, ...] = ()
    """Routes, first match wins."""


class Aiops(Settings):
    enabled: bool = True
    """Record per-service baselines and alert on deviations from them (seasonal z-scores)."""
    z_score_threshold: Annotated[float, Field(ge=2, le=10)] = 3.0
    """How many standard deviations from the weekly baseline make an anomaly."""
    overprovision_ratio: Annotated[float, Field(ge=1.5, le=100)] = 3.0
    """A workload whose CPU or memory request exceeds its use by this factor is reported as over-provisioned."""


class Prometheus(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Prometheus replicas; highly available environments need at least 2."""
    retention: PrometheusDuration = "15d"
    """How long samples are kept, e.g. `15d`."""
    storage_size: ByteQuantity = "50Gi"
    """Persistent volume size of each Prometheus replica."""


class Alertmanager(Settings):
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Alertmanager replicas; highly available environments need at least 2."""


class Grafana(Settings):
    enabled: bool = True
    """Install Grafana with the platform dashboards."""
    sso: GrafanaSso | None = None
    """Single sign-on through the organisation's OpenID Connect / OAuth2 provider; unset keeps the local login."""


class MonitoringSettings(Settings):
    enabled: bool = True
    """Install kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)."""
    prometheus: Prometheus = Prometheus()
    """Prometheus sizing."""
    alertmanager: Alertmanager = Alertmanager()
    """Alertmanager sizing."""
    grafana: Grafana = Grafana()
    """Grafana settings."""
    alerting: Alerting = Alerting()
    """Where Alertmanager sends alerts."""
    aiops: Aiops = Aiops()
    """Baseline-learning anomaly detection and resource-optimisation signals."""
    existing: ExistingMonitoring | None = None
    """The cluster already runs the Prometheus Operator and a Prometheus: the stack installs no kube-prometheus-stack
    (so no Grafana, dashboards or Alertmanager routes of its own) and labels its ServiceMonitors, PodMonitors and
    alert rules for that Prometheus. `prometheus`, `alertmanager`, `grafana` and `alerting` are then refused."""


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
    sources = {
        "kube-prometheus-stack": Chart(
            "https://prometheus-community.github.io/helm-charts",
            "kube-prometheus-stack",
            "88.5.3",
            "monitoring",
            images=(
                *registry_values(
                    "alertmanager.alertmanagerSpec.image.registry",
                    "prometheus.prometheusSpec.image.registry",
                    "prometheusOperator.image.registry",
                    "prometheusOperator.prometheusConfigReloader.image.registry",
                    "prometheusOperator.thanosImage.registry",
                    "grafana.sidecar.image.registry",
                    "prometheus-node-exporter.image.registry",
                    upstream="quay.io",
                ),
                *registry_values("prometheusOperator.admissionWebhooks.patch.image.registry", upstream="ghcr.io"),
                *registry_values("grafana.image.registry", upstream="docker.io"),
                *registry_values("kube-state-metrics.image.registry", upstream="registry.k8s.io"),
            ),
        ),
    }
    settings = ComponentSettings("monitoring", MonitoringSettings, "Metrics and alerting.")

    exported_families = {
        # The Prometheus Operator's Kubernetes components, kube-prometheus-stack's own ServiceMonitors.
        "monitoring/kube-prometheus-stack-alertmanager": ("alertmanager_*",),
        # The API server, including its aggregation layer's view of APIServices (metrics-server's).
        "monitoring/kube-prometheus-stack-apiserver": ("apiserver_*", "aggregator_*", "etcd_*"),
        "monitoring/kube-prometheus-stack-coredns": ("coredns_*",),
        "monitoring/kube-prometheus-stack-kube-dns": ("kubedns_*", "skydns_*"),
        "monitoring/kube-prometheus-stack-grafana": ("grafana_*",),
        "monitoring/kube-prometheus-stack-kube-controller-manager": ("workqueue_*", "node_collector_*"),
        "monitoring/kube-prometheus-stack-kube-etcd": ("etcd_*",),
        "monitoring/kube-prometheus-stack-kube-proxy": ("kubeproxy_*",),
        "monitoring/kube-prometheus-stack-kube-scheduler": ("scheduler_*",),
        "monitoring/kube-prometheus-stack-kube-state-metrics": ("kube_*",),
        # The kubelet's own metrics, cAdvisor's (containers) and its probes.
        "monitoring/kube-prometheus-stack-kubelet": ("kubelet_*", "container_*", "machine_*", "prober_*"),
        "monitoring/kube-prometheus-stack-operator": ("prometheus_operator_*",),
        "monitoring/kube-prometheus-stack-prometheus": ("prometheus_*",),
        "monitoring/kube-prometheus-stack-prometheus-node-exporter": ("node_*",),
        # Prometheus' Thanos sidecar (components.thanos): its uploads of blocks to the object store.
        "monitoring/kube-prometheus-stack-thanos-sidecar": ("thanos_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        node_conditions = "MemoryPressure|DiskPressure|PIDPressure"
        return [
            group(
                "monitoring-stack",
                [
                    alert(
                        "PrometheusRuleFailures",
                        "increase(prometheus_rule_evaluation_failures_total[10m]) > 0",
                        component="kube-prometheus-stack",
                        summary="Prometheus fails to evaluate rules in {{ $labels.rule_group }}",
                        description="Alerts and recorded series of this group are missing until the rule is fixed.",
                    ),
                    alert(
                        "AlertmanagerNotificationsFailing",
                        "rate(alertmanager_notifications_failed_total[10m]) > 0",
                        component="kube-prometheus-stack",
                        severity="critical",
                        summary="Alertmanager cannot deliver to {{ $labels.integration }}",
                        description=(
                            "Check the receiver's Secret (URL or key) and egress from the monitoring namespace."
                        ),
                    ),
                ],
            ),
            group(
                "nodes",
                [
                    alert(
                        "NodeUnderPressure",
                        f'kube_node_status_condition{{condition=~"{node_conditions}",status="true"}} == 1',
                        component="kube-prometheus-stack",
                        summary="Node {{ $labels.node }} reports {{ $labels.condition }}",
                        description=(
                            "The kubelet evicts pods from a node under pressure. Add capacity, or find the pod that "
                            "uses the resource (see the resource-optimisation dashboard)."
                        ),
                    ),
                    alert(
                        "NodeNotReady",
                        'kube_node_status_condition{condition="Ready",status="true"} == 0',
                        component="kube-prometheus-stack",
                        for_="15m",
                        severity="critical",
                        summary="Node {{ $labels.node }} is not ready",
                        description="Its pods are being rescheduled; check the kubelet and the machine.",
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.monitoring.enabled

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        monitoring, namespace = env.components.monitoring, cls.spec.namespace
        if cls.existing(env) is not None:  # the cluster's own Prometheus: no Alertmanager or Grafana of ours
            return ()
        secrets: list[SecretToCreate] = []
        for receiver in monitoring.alerting.receivers:
            purpose = f"the {receiver.type} receiver {receiver.name!r} of Alertmanager"
            secrets += existing_secret_to_create(receiver.secret, namespace, purpose)
        if monitoring.grafana.enabled:
            secrets.append(
                SecretToCreate(
                    namespace,
                    GRAFANA_ADMIN_SECRET,
                    ("admin-user", "admin-password"),
                    "Grafana's admin login (the chart would otherwise draw one at random on every render)",
                )
            )
            if monitoring.grafana.sso is not None:
                secrets += existing_secret_to_create(
                    monitoring.grafana.sso.client_secret, namespace, "Grafana's OAuth client secret"
                )
        return tuple(secrets)

    @property
    def rules_namespace(self) -> str:
        """Where the platform's own alert rules go: next to the Prometheus that evaluates them."""
        return prometheus_namespace(self.env)

    def build(self) -> None:
        if self.existing(self.env) is not None:
            self.build_for_existing()
            return
        self.namespace([scrape_nodes(self.node_ports()), *self.thanos_allowances()])
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
    def thanos(self) -> bool:
        """Prometheus runs the Thanos sidecar, which uploads its blocks to the `metrics` bucket (thanos.py)."""
        return Thanos.enabled(self.env)

    def thanos_allowances(self) -> list[Allow]:
        """Thanos query reaches the sidecars; the sidecars reach the object store (an S3 endpoint may be outside
        the cluster on any of its ports; GCS is HTTPS_OUT)."""
        if not self.thanos:
            return []
        return [from_namespaces("thanos-query", (THANOS_NAMESPACE,), (THANOS_GRPC_PORT,)), OBJECT_STORE]

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
        """Alerts of every installed component (Argo CD included); GPU alerts where a GPU exporter runs (the GPU
        metrics exist nowhere else); the AIOps rules the environment has signals for."""
        installed = set(self.ctx.namespaces)
        for name, component in sorted(self.ctx.components.items()):
            self.alerts(f"{name}-alerts", component.alert_groups(self.env), self.rules_namespace)
        gpus = bool(installed & set(GPU_EXPORTERS))
        if gpus:
            self.alerts("gpu-alerts", gpu_alerts(), self.rules_namespace)
        self.alerts(
            "aiops",
            aiops_groups(self.env.components.monitoring.aiops, mesh="istio" in installed, gpus=gpus),
            self.rules_namespace,
        )

    def available(self) -> frozenset[str]:
        """What the dashboards' panels may read from: the installed components, and the AIOps series."""
        aiops = (AIOPS,) if self.env.components.monitoring.aiops.enabled else ()
        # An existing installation (components.*.existing) is the cluster's, scraped (if at all) by its owners.
        ours = (name for name, component in self.ctx.components.items() if component.existing(self.env) is None)
        return frozenset((*ours, *aiops))

    def dashboards(self) -> None:
        if not self.env.components.monitoring.grafana.enabled:
            return
        available = self.available()
        for dashboard in (dashboard.for_platform(available) for dashboard in DASHBOARDS):
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
        values: dict[str, Any] = {
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
                # The Jobs that make and install the admission webhook's certificate.
                "admissionWebhooks": {"patch": {"resources": resources("10m", "32Mi", "100m", "64Mi")}},
            },
            "kube-state-metrics": {
                "resources": resources("50m", "128Mi", "200m", "256Mi"),
                "prometheus": {"monitor": {"enabled": True}},
            },
            "prometheus-node-exporter": {
                "resources": resources("50m", "64Mi", "200m", "128Mi"),
                # The chart's pod context (user 65534, non-root) with the runtime's seccomp profile, and its container
                # context without privilege escalation (it reads the host's /proc and /sys, mounted read-only).
                "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT)},
                "containerSecurityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
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
        if self.thanos:
            self.add_thanos_sidecar(values["prometheus"])
        return values

    def add_thanos_sidecar(self, prometheus: dict[str, Any]) -> None:
        """The sidecar in every Prometheus pod, uploading to the `metrics` bucket with the pod's own credentials
        (the Prometheus service account's Workload Identity on GKE, the namespace's S3 keys on-prem); the headless
        Service thanos query finds the sidecars by, and the sidecars' metrics (their uploads) scraped."""
        facts = self.ctx.facts
        spec = prometheus["prometheusSpec"]
        spec["thanos"] = {"objectStorageConfig": {"secret": objstore_config(facts)}}
        env = credentials_env(facts)
        if env:
            # Merged by the Prometheus Operator into the sidecar container it adds (by its name).
            spec["containers"] = [{"name": "thanos-sidecar", "env": env}]
        prometheus["serviceAccount"] = {"annotations": facts.identity.annotations(THANOS_SIDECAR_WORKLOAD)}
        prometheus["thanosService"] = {"enabled": True}
        prometheus["thanosServiceMonitor"] = {"enabled": True}

    def grafana_values(self) -> dict[str, Any]:
        grafana = self.env.components.monitoring.grafana
        values: dict[str, Any] = {
            "enabled": grafana.enabled,
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            "serviceMonitor": {"enabled": True},
            "sidecar": {
                "resources": resources("20m", "64Mi", "100m", "128Mi"),
                "dashboards": {
                    "enabled": True,
                    "searchNamespace": "ALL",
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                },
            },
            "grafana.ini": {"server": {"root_url": f"https://grafana.{self.env.domain}"}},
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        }
        if self.thanos:
            # Dashboards and Explore query Thanos (recent samples from the sidecars, older ones from the bucket);
            # Prometheus stays a data source of its own.
            values["sidecar"]["datasources"] = {"isDefaultDatasource": False}
            values["additionalDataSources"] = [
                {
                    "name": "Thanos",
                    "type": "prometheus",
                    "uid": "thanos",
                    "access": "proxy",
                    "url": f"http://{THANOS_QUERY_SERVICE}.{THANOS_NAMESPACE}.svc:{THANOS_QUERY_PORT}",
                    "isDefault": True,
                    "editable": False,
                    "jsonData": {"httpMethod": "POST"},
                }
            ]
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
