"""The project's own checkov checks (policies/checkov/custom_checks) fire on a bad object and pass a good one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline import checkov as checkov_stage

REPO = Path(__file__).resolve().parents[1]
CHECKOV_CONFIG = REPO / "policies" / "checkov" / "config.yaml"
CUSTOM_CHECKS = REPO / "policies" / "checkov" / "custom_checks"
PSA = "pod-security.kubernetes.io/enforce"

needs_checkov = pytest.mark.skipif(
    not checkov_stage.CHECKOV_BIN.is_file(), reason=f"checkov not installed at {checkov_stage.CHECKOV_BIN}"
)


def namespace(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def application(name: str, revision: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "platform",
            "source": {"repoURL": "https://charts.example.com", "chart": name, "targetRevision": revision},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        },
    }


def secret(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ml"}, "data": {"k": value}}


# file name -> (object, custom checks expected to fail on it)
OBJECTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "ns-good.yaml": (namespace("good", {PSA: "restricted"}), set()),
    "ns-no-psa.yaml": (namespace("no-psa", {}), {"CKV_MLOPS_1"}),
    "ns-privileged-why.yaml": (
        namespace("cni", {PSA: "privileged"}, {"mlops.dev/privileged-reason": "the CNI programs the host network"}),
        set(),
    ),
    "ns-privileged.yaml": (namespace("anything-goes", {PSA: "privileged"}), {"CKV_MLOPS_2"}),
    "app-pinned.yaml": (application("pinned", "1.2.3"), set()),
    "app-floating.yaml": (application("floating", "HEAD"), {"CKV_MLOPS_3"}),
    "secret-from-pulumi.yaml": (secret("masked", "[secret]"), set()),
    "secret-literal.yaml": (secret("literal", "aHVudGVyMg=="), {"CKV_MLOPS_4"}),
    # Data made at apply time (a hub's cluster Secret, from a service account token) renders as one placeholder.
    "secret-computed.yaml": ({**secret("computed", ""), "data": "[computed]"}, set()),
    "secret-literal-whole.yaml": ({**secret("whole", ""), "data": "aHVudGVyMg=="}, {"CKV_MLOPS_4"}),
}


@needs_checkov
def test_custom_checks_fire_on_bad_objects_only(tmp_path: Path) -> None:
    for name, (obj, _) in OBJECTS.items():
        (tmp_path / name).write_text(yaml.safe_dump(obj))
    findings = checkov_stage.run_checkov({"t": tmp_path}, CHECKOV_CONFIG, CUSTOM_CHECKS)["t"]
    ours = {(f.object_ref.split(" ")[0], f.message.split(":")[0]) for f in findings if "CKV_MLOPS_" in f.message}
    expected = {(name, check) for name, (_, checks) in OBJECTS.items() for check in checks}
    assert ours == expected


def test_every_custom_check_is_exercised() -> None:
    ids = {
        line.split('"')[1] for p in CUSTOM_CHECKS.glob("*.py") for line in p.read_text().splitlines() if "id=" in line
    }
    assert ids == {check for _, checks in OBJECTS.values() for check in checks}


def test_every_checkov_suppression_says_why(rendered) -> None:
    """A skip-check entry carries a trailing comment; a checkov.io/skip annotation reads `CKV_ID=<reason>`."""
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    lines = CHECKOV_CONFIG.read_text().splitlines()
    for check_id in config.get("skip-check") or []:
        line = next(line for line in lines if line.strip().startswith(f"- {check_id}"))
        assert "#" in line and line.split("#", 1)[1].strip(), f"skip-check {check_id} has no reason comment"
    for result in rendered.values():
        for manifest in result.manifests:
            annotations = manifest.object.get("metadata", {}).get("annotations") or {}
            for key, value in annotations.items():
                if key.startswith("checkov.io/skip"):
                    check_id, _, reason = str(value).partition("=")
                    assert reason.strip(), f"{manifest.object['kind']} {key}: {check_id} suppressed without a reason"
