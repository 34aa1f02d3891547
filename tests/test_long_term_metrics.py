"""Thanos: Prometheus' sidecar uploads to the `metrics` bucket (GCS through Workload Identity, MinIO/S3 on-prem), the
store gateway, compactor (retention per resolution from config) and query run in `thanos`, Grafana's default data
source is Thanos query, and the bucket is protected and lifecycle-managed like the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from infra.cluster.gcp_identity import OBJECT_ADMIN, OBJECT_VIEWER, WORKLOADS
from infra.expand.platform import Platform
from infra.offline.render import Rendered
from infra.offline.serialize import plain
from tests.stack_copies import violations

BUCKET = "gcp:storage/bucket:Bucket"


def own(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def app_values(r: Rendered, name: str) -> dict[str, Any]:
    app = next(a for a in own(r, "Application") if a["metadata"]["name"] == name)
    return app["spec"]["source"]["helm"]["valuesObject"]


def applied(platform: Platform, kind: str, owner: str | None = None) -> list[dict[str, Any]]:
    return [dict(o.object) for o in platform.objects if o.kind == kind and owner in (None, o.owner)]


def test_thanos_runs_in_staging_prod_and_onprem_only(rendered: dict[str, Rendered]) -> None:
    for env, on in (("dev", False), ("staging", True), ("prod", True), ("onprem", True)):
        apps = {a["metadata"]["name"] for a in own(rendered[env], "Application")}
        assert ("thanos" in apps) == on, env
        assert ("thanos" in app_values(rendered[env], "kube-prometheus-stack")["prometheus"]["prometheusSpec"]) == on


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("staging", {"type": "GCS", "config": {"bucket": "mlops-staging-metrics"}}),
        (
            "onprem",
            {
                "type": "S3",
                "config": {
                    "bucket": "mlops-onprem-metrics",
                    "endpoint": "minio.minio.svc.cluster.local:80",
                    "insecure": True,
                },
            },
        ),
    ],
)
def test_the_sidecar_and_thanos_use_the_metrics_bucket(
    rendered: dict[str, Rendered], platforms: dict[str, Platform], env: str, expected: dict[str, Any]
) -> None:
    r = rendered[env]
    prometheus = app_values(r, "kube-prometheus-stack")["prometheus"]
    assert prometheus["prometheusSpec"]["thanos"]["objectStorageConfig"]["secret"] == expected
    assert prometheus["thanosService"] == {"enabled": True} and prometheus["thanosServiceMonitor"] == {"enabled": True}
    # The stack's Secret (masked in the manifests, as every Secret's data is): read from the recorded inputs.
    [secret] = [res for res in r.run.resources if res.type == "kubernetes:core/v1:Secret" and "objstore" in res.name]
    string_data = secret.inputs["stringData"]
    assert string_data[rpc._special_sig_key] == rpc._special_secret_sig
    assert yaml.safe_load(string_data["value"]["objstore.yml"]) == expected
    # Every Secret a Thanos pod mounts exists (the chart renders its objstore Secret only with its bucket web UI).
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in applied(platforms[env], "Secret")}
    for workload in [
        *applied(platforms[env], "StatefulSet", "thanos"),
        *applied(platforms[env], "Deployment", "thanos"),
    ]:
        for volume in workload["spec"]["template"]["spec"].get("volumes") or []:
            if "secret" in volume:
                assert ("thanos", volume["secret"]["secretName"]) in secrets, workload["metadata"]["name"]


def test_on_prem_the_s3_keys_come_from_the_namespaces_secret(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    keys = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    [sidecar] = app_values(r, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]["containers"]
    assert sidecar["name"] == "thanos-sidecar"
    for env in (sidecar["env"], app_values(r, "thanos")["global"]["extraEnv"]):
        assert {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in env} == dict.fromkeys(
            keys, "object-store-credentials"
        )
    # GKE: no key anywhere, the pods' Workload Identity instead.
    assert "containers" not in app_values(rendered["staging"], "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert app_values(rendered["staging"], "thanos")["global"]["extraEnv"] == []


def test_gke_identities_are_the_service_accounts_the_charts_run_as(platforms: dict[str, Platform]) -> None:
    """The Workload Identity bindings name the Kubernetes service accounts the pods really use, annotated with
    their Google service account; only the sidecar and the compactor may write."""
    platform = platforms["staging"]
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"]): a["metadata"].get("annotations") or {}
        for a in applied(platform, "ServiceAccount")
    }
    for workload in ("thanos-sidecar", "thanos-compactor", "thanos-store"):
        spec = WORKLOADS[workload]
        annotations = accounts[(spec.namespace, spec.service_account)]
        assert annotations["iam.gke.io/gcp-service-account"].startswith(f"wi-{workload}@"), workload
    assert WORKLOADS["thanos-store"].buckets == {"metrics": OBJECT_VIEWER}
    assert WORKLOADS["thanos-sidecar"].buckets == WORKLOADS["thanos-compactor"].buckets == {"metrics": OBJECT_ADMIN}
    pods = {
        w["metadata"]["name"]: w["spec"]["template"]["spec"]["serviceAccountName"]
        for kind in ("StatefulSet", "Deployment")
        for w in applied(platform, kind, "thanos")
    }
    assert pods["thanos-compactor"] == WORKLOADS["thanos-compactor"].service_account
    assert pods["thanos-storegateway"] == WORKLOADS["thanos-store"].service_account


def test_the_compactor_keeps_each_resolution_as_configured(platforms: dict[str, Platform]) -> None:
    for env in ("staging", "prod"):
        retention = platforms[env].env.components.thanos.retention
        [compactor] = [
            s for s in applied(platforms[env], "StatefulSet", "thanos") if "compactor" in s["metadata"]["name"]
        ]
        args = compactor["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--retention.resolution-raw={retention.raw}" in args
        assert f"--retention.resolution-5m={retention.five_minutes}" in args
        assert f"--retention.resolution-1h={retention.one_hour}" in args


def test_query_reads_the_sidecars_and_the_store_gateway_and_grafana_reads_query(platforms: dict[str, Platform]) -> None:
    platform = platforms["prod"]
    [query] = applied(platform, "Deployment", "thanos")
    args = query["spec"]["template"]["spec"]["containers"][0]["args"]
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in applied(platform, "Service")}
    endpoints = [a.split("dnssrv+_grpc._tcp.", 1)[1] for a in args if a.startswith("--endpoint=dnssrv+_grpc._tcp.")]
    for endpoint in endpoints:
        name, namespace = endpoint.split(".")[:2]
        ports = {p["name"] for p in services[(namespace, name)]["spec"]["ports"]}
        assert "grpc" in ports, endpoint
    assert {e.split(".")[0] for e in endpoints} == {"thanos-storegateway", "kube-prometheus-stack-thanos-discovery"}
    assert "--query.replica-label=prometheus_replica" in args
    assert "--query.auto-downsampling" in args  # else only raw blocks are read, and nothing past retention.raw
    assert query["spec"]["replicas"] == 2  # highly available
    [datasources] = [
        c
        for c in applied(platform, "ConfigMap", "kube-prometheus-stack")
        if c["metadata"]["name"].endswith("grafana-datasource")
    ]
    listed = yaml.safe_load(datasources["data"]["datasource.yaml"])["datasources"]
    [default] = [d for d in listed if d.get("isDefault")]
    assert default["name"] == "Thanos"
    host, port = default["url"].removeprefix("http://").split(":")
    name, namespace = host.split(".")[:2]
    service = services[(namespace, name)]
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}


def test_the_metrics_bucket_is_protected_and_lifecycle_managed_like_the_others(rendered: dict[str, Rendered]) -> None:
    for env in ("staging", "prod"):
        r = rendered[env]
        buckets = {
            plain(b.inputs)["labels"]["purpose"]: (plain(b.inputs), b.protect)
            for b in r.run.resources
            if b.type == BUCKET
        }
        metrics, protected = buckets["metrics"]
        artifacts, artifacts_protected = buckets["artifacts"]
        assert protected == artifacts_protected == (env == "prod")
        assert metrics["forceDestroy"] == (env != "prod")
        assert metrics["versioning"] == {"enabled": True}
        assert metrics["lifecycleRules"] == artifacts["lifecycleRules"]
        assert metrics["publicAccessPrevention"] == "enforced" and metrics["uniformBucketLevelAccess"] is True
    [tenant] = own(rendered["onprem"], "Tenant")
    assert {"name": "mlops-onprem-metrics"} in tenant["spec"]["buckets"]


def test_thanos_settings_are_checked(tmp_path: Path) -> None:
    base = "mlops-platform:platform.components"
    no_monitoring = violations(tmp_path, "staging", lambda s: s["components"]["monitoring"].update(enabled=False))
    assert (
        f"{base}.thanos.enabled: needs components.monitoring.enabled: Thanos reads Prometheus' blocks" in no_monitoring
    )
    shorter = violations(
        tmp_path, "staging", lambda s: s["components"]["thanos"]["retention"].update(raw="30d", fiveMinutes="7d")
    )
    assert shorter == [
        f"{base}.thanos.retention.fiveMinutes: is 7d, shorter than raw (30d): downsampled blocks are made from the "
        "finer ones and should outlive them"
    ]
    locked = violations(
        tmp_path, "staging", lambda s: s["gke"].setdefault("buckets", {}).update(retentionDays={"metrics": 30})
    )
    assert locked == [
        "mlops-platform:platform.gke.buckets.retentionDays.metrics: cannot be set: Thanos' compactor deletes the "
        "blocks it compacts and those past components.thanos.retention, which a retention policy would refuse"
    ]
