"""`check` end to end, and the ordering and policy stages each catching a broken fixture."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.cli.commands import check
from infra.components.argocd import ArgoCD
from infra.offline.engine import Recorded
from infra.offline.policy import run_policies
from infra.offline.render import Rendered
from infra.platform import labels
from infra.platform.ordering import DependencyCycle, application_waves, ordering_problems

from .conftest import ENV_NAMES, ENVIRONMENTS


def test_every_environment_checks_clean(tmp_path: Path, crd_schemas: str, capsys) -> None:
    assert check(ENVIRONMENTS, [], tmp_path, crd_schemas) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"check: {len(ENV_NAMES)} of {len(ENV_NAMES)} environments clean" in out


def test_waves_follow_dependencies() -> None:
    waves = application_waves(
        {
            "istio": (),
            "knative": ("istio",),
            "kserve": ("knative", "cert-manager"),
            "cert-manager": (),
            "absent-dep": ("not-enabled",),
        }
    )
    assert waves["istio"] < waves["knative"] < waves["kserve"]
    assert waves["cert-manager"] < waves["kserve"]
    assert waves["absent-dep"] == waves["istio"]
    with pytest.raises(DependencyCycle):
        application_waves({"a": ("b",), "b": ("a",)})


def test_ordering_check_catches_a_custom_resource_before_its_crd(rendered: dict[str, Rendered]) -> None:
    objects = [copy.deepcopy(m.object) for m in rendered["dev"].manifests]
    assert ordering_problems(objects, ArgoCD.spec.provides_crds) == []
    issuer = next(o for o in objects if o["kind"] == "ClusterIssuer")
    issuer["metadata"]["annotations"][labels.SYNC_WAVE] = "0"
    problems = ordering_problems(objects, ArgoCD.spec.provides_crds)
    assert len(problems) == 1 and "ClusterIssuer" in problems[0] and "cert-manager" in problems[0]


def test_ordering_check_catches_a_component_before_its_dependency(rendered: dict[str, Rendered]) -> None:
    objects = [copy.deepcopy(m.object) for m in rendered["dev"].manifests]
    cert_manager = next(o for o in objects if o["kind"] == "Application" and o["metadata"]["name"] == "cert-manager")
    cert_manager["metadata"]["annotations"][labels.DEPENDS_ON] = "kube-prometheus-stack"
    problems = ordering_problems(objects, ["argoproj.io"])
    assert problems == ["Application cert-manager (wave 10) syncs no later than its dependency kube-prometheus-stack"]


def test_ordering_check_catches_a_custom_resource_nobody_installs(rendered: dict[str, Rendered]) -> None:
    stray = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = ordering_problems([m.object for m in rendered["dev"].manifests] + [stray], ["argoproj.io"])
    assert problems == ["Widget /w: no Application installs the CRD for example.com/Widget"]


def recorded(type_: str, name: str, inputs: dict[str, Any]) -> Recorded:
    return Recorded(
        type_,
        name,
        f"urn:pulumi:t::p::{type_}::{name}",
        "",
        "pulumi:providers:kubernetes::k",
        (),
        False,
        False,
        True,
        inputs,
    )


def test_policies_pass_on_real_environments(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        assert run_policies(r.run.resources) == []


@pytest.mark.parametrize(
    ("resource", "policy"),
    [
        (recorded("kubernetes:helm.sh/v3:Release", "r", {"chart": "x", "version": "latest"}), "chart-versions-pinned"),
        (
            recorded(
                "kubernetes:argoproj.io/v1alpha1:Application",
                "a",
                {"spec": {"source": {"chart": "x", "targetRevision": "1.*"}}},
            ),
            "chart-versions-pinned",
        ),
        (recorded("kubernetes:core/v1:Namespace", "n", {"metadata": {"name": "n"}}), "namespace-pod-security"),
    ],
)
def test_each_policy_catches_a_violating_fixture(resource: Recorded, policy: str) -> None:
    findings = run_policies([resource])
    assert any(f.message.startswith(policy) for f in findings), findings


def test_namespace_without_default_deny_is_caught() -> None:
    namespace = recorded(
        "kubernetes:core/v1:Namespace",
        "ml-team",
        {"metadata": {"name": "ml-team", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}},
    )
    allow_all = recorded(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "p",
        {
            "metadata": {"name": "p", "namespace": "ml-team"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
        },
    )
    findings = run_policies([namespace, allow_all])
    assert [f.message for f in findings] == [
        "namespace-default-deny: namespace ml-team has no default-deny NetworkPolicy"
    ]
