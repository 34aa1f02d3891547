"""GitOps delivery: promotion between stack files, rendered diffs between git refs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra.cli.__main__ import main
from infra.gitops import diff as rendered_diff
from infra.gitops.promote import PromotionRefused, check_order

REPO = Path(__file__).resolve().parents[1]
ORDER = ["dev", "staging", "prod"]


@pytest.fixture
def environments(tmp_path: Path) -> Path:
    """A copy of the real stack files, with dev pinning two versions staging does not have."""
    target = tmp_path / "environments"
    shutil.copytree(REPO / "environments", target)
    dev = target / "Pulumi.dev.yaml"
    dev.write_text(
        dev.read_text().replace(
            "      kube-prometheus-stack: 88.5.3\n",
            "      kube-prometheus-stack: 88.6.0\n      cert-manager: v1.21.2\n",
        )
    )
    return target


def test_promotion_copies_only_the_pins_and_keeps_comments(environments: Path) -> None:
    staging, prod = environments / "Pulumi.staging.yaml", environments / "Pulumi.prod.yaml"
    before, prod_before = staging.read_text(), prod.read_text()
    assert main(["promote", "dev", "staging", "--environments", str(environments)]) == 0
    after = staging.read_text()
    assert "kube-prometheus-stack: 88.6.0" in after and "cert-manager: v1.21.2" in after
    assert prod.read_text() == prod_before
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    assert removed == ["      kube-prometheus-stack: 88.5.3"]
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert sorted(added) == ["      cert-manager: v1.21.2", "      kube-prometheus-stack: 88.6.0"]
    assert all(line in after for line in before.splitlines() if line.lstrip().startswith("#"))


def test_promotion_removes_pins_the_source_does_not_have(environments: Path) -> None:
    staging = environments / "Pulumi.staging.yaml"
    prod = environments / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("versions: {}", "versions:\n      cert-manager: v1.20.3"))
    staging.write_text(staging.read_text().replace("      kube-prometheus-stack: 88.5.3\n", ""))
    staging.write_text(staging.read_text().replace("    versions:\n", "    versions: {}\n"))
    assert main(["promote", "staging", "prod", "--environments", str(environments)]) == 0
    assert "cert-manager" not in prod.read_text()
    assert "versions: {}" in prod.read_text()


def test_dry_run_prints_a_diff_and_writes_nothing(environments: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staging = environments / "Pulumi.staging.yaml"
    before = staging.read_text()
    assert main(["promote", "dev", "staging", "--dry-run", "--environments", str(environments)]) == 0
    out = capsys.readouterr().out
    assert "--- a/environments/Pulumi.staging.yaml" in out
    assert "-      kube-prometheus-stack: 88.5.3" in out and "+      kube-prometheus-stack: 88.6.0" in out
    assert staging.read_text() == before


def test_skipping_a_stage_is_refused_unless_forced(environments: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = environments / "Pulumi.prod.yaml"
    before = prod.read_text()
    assert main(["promote", "dev", "prod", "--environments", str(environments)]) == 1
    assert "skips staging" in capsys.readouterr().err
    assert prod.read_text() == before
    assert main(["promote", "dev", "prod", "--force", "--environments", str(environments)]) == 0
    assert "kube-prometheus-stack: 88.6.0" in prod.read_text()


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [("staging", "dev", "backwards"), ("dev", "onprem", "not in the promotion order"), ("dev", "dev", "itself")],
)
def test_order_rules(source: str, target: str, reason: str) -> None:
    with pytest.raises(PromotionRefused, match=reason):
        check_order(ORDER, source, target)


def test_promotion_that_would_make_the_target_invalid_writes_nothing(
    environments: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = environments / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("cert-manager: v1.21.2", "cert-manager: latest"))
    staging = environments / "Pulumi.staging.yaml"
    before = staging.read_text()
    assert main(["promote", "dev", "staging", "--environments", str(environments)]) == 2
    assert "mlops-platform:platform.versions.cert-manager" in capsys.readouterr().err
    assert staging.read_text() == before


# --- diff ------------------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway git repository holding the program and the stack files, one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "environments", root / "environments")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return root


def test_diff_reports_added_removed_and_changed_fields(repo: Path) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    text = dev.read_text().replace("kube-prometheus-stack: 88.5.3", "kube-prometheus-stack: 88.6.0")
    dev.write_text(text.replace("      certManager:\n", "      certManager:\n        enabled: false\n", 1))
    diffs, errors = rendered_diff.diff_against(repo, "HEAD", ["dev"])
    assert errors == {}
    (env,) = diffs
    assert any("Application argocd/cert-manager" in ref for ref in env.kubernetes.removed)
    assert any(ref.endswith("Namespace cert-manager") for ref in env.kubernetes.removed)
    changed = {change.ref: change for change in env.kubernetes.changed}
    app = changed["argoproj.io/v1alpha1 Application argocd/kube-prometheus-stack"]
    assert ("spec.source.targetRevision", "88.5.3", "88.6.0") in app.fields
    text = rendered_diff.markdown(diffs, "HEAD", errors)
    assert text.startswith(rendered_diff.COMMENT_MARKER)
    assert "`spec.source.targetRevision`: `88.5.3` → `88.6.0`" in text
    assert "removed `v1 Namespace cert-manager`" in text


def test_compare_renders_names_added_objects_and_changed_cloud_inputs(tmp_path: Path) -> None:
    def write(side: str, objects: dict[str, str], inventory: str) -> None:
        stack = tmp_path / side / "dev"
        (stack / "manifests" / "ns").mkdir(parents=True)
        for name, body in objects.items():
            (stack / "manifests" / "ns" / name).write_text(body)
        (stack / "inventory.yaml").write_text(inventory)

    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: ns}\ndata: {k: '%s'}\n"
    bucket = "resources:\n- {type: 'gcp:storage/bucket:Bucket', name: artifacts, inputs: {location: %s}}\n"
    write("base", {"a.yaml": config_map % ("a", "1")}, bucket % "EU")
    write("head", {"a.yaml": config_map % ("a", "2"), "b.yaml": config_map % ("b", "1")}, bucket % "US")
    (env,) = rendered_diff.compare_renders(tmp_path / "base", tmp_path / "head")
    assert env.kubernetes.added == ["v1 ConfigMap ns/b"]
    assert env.kubernetes.changed[0].fields == (("data.k", "1", "2"),)
    assert env.resources.changed[0].ref == "gcp:storage/bucket:Bucket artifacts"
    assert env.resources.changed[0].fields == (("location", "EU", "US"),)


def test_diff_of_an_unknown_ref_is_an_error_not_a_traceback(repo: Path) -> None:
    with pytest.raises(rendered_diff.RenderFailed, match="no-such-ref"):
        rendered_diff.diff_against(repo, "no-such-ref", ["dev"])
