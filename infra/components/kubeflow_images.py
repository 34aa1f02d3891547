"""Kubeflow's images from the image mirror (Environment.mirrors.images / imageRegistries).

Kubeflow's parts are kustomize paths of kubeflow/manifests 26.03, so their images cannot be set through chart values:
- the images of their pods: Argo CD's kustomize `images` option (`<name>=<mirror>/<registry>/<repository>:<tag>`) for
  every image the part's path renders in a pod template (PART_IMAGES; a test holds each list equal to what the path
  renders, with the platform's own patches applied);
- the images named inside configuration, which kustomize's image transformer never reads: patches that set them
  (CONFIG_IMAGES: the Pipelines API server's driver and launcher, Argo's executor, the Tensorboard image, the volume
  viewer), and, for the files that hold several (Katib's katib-config and trial templates), the whole file again with
  its images mirrored (KATIB_CONFIG, TRIAL_TEMPLATES; a test holds each, unmirrored, equal to upstream's).

Without an image mirror nothing here adds anything: the Applications stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.config.settings.platform import Mirrors
from infra.platform.config_text import yaml_text
from infra.platform.kustomize import json_patch, merge_patch
from infra.platform.mirrors import mirrored_image

# Per part: the images (as the path writes them) of the containers and init containers its pods run, with the
# platform's patches applied (Katib's database at the Pipelines' `mysql`, kube-rbac-proxy at KServe's version).
PART_IMAGES: dict[str, tuple[str, ...]] = {
    "kubeflow-central-dashboard": ("ghcr.io/kubeflow/kubeflow/central-dashboard:v1.10.0",),
    "kubeflow-jupyter-web-app": ("ghcr.io/kubeflow/kubeflow/jupyter-web-app:v1.10.0",),
    "kubeflow-katib": (
        "ghcr.io/kubeflow/katib/katib-controller:v0.19.0",
        "ghcr.io/kubeflow/katib/katib-db-manager:v0.19.0",
        "ghcr.io/kubeflow/katib/katib-ui:v0.19.0",
        "mysql:8.4",
    ),
    "kubeflow-models-web-app": ("ghcr.io/kserve/models-web-app:0.16.1",),
    "kubeflow-notebook-controller": ("ghcr.io/kubeflow/kubeflow/notebook-controller:v1.10.0",),
    "kubeflow-pipelines": (
        "chrislusf/seaweedfs:4.00",
        "docker.io/alpine/k8s:1.32.3",
        "gcr.io/tfx-oss-public/ml_metadata_store_server:1.14.0",
        "ghcr.io/kubeflow/kfp-api-server:2.16.0",
        "ghcr.io/kubeflow/kfp-cache-server:2.16.0",
        "ghcr.io/kubeflow/kfp-frontend:2.16.0",
        "ghcr.io/kubeflow/kfp-metadata-envoy:2.16.0",
        "ghcr.io/kubeflow/kfp-metadata-writer:2.16.0",
        "ghcr.io/kubeflow/kfp-persistence-agent:2.16.0",
        "ghcr.io/kubeflow/kfp-scheduled-workflow-controller:2.16.0",
        "ghcr.io/kubeflow/kfp-viewer-crd-controller:2.16.0",
        "ghcr.io/kubeflow/kfp-visualization-server:2.16.0",
        "ghcr.io/metacontroller/metacontroller:v4.11.22",
        "mysql:8.4",
        "quay.io/argoproj/workflow-controller:v3.7.3",
    ),
    "kubeflow-poddefaults": ("ghcr.io/kubeflow/kubeflow/poddefaults-webhook:v1.10.0",),
    "kubeflow-profiles": (
        "ghcr.io/kubeflow/kubeflow/kfam:v1.10.0",
        "ghcr.io/kubeflow/kubeflow/profile-controller:v1.10.0",
    ),
    "kubeflow-pvcviewer-controller": (
        "ghcr.io/kubeflow/kubeflow/pvcviewer-controller:v1.10.0",
        "quay.io/brancz/kube-rbac-proxy:v0.18.0",
    ),
    "kubeflow-tensorboard-controller": (
        "ghcr.io/kubeflow/kubeflow/tensorboard-controller:v1.10.0",
        "quay.io/brancz/kube-rbac-proxy:v0.18.0",
    ),
    "kubeflow-tensorboards-web-app": ("ghcr.io/kubeflow/kubeflow/tensorboards-web-app:v1.10.0",),
    "kubeflow-training-operator": ("ghcr.io/kubeflow/training-v1/training-operator:v1-3f15cb8",),
    "kubeflow-volumes-web-app": ("ghcr.io/kubeflow/kubeflow/volumes-web-app:v1.10.0",),
}


def written_name(reference: str) -> str:
    """An image reference without its tag and digest, as kustomize's `images` match it (`mysql`, not
    `docker.io/library/mysql`)."""
    name = reference.partition("@")[0]
    head, colon, tag = name.rpartition(":")
    return head if colon and "/" not in tag else name


def image_override(reference: str, mirrors: Mirrors) -> str:
    """Argo CD's kustomize image override that pulls `reference` from the mirror: `<name>=<mirrored>:<tag>`. The tag
    is repeated because `kustomize edit set image` replaces an entry the path's kustomization has for the name (the
    training operator's sets only its tag) instead of merging into it."""
    return f"{written_name(reference)}={mirrored_image(reference, mirrors)}"


@dataclass(frozen=True)
class ConfigImage:
    """An image a part's controller starts, named in a container's environment or arguments, or a ConfigMap key."""

    part: str
    kind: str
    """`env`: a variable of a workload's container; `arg`: the argument after `flag`; `data`: a ConfigMap key."""
    target: str
    """The Deployment, or the ConfigMap (as the path names it, before kustomize adds a hash)."""
    key: str
    """The variable, the flag, or the ConfigMap key."""
    upstream: str
    container: str = ""
    argument: int = 0
    """For `arg`: the index of the flag in the container's arguments (the image follows it)."""

    def patch(self, mirrors: Mirrors) -> dict[str, Any]:
        image = mirrored_image(self.upstream, mirrors)
        if self.kind == "env":
            container = {"name": self.container, "env": [{"name": self.key, "value": image}]}
            body = {"spec": {"template": {"spec": {"containers": [container]}}}}
            return merge_patch("apps/v1", "Deployment", self.target, body)
        if self.kind == "arg":
            path = f"/spec/template/spec/containers/0/args/{self.argument}"
            # The tests fail the build (and so `check`) if upstream moves the container or the flag.
            ops = [
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": self.container},
                {"op": "test", "path": path, "value": self.key},
                {"op": "replace", "path": f"/spec/template/spec/containers/0/args/{self.argument + 1}", "value": image},
            ]
            return json_patch("Deployment", self.target, ops)
        return json_patch("ConfigMap", self.target, [{"op": "replace", "path": f"/data/{self.key}", "value": image}])


CONFIG_IMAGES: tuple[ConfigImage, ...] = (
    # The KFP API server names its driver and launcher in every run's workflow.
    ConfigImage(
        "kubeflow-pipelines", "env", "ml-pipeline", "V2_DRIVER_IMAGE", "ghcr.io/kubeflow/kfp-driver:2.16.0",
        container="ml-pipeline-api-server",
    ),
    ConfigImage(
        "kubeflow-pipelines", "env", "ml-pipeline", "V2_LAUNCHER_IMAGE", "ghcr.io/kubeflow/kfp-launcher:2.16.0",
        container="ml-pipeline-api-server",
    ),
    # Argo's workflow controller puts its executor into every step's pod.
    ConfigImage(
        "kubeflow-pipelines", "arg", "workflow-controller", "--executor-image", "quay.io/argoproj/argoexec:v3.7.3",
        container="workflow-controller", argument=2,
    ),
    ConfigImage(
        "kubeflow-tensorboard-controller", "data", "tensorboard-controller-config", "TENSORBOARD_IMAGE",
        "tensorflow/tensorflow:2.5.1",
    ),
    # The volumes web app starts a file browser pod on the volume a user opens.
    ConfigImage(
        "kubeflow-volumes-web-app", "env", "volumes-web-app-deployment", "VOLUME_VIEWER_IMAGE",
        "filebrowser/filebrowser:v2.25.0", container="volumes-web-app",
    ),
)  # fmt: skip

KATIB_VERSION = "v0.19.0"
KATIB = "ghcr.io/kubeflow/katib"
KATIB_CONFIG_MAP = "katib-config"
KATIB_CONFIG_FILE = "katib-config.yaml"
TRIAL_TEMPLATES_MAP = "trial-templates"


def _katib(name: str) -> str:
    return f"{KATIB}/{name}:{KATIB_VERSION}"


def _suggestion(algorithm: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"algorithmName": algorithm, "image": _katib(f"suggestion-{image}"), **extra}


# kubeflow/manifests 26.03 applications/katib/upstream/installs/katib-cert-manager/katib-config.yaml: the images of
# the metrics collectors Katib injects into trials, of the suggestion services and of early stopping.
KATIB_CONFIG: dict[str, Any] = {
    "apiVersion": "config.kubeflow.org/v1beta1",
    "kind": "KatibConfig",
    "init": {
        "controller": {
            "webhookPort": 8443,
            "trialResources": [
                "TrainJob.v1alpha1.trainer.kubeflow.org",
                "Job.v1.batch",
                "TFJob.v1.kubeflow.org",
                "PyTorchJob.v1.kubeflow.org",
                "MPIJob.v1.kubeflow.org",
                "XGBoostJob.v1.kubeflow.org",
            ],
        }
    },
    "runtime": {
        "metricsCollectors": [
            {"kind": "StdOut", "image": _katib("file-metrics-collector")},
            {"kind": "File", "image": _katib("file-metrics-collector")},
            {
                "kind": "TensorFlowEvent",
                "image": _katib("tfevent-metrics-collector"),
                "resources": {"limits": {"memory": "1Gi"}},
            },
        ],
        "suggestions": [
            _suggestion("random", "hyperopt"),
            _suggestion("tpe", "hyperopt"),
            _suggestion("grid", "optuna"),
            _suggestion("hyperband", "hyperband"),
            _suggestion("bayesianoptimization", "skopt"),
            _suggestion("cmaes", "goptuna"),
            _suggestion("sobol", "goptuna"),
            _suggestion("multivariate-tpe", "optuna"),
            _suggestion("enas", "enas", resources={"limits": {"memory": "400Mi"}}),
            _suggestion("darts", "darts"),
            _suggestion(
                "pbt",
                "pbt",
                persistentVolumeClaimSpec={
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "5Gi"}},
                },
            ),
        ],
        "earlyStoppings": [{"algorithmName": "medianstop", "image": _katib("earlystopping-medianstop")}],
    },
}


def _mnist_command(*options: str) -> list[str]:
    return ["python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1", *options]


MNIST_PARAMETERS = ("--lr=${trialParameters.learningRate}", "--momentum=${trialParameters.momentum}")


def _job(container: str, image: str, command: list[str]) -> dict[str, Any]:
    pod = {"containers": [{"name": container, "image": image, "command": command}], "restartPolicy": "Never"}
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": pod}}}


def _pytorch_replica(replicas: int) -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": _katib("pytorch-mnist-cpu"),
        "command": _mnist_command(*MNIST_PARAMETERS),
    }
    return {"replicas": replicas, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [container]}}}


# kubeflow/manifests 26.03 applications/katib/upstream/components/controller/trial-templates.yaml: the trial
# templates an Experiment may name (each key a Job or a PyTorchJob, as YAML).
TRIAL_TEMPLATES: dict[str, dict[str, Any]] = {
    "defaultTrialTemplate.yaml": _job(
        "training-container",
        _katib("pytorch-mnist-cpu"),
        _mnist_command("--batch-size=16", *MNIST_PARAMETERS),
    ),
    "enasCPUTemplate": _job(
        "training-container",
        _katib("enas-cnn-cifar10-cpu"),
        [
            "python3",
            "-u",
            "RunTrial.py",
            "--num_epochs=1",
            '--architecture="${trialParameters.neuralNetworkArchitecture}"',
            '--nn_config="${trialParameters.neuralNetworkConfig}"',
        ],
    ),
    "pytorchJobTemplate": {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": _pytorch_replica(1), "Worker": _pytorch_replica(2)}},
    },
}


def with_mirrored_images(value: Any, mirrors: Mirrors) -> Any:
    """`value` (plain data) with every string under an `image` key pulled from the image mirror."""
    if isinstance(value, Mapping):
        return {
            key: mirrored_image(item, mirrors)
            if key == "image" and isinstance(item, str)
            else with_mirrored_images(item, mirrors)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [with_mirrored_images(item, mirrors) for item in value]
    return value


def katib_patches(mirrors: Mirrors) -> list[dict[str, Any]]:
    """Katib's configuration files again, with their images from the mirror (JSON patches replace a key's whole
    text)."""
    config = yaml_text(with_mirrored_images(KATIB_CONFIG, mirrors), sort_keys=False)
    templates = [
        {"op": "replace", "path": f"/data/{key}", "value": yaml_text(with_mirrored_images(template, mirrors))}
        for key, template in TRIAL_TEMPLATES.items()
    ]
    return [
        json_patch(
            "ConfigMap", KATIB_CONFIG_MAP, [{"op": "replace", "path": f"/data/{KATIB_CONFIG_FILE}", "value": config}]
        ),
        json_patch("ConfigMap", TRIAL_TEMPLATES_MAP, templates),
    ]


def mirror_options(part: str, mirrors: Mirrors) -> dict[str, list[Any]]:
    """The kustomize options that pull a part's images from the image mirror: `images` and `patches` (to append to
    the part's own); empty without an image mirror."""
    if not (mirrors.images or mirrors.image_registries):
        return {}
    patches = [image.patch(mirrors) for image in CONFIG_IMAGES if image.part == part]
    if part == "kubeflow-katib":
        patches += katib_patches(mirrors)
    images = [image_override(reference, mirrors) for reference in PART_IMAGES.get(part, ())]
    return {key: value for key, value in (("images", images), ("patches", patches)) if value}
