"""Observability: rules are real PromQL in valid PrometheusRules, every installed component is scraped and
alerted on, the ECK stack validates against its CRDs, credentials stay out of manifests, and what the cluster
already provides (metrics-server, a log pipeline) decides what is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from infra.config import InvalidEnvironment
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import MASK
from infra.offline.validate import ManifestValidator
from infra.platform import labels
from infra.platform.argocd_app import SOURCE_KEY
from infra.platform.existing import existing_components

from .conftest import ENV_NAMES, ENVIRONMENTS

ECK_KINDS = {"Elasticsearch", "Kibana", "Beat", "Logstash"}
# Dashboard variables are substituted by Grafana before the query reaches Prometheus.
DASHBOARD_VARIABLES = {"$namespace": "ml-team", "${datasource}": "prometheus"}


def objects(r: Rendered, *kinds: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] in kinds]


def rules(r: Rendered) -> list[dict[str, Any]]:
    return [rule for pr in objects(r, "PrometheusRule") for g in pr["spec"]["groups"] for rule in g["rules"]]


def values(r: Rendered, application: str) -> dict[str, Any]:
    # In a hub (argocd.mode hub) an Application's name carries the environment's prefix; its key stays.
    app = next(
        a
        for a in objects(r, "Application")
        if (a["metadata"].get("annotations") or {}).get(SOURCE_KEY, a["metadata"]["name"]) == application
    )
    return app["spec"]["source"]["helm"]["valuesObject"]


def installed(r: Rendered) -> dict[str, str]:
    """Namespace of every installed component: each Application's, plus Argo CD (a Helm release) unless a hub's
    Argo CD syncs the cluster (argocd.mode hub)."""
    found = {} if r.env.argocd.mode == "hub" else {"argo-cd": "argocd"}
    for app in objects(r, "Application"):
        found.setdefault(app["metadata"]["labels"][labels.COMPONENT], app["spec"]["destination"]["namespace"])
    return found


def hub_argocd(r: Rendered) -> set[str]:
    """Argo CD, when a hub's syncs the cluster: it runs, and is monitored, elsewhere."""
    return {"argo-cd"} if r.env.argocd.mode == "hub" else set()


def stack_with(tmp_path: Path, base: str, old: str, new: str, extra: str = "") -> Path:
    text = (ENVIRONMENTS / f"Pulumi.{base}.yaml").read_text()
    assert old in text
    stack = tmp_path / f"Pulumi.{base}.yaml"
    stack.write_text(text.replace(old, new, 1) + extra)
    return stack


def test_the_parser_is_a_real_parser() -> None:
    promql_parser.parse('sum by (job) (rate(up{job="x"}[5m]))')
    for broken in ("sum(rate(up[5m])", "rate(up[5x])", "up{job=}", "abs(x) >"):
        with pytest.raises(Exception):  # noqa: B017 (the binding raises a plain exception type)
            promql_parser.parse(broken)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_rules_are_promql_in_valid_prometheus_rules(rendered: dict[str, Rendered], env: str, crd_schemas: str) -> None:
    r = rendered[env]
    validator = ManifestValidator(r.env.kubernetes_version, crd_schemas, {})
    prometheus_rules = objects(r, "PrometheusRule")
    assert prometheus_rules
    for pr in prometheus_rules:
        assert validator.validate(pr) == [], pr["metadata"]["name"]
    for rule in rules(r):
        promql_parser.parse(rule["expr"])
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["labels"]["component"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_installed_component_is_scraped_and_alerted_on(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    scraped = {
        ns for m in objects(r, "ServiceMonitor", "PodMonitor") for ns in m["spec"]["namespaceSelector"]["matchNames"]
    }
    # A component may scrape Services in its other namespaces (Knative's serving and eventing).
    scraped_by = {m["metadata"]["labels"][labels.COMPONENT] for m in objects(r, "ServiceMonitor", "PodMonitor")}
    alerted = {rule["labels"]["component"] for rule in rules(r) if "alert" in rule}
    # A chart may declare its own ServiceMonitor where that switch also turns its exporter on (MLflow), or where
    # only it can send Prometheus' token to metrics that need one (MetalLB, under `prometheus`).
    chart_values = [
        (
            app["metadata"]["labels"][labels.COMPONENT],
            (app["spec"]["source"].get("helm") or {}).get("valuesObject") or {},
        )
        for app in objects(r, "Application")
    ]
    scraped_by |= {
        component
        for component, chart in chart_values
        if chart.get("serviceMonitor", {}).get("enabled")
        or chart.get("prometheus", {}).get("serviceMonitor", {}).get("enabled")
    }
    stack = values(r, "kube-prometheus-stack")
    # The chart monitors itself; these switches are its scrape targets.
    assert (
        stack["prometheus"]["serviceMonitor"]["selfMonitor"] and stack["alertmanager"]["serviceMonitor"]["selfMonitor"]
    )
    assert stack["kube-state-metrics"]["prometheus"]["monitor"]["enabled"]
    assert stack["prometheus-node-exporter"]["prometheus"]["monitor"]["enabled"]
    components = installed(r)
    # What the cluster runs already is its owner's to monitor.
    assert {"argo-cd", "cert-manager", "kube-prometheus-stack"} - {*existing_components(r.env), *hub_argocd(r)} <= set(
        components
    )
    for component, namespace in components.items():
        assert component in alerted, f"{component} has no alert"
        if component != "kube-prometheus-stack":
            assert namespace in scraped or component in scraped_by, f"{component} ({namespace}) is not scraped"


def test_component_rules_follow_what_is_installed(rendered: dict[str, Rendered]) -> None:
    alerted = lambda env: {rule["labels"]["component"] for rule in rules(rendered[env]) if "alert" in rule}  # noqa: E731
    assert "logging" in alerted("onprem") and "logging" not in alerted("dev")
    assert "longhorn" in alerted("onprem") and "longhorn" not in alerted("dev")  # Longhorn: on-prem only here
    # GPU alerts follow a GPU exporter: dev's GKE GPU pool, onprem's GPU operator (tests/test_metric_families.py
    # has one without).
    assert "gpu" in alerted("dev") and "gpu" in alerted("onprem")
    anomalies = [rule for rule in rules(rendered["prod"]) if rule.get("alert", "").startswith("ServiceAnomaly")]
    assert len(anomalies) == 3
    for rule in anomalies:
        assert "standard deviations" in rule["annotations"]["description"]
    recorded = {rule["record"] for rule in rules(rendered["prod"]) if "record" in rule}
    assert {"aiops:pod_cpu_overprovisioned", "aiops:gpu_node_idle"} <= recorded
    assert "aiops:service_latency_p95:5m:zscore" in recorded


@pytest.mark.parametrize("env", ["onprem", "prod"])
def test_eck_objects_validate_against_their_crds(rendered: dict[str, Rendered], env: str, crd_schemas: str) -> None:
    r = rendered[env]
    validator = ManifestValidator(r.env.kubernetes_version, crd_schemas, {})
    stack = objects(r, *ECK_KINDS)
    assert {o["kind"] for o in stack} >= {"Elasticsearch", "Kibana", "Beat"}
    for obj in stack:
        assert validator.validate(obj) == [], obj["kind"]
    assert {o["spec"]["type"] for o in objects(r, "Beat")} == {"filebeat", "metricbeat"}


def test_elasticsearch_follows_environment_and_cluster(rendered: dict[str, Rendered]) -> None:
    def es(env: str) -> dict[str, Any]:
        return objects(rendered[env], "Elasticsearch")[0]

    prod, onprem = es("prod"), es("onprem")
    node_set = prod["spec"]["nodeSets"][0]
    assert node_set["count"] == 3 and "zone" in node_set["config"]["cluster.routing.allocation.awareness.attributes"]
    assert "eck.k8s.elastic.co/downward-node-labels" in prod["metadata"]["annotations"]
    assert "eck.k8s.elastic.co/downward-node-labels" not in onprem["metadata"]["annotations"]
    assert node_set["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard-rwo"
    assert onprem["spec"]["nodeSets"][0]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "longhorn"
    assert "-Xmx4g" in json.dumps(node_set["podTemplate"])
    assert onprem["spec"]["secureSettings"][0]["secretName"] == "object-store-credentials"
    policies = lambda env: next(  # noqa: E731
        c for c in objects(rendered[env], "ConfigMap") if c["metadata"]["name"] == "elastic-policies"
    )["data"]
    assert json.loads(policies("prod")["snapshot-platform-snapshots.json"])["type"] == "gcs"
    assert json.loads(policies("onprem")["snapshot-platform-snapshots.json"])["type"] == "s3"
    ilm = json.loads(policies("prod")["ilm-policy-platform-logs.json"])
    assert ilm["policy"]["phases"]["delete"]["min_age"] == "30d"
    assert "_slm/policy/nightly-snapshots" in policies("prod")["apply.sh"]
    # Logstash only where the environment asks for a processing pipeline; Filebeat then ships to it.
    assert objects(rendered["onprem"], "Logstash") and not objects(rendered["prod"], "Logstash")
    filebeat = next(b for b in objects(rendered["onprem"], "Beat") if b["spec"]["type"] == "filebeat")
    assert "output.logstash" in filebeat["spec"]["config"] and "elasticsearchRef" not in filebeat["spec"]


def test_log_shippers_namespace_is_privileged_for_a_reason(rendered: dict[str, Rendered]) -> None:
    from infra.components.logging import Logging

    namespace = next(n for n in objects(rendered["onprem"], "Namespace") if n["metadata"]["name"] == "logging")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "hostPath" in Logging.spec.privileged_reason
    filebeat = next(b for b in objects(rendered["onprem"], "Beat") if b["spec"]["type"] == "filebeat")
    volumes = filebeat["spec"]["daemonSet"]["podTemplate"]["spec"]["volumes"]
    assert {v["hostPath"]["path"] for v in volumes} == {"/var/log/containers", "/var/log/pods"}


def test_elk_defaults_to_the_cluster_log_pipeline(rendered: dict[str, Rendered]) -> None:
    # dev (GKE) and onprem leave components.logging.enabled unset.
    assert "eck" not in installed(rendered["dev"]) and not objects(rendered["dev"], *ECK_KINDS)
    assert {"eck", "logging"} <= set(installed(rendered["onprem"]))


@pytest.mark.parametrize("env", ENV_NAMES)
def test_metrics_server_only_where_the_cluster_lacks_one(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    present = "metrics-server" in installed(r)
    assert present == (r.env.target == "onprem")
    if present:
        app = next(a for a in objects(r, "Application") if a["metadata"]["name"] == "metrics-server")
        assert app["spec"]["destination"]["namespace"] == "kube-system"


def _credential_fields(receiver: dict[str, Any]) -> list[Any]:
    fields = []
    for config in receiver.get("slackConfigs", []):
        fields.append(config["apiURL"])
    for config in receiver.get("pagerdutyConfigs", []):
        fields.append(config["routingKey"])
    for config in receiver.get("webhookConfigs", []):
        assert "url" not in config
        fields.append(config["urlSecret"])
    return fields


@pytest.mark.parametrize("env", ENV_NAMES)
def test_receiver_credentials_are_secret_references(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    (config,) = objects(r, "AlertmanagerConfig")
    receivers = config["spec"]["receivers"]
    assert len(receivers) == 1 + len(r.env.components.monitoring.alerting.receivers)
    for receiver in receivers:
        for field in _credential_fields(receiver):
            assert set(field) == {"name", "key"}, receiver["name"]
    stack = values(r, "kube-prometheus-stack")
    assert stack["alertmanager"]["alertmanagerSpec"]["alertmanagerConfiguration"] == {"name": "platform"}
    assert "config" not in stack["alertmanager"]


def test_secrets_from_pulumi_config_are_masked_and_never_inline(tmp_path: Path) -> None:
    receiver = """          receivers:
            - name: platform-slack
              type: slack
              secret:
                configKey: slackWebhook"""
    stack = stack_with(
        tmp_path,
        "prod",
        """          receivers:
            - name: platform-slack
              type: slack
              channel: "#ml-platform-alerts"
              secret:
                existingSecret: alertmanager-slack
                key: webhook-url""",
        receiver,
        "  mlops-platform:slackWebhook:\n    secure: AAABAKx1bm90LWEtcmVhbC1jaXBoZXJ0ZXh0\n",
    )
    r = render_stack(stack)
    secret = next(s for s in objects(r, "Secret") if s["metadata"]["name"] == "alertmanager-platform-slack")
    assert secret["stringData"] == {"value": MASK}
    recorded = next(m.resource for m in r.manifests if m.object is secret)
    assert "4dabf18193072939515e22adb298388d" in json.dumps(recorded.inputs["stringData"])  # Pulumi's secret marker
    (config,) = objects(r, "AlertmanagerConfig")
    slack = next(x for x in config["spec"]["receivers"] if x["name"] == "platform-slack")
    assert slack["slackConfigs"][0]["apiURL"] == {"name": "alertmanager-platform-slack", "key": "value"}
    assert "AAABAKx1bm90" not in "".join(json.dumps(m.object) for m in r.manifests)


def test_a_config_key_without_a_secure_value_is_a_path_named_error(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, "prod", "existingSecret: grafana-oauth", "configKey: grafanaClientSecret")
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert "components.monitoring.grafana.sso.clientSecret" in error.value.report()
    assert "mlops-platform:grafanaClientSecret" in error.value.report()


def test_a_plain_text_credential_is_rejected(tmp_path: Path) -> None:
    stack = stack_with(
        tmp_path, "prod", "existingSecret: alertmanager-pagerduty", "url: https://events.pagerduty.com/secret-key"
    )
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert "alerting.receivers[1].secret.url: unknown setting" in error.value.report()


def test_alerting_and_logging_rules_name_their_paths(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, "prod", "- receiver: platform-pager", "- receiver: nobody")
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert "alerting.routes[0].receiver: 'nobody' is not a receiver" in error.value.report()
    stack = stack_with(tmp_path, "prod", "count: 3              #", "count: 1              #")
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert "components.logging.elasticsearch.count: is 1" in error.value.report()


@pytest.mark.parametrize("env", ENV_NAMES)
def test_dashboards_are_sidecar_configmaps_with_valid_queries(rendered: dict[str, Rendered], env: str) -> None:
    dashboards = [c for c in objects(rendered[env], "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard")]
    assert {c["metadata"]["name"] for c in dashboards} == {
        "dashboard-mlops-platform-overview",
        "dashboard-mlops-team-resources",
        "dashboard-mlops-ml-serving",
    }
    for config_map in dashboards:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (text,) = config_map["data"].values()
        dashboard = json.loads(text)
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        assert panels and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
        for panel in panels:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in DASHBOARD_VARIABLES.items():
                    expr = expr.replace(variable, value)
                promql_parser.parse(expr)


@pytest.mark.parametrize(("duration", "expected"), [("14d", "14d"), ("2w", "14d"), ("1y", "365d"), ("12h", "12h")])
def test_durations_become_elasticsearch_time_units(duration: str, expected: str) -> None:
    from infra.observability.elastic_policies import es_duration

    assert es_duration(duration) == expected


def test_grafana_signs_in_through_the_environment_sso(rendered: dict[str, Rendered]) -> None:
    grafana = values(rendered["prod"], "kube-prometheus-stack")["grafana"]
    oauth = grafana["grafana.ini"]["auth.generic_oauth"]
    sso = rendered["prod"].env.components.monitoring.grafana.sso
    assert sso is not None
    assert (oauth["client_id"], oauth["token_url"]) == (sso.client_id, sso.token_url)
    assert oauth["allowed_groups"] == "ml-platform ml-teams"
    assert "client_secret" not in oauth
    ref = grafana["envValueFrom"]["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]["secretKeyRef"]
    assert ref == {"name": "grafana-oauth", "key": "client-secret"}
    assert "auth.generic_oauth" not in values(rendered["dev"], "kube-prometheus-stack")["grafana"]["grafana.ini"]


def test_a_credential_needs_exactly_one_source(tmp_path: Path) -> None:
    stack = stack_with(
        tmp_path,
        "prod",
        "existingSecret: grafana-oauth\n",
        "existingSecret: grafana-oauth\n              configKey: x1y\n",
    )
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert "grafana.sso.clientSecret: needs exactly one of existingSecret and configKey" in error.value.report()
