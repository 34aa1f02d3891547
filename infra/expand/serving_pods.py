"""The predictor pods of a KServe InferenceService, as KServe 0.20 and Knative Serving 1.23 build them, so that the
`admission` stage judges them like any other pod template.

- KServe resolves the predictor's `model.runtime` (a ServingRuntime of the namespace, else a ClusterServingRuntime)
  and merges the runtime's `kserve-container` with the model's container fields (the model's win; `args`
  concatenate), and the runtime's pod fields (nodeSelector, affinity, tolerations, volumes, imagePullSecrets,
  schedulerName) with the predictor's pod fields (the predictor's win): MergeServingRuntimeAndInferenceServiceSpecs.
- Its pod webhook adds the `storage-initializer` init container where the model has a `storageUri` (other than an
  `oci://` model car): the image and resources of `inferenceservice-config`'s `storageInitializer`, merged with the
  container of the first enabled ClusterStorageContainer whose `supportedUriFormats` match the URI.
- In Serverless (`Knative`) mode, the predictor's `serving.kserve.io/deploymentMode` annotation or else
  inferenceservice-config's `deploy.defaultDeploymentMode`, Knative Serving adds its `queue-proxy` with its fixed
  restricted securityContext and the resources the KnativeServing's config-deployment gives it (25m CPU requested
  by default: queue.go, createQueueResources); not in RawDeployment (`Standard`) mode.

Istio's sidecar is added afterwards by the admission stage's injection model, as for every pod. A predictor with a
logger, a batcher or no named runtime is not modelled (KServe would add its agent, or pick a runtime by format).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of

GROUP = "serving.kserve.io"
USER_CONTAINER = "kserve-container"
STORAGE_INITIALIZER = "storage-initializer"
QUEUE_PROXY = "queue-proxy"
RUNTIME_POD_FIELDS = ("nodeSelector", "affinity", "tolerations", "volumes", "imagePullSecrets", "schedulerName")
SERVERLESS = ("Serverless", "Knative")
"""Deployment modes in which Knative Serving runs the predictor (KServe 0.20 calls the default `Knative`)."""
QUEUE_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONFIG_MAP = "inferenceservice-config"
# Knative Serving 1.23's config-deployment keys for the queue-proxy's resources (pkg/deployment/config.go), by the
# resource and bound they set; only the CPU request has a default unless the queueproxy.resource-defaults feature
# is enabled.
QUEUE_RESOURCE_KEYS = {
    ("requests", "cpu"): "queue-sidecar-cpu-request",
    ("requests", "memory"): "queue-sidecar-memory-request",
    ("requests", "ephemeral-storage"): "queue-sidecar-ephemeral-storage-request",
    ("limits", "cpu"): "queue-sidecar-cpu-limit",
    ("limits", "memory"): "queue-sidecar-memory-limit",
    ("limits", "ephemeral-storage"): "queue-sidecar-ephemeral-storage-limit",
}
QUEUE_CPU_REQUEST = "25m"
QUEUE_RESOURCE_DEFAULTS = {
    ("requests", "cpu"): "25m",
    ("requests", "memory"): "400Mi",
    ("limits", "cpu"): "1000m",
    ("limits", "memory"): "800Mi",
}


def merged(base: Any, override: Any) -> Any:
    """`override` over `base`: maps merge key by key, anything else is replaced (enough for what is judged here:
    security contexts and resources merge field by field, as a strategic merge does)."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        result = dict(copy.deepcopy(base))
        for key, value in override.items():
            result[key] = merged(result.get(key), value)
        return result
    return copy.deepcopy(override)


@dataclass
class ServingModel:
    """What KServe reads to build predictor pods: runtimes, storage containers and its storage initializer's
    configuration."""

    runtimes: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    """Runtime specs by (namespace, name); a ClusterServingRuntime's namespace is ``."""
    storage_containers: list[Mapping[str, Any]] = field(default_factory=list)
    storage_initializer: Mapping[str, Any] = field(default_factory=dict)
    queue_resources: Mapping[str, Any] = field(default_factory=lambda: {"requests": {"cpu": QUEUE_CPU_REQUEST}})
    """The queue-proxy's resources, as the KnativeServing's `config.deployment` and `config.features` set them."""
    default_mode: str = "Serverless"
    """inferenceservice-config's `deploy.defaultDeploymentMode`: the mode of a predictor that names none."""
    used: set[tuple[str, str]] = field(default_factory=set)
    """The runtimes of the predictor pods modelled so far, as (namespace, name) keys of `runtimes`."""

    @classmethod
    def of(cls, objects: Iterable[PlatformObject]) -> ServingModel:
        model = cls()
        for item in objects:
            group = group_of(str(item.object.get("apiVersion", "")))
            spec = item.object.get("spec")
            if (
                group == GROUP
                and item.kind in ("ServingRuntime", "ClusterServingRuntime")
                and isinstance(spec, Mapping)
            ):
                namespace = item.namespace if item.kind == "ServingRuntime" else ""
                model.runtimes[(namespace or "", item.name)] = spec
            elif group == GROUP and item.kind == "ClusterStorageContainer" and isinstance(spec, Mapping):
                if not item.object.get("disabled"):
                    model.storage_containers.append(spec)
            elif (group, item.kind) == ("operator.knative.dev", "KnativeServing") and isinstance(spec, Mapping):
                model.queue_resources = _queue_resources(spec.get("config") or {})
            elif item.kind == "ConfigMap" and item.name == CONFIG_MAP:
                data = item.object.get("data") or {}
                if isinstance(data.get("storageInitializer"), str):
                    model.storage_initializer = json.loads(data["storageInitializer"])
                if isinstance(data.get("deploy"), str):
                    model.default_mode = str(
                        json.loads(data["deploy"]).get("defaultDeploymentMode", model.default_mode)
                    )
        return model

    def runtime(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The ServingRuntime of the namespace named so, else the ClusterServingRuntime; marked as used."""
        for key in ((namespace, name), ("", name)):
            if key in self.runtimes:
                self.used.add(key)
                return self.runtimes[key]
        return None

    def judged_in_use(self, item: PlatformObject) -> bool:
        """A runtime whose pods were judged in a predictor that uses it."""
        if item.kind == "ServingRuntime":
            return (item.namespace or "", item.name) in self.used
        return item.kind == "ClusterServingRuntime" and ("", item.name) in self.used

    def predictor_pod(self, isvc: Mapping[str, Any], namespace: str) -> dict[str, Any] | str:
        """The predictor's pod template, or why it is not modelled."""
        spec = isvc.get("spec") if isinstance(isvc.get("spec"), Mapping) else {}
        predictor = spec.get("predictor") if isinstance(spec.get("predictor"), Mapping) else {}
        model = predictor.get("model")
        if predictor.get("logger") or predictor.get("batcher"):
            return "KServe adds its agent container to a predictor with a logger or batcher"
        pod_fields = {k: v for k, v in predictor.items() if k not in _PREDICTOR_ONLY and k != "model"}
        if isinstance(model, Mapping):
            runtime_name = model.get("runtime")
            if not runtime_name:
                return "its runtime is picked by model format at run time"
            runtime = self.runtime(namespace, str(runtime_name))
            if runtime is None:
                return f"its runtime {runtime_name} is not among the platform's ServingRuntimes"
            containers = [copy.deepcopy(dict(c)) for c in runtime.get("containers") or () if isinstance(c, Mapping)]
            index = next((i for i, c in enumerate(containers) if c.get("name") == USER_CONTAINER), None)
            if index is None:
                return f"its runtime {runtime_name} has no {USER_CONTAINER} container"
            model_container = {k: v for k, v in model.items() if k not in _MODEL_ONLY}
            user = merged(containers[index], model_container)
            user["args"] = [*(containers[index].get("args") or ()), *(model_container.get("args") or ())]
            containers[index] = user
            base = {k: runtime[k] for k in RUNTIME_POD_FIELDS if k in runtime}
            pod = merged(base, pod_fields)
            pod["containers"] = containers
            storage_uri = model.get("storageUri")
        else:
            pod = copy.deepcopy(pod_fields)
            storage_uri = None
        if isinstance(storage_uri, str) and not storage_uri.startswith("oci://"):
            pod.setdefault("initContainers", []).append(self._storage_initializer(storage_uri))
        annotations = (isvc.get("metadata") or {}).get("annotations") or {}
        if annotations.get("serving.kserve.io/deploymentMode", self.default_mode) in SERVERLESS:
            queue = {
                "name": QUEUE_PROXY,
                "resources": copy.deepcopy(dict(self.queue_resources)),
                "securityContext": copy.deepcopy(QUEUE_SECURITY_CONTEXT),
            }
            pod.setdefault("containers", []).append(queue)
        labels = {**((isvc.get("metadata") or {}).get("labels") or {}), **(predictor.get("labels") or {})}
        return {
            "metadata": {"labels": labels, "annotations": dict(predictor.get("annotations") or {})},
            "spec": pod,
        }

    def _storage_initializer(self, uri: str) -> dict[str, Any]:
        config = self.storage_initializer
        container: dict[str, Any] = {"name": STORAGE_INITIALIZER, "image": config.get("image", "")}
        if config:
            container["resources"] = {
                "limits": {"cpu": config.get("cpuLimit"), "memory": config.get("memoryLimit")},
                "requests": {"cpu": config.get("cpuRequest"), "memory": config.get("memoryRequest")},
            }
        for storage in self.storage_containers:
            if _supports(storage, uri) and isinstance(storage.get("container"), Mapping):
                return merged(container, storage["container"])
        return container


# Predictor fields that are KServe's own, not the pod's.
_PREDICTOR_ONLY = frozenset(
    {
        "minReplicas",
        "maxReplicas",
        "scaleTarget",
        "scaleMetric",
        "scaleMetricType",
        "containerConcurrency",
        "timeout",
        "canaryTrafficPercent",
        "logger",
        "batcher",
        "labels",
        "annotations",
        "deploymentStrategy",
        "autoScaling",
        "workerSpec",
    }
)
# Model fields that are not the container's.
_MODEL_ONLY = frozenset({"modelFormat", "runtime", "storageUri", "protocolVersion", "storage"})


def _supports(storage: Mapping[str, Any], uri: str) -> bool:
    for form in storage.get("supportedUriFormats") or ():
        if not isinstance(form, Mapping):
            continue
        if "prefix" in form and uri.startswith(str(form["prefix"])):
            return True
        if "regex" in form and re.search(str(form["regex"]), uri):  # Go's MatchString: unanchored
            return True
    return False


def _queue_resources(config: Mapping[str, Any]) -> dict[str, Any]:
    """Knative's createQueueResources with the service's config-deployment and features (no per-service
    annotations): each key set wins, else the default where there is one."""
    deployment = config.get("deployment") or {}
    features = config.get("features") or {}
    defaults = (
        QUEUE_RESOURCE_DEFAULTS
        if str(features.get("queueproxy.resource-defaults", "")).lower() == "enabled"
        else {("requests", "cpu"): QUEUE_CPU_REQUEST}
    )
    resources: dict[str, Any] = {}
    for (bound, name), key in QUEUE_RESOURCE_KEYS.items():
        value = deployment.get(key, defaults.get((bound, name)))
        if value:
            resources.setdefault(bound, {})[name] = str(value)
    return resources
