"""The pods the KubeRay operator makes of a RayCluster, as KubeRay 1.7 builds them (ray-operator/controllers/ray/
common/pod.go: DefaultHeadPodTemplate, DefaultWorkerPodTemplate, BuildPod), so that the capacity model counts them
and the `admission` stage judges them like any other pod template.

- Head: the head group's template; with `enableInTreeAutoscaling`, the autoscaler sidecar `autoscaler` appended,
  with the Ray container's image and `autoscalerOptions`' resources (else 500m CPU and 512Mi) and securityContext,
  and a `ray-logs` emptyDir shared with the Ray container.
- Worker: the group's template with the init container `wait-gcs-ready` after its own (200m CPU and 256Mi, with
  the Ray container's securityContext and volume mounts; KubeRay's default ENABLE_INIT_CONTAINER_INJECTION),
  `replicas` of them (else `minReplicas`).
- Every Ray container (the first of each template) gets the `shared-mem` emptyDir (medium Memory) on /dev/shm
  unless `rayStartParams` names a `plasma-directory`.

What KubeRay adds beyond these (environment variables, the start command, labels, the head's service account) does
not change what a pod requests or what Pod Security judges.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AUTOSCALER = "autoscaler"
WAIT_GCS_READY = "wait-gcs-ready"
SHARED_MEMORY = ("shared-mem", "/dev/shm")
RAY_LOGS = ("ray-logs", "/tmp/ray")
AUTOSCALER_RESOURCES = {"cpu": "500m", "memory": "512Mi"}
WAIT_GCS_READY_RESOURCES = {"cpu": "200m", "memory": "256Mi"}


@dataclass(frozen=True)
class RayPods:
    path: str
    """Where the template is in the RayCluster (`spec.headGroupSpec.template`)."""
    template: dict[str, Any]
    """The pod template with what KubeRay adds to it."""
    count: int
    note: str = ""


def ray_cluster_pods(spec: Mapping[str, Any]) -> list[RayPods]:
    """The head and worker pods of a RayCluster's `spec`."""
    found = []
    head = spec.get("headGroupSpec")
    if isinstance(head, Mapping) and _has_ray_container(head.get("template")):
        template = _with_shared_memory(head["template"], head.get("rayStartParams"))
        if spec.get("enableInTreeAutoscaling"):
            template = _with_autoscaler(template, spec.get("autoscalerOptions") or {})
        found.append(RayPods("spec.headGroupSpec.template", template, 1))
    for index, group in enumerate(spec.get("workerGroupSpecs") or ()):
        if not isinstance(group, Mapping) or not _has_ray_container(group.get("template")):
            continue
        template = _with_shared_memory(_with_wait_for_gcs(group["template"]), group.get("rayStartParams"))
        low = _count(group.get("replicas"), _count(group.get("minReplicas"), 0))
        note = f"scales {group['minReplicas']}..{group['maxReplicas']}" if "maxReplicas" in group else ""
        found.append(RayPods(f"spec.workerGroupSpecs[{index}].template", template, low, note))
    return found


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default


def _has_ray_container(template: Any) -> bool:
    spec = template.get("spec") if isinstance(template, Mapping) else None
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    return isinstance(containers, list) and bool(containers) and isinstance(containers[0], Mapping)


def _with_empty_dir(
    pod: dict[str, Any], container: dict[str, Any], volume: tuple[str, str], medium: str | None = None
) -> None:
    """KubeRay's addEmptyDir: the mount unless the container mounts that path, the volume unless the pod has it."""
    name, path = volume
    mounts = container.setdefault("volumeMounts", [])
    if not any(isinstance(m, Mapping) and m.get("mountPath") == path for m in mounts):
        mounts.append({"name": name, "mountPath": path})
    volumes = pod.setdefault("volumes", [])
    if not any(isinstance(v, Mapping) and v.get("name") == name for v in volumes):
        volumes.append({"name": name, "emptyDir": {"medium": medium} if medium else {}})


def _with_shared_memory(template: Mapping[str, Any], start_params: Any) -> dict[str, Any]:
    result = copy.deepcopy(dict(template))
    if not (isinstance(start_params, Mapping) and "plasma-directory" in start_params):
        pod = result["spec"]
        _with_empty_dir(pod, pod["containers"][0], SHARED_MEMORY, "Memory")
    return result


def _with_autoscaler(template: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    pod = template["spec"]
    ray = pod["containers"][0]
    limits_and_requests = {"limits": dict(AUTOSCALER_RESOURCES), "requests": dict(AUTOSCALER_RESOURCES)}
    autoscaler: dict[str, Any] = {
        "name": AUTOSCALER,
        "image": options.get("image") or ray.get("image"),
        "resources": copy.deepcopy(options["resources"]) if options.get("resources") else limits_and_requests,
    }
    if options.get("securityContext") is not None:
        autoscaler["securityContext"] = copy.deepcopy(options["securityContext"])
    pod["containers"].append(autoscaler)
    _with_empty_dir(pod, ray, RAY_LOGS)
    _with_empty_dir(pod, autoscaler, RAY_LOGS)
    return template


def _with_wait_for_gcs(template: Mapping[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(dict(template))
    pod = template["spec"]
    ray = pod["containers"][0]
    wait: dict[str, Any] = {
        "name": WAIT_GCS_READY,
        "image": ray.get("image"),
        "resources": {"limits": dict(WAIT_GCS_READY_RESOURCES), "requests": dict(WAIT_GCS_READY_RESOURCES)},
        "volumeMounts": copy.deepcopy(ray.get("volumeMounts") or []),
    }
    if ray.get("securityContext") is not None:
        wait["securityContext"] = copy.deepcopy(ray["securityContext"])
    pod.setdefault("initContainers", []).append(wait)
    return template
