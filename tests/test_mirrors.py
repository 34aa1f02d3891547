"""Installing without internet: an environment's `mirrors` point every chart, image and git source the platform
applies at the mirrors, `check` refuses what stays outside them, and `python -m infra.cli mirror` lists what to copy."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.catalog import CATALOG
from infra.cli import commands
from infra.config import InvalidEnvironment, load_stack_file
from infra.config.model import MirrorException, Mirrors
from infra.expand.expansion import ExpandedObject, Expander
from infra.expand.images import platform_images
from infra.expand.mirrors import mirror_plan, mirrors_findings, own_registry, write_plan
from infra.expand.platform import STACK, Platform
from infra.expand.sources import Source
from infra.offline.render import render_stack
from infra.platform.mirrors import mirror_values, mirrored_image, mirrored_repository
from tests.stack_copies import stack_copy

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPO / "environments"
AIRGAP = "airgap"
MIRROR = "registry.airgap.example.net/mirror"
CHARTS = "registry.airgap.example.net/charts"
GIT = "https://git.mirror.example.com/github/"


def with_objects(platform: Platform, owner: str, *objects: dict[str, Any]) -> Platform:
    expansion = dataclasses.replace(platform.expansion, objects=dict(platform.expansion.objects))
    expansion.objects[owner] = [*expansion.objects.get(owner, []), *(ExpandedObject(owner, o, "test") for o in objects)]
    return Platform(platform.rendered, expansion)


def platform_of(path: Path, expander: Expander) -> Platform:
    rendered = render_stack(path)
    return Platform(rendered, expander.expand(rendered))


def messages(findings: list) -> list[str]:
    return [f"{f.object_ref} | {f.message}" for f in findings]


# --- the rewriting rules ----------------------------------------------------------------------------------------


def test_an_image_is_pulled_from_the_mirror_under_its_registry() -> None:
    mirrors = Mirrors(images=MIRROR, image_registries={"docker.io": "europe-docker.pkg.dev/p/docker-hub"})
    assert mirrored_image("quay.io/jetstack/x:v1", mirrors) == f"{MIRROR}/quay.io/jetstack/x:v1"
    # Docker Hub's short names are the full path in a mirror; this registry has a mirror of its own.
    assert mirrored_image("redis:7.4", mirrors) == "europe-docker.pkg.dev/p/docker-hub/library/redis:7.4"
    digest = "sha256:" + "a" * 64
    assert mirrored_image(f"quay.io/c/c:v1@{digest}", mirrors) == f"{MIRROR}/quay.io/c/c:v1@{digest}"
    assert mirrored_repository("burakince/mlflow", Mirrors(images=MIRROR)) == f"{MIRROR}/docker.io/burakince/mlflow"
    # Without mirrors nothing changes.
    assert mirrored_image("quay.io/jetstack/x:v1", Mirrors()) == "quay.io/jetstack/x:v1"
    assert mirror_values("cert-manager", Mirrors()) == {}
    assert mirror_values("cert-manager", Mirrors(images=MIRROR)) == {"imageRegistry": f"{MIRROR}/quay.io"}


MISSING = object()


def lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return MISSING
        values = values[part]
    return values


def test_each_image_value_is_what_the_pinned_chart_has_there(expander: Expander) -> None:
    """A chart bump that moves or renames an image value fails here, not silently in an air-gapped cluster."""
    for key, chart in CATALOG.items():
        settings = chart.images
        if not settings:
            continue
        files = expander.chart(Source("chart", chart.repo_url, chart.version, chart=chart.chart)).files
        subcharts = {sub.name: sub for sub in files.subcharts}
        for setting in settings:
            # The chart's own values first (they override a subchart's), then the subchart's.
            value = lookup(files.defaults, setting.path)
            if value is MISSING:  # Istio's charts keep their defaults under this key (a Helm workaround)
                value = lookup(files.defaults.get("_internal_defaults_do_not_set") or {}, setting.path)
            first, _, rest = setting.path.partition(".")
            if value is MISSING and first in subcharts:
                value = lookup(subcharts[first].defaults, rest)
            assert value is not MISSING, f"{key}: {setting.path} is not in the chart"
            if setting.implied:
                assert value in (None, ""), f"{key}: {setting.path} has a default now: {value!r}"
            else:
                assert value == setting.upstream, f"{key}: {setting.path} is {value!r}, not {setting.upstream!r}"


# --- the air-gapped example ---------------------------------------------------------------------------------------


def test_the_air_gapped_environment_installs_from_its_mirrors_only(
    platforms: dict[str, Platform], expander: Expander
) -> None:
    airgap = platforms[AIRGAP]
    findings, checked = mirrors_findings(airgap, expander)
    assert findings == []
    assert checked > 80
    # Every chart, of the Applications and of the Pulumi releases (Argo CD, the CNI), from the chart mirror.
    assert {s.repo_url for d in airgap.deployers for s in d.sources if s.kind == "chart"} == {CHARTS}
    releases = {r.name: r.inputs for r in airgap.rendered.run.resources if r.type == "kubernetes:helm.sh/v3:Release"}
    assert releases["argo-cd"]["chart"] == f"oci://{CHARTS}/argo-cd" and "repositoryOpts" not in releases["argo-cd"]
    assert releases["cilium"]["chart"] == f"oci://{CHARTS}/cilium"
    # Argo CD reads the mirror as an OCI Helm repository, which its project admits.
    secrets = [o.object for o in airgap.owned_by(STACK) if o.kind == "Secret" and o.namespace == "argocd"]
    assert any(s.get("metadata", {}).get("name") == "repository-registry-airgap-example-net-charts" for s in secrets)
    (project,) = [o.object for o in airgap.owned_by(STACK) if o.kind == "AppProject" and o.name == "platform"]
    assert project["spec"]["sourceRepos"] == [CHARTS]
    # Every image from the mirror (the ML applications' from the site's registry), but for the operators' own
    # defaults, which the exceptions name.
    images = platform_images(airgap)
    own = f"{own_registry(airgap.env)}/"
    assert own == "registry.airgap.example.net/mlops/"
    runner = airgap.env.default_images.tags["notebook"]  # the overlay runs the same build of the runner
    assert {u.reference for u in images.uses if u.reference.startswith(own)} == {f"{own}papermill-runner:{runner}"}
    outside = {u.reference for u in images.uses if not u.reference.startswith((f"{MIRROR}/", own))}
    assert outside == set()
    assert {u.source for u in images.unseen} == {"gcr.io/knative-releases", "ghcr.io/cloudnative-pg/postgresql"}


def test_the_other_environments_have_no_mirrors_and_render_upstream_references(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        if env == AIRGAP:
            continue
        assert not platform.env.mirrors.enabled
        assert not any(u.reference.startswith("registry.airgap") for u in platform_images(platform).uses)


def test_an_image_outside_the_mirrors_is_refused(platforms: dict[str, Platform], expander: Expander) -> None:
    stray = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "stray", "namespace": "keda"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "quay.io/someone/tool:1.0"}]}}},
    }
    findings, _ = mirrors_findings(with_objects(platforms[AIRGAP], "keda", stray), expander)
    assert messages(findings) == [
        "keda: apps/v1 Deployment keda/stray | spec.template.spec.containers[0].image: quay.io/someone/tool:1.0 is "
        "pulled from outside the mirrors: point it at the image mirror, or list its registry under mirrors.exceptions "
        "with the reason"
    ]


def test_unseen_operator_images_need_an_exception_and_a_stale_exception_fails(
    tmp_path: Path, expander: Expander
) -> None:
    def exceptions(settings: dict[str, Any]) -> None:
        settings["mirrors"]["exceptions"] = [
            {"image": "docker.io/nothing-uses-this", "reason": "a test of an exception that matches nothing"}
        ]

    platform = platform_of(stack_copy(tmp_path, AIRGAP, exceptions), expander)
    found = messages(mirrors_findings(platform, expander)[0])
    assert any(
        "KnativeServing knative-serving/knative-serving | spec: the images of Knative Serving" in m for m in found
    )
    assert any(
        "Cluster cnpg-system/platform-db | spec: the PostgreSQL image" in m and "ghcr.io/cloudnative-pg" in m
        for m in found
    )
    assert (
        "stack: mirrors.exceptions | docker.io/nothing-uses-this: no image of this environment is under it; remove "
        "the exception" in found
    )


def test_charts_outside_the_chart_mirror_are_refused(tmp_path: Path, expander: Expander) -> None:
    def no_chart_mirror(settings: dict[str, Any]) -> None:
        del settings["mirrors"]["charts"]

    platform = platform_of(stack_copy(tmp_path, AIRGAP, no_chart_mirror), expander)
    found = messages(mirrors_findings(platform, expander)[0])
    assert (
        "stack: Pulumi Helm release argo-cd | chart: chart argo-cd 10.1.1 comes from "
        "https://argoproj.github.io/argo-helm, outside the chart mirror (mirrors.charts is unset)" in found
    )
    assert any(
        m.startswith("stack: argoproj.io/v1alpha1 Application argocd/cert-manager | spec.source: chart") for m in found
    )


# --- Kubeflow Pipelines' remote bases, through the git mirror -----------------------------------------------------


def kubeflow_with_mirrors(git: dict[str, str]) -> Any:
    def change(settings: dict[str, Any]) -> None:
        settings["mirrors"] = {"images": MIRROR, **({"git": git} if git else {})}

    return change


def test_pipelines_remote_bases_are_refused_without_a_git_mirror(tmp_path: Path, expander: Expander) -> None:
    platform = platform_of(stack_copy(tmp_path, "dev", kubeflow_with_mirrors({})), expander)
    found = [f for f in mirrors_findings(platform, expander)[0] if "remote kustomize base" in f.message]
    assert found and all(
        f.object_ref == "stack: argoproj.io/v1alpha1 Application argocd/kubeflow-pipelines" for f in found
    )
    assert "https://github.com/argoproj/argo-workflows at v3.7.3" in found[0].message


def test_pipelines_remote_bases_come_from_the_git_mirror_never_github(tmp_path: Path, expander: Expander) -> None:
    """The repo server's git config sends the remote bases to the mirror (`insteadOf`): with mirrors.git, no git
    source or remote base of the platform is fetched from github.com at sync."""
    platform = platform_of(stack_copy(tmp_path, "dev", kubeflow_with_mirrors({"https://github.com/": GIT})), expander)
    findings = mirrors_findings(platform, expander)[0]
    assert not [f for f in findings if "remote kustomize base" in f.message or "repoURL" in f.message]
    pipelines = next(d for d in platform.deployers if d.name == "kubeflow-pipelines")
    assert pipelines.sources[0].repo_url == f"{GIT}kubeflow/manifests"
    gitconfig = next(
        o.object for o in platform.owned_by("argo-cd") if o.kind == "ConfigMap" and o.name == "argocd-git-mirrors"
    )
    assert f'[url "{GIT}"]\n\tinsteadOf = https://github.com/\n' in gitconfig["data"]["gitconfig"]
    # What the mirror must hold: the manifests at the release tag, and the remote bases at theirs.
    plan = mirror_plan(platform_of(ENVIRONMENTS / "Pulumi.dev.yaml", expander), expander, platform.env.mirrors)
    assert {(g.url, g.ref, g.mirror) for g in plan.git} >= {
        ("https://github.com/kubeflow/manifests", "26.03", f"{GIT}kubeflow/manifests"),
        ("https://github.com/argoproj/argo-workflows", "v3.7.3", f"{GIT}argoproj/argo-workflows"),
    }


# --- what to copy -------------------------------------------------------------------------------------------------


def test_the_mirror_command_writes_what_helm_skopeo_and_git_consume(
    tmp_path: Path, capsys: pytest.CaptureFixture, platforms: dict[str, Platform]
) -> None:
    caches = commands.Caches.from_environment()
    assert commands.mirror(ENVIRONMENTS, AIRGAP, tmp_path, caches) == 0
    out = tmp_path / AIRGAP
    charts = (out / "charts.txt").read_text().splitlines()
    assert "https://argoproj.github.io/argo-helm argo-cd 10.1.1" in charts
    assert len(charts) == len({line.split()[1] for line in charts})
    script = (out / "charts.sh").read_text()
    assert "helm pull cilium --repo https://helm.cilium.io --version 1.20.0\n" in script
    assert f"helm push cilium-1.20.0.tgz oci://{CHARTS}\n" in script
    quay = yaml.safe_load((out / "images" / "quay.io.yaml").read_text())
    assert quay["quay.io"]["images"]["jetstack/cert-manager-controller"] == ["v1.21.1"]
    cilium = quay["quay.io"]["images"]["cilium/cilium"]
    assert cilium[0] == "v1.20.0" and cilium[1].startswith("sha256:")
    assert f"images/quay.io.yaml {MIRROR}/quay.io\n" in (out / "sync.sh").read_text()
    pairs = dict(line.split() for line in (out / "images.txt").read_text().splitlines())
    assert pairs["docker.io/library/redis:7.4-alpine"] == f"{MIRROR}/docker.io/library/redis:7.4-alpine"
    # Every image the air-gapped environment runs is among what is copied, but what the site builds itself.
    airgap = platforms[AIRGAP]
    own = f"{own_registry(airgap.env)}/"
    running = {u.reference for u in platform_images(airgap).uses if not u.reference.startswith(own)}
    assert running <= set(pairs.values())
    assert "KnativeServing" in (out / "unseen.txt").read_text()
    assert capsys.readouterr().out.startswith(f"mirror {AIRGAP}: ")


def test_the_mirror_command_refuses_an_environment_without_mirrors(tmp_path: Path) -> None:
    assert commands.mirror(ENVIRONMENTS, "onprem", tmp_path, commands.Caches.from_environment()) == 1
    assert not (tmp_path / "onprem").exists()


def test_write_plan_lists_git_repositories_at_their_tags(tmp_path: Path, expander: Expander) -> None:
    mirrors = Mirrors(images=MIRROR, git={"https://github.com/": GIT})
    plan = mirror_plan(platform_of(ENVIRONMENTS / "Pulumi.dev.yaml", expander), expander, mirrors)
    write_plan(plan, tmp_path)
    git = (tmp_path / "git.txt").read_text()
    assert f"https://github.com/kubeflow/manifests 26.03 {GIT}kubeflow/manifests\n" in git
    script = (tmp_path / "git.sh").read_text()
    assert "--branch 26.03 https://github.com/kubeflow/manifests repo-" in script
    assert f"push {GIT}kubeflow/manifests refs/tags/26.03" in script


# --- the setting ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mirrors", "path"),
    [
        ({"charts": "registry.example.com/charts"}, "mirrors.charts"),
        ({"charts": "oci://registry.example.com/charts/"}, "mirrors.charts"),
        ({"images": "https://registry.example.com"}, "mirrors.images"),
        ({"exceptions": [{"image": "gcr.io/knative-releases", "reason": "too short"}]}, "mirrors.exceptions"),
        ({"git": {"https://github.com": GIT}}, "mirrors.git"),
    ],
)
def test_a_malformed_mirror_is_refused_naming_it(tmp_path: Path, mirrors: dict[str, Any], path: str) -> None:
    def change(settings: dict[str, Any]) -> None:
        settings["mirrors"] = mirrors

    with pytest.raises(InvalidEnvironment) as refused:
        load_stack_file(stack_copy(tmp_path, "onprem", change))
    assert path in str(refused.value)


def test_exceptions_say_why() -> None:
    env = load_stack_file(ENVIRONMENTS / f"Pulumi.{AIRGAP}.yaml")
    assert env.mirrors.exceptions and all(isinstance(e, MirrorException) and e.reason for e in env.mirrors.exceptions)
