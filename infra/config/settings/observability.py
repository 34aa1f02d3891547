"""Observability: metrics and dashboards (kube-prometheus-stack), alert routing, anomaly detection, logs (ELK) and
long-term metrics (Thanos)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    ByteQuantity,
    ComponentLabel,
    CpuQuantity,
    ElasticAge,
    ElasticCron,
    ElasticVersion,
    GrafanaGroup,
    HttpsUrl,
    JvmHeap,
    KubernetesName,
    LabelKey,
    LabelValue,
    Namespace,
    PrometheusDuration,
    Scopes,
    SlackChannel,
)
from infra.config.settings.common import ExistingComponent, SecretSource, Settings


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


class Elasticsearch(Settings):
    count: Annotated[int, Field(ge=1, le=50)] = 1
    """Elasticsearch nodes (all roles). Highly available environments need at least 3 for a master quorum."""
    heap: JvmHeap = "1g"
    """JVM heap of each node, e.g. `1g` or `512m`; keep it at most half of `memory`."""
    memory: ByteQuantity = "2Gi"
    """Memory request and limit of each node."""
    cpu: CpuQuantity = "1"
    """CPU request of each node."""
    storage_size: ByteQuantity = "50Gi"
    """Data volume size of each node."""


class LogSnapshots(Settings):
    schedule: ElasticCron = "0 30 1 * * ?"
    """When the snapshot lifecycle policy takes a snapshot (Elasticsearch cron syntax, UTC)."""
    retention: ElasticAge = "30d"
    """How long snapshots are kept in the object store."""


class Logging(Settings):
    enabled: bool | None = None
    """Install ELK. Unset: on where the cluster has no built-in log pipeline (on-prem), off where it has one
    (GKE ships container logs to Cloud Logging already; a second collector would double the log volume)."""
    version: ElasticVersion = "9.4.3"
    """Elastic Stack version of Elasticsearch, Kibana, Beats and Logstash."""
    elasticsearch: Elasticsearch = Elasticsearch()
    """Elasticsearch sizing."""
    retention: ElasticAge = "14d"
    """How long log indices are kept before the index lifecycle policy deletes them."""
    snapshots: LogSnapshots = LogSnapshots()
    """Snapshots of the log indices into the object store."""
    kibana_replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Kibana instances."""
    metricbeat: bool = True
    """Ship node and host metrics to Elasticsearch with Metricbeat as well."""
    logstash: bool = False
    """Route logs through a Logstash processing pipeline (parsing, enrichment) instead of straight into
    Elasticsearch."""


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


class Monitoring(Settings):
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
    alert rules for that Prometheus."""


class ThanosRetention(Settings):
    raw: PrometheusDuration = "30d"
    """How long the compactor keeps samples at their scraped resolution, e.g. `30d`."""
    five_minutes: PrometheusDuration = "180d"
    """How long it keeps the 5-minute downsampled blocks (made from raw blocks older than 40 hours)."""
    one_hour: PrometheusDuration = "2y"
    """How long it keeps the 1-hour downsampled blocks (made from 5-minute blocks older than 10 days)."""


class Thanos(Settings):
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
