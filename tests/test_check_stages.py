"""Each offline check stage catches a deliberately broken object and passes a good one."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline import checkov as checkov_stage
from infra.offline import validate
from infra.offline.validate import Finding, ManifestValidator

REPO = Path(__file__).resolve().parents[1]
CRD_SCHEMAS = Path(os.environ.get("MLOPS_CRD_SCHEMAS") or REPO.parent / "shared" / "schemas" / "crds")
CHECKOV_CONFIG = REPO / "policies" / "checkov" / "config.yaml"
CUSTOM_CHECKS = REPO / "policies" / "checkov" / "custom_checks"

needs_crd_schemas = pytest.mark.skipif(not CRD_SCHEMAS.is_dir(), reason=f"CRD schemas not found at {CRD_SCHEMAS}")
needs_checkov = pytest.mark.skipif(
    not checkov_stage.CHECKOV_BIN.is_file(),
    reason=f"checkov not installed at {checkov_stage.CHECKOV_BIN} (run `make install` or set MLOPS_CHECKOV)",
)

PRIVILEGED_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "debug", "namespace": "tools"},
    "spec": {"containers": [{"name": "sh", "image": "busybox:1.37", "securityContext": {"privileged": True}}]},
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "grafana", "namespace": "monitoring", "labels": {"app": "grafana"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "grafana"}},
        "template": {
            "metadata": {"labels": {"app": "grafana"}},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "grafana",
                        "image": "docker.io/grafana/grafana:12.1.0@sha256:" + "0" * 64,
                        "imagePullPolicy": "Always",
                        "ports": [{"containerPort": 3000}],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                        },
                        "livenessProbe": {"httpGet": {"path": "/api/health", "port": 3000}},
                        "readinessProbe": {"httpGet": {"path": "/api/health", "port": 3000}},
                    }
                ],
            },
        },
    },
}
NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "monitoring", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
}
NETWORK_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "monitoring"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "grafana", "namespace": "monitoring"},
    "spec": {"selector": {"app": "grafana"}, "ports": [{"name": "http", "port": 80, "targetPort": 3000}]},
}
CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "letsencrypt"},
    "spec": {
        "acme": {
            "email": "platform@example.com",
            "server": "https://acme-v02.api.letsencrypt.org/directory",
            "privateKeySecretRef": {"name": "letsencrypt-account"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }
    },
}
APPLICATION = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "grafana", "namespace": "argocd", "annotations": {"argocd.argoproj.io/sync-wave": "2"}},
    "spec": {
        "project": "platform",
        "source": {
            "repoURL": "https://grafana.github.io/helm-charts",
            "chart": "grafana",
            "targetRevision": "10.1.0",
            "helm": {"valuesObject": {"replicas": 2}},
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "monitoring"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=false"]},
    },
}
UNKNOWN_CR = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}


@pytest.fixture
def validator() -> ManifestValidator:
    return ManifestValidator("1.33", str(CRD_SCHEMAS), {})


def _messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


# --- kubernetes (built-in kinds, strict) --------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [DEPLOYMENT, NAMESPACE, NETWORK_POLICY, SERVICE], ids=lambda o: o["kind"])
def test_good_core_objects_pass(validator: ManifestValidator, obj: dict[str, Any]) -> None:
    assert validator.validate(obj) == []


def test_unknown_field_under_spec_is_rejected_with_its_path(validator: ManifestValidator) -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["replica"] = 2
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    findings = validator.validate(obj)
    assert {f.stage for f in findings} == {"kubernetes"}
    assert {f.object_ref for f in findings} == {"apps/v1 Deployment monitoring/grafana"}
    messages = _messages(findings)
    assert any(m.startswith("spec: ") and "'replica' was unexpected" in m for m in messages), messages
    assert any(m.startswith("spec.template.spec.containers[0]: ") and "'imagePullPolicyy'" in m for m in messages), (
        messages
    )


def test_wrong_type_is_rejected_with_its_path(validator: ManifestValidator) -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["replicas"] = "two"
    assert _messages(validator.validate(obj)) == ["spec.replicas: 'two' is not of type 'integer', 'null'"]


def test_all_errors_of_an_object_are_reported(validator: ManifestValidator) -> None:
    obj = copy.deepcopy(SERVICE)
    obj["spec"]["ports"][0]["port"] = "eighty"
    obj["metadata"]["labelz"] = {}
    assert [m.split(":")[0] for m in _messages(validator.validate(obj))] == ["metadata", "spec.ports[0].port"]


def test_removed_api_is_a_finding_not_an_exception(validator: ManifestValidator) -> None:
    pdb = {
        "apiVersion": "policy/v1beta1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "grafana", "namespace": "monitoring"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "grafana"}}},
    }
    (finding,) = validator.validate(pdb)
    assert finding.stage == "kubernetes"
    assert "policy/v1beta1 PodDisruptionBudget is not served by Kubernetes 1.33" in finding.message
    assert validator.validate(pdb | {"apiVersion": "policy/v1"}) == []


def test_removed_api_of_a_dotted_builtin_group_is_not_mistaken_for_a_custom_resource(
    validator: ManifestValidator,
) -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}}
    (finding,) = validator.validate(ingress)
    assert finding.stage == "kubernetes"


def test_schema_directory_is_chosen_like_kubernetes_validate() -> None:
    assert validate.bundled_schema_dir("1.33") == "v1.33.0-local-strict"
    assert validate.bundled_schema_dir("v1.33.5") == "v1.33.0-local-strict"
    with pytest.raises(ValueError, match="no schemas for Kubernetes 9.0"):
        ManifestValidator("9.0", str(CRD_SCHEMAS), {})


# --- crd (custom resources) ---------------------------------------------------------------------------------------


@needs_crd_schemas
@pytest.mark.parametrize("obj", [CLUSTER_ISSUER, APPLICATION], ids=lambda o: o["kind"])
def test_good_custom_resources_pass(validator: ManifestValidator, obj: dict[str, Any]) -> None:
    assert validator.validate(obj) == []


@needs_crd_schemas
def test_misspelled_spec_field_of_a_custom_resource_is_rejected(validator: ManifestValidator) -> None:
    obj = copy.deepcopy(APPLICATION)
    obj["spec"]["syncPolicy"]["automated"]["selfHeall"] = True
    (finding,) = validator.validate(obj)
    assert finding.stage == "crd"
    assert finding.object_ref == "argoproj.io/v1alpha1 Application argocd/grafana"
    assert finding.message.startswith("spec.syncPolicy.automated: ") and "'selfHeall'" in finding.message


@needs_crd_schemas
def test_unknown_top_level_field_and_missing_name_of_a_custom_resource_are_rejected(
    validator: ManifestValidator,
) -> None:
    obj = copy.deepcopy(CLUSTER_ISSUER) | {"data": {"a": "b"}, "metadata": {}}
    messages = _messages(validator.validate(obj))
    assert any(m.startswith("data: unknown top-level field") for m in messages), messages
    assert any(m.startswith("metadata.name: ") for m in messages), messages


@needs_crd_schemas
def test_k8s_io_group_without_bundled_schema_is_validated_as_a_custom_resource(validator: ManifestValidator) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "grafana", "namespace": "monitoring"},
        "spec": {"parentRefs": [{"name": "public"}], "hostname": ["grafana.example.com"]},
    }
    (finding,) = validator.validate(route)
    assert finding.stage == "crd" and "'hostname' was unexpected" in finding.message


@needs_crd_schemas
def test_custom_resource_without_schema_fails_unless_allow_listed() -> None:
    (finding,) = ManifestValidator("1.33", str(CRD_SCHEMAS), {}).validate(UNKNOWN_CR)
    assert finding.stage == "crd"
    assert "no schema for example.com/Widget v1" in finding.message and "allow-list" in finding.message
    allowed = ManifestValidator("1.33", str(CRD_SCHEMAS), {"example.com/Widget": "vendor publishes no CRD schema"})
    assert allowed.validate(UNKNOWN_CR) == []


def test_unreachable_schema_url_is_a_finding_suggesting_a_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    validate.clear_caches()

    def offline(url: str) -> Any:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(validate, "_fetch_json", offline)
    (finding,) = ManifestValidator("1.33", validate.DEFAULT_CRD_SCHEMA_LOCATION, {}).validate(CLUSTER_ISSUER)
    assert finding.stage == "crd"
    url = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/cert-manager.io/clusterissuer_v1.json"
    assert f"could not fetch schema {url}: no route to host" in finding.message
    assert "--crd-schemas DIR" in finding.message


def test_missing_schema_url_is_reported_as_no_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    validate.clear_caches()

    def not_found(url: str) -> Any:
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "_fetch_json", not_found)
    (finding,) = ManifestValidator("1.33", validate.DEFAULT_CRD_SCHEMA_LOCATION, {}).validate(UNKNOWN_CR)
    assert "no schema for example.com/Widget v1" in finding.message


# --- caching ------------------------------------------------------------------------------------------------------


@needs_crd_schemas
def test_schemas_are_read_once_and_shared_across_validators(monkeypatch: pytest.MonkeyPatch) -> None:
    validate.clear_caches()
    reads: list[Path] = []
    real_read = validate._read_json

    def counting_read(path: Path) -> Any:
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(validate, "_read_json", counting_read)
    first = ManifestValidator("1.33", str(CRD_SCHEMAS), {})
    assert first.validate(DEPLOYMENT) == [] and first.validate(CLUSTER_ISSUER) == []
    assert sorted(p.name for p in reads) == ["_definitions.json", "clusterissuer_v1.json", "deployment-apps-v1.json"]

    second = ManifestValidator("1.33.2", str(CRD_SCHEMAS), {})  # another environment, same schema directory
    for _ in range(3):
        assert second.validate(DEPLOYMENT) == [] and second.validate(CLUSTER_ISSUER) == []
    assert len(reads) == 3
    assert ("v1.33.0-local-strict", "Deployment", "apps/v1") in validate._core_validators
    assert len(validate._crd_validators) == 1


# --- checkov ------------------------------------------------------------------------------------------------------


def _write(directory: Path, name: str, obj: dict[str, Any]) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False))


@needs_checkov
def test_checkov_flags_privileged_pod_in_the_right_environment(tmp_path: Path) -> None:
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    _write(dev, "tools/pod-debug.yaml", PRIVILEGED_POD)
    _write(dev, "namespace-tools.yaml", NAMESPACE | {"metadata": {**NAMESPACE["metadata"], "name": "tools"}})
    _write(prod, "monitoring/deployment-grafana.yaml", DEPLOYMENT)
    _write(prod, "monitoring/networkpolicy-default-deny.yaml", NETWORK_POLICY)
    _write(prod, "namespace-monitoring.yaml", NAMESPACE)

    results = checkov_stage.run_checkov({"dev": dev, "prod": prod}, CHECKOV_CONFIG, CUSTOM_CHECKS)

    assert set(results) == {"dev", "prod"}
    privileged_check = Finding(
        "checkov", "tools/pod-debug.yaml Pod.tools.debug", "CKV_K8S_16: Container should not be privileged"
    )
    assert privileged_check in results["dev"]
    assert all(f.object_ref.startswith("tools/pod-debug.yaml ") for f in results["dev"])
    assert results["prod"] == [], results["prod"]


def test_checkov_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "dev", "namespace.yaml", NAMESPACE)
    monkeypatch.setattr(checkov_stage, "CHECKOV_BIN", tmp_path / "no-such-checkov")
    with pytest.raises(RuntimeError, match=r"no-such-checkov.*make install"):
        checkov_stage.run_checkov({"dev": tmp_path / "dev"}, CHECKOV_CONFIG)


def test_checkov_crash_is_an_error_not_a_clean_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "dev", "namespace.yaml", NAMESPACE)
    fake = tmp_path / "checkov"
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last): boom' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(checkov_stage, "CHECKOV_BIN", fake)
    with pytest.raises(RuntimeError, match="boom"):
        checkov_stage.run_checkov({"dev": tmp_path / "dev"}, CHECKOV_CONFIG)


def test_checkov_output_as_list_or_several_documents_is_understood() -> None:
    report = '{"check_type": "kubernetes", "results": {"failed_checks": [{"check_id": "CKV_K8S_16"}]}, "summary": {}}'
    assert len(list(checkov_stage._reports(f"[{report}, {report}]"))) == 2
    assert len(list(checkov_stage._reports(f"{report}\n{report}\n"))) == 2
    assert list(checkov_stage._reports('{"passed": 0, "failed": 0}')) == []


def test_no_manifests_means_no_checkov_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkov_stage, "CHECKOV_BIN", tmp_path / "no-such-checkov")
    assert checkov_stage.run_checkov({"dev": tmp_path}, CHECKOV_CONFIG) == {"dev": []}


INJECTABLE_WORKFLOW = """\
name: greet
on: issues
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.issue.title }}"
"""


@needs_checkov
def test_the_warm_checkov_scans_objects_units_and_workflows_side_by_side(tmp_path: Path) -> None:
    """What `check` uses: one import of checkov; the workflows' command line, the objects (resource checks, in
    batches) and the units (graph checks, each alone) side by side, each result mapped to its file."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "greet.yaml").write_text(INJECTABLE_WORKFLOW)
    pod, unit = tmp_path / "pod.json", tmp_path / "unit.yaml"
    pod.write_text(json.dumps(PRIVILEGED_POD))
    unit.write_text(json.dumps(PRIVILEGED_POD) + "\n")
    warm = checkov_stage.WarmCheckov()
    assert "Pod" in (warm.kinds() or {"Pod"})
    run = warm.run([checkov_stage.workflow_arguments(workflows)], [pod], [unit])

    privileged = [r for r in run.results["pod.json"] if r.check_id == "CKV_K8S_16"]
    assert [r.outcome for r in privileged] == ["failed"]
    assert {r.check_id for r in run.results["unit.yaml"]} == {"CKV2_K8S_6"}  # graph checks only
    workflow = checkov_stage.scan_findings(*run.scans[0])
    assert workflow and all(f.object_ref.startswith("greet.yaml ") for f in workflow), workflow
    assert any(f.message.startswith("CKV_GHA_2:") for f in workflow), workflow


def test_the_warm_checkov_without_its_virtualenv_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkov_stage, "CHECKOV_BIN", tmp_path / "bin" / "checkov")
    with pytest.raises(RuntimeError, match=r"checkov's Python not found.*make install"):
        checkov_stage.WarmCheckov()


def test_a_failing_warm_scan_is_an_error_not_a_clean_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver that cannot import checkov (here: an interpreter without it) fails the check."""
    fake_venv = tmp_path / "bin"
    fake_venv.mkdir()
    (fake_venv / "python").symlink_to(Path(sys.executable))
    monkeypatch.setattr(checkov_stage, "CHECKOV_BIN", fake_venv / "checkov")
    warm = checkov_stage.WarmCheckov()
    with pytest.raises(RuntimeError, match="(?s)driver failed.*ModuleNotFoundError"):
        warm.run()
