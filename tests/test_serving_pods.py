"""The predictor pods of KServe InferenceServices (infra/expand/serving_pods.py), judged by the `admission` stage with
what KServe and Knative add, instead of being listed as not judged."""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.expand.admission import judge
from infra.expand.platform import Platform, PlatformObject
from infra.expand.pods import platform_pods
from infra.expand.serving_pods import QUEUE_SECURITY_CONTEXT, ServingModel

RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str = "", **extra: Any) -> PlatformObject:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec, **extra}
    return PlatformObject("kserve", body, f"{kind}.yaml")


RUNTIME = obj(
    "ClusterServingRuntime",
    "sklearn",
    {
        "nodeSelector": {"pool": "serving"},
        "containers": [
            {
                "name": "kserve-container",
                "image": "kserve/sklearnserver:v0.20.0",
                "args": ["--model_name={{.Name}}"],
                "securityContext": {"runAsNonRoot": True, "privileged": False},
                "resources": {"requests": {"cpu": "1"}},
            }
        ],
    },
)
STORAGE = obj(
    "ClusterStorageContainer",
    "default",
    {
        "container": {"name": "storage-initializer", "securityContext": RESTRICTED},
        "supportedUriFormats": [{"prefix": "gs://"}, {"regex": "https://(.+?).blob.core.windows.net/(.+)"}],
    },
)
CONFIG = PlatformObject(
    "kserve",
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "inferenceservice-config", "namespace": "kserve"},
        "data": {
            "storageInitializer": json.dumps(
                {"image": "kserve/storage-initializer:v0.20.0", "cpuRequest": "100m", "cpuLimit": "1"}
                | {"memoryRequest": "100Mi", "memoryLimit": "1Gi"}
            )
        },
    },
    "config.yaml",
)


def isvc(model: dict[str, Any], **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "ml", "labels": {"app": "iris"}},
        "spec": {"predictor": {"minReplicas": 0, "model": model, **predictor}},
    }


MODEL = {
    "modelFormat": {"name": "sklearn"},
    "runtime": "sklearn",
    "storageUri": "gs://bucket/iris",
    "args": ["--workers=2"],
    "securityContext": RESTRICTED,
    "resources": {"limits": {"cpu": "2"}},
}


def model_of(*extra: PlatformObject) -> ServingModel:
    return ServingModel.of([RUNTIME, STORAGE, CONFIG, *extra])


def test_the_predictor_pod_merges_runtime_and_model_and_gets_what_kserve_and_knative_add() -> None:
    pod = model_of().predictor_pod(isvc(MODEL, securityContext={"runAsNonRoot": True}), "ml")
    assert isinstance(pod, dict)
    assert pod["metadata"]["labels"] == {"app": "iris"}
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "serving"} and spec["securityContext"] == {"runAsNonRoot": True}
    user, queue = spec["containers"]
    assert user["name"] == "kserve-container" and user["image"] == "kserve/sklearnserver:v0.20.0"
    assert user["args"] == ["--model_name={{.Name}}", "--workers=2"]
    assert user["securityContext"] == {"runAsNonRoot": True, "privileged": False, **RESTRICTED}
    assert user["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
    assert "storageUri" not in user and "runtime" not in user
    assert queue == {
        "name": "queue-proxy",
        "resources": {"requests": {"cpu": "25m"}},
        "securityContext": QUEUE_SECURITY_CONTEXT,
    }
    (storage,) = spec["initContainers"]
    assert storage["name"] == "storage-initializer" and storage["securityContext"] == RESTRICTED
    assert storage["resources"]["requests"] == {"cpu": "100m", "memory": "100Mi"}


def test_the_storage_initializer_takes_only_a_storage_container_that_supports_the_uri() -> None:
    azure = {**MODEL, "storageUri": "https://acct.blob.core.windows.net/models/iris"}
    pod = model_of().predictor_pod(isvc(azure), "ml")
    assert isinstance(pod, dict) and pod["spec"]["initContainers"][0]["securityContext"] == RESTRICTED
    s3 = {**MODEL, "storageUri": "s3://bucket/iris"}
    pod = model_of().predictor_pod(isvc(s3), "ml")
    assert isinstance(pod, dict) and "securityContext" not in pod["spec"]["initContainers"][0]
    car = {**MODEL, "storageUri": "oci://registry/model:1"}
    pod = model_of().predictor_pod(isvc(car), "ml")
    assert isinstance(pod, dict) and "initContainers" not in pod["spec"]


def test_raw_deployments_have_no_queue_proxy_and_a_namespaced_runtime_comes_first() -> None:
    raw = isvc(MODEL)
    raw["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    pod = model_of().predictor_pod(raw, "ml")
    assert isinstance(pod, dict) and [c["name"] for c in pod["spec"]["containers"]] == ["kserve-container"]
    # The cluster-wide default decides where the predictor names no mode.
    standard = copy.deepcopy(CONFIG.object)
    standard["data"]["deploy"] = json.dumps({"defaultDeploymentMode": "Standard"})
    serving = ServingModel.of([RUNTIME, STORAGE, PlatformObject("kserve", standard, "config.yaml")])
    pod = serving.predictor_pod(isvc(MODEL), "ml")
    assert isinstance(pod, dict) and [c["name"] for c in pod["spec"]["containers"]] == ["kserve-container"]
    own_spec = copy.deepcopy(RUNTIME.object["spec"])
    own_spec["containers"][0]["image"] = "team/sklearn:1"
    own = obj("ServingRuntime", "sklearn", own_spec, namespace="ml")
    serving = model_of(own)
    pod = serving.predictor_pod(isvc(MODEL), "ml")
    assert isinstance(pod, dict) and pod["spec"]["containers"][0]["image"] == "team/sklearn:1"
    assert serving.judged_in_use(own) and not serving.judged_in_use(RUNTIME)


def test_what_is_not_modelled_says_why() -> None:
    serving = model_of()
    assert serving.predictor_pod(isvc({**MODEL, "runtime": None}), "ml") == (
        "its runtime is picked by model format at run time"
    )
    assert serving.predictor_pod(isvc({**MODEL, "runtime": "triton"}), "ml") == (
        "its runtime triton is not among the platform's ServingRuntimes"
    )
    assert "agent" in str(serving.predictor_pod(isvc(MODEL, logger={"mode": "all"}), "ml"))


def test_admission_judges_the_example_model_server_with_what_kserve_and_knative_add(
    platforms: dict[str, Platform],
) -> None:
    platform = platforms["dev"]
    [served] = [o for o in platform.objects if o.kind == "InferenceService"]
    findings, _ = judge(platform.objects, platform.env.kubernetes_version)
    assert [f for f in findings if f.object_ref == served.ref] == []
    assert not any("InferenceService" in f.message for f in findings if f.object_ref == "custom resources")
    # The model lets its container escalate privileges: the merged container does, and the restricted namespace
    # refuses the pod; the runtime alone (restricted) would have passed.
    changed = copy.deepcopy(dict(served.object))
    changed["spec"]["predictor"]["model"]["securityContext"]["allowPrivilegeEscalation"] = True
    objects = [PlatformObject(o.owner, changed, o.origin) if o.ref == served.ref else o for o in platform.objects]
    findings, _ = judge(objects, platform.env.kubernetes_version)
    paths = [f.message.split(": ")[0] for f in findings if f.object_ref == served.ref]
    assert paths == ["spec.predictor.spec.containers[kserve-container].securityContext.allowPrivilegeEscalation"]


def test_capacity_counts_the_same_predictor_pod(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    [served] = [o for o in platform.objects if o.kind == "InferenceService"]
    counted = platform_pods(platform.objects, platform.env.kubernetes_version)
    [pods] = [p for p in counted.pods if p.ref == served.ref]
    assert [c["name"] for c in pods.spec["containers"]] == ["kserve-container", "queue-proxy"]
    assert [c["name"] for c in pods.spec["initContainers"]] == ["storage-initializer"]
    assert pods.count == served.object["spec"]["predictor"]["minReplicas"]


def test_the_queue_proxy_requests_what_the_knative_serving_config_gives_it() -> None:
    pod = model_of().predictor_pod(isvc(MODEL), "ml")
    assert isinstance(pod, dict) and pod["spec"]["containers"][1]["resources"] == {"requests": {"cpu": "25m"}}
    knative = PlatformObject(
        "knative",
        {
            "apiVersion": "operator.knative.dev/v1beta1",
            "kind": "KnativeServing",
            "metadata": {"name": "knative-serving", "namespace": "knative-serving"},
            "spec": {
                "config": {
                    "deployment": {"queue-sidecar-memory-request": "100Mi"},
                    "features": {"queueproxy.resource-defaults": "enabled"},
                }
            },
        },
        "knative.yaml",
    )
    pod = model_of(knative).predictor_pod(isvc(MODEL), "ml")
    assert isinstance(pod, dict) and pod["spec"]["containers"][1]["resources"] == {
        "requests": {"cpu": "25m", "memory": "100Mi"},
        "limits": {"cpu": "1000m", "memory": "800Mi"},
    }
