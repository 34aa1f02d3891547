"""The expanded diff: what a change does in the cluster, as reviewers read it in the pull-request comment."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli.__main__ import main
from infra.expand.caches import Caches
from infra.expand.expansion import Expander, ResultCache
from infra.expand.sources import Deployer
from infra.gitops import diff as rendered_diff
from infra.gitops.changes import ObjectChange, changed_fields, crd_change, image_changes, rbac_widening
from infra.gitops.diff import EnvironmentDiff, RenderedStack, SectionDiff, compare_stacks, expanded_objects
from infra.gitops.diff_markdown import COMMENT_LIMIT, COMMENT_MARKER, comment, markdown

from .conftest import SHARED
from .test_expansion import chart_archive, chart_source

REPO = Path(__file__).resolve().parents[1]
# The runner build the scheduled-notebook overlays pin (the images workflow's tag: a commit of images/).
RUNNER_TAG = yaml.safe_load((REPO / "apps/scheduled-notebooks/overlays/dev/kustomization.yaml").read_text())["images"][
    0
]["newTag"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


# --- objects compared field by field ------------------------------------------------------------------------


def test_named_lists_are_compared_by_name() -> None:
    old = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    new = {"containers": [{"name": "b", "image": "y:2"}, {"name": "a", "image": "x:1"}, {"name": "c", "image": "z"}]}
    assert list(changed_fields(old, new)) == [
        ("containers[b].image", "y:1", "y:2"),
        ("containers[c]", None, {"name": "c", "image": "z"}),
    ]


def test_images_of_every_pod_spec_init_containers_included() -> None:
    def cron(image: str, init: str) -> dict[str, Any]:
        pod = {"initContainers": [{"name": "setup", "image": init}], "containers": [{"name": "run", "image": image}]}
        return {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}

    changes = image_changes("app", "batch/v1 CronJob ns/x", cron("run:1", "init:1"), cron("run:1", "init:2"))
    assert [(c.container, c.before, c.after) for c in changes] == [
        ("spec.jobTemplate.spec.template.spec.initContainers[setup]", "init:1", "init:2")
    ]
    added = image_changes("app", "ref", None, cron("run:1", "init:1"))
    assert {(c.before, c.after) for c in added} == {(None, "run:1"), (None, "init:1")}


def crd(versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.demo.example.com"},
        "spec": {"group": "demo.example.com", "names": {"kind": "Widget"}, "versions": versions},
    }


def version(name: str, storage: bool = True, served: bool = True, **properties: Any) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": properties}}}}
    return {"name": name, "served": served, "storage": storage, "schema": schema}


def test_crd_changes_name_versions_serving_storage_and_schema() -> None:
    old = crd([version("v1alpha1", size={"type": "integer"}), version("v1beta1", storage=False)])
    new = crd(
        [
            version("v1alpha1", storage=False, served=False, size={"type": "integer"}),
            version("v1", size={"type": "integer"}, color={"type": "string"}),
        ]
    )
    change = crd_change("demo", old, new)
    assert change is not None and change.name == "widgets.demo.example.com"
    assert change.what == (
        "version v1 added",
        "version v1beta1 removed: its Widget objects must be migrated first",
        "version v1alpha1 no longer served",
        "version v1alpha1 no longer the storage version",
    )
    schema = crd_change("demo", old, crd([version("v1alpha1", size={"type": "string"}), version("v1beta1", False)]))
    assert schema is not None
    assert schema.what == ("schema of v1alpha1: 1 fields changed (0 added, 0 removed), e.g. spec.size (type)",)
    assert crd_change("demo", None, new).what == ("added: Widget, versions v1alpha1, v1 (storage)",)  # type: ignore[union-attr]
    assert crd_change("demo", old, None).what[0].startswith("removed: deleting a CRD deletes every Widget")  # type: ignore[union-attr]


def role(*rules: dict[str, Any], kind: str = "ClusterRole", labels: Mapping[str, str] | None = None) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "r", "labels": dict(labels or {})},
        "rules": list(rules),
    }


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def test_rbac_widening_names_new_verbs_resources_groups_and_subjects() -> None:
    old = role(rule([""], ["pods"], ["get", "list"]))
    assert rbac_widening(old, role(rule([""], ["pods"], ["get", "list", "delete"]))) == ["delete on pods"]
    assert rbac_widening(old, role(rule([""], ["pods", "secrets"], ["get"]))) == ["get on secrets"]
    assert rbac_widening(old, role(rule(["apps"], ["pods"], ["get"]))) == ["get on apps/pods"]
    # Narrowing, or what a wildcard already granted, is not widening.
    assert rbac_widening(old, role(rule([""], ["pods"], ["get"]))) == []
    assert rbac_widening(role(rule(["*"], ["*"], ["*"])), role(rule(["apps"], ["deployments"], ["delete"]))) == []
    assert rbac_widening(role(rule([""], ["pods/*"], ["get"])), role(rule([""], ["pods/log"], ["get"]))) == []
    aggregated = role(
        rule([""], ["pods"], ["get", "list"]), labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"}
    )
    assert rbac_widening(old, aggregated) == [
        "now aggregated into the ClusterRoles admin: everything it grants goes there too"
    ]

    def binding(role_name: str, *subjects: str) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "b"},
            "roleRef": {"kind": "ClusterRole", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "namespace": "ns", "name": s} for s in subjects],
        }

    assert rbac_widening(binding("view", "a"), binding("view", "a", "b")) == [
        "grants ClusterRole view to ServiceAccount ns/b"
    ]
    assert rbac_widening(binding("view", "a"), binding("admin", "a")) == [
        "now grants ClusterRole admin (was ClusterRole view)",
        "grants ClusterRole admin to ServiceAccount ns/a",
    ]
    assert rbac_widening(None, binding("view", "a")) == ["grants ClusterRole view to ServiceAccount ns/a"]


# --- a chart version bump, with two synthetic versions -------------------------------------------------------


def demo_chart(directory: Path, version: str, *, tag: str, verbs: list[str], versions: str, stored: str) -> None:
    crd_versions = {
        "old": [version_entry("v1alpha1", True, {"size": {"type": "integer"}})],
        "new": [
            version_entry("v1alpha1", False, {"size": {"type": "integer"}, "color": {"type": "string"}}),
            version_entry("v1", True, {"size": {"type": "integer"}, "color": {"type": "string"}}),
        ],
    }[versions]
    definition = crd(crd_versions)
    files = {
        "Chart.yaml": f"appVersion: {version}\n",
        "values.yaml": "replicas: 1\nretention: 7d\n",
        "templates/deployment.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      initContainers: [{name: migrate, image: "demo/migrate:{{ .Chart.AppVersion }}"}]
      containers:
        - name: app
          image: demo/app:TAG
          args: ["--retention={{ .Values.retention }}"]
          resources: {requests: {cpu: 500m, memory: 1Gi}}
""".replace("TAG", tag),
        "templates/crd.yaml": yaml.safe_dump(definition),
        "templates/rbac.yaml": yaml.safe_dump_all(
            [
                role(rule(["demo.example.com"], ["widgets"], verbs)),
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "demo"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
                    "subjects": [{"kind": "ServiceAccount", "namespace": "apps", "name": "demo"}],
                },
            ]
        ),
        "templates/secret.yaml": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "demo"}, "data": {"token-file": stored}}
        ),
        "templates/configmap.yaml": yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "demo"},
                "data": {"app.conf": f"listen = 8080\nworkers = 4\nversion = {version}\n"},
            }
        ),
    }
    chart_archive(directory, "demo", version, files)


def version_entry(name: str, storage: bool, properties: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}
    }
    return {"name": name, "served": True, "storage": storage, "schema": schema}


def expanded_side(expander: Expander, version: str, values: Mapping[str, Any] | None = None) -> RenderedStack:
    source = chart_source("demo", version, values)
    expansion = expander.expand_deployers("test", [Deployer("demo", "Application", "apps", (source,))], "1.34")
    assert not expansion.problems
    return RenderedStack({}, {}, expanded_objects(expansion), has_expansion=True)


@pytest.fixture
def bumped(tmp_path: Path) -> EnvironmentDiff:
    """demo 1.0.0 -> 1.1.0: a new image tag (and init image, from appVersion), a new CRD version and schema field,
    one more verb in its ClusterRole, another Secret value, another config line."""
    demo_chart(tmp_path, "1.0.0", tag="1.0", verbs=["get", "list"], versions="old", stored="b2xk")
    demo_chart(tmp_path, "1.1.0", tag="1.1", verbs=["get", "list", "delete"], versions="new", stored="bmV3")
    expander = Expander(Caches(tmp_path, tmp_path / "git"), ResultCache(None))
    return compare_stacks("test", expanded_side(expander, "1.0.0"), expanded_side(expander, "1.1.0"))


def test_a_version_bump_shows_its_images_crds_and_widened_rbac(bumped: EnvironmentDiff) -> None:
    images = {(c.container, c.before, c.after) for c in bumped.highlights.images}
    assert images == {
        ("spec.template.spec.initContainers[migrate]", "demo/migrate:1.0.0", "demo/migrate:1.1.0"),
        ("spec.template.spec.containers[app]", "demo/app:1.0", "demo/app:1.1"),
    }
    (crd_change,) = bumped.highlights.crds
    assert crd_change.owner == "demo" and crd_change.what[0] == "version v1 added"
    assert "version v1alpha1 no longer the storage version" in crd_change.what
    (widened,) = bumped.highlights.rbac
    assert widened.ref == "rbac.authorization.k8s.io/v1 ClusterRole r"
    assert widened.grants == ("delete on demo.example.com/widgets",)


def test_the_comment_orders_images_crds_rbac_then_the_objects_and_masks_secrets(bumped: EnvironmentDiff) -> None:
    text = comment([bumped], "main")
    assert text.startswith(COMMENT_MARKER)
    order = [text.index(title) for title in ("#### Images", "#### CustomResourceDefinitions", "#### RBAC that widens")]
    assert order == sorted(order) and order[-1] < text.index("#### Applied by Applications")
    assert "| demo | `apps/v1 Deployment apps/demo` | `spec.template.spec.containers[app]` | `demo/app:1.0` " in text
    assert "- demo: `rbac.authorization.k8s.io/v1 ClusterRole r`\n  - delete on demo.example.com/widgets" in text
    # The Secret changed, but its values are never shown.
    assert "v1 Secret apps/demo" not in text and "bmV3" not in text and "b2xk" not in text
    assert "bmV3" not in markdown([bumped], "main")
    # A changed file in a ConfigMap is shown as a diff of its lines.
    assert "    -version = 1.0.0\n    +version = 1.1.0" in text


def test_a_changed_value_shows_the_field_in_the_object_that_carries_it(tmp_path: Path) -> None:
    demo_chart(tmp_path, "1.0.0", tag="1.0", verbs=["get"], versions="old", stored="b2xk")
    expander = Expander(Caches(tmp_path, tmp_path / "git"), ResultCache(None))
    env = compare_stacks(
        "test", expanded_side(expander, "1.0.0"), expanded_side(expander, "1.0.0", {"retention": "30d"})
    )
    (change,) = env.expanded
    assert (change.owner, change.ref) == ("demo", "apps/v1 Deployment apps/demo")
    assert change.fields == (("spec.template.spec.containers[app].args[0]", "--retention=7d", "--retention=30d"),)
    assert env.highlights.empty
    assert "  - `spec.template.spec.containers[app].args[0]`: `--retention=7d` → `--retention=30d`" in comment(
        [env], "x"
    )


# --- the comment stays under GitHub's limit --------------------------------------------------------------------


def test_a_large_diff_keeps_the_comment_under_the_limit_with_every_summary_and_a_link() -> None:
    def big(stack: str) -> EnvironmentDiff:
        env = EnvironmentDiff(stack, SectionDiff(), SectionDiff())
        env.expanded = [
            ObjectChange(f"app-{i % 7}", f"v1 ConfigMap ns/cm-{i}", "changed", (("data.x", "a" * 50, "b" * 50),))
            for i in range(3000)
        ]
        return env

    diffs = [big(stack) for stack in ("dev", "staging", "prod", "onprem")]
    text = comment(diffs, "main", artifact_url="https://github.com/o/r/actions/runs/1/artifacts/2")
    assert len(text) < COMMENT_LIMIT
    for stack in ("dev", "staging", "prod", "onprem"):
        assert f"| `{stack}` | no change | 3000 changed |" in text
    assert "[the complete diff](https://github.com/o/r/actions/runs/1/artifacts/2) has every change" in text
    assert "cut here" in text and text.count("```") % 2 == 0
    complete = markdown(diffs, "main")
    assert complete.count(":pencil2: changed") == 12000


# --- end to end: two git refs, each rendered and expanded by its own code ---------------------------------------


def _keda_archive(cache: Path, version: str) -> None:
    """keda `version`, made from the pinned 2.20.2: its images follow appVersion, its ClusterRole may delete what it
    only read, and the ScaledObject CRD gains a field."""
    source = SHARED / "charts" / "keda-2.20.2.tgz"
    with tarfile.open(source) as archive:
        members = [(m, _read(archive, m)) for m in archive.getmembers()]
    with tarfile.open(cache / f"keda-{version}.tgz", "w:gz") as out:
        for member, data in members:
            text = data.decode() if member.isfile() else ""
            if member.name == "keda/Chart.yaml":
                text = text.replace("version: 2.20.2", f"version: {version}").replace(
                    "appVersion: 2.20.2", f"appVersion: {version}"
                )
            elif member.name == "keda/templates/manager/clusterrole.yaml":
                text = text.replace("  - watch\n", "  - watch\n  - delete\n", 1)
            elif member.name == "keda/templates/crds/crd-scaledobjects.yaml":
                text = text.replace(
                    "              pollingInterval:\n",
                    "              pollingJitter:\n                type: integer\n              pollingInterval:\n",
                    1,
                )
            payload = text.encode() if member.isfile() else b""
            member.size = len(payload)
            out.addfile(member, io.BytesIO(payload) if member.isfile() else None)


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = archive.extractfile(member) if member.isfile() else None
    return extracted.read() if extracted is not None else b""


@pytest.fixture
def chart_cache(tmp_path: Path) -> Iterator[Path]:
    """Every pinned chart, and keda 2.20.3 beside 2.20.2."""
    cache = tmp_path / "charts"
    cache.mkdir()
    for archive in (SHARED / "charts").glob("*.tgz"):
        (cache / archive.name).symlink_to(archive)
    _keda_archive(cache, "2.20.3")
    before = os.environ.get("MLOPS_CHART_CACHE")
    os.environ["MLOPS_CHART_CACHE"] = str(cache)
    yield cache
    if before is None:
        del os.environ["MLOPS_CHART_CACHE"]
    else:
        os.environ["MLOPS_CHART_CACHE"] = before


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway git repository holding the program, the stack files and the apps, one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "environments", root / "environments")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return root


def test_a_pull_request_comment_shows_a_changed_value_and_a_version_bump(
    repo: Path, chart_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    text = dev.read_text().replace("          retention: 7d\n", "          retention: 10d\n")
    dev.write_text(
        text.replace(
            "      kube-prometheus-stack: 88.5.3\n", "      kube-prometheus-stack: 88.5.3\n      keda: 2.20.3\n"
        )
    )
    started = time.monotonic()
    diffs, errors = rendered_diff.diff_against(repo, "HEAD", ["dev"])
    took = time.monotonic() - started
    assert errors == {}
    text = comment(diffs, "HEAD", errors, "https://example.com/artifact")
    # The changed value, in the object that carries it.
    prometheus = text.index("changed `monitoring.coreos.com/v1 Prometheus monitoring/kube-prometheus-stack-prometheus`")
    assert text.index("  - `spec.retention`: `7d` → `10d`", prometheus) > prometheus
    # The bump: its images, its CRD, its widened RBAC; the capacity row.
    assert "| keda | `apps/v1 Deployment keda/keda-operator` | `spec.template.spec.containers[keda-operator]` " in text
    assert "`ghcr.io/kedacore/keda:2.20.2` | `ghcr.io/kedacore/keda:2.20.3` |" in text
    assert "- keda: `scaledobjects.keda.sh`: schema of v1alpha1: 1 fields changed (1 added, 0 removed)" in text
    assert "  - delete on configmaps" in text
    assert "| `dev` | 2 changed |" in text and "| Requested |" not in text  # keda's requests stay as they were
    print(f"diff of dev, both sides rendered and expanded: {took:.1f} s")
    assert took < 60, "the diff of one environment should take some 10-20 s on 2 cores"


def test_a_base_pinning_a_chart_the_cache_lacks_is_a_clear_error(repo: Path, chart_cache: Path) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    good = dev.read_text()
    dev.write_text(
        good.replace(
            "      kube-prometheus-stack: 88.5.3\n", "      kube-prometheus-stack: 88.5.3\n      keda: 2.99.0\n"
        )
    )
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "an uncached pin")
    dev.write_text(good)
    with pytest.raises(
        rendered_diff.RenderFailed, match=r"(?s)the base HEAD needs a source.*chart keda 2\.99\.0.*--pull"
    ):
        rendered_diff.diff_against(repo, "HEAD", ["dev"])


def test_promote_dry_run_prints_the_expanded_diff_of_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environments = tmp_path / "environments"
    shutil.copytree(REPO / "environments", environments)
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    overlay = tmp_path / "apps" / "scheduled-notebooks" / "overlays" / "dev" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace(f'newTag: "{RUNNER_TAG}"', 'newTag: "1.1.0"'))
    complete = tmp_path / "complete.md"
    code = main(
        ["promote", "dev", "staging", "--dry-run", "--environments", str(environments), "--output", str(complete)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert '+    newTag: "1.1.0"' in out
    assert "#### Images" in out and "| scheduled-notebooks | `batch/v1 CronJob" in out
    registry = "europe-west1-docker.pkg.dev/mlops-staging-234567/mlops-staging"
    assert f"| `{registry}/papermill-runner:{RUNNER_TAG}` | `{registry}/papermill-runner:1.1.0` |" in out
    assert complete.read_text().startswith(COMMENT_MARKER)
    assert overlay.read_text().count("1.1.0") == 1  # nothing written


def test_a_base_from_before_the_expansion_is_rendered_without_it_and_said_so(tmp_path: Path) -> None:
    """A base whose `render` has no --expand: rendered without it, and the comparison says what it leaves out."""
    tree = tmp_path / "old"
    (tree / "infra" / "cli").mkdir(parents=True)
    (tree / "environments").mkdir()
    (tree / "environments" / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tree / "infra" / "__init__.py").write_text("")
    (tree / "infra" / "cli" / "__init__.py").write_text("")
    (tree / "infra" / "cli" / "__main__.py").write_text(
        "import argparse, pathlib\n"
        "p = argparse.ArgumentParser(); s = p.add_subparsers(dest='c'); r = s.add_parser('render')\n"
        "r.add_argument('--environments'); r.add_argument('--out'); r.add_argument('--env', action='append')\n"
        "a = p.parse_args()\n"
        "d = pathlib.Path(a.out) / 'dev' / 'manifests'; d.mkdir(parents=True)\n"
        "(d / 'ns.yaml').write_text('apiVersion: v1\\nkind: Namespace\\nmetadata: {name: old}\\n')\n"
        "(d.parent / 'inventory.yaml').write_text('resources: []\\n')\n"
    )
    assert rendered_diff.render_tree(tree, ["dev"], tmp_path / "out", expand=True) == (0, "")
    old = rendered_diff.read_stack(tmp_path / "out" / "dev")
    assert not old.has_expansion
    env = compare_stacks("dev", old, RenderedStack({}, {}, has_expansion=True))
    assert env.kubernetes.removed == ["v1 Namespace old"]
    assert "its code predates it" in env.expanded_note
    assert "| `dev` | 1 removed | not compared |" in comment([env], "old")
