"""GPUs observed and scheduled: the DCGM exporter on GKE GPU pools (GKE installs the driver), NVIDIA's GPU operator
on on-prem clusters that ask for it, each in a privileged namespace with its reason, scraped, with the GPU alerts,
AIOps GPU rules and GPU panels following them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import InvalidEnvironment, load_stack_file
from infra.expand.platform import Platform
from infra.observability.exporters import readers
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import plain
from infra.platform.labels import PRIVILEGED_REASON
from tests.stack_copies import stack_copy

GKE_NVIDIA = "/home/kubernetes/bin/nvidia"


def applied(platform: Platform, owner: str, kind: str) -> list[dict[str, Any]]:
    return [dict(o.object) for o in platform.objects if o.owner == owner and o.kind == kind]


def own(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def app_values(r: Rendered, name: str) -> dict[str, Any]:
    app = next(a for a in own(r, "Application") if a["metadata"]["name"] == name)
    return app["spec"]["source"]["helm"]["valuesObject"]


def namespace(r: Rendered, name: str) -> dict[str, Any]:
    return next(ns for ns in own(r, "Namespace") if ns["metadata"]["name"] == name)


def gpu_families_read(r: Rendered) -> set[str]:
    objects = [m.object for m in r.manifests]
    return {family for reader in readers(objects) for family in reader.families if family.startswith("DCGM_")}


# --- GKE ---------------------------------------------------------------------------------------------------


def test_gke_gpu_pools_get_the_dcgm_exporter_with_gkes_driver_libraries(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    [daemonset] = applied(platform, "dcgm-exporter", "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "cloud.google.com/gke-accelerator", "operator": "Exists"}]}]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    [container] = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    [driver] = [name for name, volume in volumes.items() if volume.get("hostPath", {}).get("path") == GKE_NVIDIA]
    assert mounts[driver] == {"name": driver, "mountPath": "/usr/local/nvidia", "readOnly": True}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"
    # The metrics list the chart renders is still mounted where the exporter reads it.
    assert container["args"] == ["-f", mounts["exporter-metrics-volume"]["mountPath"]]
    # Privileged (the GPUs are no device of its own), which the API server refuses beside allowPrivilegeEscalation
    # false, the chart's default.
    context = container["securityContext"]
    assert context["privileged"] is True and context.get("allowPrivilegeEscalation") is not False
    # GKE admits system-*-critical priority classes in kube-system only.
    assert "priorityClassName" not in pod


def test_the_exporters_namespace_is_privileged_with_its_reason(rendered: dict[str, Rendered]) -> None:
    for env, name in (("dev", "dcgm-exporter"), ("onprem", "gpu-operator")):
        ns = namespace(rendered[env], name)
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        assert "GPU" in ns["metadata"]["annotations"][PRIVILEGED_REASON]


def test_the_gke_exporter_is_scraped_by_the_platform(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    [monitor] = [m for m in own(r, "ServiceMonitor") if m["metadata"]["namespace"] == "dcgm-exporter"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert app_values(r, "dcgm-exporter")["serviceMonitor"] == {"enabled": False}


def test_gke_clusters_leave_managed_dcgm_off(rendered: dict[str, Rendered]) -> None:
    """GKE's managed DCGM package sends to Cloud Monitoring (not the platform's Prometheus) and would be a second
    reader of the profiling counters the platform's exporter reads."""
    for env in ("dev", "staging", "prod"):
        [cluster] = [res for res in rendered[env].run.resources if res.type == "gcp:container/cluster:Cluster"]
        components = plain(cluster.inputs)["monitoringConfig"]["enableComponents"]
        assert "DCGM" not in components, env


def test_without_gpu_pools_there_is_no_exporter_and_nothing_reads_gpu_metrics(
    tmp_path: Path, rendered: dict[str, Rendered]
) -> None:
    def drop_gpu_pools(settings: dict[str, Any]) -> None:
        settings["gke"]["nodePools"] = [p for p in settings["gke"]["nodePools"] if p["role"] != "gpu"]
        for team in settings["components"]["kubeflow"]["teams"]:
            team.get("quota", {}).pop("gpu", None)
            if "ray" in team:
                team["ray"]["workerGroups"] = [g for g in team["ray"]["workerGroups"] if not g.get("gpu")]

    r = render_stack(stack_copy(tmp_path, "dev", drop_gpu_pools))
    assert "dcgm-exporter" not in {a["metadata"]["name"] for a in own(r, "Application")}
    assert gpu_families_read(r) == set()
    assert gpu_families_read(rendered["dev"]) == {"DCGM_FI_DEV_GPU_UTIL"}


# --- on-prem -----------------------------------------------------------------------------------------------


def test_gpu_operator_makes_on_prem_gpus_schedulable_and_observed(
    platforms: dict[str, Platform], rendered: dict[str, Rendered]
) -> None:
    r = rendered["onprem"]
    values = app_values(r, "gpu-operator")
    assert values["driver"] == {"enabled": True} and values["toolkit"] == {"enabled": True}
    assert values["devicePlugin"] == {"enabled": True} and values["dcgmExporter"]["enabled"] is True
    # The platform labels the namespace; Argo CD applies the CRDs (no Helm hook Job for them).
    assert values["psa"] == {"enabled": False} and values["operator"]["upgradeCRD"] is False
    [policy] = applied(platforms["onprem"], "gpu-operator", "ClusterPolicy")
    assert policy["spec"]["dcgmExporter"]["enabled"] is True
    assert policy["spec"]["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    [monitor] = [m for m in own(r, "ServiceMonitor") if m["metadata"]["namespace"] == "gpu-operator"]
    # What the operator names the exporter's Service (assets/state-dcgm-exporter/0600_service.yaml).
    assert monitor["spec"]["selector"] == {"matchLabels": {"app": "nvidia-dcgm-exporter"}}
    assert monitor["spec"]["endpoints"][0]["port"] == "gpu-metrics"
    assert gpu_families_read(r) == {"DCGM_FI_DEV_GPU_UTIL"}


def test_gpu_operator_leaves_a_preinstalled_driver_alone(tmp_path: Path, rendered: dict[str, Rendered]) -> None:
    def preinstalled(settings: dict[str, Any]) -> None:
        settings["components"]["gpuOperator"].update(driver=False, toolkit=False)

    r = render_stack(stack_copy(tmp_path, "onprem", preinstalled))
    values = app_values(r, "gpu-operator")
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    # Only the driver container fetches packages (kernel headers) from outside.
    policies = [p for p in own(r, "NetworkPolicy") if p["metadata"]["namespace"] == "gpu-operator"]
    assert "package-repositories" not in str(policies)
    assert "package-repositories" in str(own(rendered["onprem"], "NetworkPolicy"))


def test_without_the_gpu_operator_on_prem_nothing_reads_gpu_metrics(tmp_path: Path) -> None:
    r = render_stack(stack_copy(tmp_path, "onprem", lambda s: s["components"]["gpuOperator"].update(enabled=False)))
    assert "gpu-operator" not in {a["metadata"]["name"] for a in own(r, "Application")}
    assert gpu_families_read(r) == set()


def test_the_gpu_operator_is_refused_on_gke(tmp_path: Path) -> None:
    path = stack_copy(tmp_path, "dev", lambda s: s["components"].update(gpuOperator={"enabled": True}))
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(path)
    assert [str(v) for v in caught.value.violations] == [
        "mlops-platform:platform.components.gpuOperator.enabled: is for target onprem only: GKE installs the NVIDIA "
        "driver and device plugin on GPU pools itself (and the platform adds the DCGM exporter there)"
    ]
