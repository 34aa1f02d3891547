"""Kubeflow from the image mirror: with `mirrors` set, every image of every Kubeflow Application (its pods' and the
ones its controllers start, named in their configuration) is pulled from the mirrors, `check`'s mirrors stage finds
nothing, and `python -m infra.cli mirror` lists what to copy; an image left upstream is still refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components import kubeflow_images
from infra.components.kubeflow_images import (
    CONFIG_IMAGES,
    KATIB_CONFIG,
    KATIB_CONFIG_FILE,
    KATIB_CONFIG_MAP,
    PART_IMAGES,
    TRIAL_TEMPLATES,
    TRIAL_TEMPLATES_MAP,
    mirror_options,
    written_name,
)
from infra.config.model import Mirrors
from infra.expand import kustomize
from infra.expand.expansion import Expander
from infra.expand.images import POD, platform_images
from infra.expand.mirrors import mirror_plan, mirrors_findings, own_registry
from infra.expand.platform import Platform
from infra.platform.database import CLOUD_SQL_PROXY_IMAGE
from infra.platform.mirrors import mirrored_image
from tests.test_mirrors import GIT, messages, platform_of, stack_copy

MIRROR = "europe-west4-docker.pkg.dev/mlops-dev-123456/mirror"
# The images the platform's own patches add to a part's pods (mirrored where they are made, not by the part's list).
PLATFORM_SIDECARS = {written_name(CLOUD_SQL_PROXY_IMAGE)}


def dev_with_mirrors(settings: dict[str, Any]) -> None:
    """dev (GKE, Kubeflow on) installing from mirrors: images under an Artifact Registry repository, charts from
    another, git from a mirror; Knative's own images served by the nodes' runtime mirror."""
    settings["mirrors"] = {
        "charts": "oci://europe-west4-docker.pkg.dev/mlops-dev-123456/charts",
        "images": MIRROR,
        "git": {"https://github.com/": GIT},
        "exceptions": [
            {
                "image": "gcr.io/knative-releases",
                "reason": "Knative's operator names them by digest in the release manifests built into its image",
            }
        ],
    }


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory, expander: Expander) -> Platform:
    return platform_of(stack_copy(tmp_path_factory.mktemp("dev"), "dev", dev_with_mirrors), expander)


def kubeflow_uses(platform: Platform) -> dict[str, set[str]]:
    """Every image reference of each Kubeflow Application."""
    found: dict[str, set[str]] = {}
    for use in platform_images(platform).uses:
        if use.owner.startswith("kubeflow-"):
            found.setdefault(use.owner, set()).add(use.reference)
    return found


def test_a_kubeflow_environment_with_mirrors_pulls_every_image_from_them(
    mirrored: Platform, platforms: dict[str, Platform], expander: Expander
) -> None:
    findings, checked = mirrors_findings(mirrored, expander)
    assert messages(findings) == []
    assert checked > 150
    # The same images at the same versions as without mirrors, each from the mirror (the environment's own builds,
    # the notebook and codeserver images, from its registry).
    own = f"{own_registry(mirrored.env)}/"
    upstream = kubeflow_uses(platforms["dev"])
    expected = {
        part: {ref if ref.startswith(own) else mirrored_image(ref, mirrored.env.mirrors) for ref in refs}
        for part, refs in upstream.items()
    }
    assert kubeflow_uses(mirrored) == expected
    assert f"{MIRROR}/quay.io/argoproj/argoexec:v3.7.3" in expected["kubeflow-pipelines"]
    assert f"{MIRROR}/docker.io/library/mysql:8.4" in expected["kubeflow-katib"]


def test_the_mirror_plan_lists_kubeflow_images(
    mirrored: Platform, platforms: dict[str, Platform], expander: Expander
) -> None:
    plan = mirror_plan(platforms["dev"], expander, mirrored.env.mirrors)
    destinations = {plan.destination(reference) for reference in plan.images.values()}
    own = f"{own_registry(mirrored.env)}/"
    running = {ref for refs in kubeflow_uses(mirrored).values() for ref in refs if not ref.startswith(own)}
    assert running <= destinations
    for upstream in ("ghcr.io/kubeflow/kfp-launcher:2.16.0", "ghcr.io/kubeflow/katib/suggestion-optuna:v0.19.0"):
        assert upstream in plan.images


def test_a_kubeflow_image_left_upstream_is_still_caught(
    tmp_path: Path, expander: Expander, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipelines = tuple(image for image in PART_IMAGES["kubeflow-pipelines"] if "seaweedfs" not in image)
    monkeypatch.setitem(PART_IMAGES, "kubeflow-pipelines", pipelines)
    launcher = [image for image in CONFIG_IMAGES if image.key != "V2_LAUNCHER_IMAGE"]
    monkeypatch.setattr(kubeflow_images, "CONFIG_IMAGES", tuple(launcher))
    platform = platform_of(stack_copy(tmp_path, "dev", dev_with_mirrors), expander)
    found = messages(mirrors_findings(platform, expander)[0])
    assert found == [
        "kubeflow-pipelines: apps/v1 Deployment kubeflow/ml-pipeline | spec.template.spec.containers[0].env[27].value: "
        "ghcr.io/kubeflow/kfp-launcher:2.16.0 is pulled from outside the mirrors: point it at the image mirror, or "
        "list its registry under mirrors.exceptions with the reason",
        "kubeflow-pipelines: apps/v1 Deployment kubeflow/seaweedfs | spec.template.spec.containers[0].image: "
        "chrislusf/seaweedfs:4.00 is pulled from outside the mirrors: point it at the image mirror, or list its "
        "registry under mirrors.exceptions with the reason",
    ]


def test_each_part_lists_the_images_its_path_renders(platforms: dict[str, Platform]) -> None:
    """PART_IMAGES is what the parts' pods run in the environments (without mirrors): nothing missing, nothing
    stale."""
    rendered: dict[str, set[str]] = {}
    for platform in platforms.values():
        for use in platform_images(platform).uses:
            if use.owner.startswith("kubeflow-") and use.started_by == POD:
                if written_name(use.reference) not in PLATFORM_SIDECARS:
                    rendered.setdefault(use.owner, set()).add(use.reference)
    assert rendered == {part: set(images) for part, images in PART_IMAGES.items()}


def config_map_data(platform: Platform, owner: str, name: str) -> dict[str, str]:
    (data,) = [
        o.object["data"]
        for o in platform.owned_by(owner)
        if o.kind == "ConfigMap" and (o.name == name or o.name.rsplit("-", 1)[0] == name)
    ]
    return data


def test_the_images_named_in_configuration_are_upstream_s(platforms: dict[str, Platform]) -> None:
    """Each image a patch sets again (mirrored) is the one upstream names there, and Katib's files held here are
    upstream's, so that with mirrors only the registry changes."""
    dev = platforms["dev"]
    uses = platform_images(dev).uses
    for image in CONFIG_IMAGES:
        assert any(
            u.owner == image.part and u.reference == image.upstream and image.target in u.object_ref for u in uses
        ), image
    katib = config_map_data(dev, "kubeflow-katib", KATIB_CONFIG_MAP)
    assert yaml.safe_load(katib[KATIB_CONFIG_FILE]) == KATIB_CONFIG
    templates = config_map_data(dev, "kubeflow-katib", TRIAL_TEMPLATES_MAP)
    assert {key: yaml.safe_load(text) for key, text in templates.items()} == TRIAL_TEMPLATES


def test_without_an_image_mirror_the_parts_keep_their_options() -> None:
    for part in PART_IMAGES:
        assert mirror_options(part, Mirrors()) == {}
        assert mirror_options(part, Mirrors(git={"https://github.com/": GIT})) == {}


def test_argo_cd_image_overrides_replace_the_kustomization_s_entry(tmp_path: Path) -> None:
    """As `kustomize edit set image`: an override replaces the path's own entry of that name as a whole."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [], "images": [{"name": "b/x", "newTag": "v1"}, {"name": "a/y", "newTag": "2"}]})
    )
    kustomize._set_images(tmp_path, ["b/x=mirror/b/x:v1", "c/z:3", "d@sha256:abc"])
    assert yaml.safe_load((tmp_path / "kustomization.yaml").read_text())["images"] == [
        {"name": "a/y", "newTag": "2"},
        {"name": "b/x", "newName": "mirror/b/x", "newTag": "v1"},
        {"name": "c/z", "newTag": "3"},
        {"name": "d", "digest": "sha256:abc"},
    ]
    assert written_name("mysql:8.4") == "mysql"
    assert written_name("registry:5000/team/app") == "registry:5000/team/app"
    with pytest.raises(kustomize.BuildFailed, match="not `"):
        kustomize.image_override("")
