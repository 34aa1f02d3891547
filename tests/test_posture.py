"""Posture over the whole platform: checkov and the project's checks on every object each environment applies (each
distinct object once, results kept by content), CrossGuard's Kubernetes rules on the expanded objects, and the
reviewed list of what is accepted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.expand.expansion import ExpandedObject
from infra.expand.images import POD_SPECS
from infra.expand.platform import STACK, Platform
from infra.expand.posture import (
    ACCEPTED,
    AcceptedList,
    AcceptedListError,
    load_accepted,
    posture_findings,
    request_scans,
)
from infra.expand.scope import group_of
from infra.offline import checkov as checkov_stage
from infra.offline.checkov import ContentScan, WarmCheckov
from infra.offline.policy import object_policy_findings

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "policies" / "checkov" / "config.yaml"

needs_checkov = pytest.mark.skipif(
    not checkov_stage.CHECKOV_BIN.is_file(), reason=f"checkov not installed at {checkov_stage.CHECKOV_BIN}"
)


def only(platform: Platform, owner: str, *objects: dict[str, Any]) -> Platform:
    """A platform of `objects` alone."""
    rendered = dataclasses.replace(platform.rendered, manifests=())
    expansion = dataclasses.replace(
        platform.expansion, objects={owner: [ExpandedObject(owner, o, "test") for o in objects]}
    )
    return Platform(rendered, expansion)


def with_objects(platform: Platform, owner: str, *objects: dict[str, Any]) -> Platform:
    expansion = dataclasses.replace(platform.expansion, objects=dict(platform.expansion.objects))
    expansion.objects[owner] = [*expansion.objects.get(owner, []), *(ExpandedObject(owner, o, "test") for o in objects)]
    return Platform(platform.rendered, expansion)


def scan(platforms: dict[str, Platform], cache: Path | None = None) -> tuple[ContentScan, dict[str, Any]]:
    """Every platform's posture requested and scanned."""
    content = ContentScan(cache)
    warm = WarmCheckov()
    try:
        postures = {env: request_scans(platform, content, warm.kinds()) for env, platform in platforms.items()}
        content.run(warm)
    finally:
        warm.close()
    return content, postures


def pod(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox:1.37", **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [container], **spec},
    }


def network_policy(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def role(namespace: str, resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": resources, "verbs": ["get", "list", "watch"]}],
    }


def binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": namespace}],
    }


def failed(content: ContentScan, postures: dict[str, Any], env: str, accepted: AcceptedList | None = None) -> set:
    findings, _ = posture_findings(postures[env], content, accepted or AcceptedList({}))
    return {(f.object_ref, f.message.rsplit(": ", 2)[-2]) for f in findings}


# --- the real environments --------------------------------------------------------------------------------------


@needs_checkov
def test_every_environment_has_no_unexplained_failure(platforms: dict[str, Platform]) -> None:
    content, postures = scan(platforms, ContentScan.default().cache)
    accepted = load_accepted()
    for env, platform in platforms.items():
        findings, counts = posture_findings(postures[env], content, accepted)
        assert findings == [], env
        # The smallest, onprem-traefik (no Kubeflow, KServe or ML apps): 380 objects, 4622 checks passed.
        small = env == "hub-example"  # no Kubeflow, no Argo CD, the cluster's own Istio and cert-manager
        assert counts.objects > (150 if small else 350) and counts.passed > (1800 if small else 4000), (env, counts)
        assert counts.failed == 0, (env, counts)
        assert counts.accepted > 0
        # CrossGuard's Kubernetes rules on the expanded objects, with the same list.
        expanded = [item for item in platform.objects if item.owner != STACK]
        policy = object_policy_findings(
            env, expanded, platform.rendered.run.resources, lambda ref, rule, env=env: accepted.accepts(ref, rule, env)
        )
        assert [f for f in policy if f.severity == "error"] == [], env
    # Every entry accepts something somewhere.
    assert accepted.stale() == []


@needs_checkov
def test_an_object_identical_in_several_environments_is_scanned_once(
    platforms: dict[str, Platform], tmp_path: Path
) -> None:
    content, postures = scan(platforms, tmp_path)
    scanned = content.scanned
    objects = sum(len(p.scanned) for p in postures.values())
    # Most objects recur (CRDs, RBAC, most chart output): far fewer scans than objects.
    assert scanned < objects * 0.6, (scanned, objects)
    again, _ = scan(platforms, tmp_path)
    assert again.scanned == 0  # everything from the cache, by content


@needs_checkov
def test_a_bad_object_fails_and_is_named_with_its_application(platforms: dict[str, Platform]) -> None:
    privileged = pod("debug", "keda", container={"securityContext": {"privileged": True}})
    content, postures = scan({"dev": with_objects(platforms["dev"], "keda", privileged)}, None)
    findings, counts = posture_findings(postures["dev"], content, load_accepted())
    refs = {(f.object_ref, f.message.split(": ")[1]) for f in findings}
    assert ("keda: v1 Pod keda/debug", "CKV_K8S_16") in refs
    assert all(f.object_ref == "keda: v1 Pod keda/debug" for f in findings)
    assert counts.failed == len(findings)
    # The message starts with the fields the check read.
    message = next(f.message for f in findings if "CKV_K8S_16" in f.message)
    assert message.startswith("spec/containers/[0]/securityContext/privileged")


@needs_checkov
def test_graph_checks_judge_a_binding_with_the_role_it_names_in_its_namespace(platforms: dict[str, Platform]) -> None:
    """checkov's graph alone would link a binding to a same-named Role of any namespace, or of another unit."""
    secrets = only(platforms["dev"], "a", role("team-a", ["secrets"]), binding("team-a"))
    harmless = only(
        platforms["dev"], "b", role("team-b", ["configmaps"]), binding("team-b"), role("other", ["secrets"])
    )
    content, postures = scan({"secrets": secrets, "harmless": harmless}, None)
    assert ("a: rbac.authorization.k8s.io/v1 RoleBinding team-a/reader", "CKV2_K8S_5") in failed(
        content, postures, "secrets"
    )
    assert not any(check.startswith("CKV2") for _, check in failed(content, postures, "harmless"))


@needs_checkov
def test_a_pod_is_judged_with_the_network_policies_of_its_own_namespace(platforms: dict[str, Platform]) -> None:
    guarded = only(platforms["dev"], "a", pod("app", "team-a"), network_policy("team-a"))
    open_ = only(platforms["dev"], "b", pod("app", "team-b"), network_policy("elsewhere"))
    content, postures = scan({"guarded": guarded, "open": open_}, None)
    assert ("b: v1 Pod team-b/app", "CKV2_K8S_6") in failed(content, postures, "open")
    assert ("a: v1 Pod team-a/app", "CKV2_K8S_6") not in failed(content, postures, "guarded")


@needs_checkov
def test_an_annotation_suppression_counts_as_accepted_with_its_reason(platforms: dict[str, Platform]) -> None:
    suppressed = pod("debug", "keda", container={"securityContext": {"privileged": True}})
    suppressed["metadata"]["annotations"] = {"checkov.io/skip1": "CKV_K8S_16=a test of the suppression"}
    content, postures = scan({"dev": only(platforms["dev"], "keda", suppressed)}, None)
    findings, counts = posture_findings(postures["dev"], content, AcceptedList({}))
    assert not any("CKV_K8S_16" in f.message for f in findings)
    assert counts.accepted >= 1


# --- the reviewed list ------------------------------------------------------------------------------------------


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "accepted.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"accepted": [{"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": ""}}]}, "needs a reason"),
        ({"accepted": [{"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": "ok"}}]}, "needs a reason"),
        ({"accepted": [{"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": "undefined-name"}}]}, "needs a reason"),
        ({"accepted": [{"object": "Pod b", "checks": {"CKV_K8S_16": "a reason of some words"}}]}, "object must be"),
        ({"accepted": [{"object": "x: v1 Pod a/b", "checks": {}}]}, "checks must map"),
        ({"accepted": [{"object": "x: v1 Pod a/b", "checks": ["CKV_K8S_16"]}]}, "checks must map"),
        ({"accepted": [{"object": "x: v1 Pod a/b", "why": "x"}]}, "takes `object`"),
        ({"skip": ["CKV_K8S_16"]}, "must map `reasons`"),
        ({"reasons": {"short": "too short"}}, "reasons: each is"),
        (
            {
                "accepted": [
                    {"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": "a reason of some words"}},
                    {"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": "a reason of some words"}},
                ]
            },
            "accepted twice",
        ),
    ],
)
def test_a_malformed_list_is_refused_naming_the_entry(tmp_path: Path, data: Any, message: str) -> None:
    with pytest.raises(AcceptedListError, match=message) as refused:
        load_accepted(write(tmp_path, data))
    assert str(tmp_path / "accepted.yaml") in str(refused.value)


def test_named_reasons_and_generated_suffixes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "reasons": {"shared": "a reason that several objects share"},
            "accepted": [
                {"object": "x: batch/v1 Job a/certs-*", "checks": {"CKV_K8S_38": "shared"}},
                {
                    "object": "x: v1 Pod a/b",
                    "checks": {"CKV_K8S_16": "its own reason, in words"},
                    "environments": ["dev"],
                },
            ],
        },
    )
    accepted = load_accepted(path)
    assert accepted.accepts("x: batch/v1 Job a/certs-0a1b2c", "CKV_K8S_38", "prod").reason.startswith("a reason")
    assert accepted.accepts("x: batch/v1 Job a/other", "CKV_K8S_38", "prod") is None
    assert accepted.accepts("x: v1 Pod a/b", "CKV_K8S_16", "prod") is None  # narrowed to dev
    assert accepted.accepts("x: v1 Pod a/b", "CKV_K8S_16", "dev") is not None
    assert accepted.stale() == []


def test_an_entry_that_accepts_nothing_is_stale(tmp_path: Path) -> None:
    accepted = load_accepted(
        write(tmp_path, {"accepted": [{"object": "x: v1 Pod a/b", "checks": {"CKV_K8S_16": "a reason of words"}}]})
    )
    (finding,) = accepted.stale()
    assert finding.message.startswith("x: v1 Pod a/b: CKV_K8S_16: accepts nothing in any environment")


def test_no_check_is_skipped_for_the_whole_platform() -> None:
    assert (yaml.safe_load(CONFIG.read_text()) or {}).get("skip-check") in (None, [])


def test_the_real_list_loads_and_every_token_acceptance_is_for_a_workload_that_calls_the_api(
    platforms: dict[str, Platform],
) -> None:
    """`api-client` says the workload's account is authorized by RBAC: it must be, in every environment."""
    accepted = load_accepted(ACCEPTED)
    shared = yaml.safe_load(ACCEPTED.read_text())["reasons"]["api-client"]
    claimed = {
        ref for (ref, check), entry in accepted.entries.items() if check == "CKV_K8S_38" and entry.reason == shared
    }
    assert claimed
    for env, platform in platforms.items():
        bound = {
            (subject.get("namespace") or item.namespace, subject["name"])
            for item in platform.objects
            if item.kind in ("RoleBinding", "ClusterRoleBinding")
            for subject in item.object.get("subjects") or ()
            if subject.get("kind") == "ServiceAccount"
        }
        for item in platform.objects:
            if item.ref not in claimed and not any("*" in ref and item.ref.startswith(ref[:-1]) for ref in claimed):
                continue
            path = POD_SPECS[(group_of(str(item.object["apiVersion"])), item.kind)]
            spec: Any = item.object
            for key in path:
                spec = spec[key]
            account = spec.get("serviceAccountName") or "default"
            assert (item.namespace, account) in bound, (env, item.ref, account)


def test_thanos_pods_accepted_for_their_token_mount_none(platforms: dict[str, Platform]) -> None:
    """`thanos-token` says the pods get no token from their ServiceAccounts; checkov reads only the pod's field."""
    accepted = load_accepted(ACCEPTED)
    shared = yaml.safe_load(ACCEPTED.read_text())["reasons"]["thanos-token"]
    claimed = {ref for (ref, check), entry in accepted.entries.items() if entry.reason == shared}
    assert claimed
    for env, platform in platforms.items():
        no_token = {
            (item.namespace, item.name)
            for item in platform.objects
            if item.kind == "ServiceAccount" and item.object.get("automountServiceAccountToken") is False
        }
        for item in platform.objects:
            if item.ref in claimed:
                spec = item.object["spec"]["template"]["spec"]
                assert spec.get("automountServiceAccountToken") is not True, (env, item.ref)
                assert (item.namespace, spec["serviceAccountName"]) in no_token, (env, item.ref)


# --- CrossGuard's Kubernetes rules on what the Applications apply -----------------------------------------------


def test_crossguard_judges_the_expanded_objects_too(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    bare = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bare", "namespace": "keda"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "ghcr.io/a/b"}]}}},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "unguarded"}}
    platform = with_objects(dev, "keda", bare, namespace)
    expanded = [item for item in platform.objects if item.owner != STACK]
    findings = object_policy_findings("dev", expanded, dev.rendered.run.resources)
    found = {(f.object_ref, f.message.split(":")[0]) for f in findings}
    assert ("keda: apps/v1 Deployment keda/bare", "container-resources") in found
    assert ("keda: apps/v1 Deployment keda/bare", "images-pinned") in found
    assert ("keda: v1 Namespace unguarded", "namespace-pod-security") in found
    assert ("keda: v1 Namespace unguarded", "namespace-default-deny") in found
    # The stack's own resources are run_policies' to report; nothing about them here.
    assert all(not f.object_ref.startswith("stack:") for f in findings)


def test_prod_stateful_protection_is_not_asked_of_what_argo_cd_applies(platforms: dict[str, Platform]) -> None:
    prod = platforms["prod"]
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "monitoring"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    expanded = [item for item in with_objects(prod, "kube-prometheus-stack", claim).objects if item.owner != STACK]
    findings = object_policy_findings("prod", expanded, prod.rendered.run.resources)
    assert not any("kubernetes-stateful-protected" in f.message for f in findings)
