"""The integrity stage: every namespaced object lands in a namespace that exists, and each object has one owner."""

from __future__ import annotations

import dataclasses

from infra.expand.expansion import ExpandedObject
from infra.expand.integrity import existing_namespaces, integrity_findings
from infra.expand.platform import Platform


def with_objects(platform: Platform, owner: str, *objects: dict) -> Platform:
    expansion = dataclasses.replace(platform.expansion, objects=dict(platform.expansion.objects))
    expansion.objects[owner] = [*expansion.objects.get(owner, []), *(ExpandedObject(owner, o, "test") for o in objects)]
    return Platform(platform.rendered, expansion)


def config_map(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def test_every_environment_is_whole(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        findings, checked = integrity_findings(platform)
        assert findings == [], env
        # The small example environment (existing Istio and cert-manager) has fewer objects than the others.
        assert checked == len(platform.objects) > (300 if env == "hub-example" else 600)


def test_an_object_in_a_namespace_nothing_creates_is_refused(platforms: dict[str, Platform]) -> None:
    platform = with_objects(platforms["dev"], "keda", config_map("orphan", "nowhere"))
    findings, _ = integrity_findings(platform)
    assert [f.object_ref for f in findings] == ["keda: v1 ConfigMap nowhere/orphan"]
    assert findings[0].message.startswith("metadata.namespace: 'nowhere' does not exist")


def test_namespaces_come_from_the_stack_applications_profiles_and_the_cluster(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    names = existing_namespaces(dev)
    assert {"kube-system", "default", "kubeflow", "monitoring"} <= names
    teams = {o.name for o in dev.objects if o.kind == "Profile"}
    assert teams and teams <= names
    made = with_objects(
        dev,
        "keda",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}},
        config_map("inside", "fresh"),
    )
    assert integrity_findings(made)[0] == []


def test_an_object_two_owners_apply_is_refused(platforms: dict[str, Platform]) -> None:
    dev = platforms["dev"]
    taken = next(o for o in dev.owned_by("cert-manager") if o.kind == "Deployment")
    findings, _ = integrity_findings(with_objects(dev, "keda", dict(taken.object)))
    assert len(findings) == 1
    assert "applied by Application cert-manager, Application keda" in findings[0].message
    stack_object = next(o for o in dev.owned_by("stack") if o.kind == "Namespace")
    findings, _ = integrity_findings(with_objects(dev, "keda", dict(stack_object.object)))
    assert "applied by Application keda, the stack" in findings[0].message
