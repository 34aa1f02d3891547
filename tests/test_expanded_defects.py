"""Defects of issue #15 that only show in what the Applications apply, each checked on the expanded platform."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.argocd import GIT_CONFIG_CHECKSUM
from infra.components.cloudnative_pg import APP_SECRET, HOST
from infra.config.derived import bucket_names, default_image
from infra.config.errors import InvalidEnvironment
from infra.config.loader import load_stack_file
from infra.expand.expansion import Expander
from infra.expand.platform import STACK, Platform
from infra.expand.sources import Deployer
from infra.offline.render import render_stack
from infra.platform.labels import ADVISORY
from tests.conftest import ENVIRONMENTS

GKE_ENVS = ("dev", "staging", "prod")
KUBEFLOW_ENVS = (*GKE_ENVS, "onprem")
HARBOR_DATABASE = "harbor"
PUBLIC_DEFAULTS = ("changeit", "not-a-secure-key", "harbor_registry_password", "Harbor12345")
SEAWEEDFS_BUCKET = "mlpipeline"
"""The one bucket the SeaweedFS bundled with Kubeflow Pipelines creates (its Deployment's `s3.bucket.create`), and
the one its profile controller grants each team (sync.py `S3_BUCKET_NAME`)."""
GKE_CNI_BIN = "/home/kubernetes/bin"
MIRROR = "https://git.example.com/mirrors/github/"


# --- helpers -------------------------------------------------------------------------------------------------


def owned(platform: Platform, owner: str, kind: str | None = None) -> list[Mapping[str, Any]]:
    return [o.object for o in platform.owned_by(owner) if kind is None or o.kind == kind]


def named(platform: Platform, owner: str, kind: str, name: str) -> Mapping[str, Any]:
    found = [o for o in owned(platform, owner, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{owner}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def config_map(platform: Platform, owner: str, name: str) -> Mapping[str, Any]:
    """A ConfigMap by name, also when kustomize's generator appended a hash to it."""
    found = [o for o in owned(platform, owner, "ConfigMap") if o["metadata"]["name"] in (name, *_hashed(o, name))]
    assert len(found) == 1, f"{owner}: expected one ConfigMap {name}, found {len(found)}"
    return found[0]


def _hashed(obj: Mapping[str, Any], name: str) -> tuple[str, ...]:
    actual = obj["metadata"]["name"]
    return (actual,) if actual.startswith(f"{name}-") and len(actual) == len(name) + 11 else ()


def pod_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        yield spec
    elif obj.get("kind") == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def containers(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for pod in pod_specs(obj):
        yield from pod.get("initContainers") or []
        yield from pod.get("containers") or []


def container(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return next(c for c in containers(obj) if c["name"] == name)


def env_value(platform: Platform, owner: str, variable: Mapping[str, Any]) -> str:
    """What an environment variable holds: its value, or the ConfigMap key it refers to."""
    if "value" in variable:
        return str(variable["value"])
    ref = variable["valueFrom"]["configMapKeyRef"]
    return str(config_map(platform, owner, ref["name"])["data"][ref["key"]])


def texts(obj: Mapping[str, Any]) -> Iterator[str]:
    """The object as text, and a Secret's data decoded."""
    yield json.dumps(obj)
    if obj.get("kind") == "Secret":
        for value in (obj.get("data") or {}).values():
            yield base64.b64decode(value).decode(errors="replace")


def pinned(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    return "@sha256:" in last or ":" in last


def deployer(platform: Platform, name: str) -> Deployer:
    return next(d for d in platform.deployers if d.name == name)


def application(platform: Platform, name: str) -> Mapping[str, Any]:
    return next(o for o in owned(platform, STACK, "Application") if o["metadata"]["name"] == name)


# --- 1. Harbor: no public default, the same objects on every render ------------------------------------------


def test_harbor_carries_no_public_default(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    harbor = list(platform.owned_by("harbor"))
    assert harbor
    found = [(o.ref, d) for o in harbor for text in texts(o.object) for d in PUBLIC_DEFAULTS if d in text]
    assert found == []


def test_harbor_renders_the_same_every_time(platforms: dict[str, Platform], expander: Expander) -> None:
    platform = platforms["onprem"]
    assert [p for p in platform.expansion.problems if p.deployer == "harbor"] == []
    harbor = deployer(platform, "harbor")
    (source,) = harbor.sources
    chart = expander.chart(source)

    def render() -> list[Any]:
        return chart.render(
            source.values,
            release=source.release,
            namespace=harbor.namespace,
            kubernetes_version=platform.env.kubernetes_version,
            api_versions=platform.expansion.api_versions,
        )

    assert render() == render()


def test_harbor_keeps_its_data_in_the_cluster_database(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    # No database of its own: no StatefulSet with a password of the chart's.
    assert sorted(o["metadata"]["name"] for o in owned(platform, "harbor", "StatefulSet")) == [
        "harbor-redis",
        "harbor-trivy",
    ]
    settings = config_map(platform, "harbor", "harbor-core")["data"]
    assert settings["POSTGRESQL_HOST"] == HOST
    assert settings["POSTGRESQL_DATABASE"] == HARBOR_DATABASE
    assert settings["POSTGRESQL_SSLMODE"] == "require"
    core = container(named(platform, "harbor", "Deployment", "harbor-core"), "core")
    password = next(v for v in core["env"] if v["name"] == "POSTGRESQL_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": APP_SECRET, "key": "password"}
    # The database exists, and the login Secret is copied into Harbor's namespace.
    databases = owned(platform, STACK, "Database")
    assert any(d["spec"]["name"] == HARBOR_DATABASE for d in databases)
    copies = [o for o in owned(platform, STACK, "ExternalSecret") if o["metadata"]["namespace"] == "harbor"]
    assert [c["spec"]["target"]["name"] for c in copies] == [APP_SECRET]


# --- 3. Kubeflow Pipelines: each consumer sees the bucket it uses --------------------------------------------


@pytest.mark.parametrize("env", KUBEFLOW_ENVS)
def test_each_pipelines_consumer_sees_its_own_bucket(platforms: dict[str, Platform], env: str) -> None:
    platform = platforms[env]
    owner = "kubeflow-pipelines"
    # The API server's object store is the bundled SeaweedFS, which holds only its own bucket.
    api = {
        v["name"]: v
        for v in container(named(platform, owner, "Deployment", "ml-pipeline"), "ml-pipeline-api-server")["env"]
    }
    assert env_value(platform, owner, api["OBJECTSTORECONFIG_HOST"]).startswith("seaweedfs")
    assert env_value(platform, owner, api["OBJECTSTORECONFIG_BUCKETNAME"]) == SEAWEEDFS_BUCKET
    # The workflow controller's default artifact repository (pipeline logs) is SeaweedFS too.
    workflows = yaml.safe_load(
        config_map(platform, owner, "workflow-controller-configmap")["data"]["artifactRepository"]
    )
    assert workflows["s3"]["endpoint"].startswith("seaweedfs")
    assert workflows["s3"]["bucket"] == SEAWEEDFS_BUCKET
    # The profile controller grants each team that same bucket.
    code = config_map(platform, owner, "kubeflow-pipelines-profile-controller-code")["data"]["sync.py"]
    assert f"S3_BUCKET_NAME = '{SEAWEEDFS_BUCKET}'" in code
    # The teams' runs write their artifacts to the cluster's bucket, through the ConfigMap the stack writes.
    bucket = bucket_names(platform.env.object_store.bucket_prefix, env)["artifacts"]
    teams = [team.name for team in platform.env.components.kubeflow.teams]
    launchers = {
        o["metadata"]["namespace"]: o
        for o in owned(platform, STACK, "ConfigMap")
        if o["metadata"]["name"] == "kfp-launcher"
    }
    assert sorted(launchers) == sorted(teams)
    scheme = "gs" if platform.env.target == "gke" else "s3"
    for team, launcher in launchers.items():
        assert launcher["data"]["defaultPipelineRoot"] == f"{scheme}://{bucket}/pipelines/{team}"


# --- 4. Kubeflow notebooks: each server type offers its own images -------------------------------------------


@pytest.mark.parametrize("env", KUBEFLOW_ENVS)
def test_notebook_server_types_offer_their_own_images(platforms: dict[str, Platform], env: str) -> None:
    platform = platforms[env]
    owner = "kubeflow-jupyter-web-app"
    form = yaml.safe_load(config_map(platform, owner, "jupyter-web-app-config")["data"]["spawner_ui_config.yaml"])
    defaults = form["spawnerFormDefaults"]
    # The platform's own builds first (images/notebook, images/codeserver: tests/test_default_images.py), then
    # Kubeflow's images of each kind.
    jupyter = [default_image(platform.env, "notebook"), *platform.env.components.kubeflow.notebook_images]
    assert defaults["image"] == {"value": jupyter[0], "options": jupyter}
    web_app = container(named(platform, owner, "Deployment", "jupyter-web-app-deployment"), "jupyter-web-app")
    release_tag = web_app["image"].rsplit(":", 1)[1]
    for group, server in (("imageGroupOne", "codeserver"), ("imageGroupTwo", "rstudio")):
        options = defaults[group]["options"]
        assert options and defaults[group]["value"] in options
        own = default_image(platform.env, server)
        assert (options[0] == own) == (own is not None), f"{group} offers {options}"
        for image in options[1:] if own is not None else options:
            name, tag = image.rsplit(":", 1)
            assert name.rsplit("/", 1)[1].startswith(f"{server}-"), f"{group} offers {image}"
            assert tag == release_tag, f"{group} offers {image}, the web app is {web_app['image']}"


# --- 5. istio-cni on GKE: the node's CNI directory, whatever the version string ------------------------------


def cni_bin_dir(daemon_set: Mapping[str, Any]) -> str:
    (pod,) = pod_specs(daemon_set)
    return next(v["hostPath"]["path"] for v in pod["volumes"] if v["name"] == "cni-bin-dir")


@pytest.mark.parametrize("env", GKE_ENVS)
def test_istio_cni_on_gke_mounts_the_gke_cni_directory(
    platforms: dict[str, Platform], expander: Expander, env: str
) -> None:
    platform = platforms[env]
    assert cni_bin_dir(named(platform, "istio-cni", "DaemonSet", "istio-cni-node")) == GKE_CNI_BIN
    cni = deployer(platform, "istio-cni")
    (source,) = cni.sources
    chart = expander.chart(source)
    minor = platform.env.kubernetes_version
    # As Argo CD or Helm may report the cluster's version: with and without GKE's suffix.
    for version in (minor, f"{minor}.5", f"{minor}.5-gke.1200"):
        rendered = chart.render(
            source.values, release=source.release, namespace=cni.namespace, kubernetes_version=version, api_versions=()
        )
        daemon_sets = [
            obj
            for template in rendered
            for obj in yaml.safe_load_all(template.text)
            if obj and obj.get("kind") == "DaemonSet"
        ]
        assert [cni_bin_dir(d) for d in daemon_sets] == [GKE_CNI_BIN], version


# --- 10. Air-gapped: Argo CD's git traffic through a mirror ---------------------------------------------------


def repo_server(platform: Platform) -> Mapping[str, Any]:
    return named(platform, "argo-cd", "Deployment", "argo-cd-argocd-repo-server")


def system_git_config(platform: Platform) -> str | None:
    """The /etc/gitconfig the repo server mounts, if it mounts one."""
    deployment = repo_server(platform)
    mounts = [
        m for m in container(deployment, "repo-server").get("volumeMounts") or [] if m["mountPath"] == "/etc/gitconfig"
    ]
    if not mounts:
        return None
    (mount,) = mounts
    (pod,) = pod_specs(deployment)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return str(config_map(platform, "argo-cd", volume["configMap"]["name"])["data"][mount["subPath"]])


def test_without_git_mirrors_the_repo_server_is_unchanged_and_pipelines_say_what_they_fetch(
    platforms: dict[str, Platform],
) -> None:
    platform = platforms["dev"]
    assert system_git_config(platform) is None
    assert GIT_CONFIG_CHECKSUM not in (repo_server(platform)["spec"]["template"]["metadata"].get("annotations") or {})
    advisory = application(platform, "kubeflow-pipelines")["metadata"]["annotations"][ADVISORY]
    assert "github.com/argoproj/argo-workflows" in advisory and "mirrors.git" in advisory


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory, expander: Expander) -> Platform:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    settings = document["config"]["mlops-platform:platform"]
    settings.setdefault("mirrors", {})["git"] = {"https://github.com/": MIRROR}
    path: Path = tmp_path_factory.mktemp("mirrored") / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(document))
    rendered = render_stack(path)
    return Platform(rendered, expander.expand(rendered))


def test_git_mirrors_reach_the_repo_server_and_the_kubeflow_applications(mirrored: Platform) -> None:
    config = system_git_config(mirrored)
    assert config is not None
    assert f'[url "{MIRROR}"]\n\tinsteadOf = https://github.com/\n' in config
    # Argo CD resolves an Application's tag with its own git library, which reads no git config: the Kubeflow
    # Applications name the mirror themselves, and the platform project admits it.
    pipelines = application(mirrored, "kubeflow-pipelines")
    assert pipelines["spec"]["source"]["repoURL"] == f"{MIRROR}kubeflow/manifests"
    assert "github.com" not in pipelines["metadata"]["annotations"].get(ADVISORY, "")
    project = named(mirrored, STACK, "AppProject", "platform")
    assert f"{MIRROR}kubeflow/manifests" in project["spec"]["sourceRepos"]
    assert "https://github.com/kubeflow/manifests" not in project["spec"]["sourceRepos"]
    # So does the ML applications' repository when it lies under the prefix (the default one is on github.com).
    (apps,) = owned(mirrored, STACK, "ApplicationSet")
    assert apps["spec"]["generators"][0]["git"]["repoURL"] == f"{MIRROR}example-org/mlops-platform.git"
    assert apps["spec"]["template"]["spec"]["source"]["repoURL"] == f"{MIRROR}example-org/mlops-platform.git"
    # A changed mirror list restarts the repo server (a subPath mount is never refreshed).
    annotations = repo_server(mirrored)["spec"]["template"]["metadata"]["annotations"]
    assert annotations[GIT_CONFIG_CHECKSUM] == hashlib.sha256(config.encode()).hexdigest()
    # The expansion still builds the Kubeflow paths from the mirrored repository's cache.
    assert [p for p in mirrored.expansion.problems if p.deployer.startswith("kubeflow")] == []
    assert owned(mirrored, "kubeflow-pipelines")


@pytest.mark.parametrize(
    "mirrors",
    [
        {"https://github.com": MIRROR},  # no trailing slash: would also rewrite https://github.company.example/
        {"https://github.com/": 'https://git.example.com/"x/'},  # a quote ends git's section name
        {"github.com/": MIRROR},  # not a URL
    ],
)
def test_a_git_mirror_that_is_not_a_url_prefix_is_refused(tmp_path: Path, mirrors: dict[str, str]) -> None:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    document["config"]["mlops-platform:platform"].setdefault("mirrors", {})["git"] = mirrors
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidEnvironment) as refused:
        load_stack_file(path)
    assert "mirrors.git" in str(refused.value)


# --- 11. KFP: every image pinned ------------------------------------------------------------------------------


@pytest.mark.parametrize("env", KUBEFLOW_ENVS)
def test_every_pipelines_image_has_a_tag_or_digest(platforms: dict[str, Platform], env: str) -> None:
    platform = platforms[env]
    owner = "kubeflow-pipelines"
    images: dict[str, str] = {}
    for obj in owned(platform, owner):
        for c in containers(obj):
            images[f"{obj['kind']} {obj['metadata']['name']} {c['name']}"] = c["image"]
            # Images a container starts elsewhere (the cache server's step image) are passed in its environment.
            for variable in c.get("env") or []:
                if variable["name"].endswith("IMAGE") and (
                    "value" in variable or "configMapKeyRef" in variable.get("valueFrom", {})
                ):
                    images[f"{obj['metadata']['name']} {c['name']} ${variable['name']}"] = env_value(
                        platform, owner, variable
                    )
    assert any("CACHE_IMAGE" in where for where in images)
    assert {where: image for where, image in images.items() if not pinned(image)} == {}
