"""The pods KubeRay makes of a team's RayCluster (infra/expand/ray_pods.py): counted by the capacity model and judged
by the `admission` stage with what KubeRay adds, instead of being listed as not judged."""

from __future__ import annotations

import copy
from typing import Any

from infra.expand.admission import judge
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.pods import platform_pods
from infra.expand.ray_pods import ray_cluster_pods

RAY_CONTAINER: dict[str, Any] = {
    "name": "ray-head",
    "image": "rayproject/ray:2.50.0",
    "securityContext": {"allowPrivilegeEscalation": False},
    "volumeMounts": [{"name": "ray-logs", "mountPath": "/tmp/ray"}],
}


def template(name: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [{**copy.deepcopy(RAY_CONTAINER), "name": name}],
            "volumes": [{"name": "ray-logs", "emptyDir": {}}],
        }
    }


SPEC: dict[str, Any] = {
    "enableInTreeAutoscaling": True,
    "autoscalerOptions": {
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "securityContext": {"runAsNonRoot": True},
    },
    "headGroupSpec": {"rayStartParams": {}, "template": template("ray-head")},
    "workerGroupSpecs": [
        {"groupName": "cpu", "replicas": 2, "minReplicas": 1, "maxReplicas": 4, "template": template("ray-worker")},
        {
            "groupName": "big",
            "minReplicas": 0,
            "rayStartParams": {"plasma-directory": "/data"},
            "template": template("w"),
        },
    ],
}


def test_the_head_gets_the_autoscaler_sidecar_and_shared_memory() -> None:
    head, *_ = ray_cluster_pods(SPEC)
    assert (head.path, head.count) == ("spec.headGroupSpec.template", 1)
    ray, autoscaler = head.template["spec"]["containers"]
    assert autoscaler == {
        "name": "autoscaler",
        "image": "rayproject/ray:2.50.0",
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "securityContext": {"runAsNonRoot": True},
        "volumeMounts": [{"name": "ray-logs", "mountPath": "/tmp/ray"}],
    }
    assert {m["mountPath"] for m in ray["volumeMounts"]} == {"/tmp/ray", "/dev/shm"}
    volumes = {v["name"]: v["emptyDir"] for v in head.template["spec"]["volumes"]}
    assert volumes == {"ray-logs": {}, "shared-mem": {"medium": "Memory"}}
    assert SPEC["headGroupSpec"]["template"] == template("ray-head")  # the resource itself is not changed


def test_the_autoscaler_takes_kuberays_default_resources_when_the_cluster_gives_none() -> None:
    spec = {**SPEC, "autoscalerOptions": {}}
    head = ray_cluster_pods(spec)[0]
    autoscaler = head.template["spec"]["containers"][1]
    assert autoscaler["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert "securityContext" not in autoscaler
    without = ray_cluster_pods({**SPEC, "enableInTreeAutoscaling": False})[0]
    assert [c["name"] for c in without.template["spec"]["containers"]] == ["ray-head"]


def test_workers_wait_for_the_gcs_with_the_ray_containers_security_context() -> None:
    _, cpu, big = ray_cluster_pods(SPEC)
    assert (cpu.path, cpu.count, cpu.note) == ("spec.workerGroupSpecs[0].template", 2, "scales 1..4")
    assert (big.count, big.note) == (0, "")
    (wait,) = cpu.template["spec"]["initContainers"]
    assert wait["name"] == "wait-gcs-ready" and wait["securityContext"] == {"allowPrivilegeEscalation": False}
    assert wait["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi"}
    assert wait["volumeMounts"] == [{"name": "ray-logs", "mountPath": "/tmp/ray"}]  # taken before /dev/shm is added
    # A group that names its plasma directory gets no /dev/shm volume.
    assert [v["name"] for v in big.template["spec"]["volumes"]] == ["ray-logs"]


def team_cluster(platform: Platform) -> PlatformObject:
    return next(o for o in platform.objects if o.owner == STACK and o.kind == "RayCluster")


def with_object(platform: Platform, replaced: PlatformObject) -> list[PlatformObject]:
    return [replaced if o.ref == replaced.ref else o for o in platform.objects]


def test_the_team_clusters_pods_are_counted_with_what_kuberay_adds(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    cluster = team_cluster(platform)
    counted = platform_pods(platform.objects, platform.env.kubernetes_version)
    assert not [n for n in counted.not_counted if n[1] == "RayCluster"]
    mine = [pods for pods in counted.pods if pods.ref == cluster.ref]
    assert len(mine) == 1 + len(cluster.object["spec"]["workerGroupSpecs"])


def test_admission_judges_the_ray_pods_and_names_what_kuberay_added(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    cluster = team_cluster(platform)
    changed = copy.deepcopy(dict(cluster.object))
    changed["spec"]["autoscalerOptions"]["securityContext"]["privileged"] = True
    changed["spec"]["workerGroupSpecs"][0]["template"]["spec"]["hostNetwork"] = True
    findings, _ = judge(with_object(platform, PlatformObject(STACK, changed, cluster.origin)), "1.34")
    assert sorted(f.message.split(": ")[0] for f in findings if f.object_ref == cluster.ref) == [
        "spec.headGroupSpec.template.spec.containers[autoscaler].securityContext.privileged",
        "spec.workerGroupSpecs[0].template.spec.hostNetwork",
    ]
    unchanged, _ = judge(platform.objects, "1.34")
    assert [f for f in unchanged if f.object_ref == cluster.ref] == []
    assert not any("RayCluster" in f.message for f in unchanged if f.object_ref == "custom resources")
