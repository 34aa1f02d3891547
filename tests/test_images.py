"""Every image each environment runs, with its origin, and the `images` stage that refuses a floating one."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import yaml

from infra.cli import commands
from infra.expand.expansion import ExpandedObject
from infra.expand.images import (
    POD,
    ImageUse,
    PlatformImages,
    Reference,
    image_problems,
    images_findings,
    platform_images,
)
from infra.expand.platform import Platform


def with_objects(platform: Platform, owner: str, *objects: dict[str, Any]) -> Platform:
    expansion = dataclasses.replace(platform.expansion, objects=dict(platform.expansion.objects))
    expansion.objects[owner] = [*expansion.objects.get(owner, []), *(ExpandedObject(owner, o, "test") for o in objects)]
    return Platform(platform.rendered, expansion)


def only(platform: Platform, owner: str, *objects: dict[str, Any]) -> Platform:
    """A platform of `objects` alone (the stack's objects of `platform` aside)."""
    rendered = dataclasses.replace(platform.rendered, manifests=())
    expansion = dataclasses.replace(
        platform.expansion, objects={owner: [ExpandedObject(owner, o, "test") for o in objects]}
    )
    return Platform(rendered, expansion)


def deployment(name: str, containers: list[dict[str, Any]], **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "tools"},
        "spec": {"template": {"metadata": {}, "spec": {"containers": containers, **pod}}},
    }


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "tools"}, "data": data}


def references(platform: Platform) -> set[str]:
    return {use.reference for use in platform_images(platform).uses}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis", Reference("docker.io", "library/redis")),
        ("mysql:8.4", Reference("docker.io", "library/mysql", "8.4")),
        ("kserve/agent:v0.20.0", Reference("docker.io", "kserve/agent", "v0.20.0")),
        ("quay.io/argoproj/argoexec:v3.7.3", Reference("quay.io", "argoproj/argoexec", "v3.7.3")),
        ("localhost:5000/x:1", Reference("localhost:5000", "x", "1")),
        (
            "registry.k8s.io/pause:3.10@sha256:" + "e" * 64,
            Reference("registry.k8s.io", "pause", "3.10", "sha256:" + "e" * 64),
        ),
    ],
)
def test_references_are_read_as_the_runtime_reads_them(text: str, expected: Reference) -> None:
    assert Reference.parse(text) == expected


@pytest.mark.parametrize("text", ["", "https://quay.io/x", "Bad/Upper:1", "a b", "{{ .Values.image }}"])
def test_what_is_not_a_reference_is_not_one(text: str) -> None:
    assert Reference.parse(text) is None


def test_pinned_means_a_digest_or_a_tag_that_does_not_move() -> None:
    assert Reference.parse("redis:7.4-alpine").pinned  # type: ignore[union-attr]
    assert Reference.parse("x@sha256:" + "0" * 64).pinned  # type: ignore[union-attr]
    for floating in ("redis", "redis:latest", "redis:main", "redis:Latest"):
        assert not Reference.parse(floating).pinned, floating  # type: ignore[union-attr]


def test_every_environment_runs_only_fixed_images(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        findings, checked = images_findings(platform)
        assert [f for f in findings if f.severity == "error"] == [], env
        # Every environment runs dozens of images; the fewest, onprem-traefik (no Kubeflow, KServe or ML apps), 77.
        assert checked > (35 if env == "hub-example" else 70), env  # the small example runs no Kubeflow


def test_images_come_with_their_origin_and_include_what_controllers_start_later(platforms: dict[str, Platform]) -> None:
    found = platform_images(platforms["dev"]).by_reference()

    def started(reference: str) -> set[str]:
        return {use.started_by for use in found[reference]}

    # Pods of the stack and of Applications, init containers included.
    assert {use.owner for use in found["gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"]} == {
        "kubeflow-pipelines",
        "mlflow",
    }
    assert any("initContainers" in use.field for use in found["docker.io/library/busybox:1.38.0"])
    # Istio's proxy, from the injector's values (also what replaces `image: auto` in the gateway's pods).
    (proxy,) = found["registry.istio.io/release/proxyv2:1.30.3"]
    assert proxy.owner == "istiod" and "injector" in proxy.started_by
    # KFP's driver and launcher (the API server's environment), Argo's executor (the controller's arguments).
    assert "env V2_LAUNCHER_IMAGE" in next(iter(started("ghcr.io/kubeflow/kfp-launcher:2.16.0")))
    assert "env V2_DRIVER_IMAGE" in next(iter(started("ghcr.io/kubeflow/kfp-driver:2.16.0")))
    assert "--executor-image" in next(iter(started("quay.io/argoproj/argoexec:v3.7.3")))
    # Katib's metrics collectors (katib-config), KServe's runtimes (the stack's ClusterServingRuntimes) and storage
    # initializer (inferenceservice-config), the Pipelines' cache step, cert-manager's ACME solver.
    assert {use.field for use in found["ghcr.io/kubeflow/katib/file-metrics-collector:v0.19.0"]} >= {
        "data.katib-config.yaml: [0].runtime.metricsCollectors[0].image"
    }
    assert found["docker.io/kserve/sklearnserver:v0.20.0"][0].owner == "stack"
    assert any(u.owner == "kserve" for u in found["docker.io/kserve/storage-initializer:v0.20.0"])
    assert "data.cacheImage" in {u.field for u in found["ghcr.io/containerd/busybox:1.36"]}
    assert "quay.io/jetstack/cert-manager-acmesolver:v1.21.1" in found
    # Every use says who starts it.
    assert all(use.started_by for uses in found.values() for use in uses)
    # The notebook images the Jupyter web app offers.
    assert "ghcr.io/kubeflow/kubeflow/notebook-servers/codeserver-python:v1.10.0" in found


def test_the_elastic_stack_images_are_named_after_the_version_eck_runs(platforms: dict[str, Platform]) -> None:
    found = platform_images(platforms["onprem"]).by_reference()
    assert {u.object_ref for u in found["docker.elastic.co/kibana/kibana:9.4.3"]} == {
        "stack: kibana.k8s.elastic.co/v1 Kibana logging/logs"
    }
    assert "docker.elastic.co/beats/filebeat:9.4.3" in found


def test_images_an_operator_picks_itself_are_said_to_be_unseen(platforms: dict[str, Platform]) -> None:
    unseen = {u.object_ref: u.what for u in platform_images(platforms["dev"]).unseen}
    serving = unseen["stack: operator.knative.dev/v1beta1 KnativeServing knative-serving/knative-serving"]
    assert "queue-proxy" in serving
    findings, _ = images_findings(platforms["dev"])
    assert any(f.severity == "advisory" and "Knative Serving" in f.message for f in findings)


def test_each_rule_finds_its_image(platforms: dict[str, Platform]) -> None:
    objects = [
        deployment(
            "pods",
            [
                {
                    "name": "main",
                    "image": "quay.io/a/main:1.0",
                    "args": ["--helper-image", "quay.io/a/helper:1.0", "--reloader=ghcr.io/a/reloader:v2", "--x=1"],
                    "env": [
                        {"name": "RUNNER_IMAGE", "value": "a/runner:3"},
                        {"name": "URL", "value": "https://quay.io/a/not-an-image:1"},
                        {"name": "IMAGE_PULL_POLICY", "value": "Always"},
                    ],
                }
            ],
            initContainers=[{"name": "init", "image": "a/init:1"}],
            volumes=[{"name": "model", "image": {"reference": "a/model:1"}}],
        ),
        config_map(
            "settings",
            {
                "collector": json.dumps({"image": "ghcr.io/a/collector:1", "imagePullPolicy": "IfNotPresent"}),
                "explainer": json.dumps({"image": "a/explainer", "defaultImageVersion": "v2"}),
                "list.yaml": yaml.safe_dump({"image": {"value": "a/nb:1", "options": ["a/nb:1", "a/nb2:1"]}}),
                "stepImage": "a/step:1",
                "_example": "image: a/documentation:latest",
            },
        ),
        {
            "apiVersion": "serving.example.io/v1",
            "kind": "Runtime",
            "metadata": {"name": "r"},
            "spec": {"containers": [{"image": "a/runtime:1"}], "imageName": "a/db:16"},
        },
    ]
    found = references(only(platforms["dev"], "tools", *objects))
    assert found == {
        "quay.io/a/main:1.0",
        "quay.io/a/helper:1.0",
        "ghcr.io/a/reloader:v2",
        "a/runner:3",
        "a/init:1",
        "a/model:1",
        "ghcr.io/a/collector:1",
        "a/explainer:v2",
        "a/nb:1",
        "a/nb2:1",
        "a/step:1",
        "a/runtime:1",
        "a/db:16",
    }


def test_an_image_without_a_tag_is_refused(platforms: dict[str, Platform]) -> None:
    bad = with_objects(platforms["dev"], "keda", deployment("untagged", [{"name": "c", "image": "ghcr.io/a/b"}]))
    findings = [f for f in images_findings(bad)[0] if f.severity == "error"]
    assert [(f.object_ref, f.message.split(":")[0]) for f in findings] == [
        ("keda: apps/v1 Deployment tools/untagged", "spec.template.spec.containers[0].image")
    ]
    assert "has no tag" in findings[0].message


def test_a_moving_tag_is_refused_where_a_controller_starts_it(platforms: dict[str, Platform]) -> None:
    bad = with_objects(
        platforms["dev"], "kserve", config_map("runtimes", {"agent": json.dumps({"image": "a/x:latest"})})
    )
    (finding,) = [f for f in images_findings(bad)[0] if f.severity == "error"]
    assert finding.object_ref == "kserve: v1 ConfigMap tools/runtimes"
    assert finding.message.startswith("data.agent: image: a/x:latest has the moving tag 'latest'")


def test_one_image_at_two_versions_is_refused_at_each_place(platforms: dict[str, Platform]) -> None:
    bad = with_objects(
        platforms["dev"],
        "keda",
        deployment("old-proxy", [{"name": "c", "image": "registry.istio.io/release/proxyv2:1.29.0"}]),
    )
    findings = [f for f in images_findings(bad)[0] if f.severity == "error"]
    assert {f.object_ref for f in findings} == {
        "keda: apps/v1 Deployment tools/old-proxy",
        "istiod: v1 ConfigMap istio-system/istio-sidecar-injector",
    }
    assert all("one image, one version" in f.message for f in findings)


def uses(*references: str) -> PlatformImages:
    return PlatformImages(tuple(ImageUse(r, "o", f"r{i}", "f") for i, r in enumerate(references)), ())


def test_a_hardware_build_of_the_same_release_is_one_version() -> None:
    """Ray's head runs `2.52.0`, its GPU workers `2.52.0-gpu` (the same Ray with CUDA): dev's RayCluster."""
    assert (
        image_problems(uses("rayproject/ray:2.52.0", "rayproject/ray:2.52.0-gpu", "rayproject/ray:2.52.0-cu121")) == []
    )


@pytest.mark.parametrize(
    "other",
    ["rayproject/ray:2.51.0-gpu", "rayproject/ray:2.51.0", "rayproject/ray:2.52.0-rc1", "rayproject/ray:2.52.0-py311"],
)
def test_another_release_beside_a_hardware_build_is_refused(other: str) -> None:
    problems = image_problems(uses("rayproject/ray:2.52.0-gpu", other))
    assert len(problems) == 2
    assert all("one image, one version" in message for _, message in problems)
    assert "docker.io/rayproject/ray:2.52.0-gpu differs from" in problems[0][1] + problems[1][1]


def test_dev_runs_one_ray_release_on_cpu_and_gpu(platforms: dict[str, Platform]) -> None:
    found = platform_images(platforms["dev"]).by_reference()
    assert {"docker.io/rayproject/ray:2.52.0", "docker.io/rayproject/ray:2.52.0-gpu"} <= set(found)
    assert not [f for f in images_findings(platforms["dev"])[0] if f.severity == "error"]


def test_kubeflow_controllers_run_kserves_kube_rbac_proxy(platforms: dict[str, Platform]) -> None:
    """Before: the PVC viewer and Tensorboard controllers ran kube-rbac-proxy v0.13.1 and v0.8.0 beside KServe's."""
    found = platform_images(platforms["dev"]).by_reference()
    proxies = [reference for reference in found if reference.startswith("quay.io/brancz/kube-rbac-proxy:")]
    assert proxies == ["quay.io/brancz/kube-rbac-proxy:v0.18.0"]
    assert {u.owner for u in found[proxies[0]]} == {
        "kserve",
        "kubeflow-pvcviewer-controller",
        "kubeflow-tensorboard-controller",
    }


def test_katib_runs_the_pipelines_mysql(platforms: dict[str, Platform]) -> None:
    """Before: katib-mysql ran mysql:8.0 (a line out of support) beside the Pipelines' mysql:8.4."""
    found = platform_images(platforms["dev"]).by_reference()
    assert {u.owner for u in found["docker.io/library/mysql:8.4"]} == {"kubeflow-katib", "kubeflow-pipelines"}
    assert not any(reference.startswith("docker.io/library/mysql:8.0") for reference in found)


def test_image_use_of_a_pod_is_marked_as_such() -> None:
    assert ImageUse("a:1", "o", "r", "f").started_by == POD
    problems = image_problems(PlatformImages((ImageUse("not a ref", "o", "r", "f"),), ()))
    assert problems[0][1] == "'not a ref' is not an image reference"


def test_the_images_command_lists_every_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.images(commands.REPO / "environments", ["onprem"], commands.Caches.from_environment()) == 0
    out = capsys.readouterr().out
    assert out.startswith("onprem: ")
    assert "  docker.io/library/redis:7.4-alpine\n      stack: apps/v1 StatefulSet feast/feast-redis" in out
