"""The convergence stage: what controllers change after a sync neither keeps an Application OutOfSync nor fights
self-heal, and what they change in the stack's own objects is not set back by `pulumi up`."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from infra.components import BOOTSTRAP, COMPONENTS
from infra.expand.convergence import (
    convergence_findings,
    differences,
    pointer_segments,
    remove_at,
    touched,
)
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.sources import Deployer
from infra.expand.writers import WRITERS, WRITERS_BY_KEY, group_kind
from infra.offline.validate import Finding
from infra.platform.argocd_app import RESPECT_IGNORE_DIFFERENCES, IgnoredDifference
from infra.platform.component import ComponentSpec

VWC = "ValidatingWebhookConfiguration"
MWC = "MutatingWebhookConfiguration"
ADMISSION = "admissionregistration.k8s.io/v1"


@dataclass
class FakePlatform:
    """What the stage reads of a Platform: its objects, its deployers, and the objects of one owner."""

    objects: Sequence[PlatformObject]
    deployers: list[Deployer] = field(default_factory=list)

    def owned_by(self, owner: str) -> Iterator[PlatformObject]:
        return (o for o in self.objects if o.owner == owner)


def findings_of(*objects: PlatformObject, deployers: Sequence[Deployer] = ()) -> list[Finding]:
    return convergence_findings(cast(Platform, FakePlatform(list(objects), list(deployers))))[0]


def owned(owner: str, obj: dict[str, Any]) -> PlatformObject:
    return PlatformObject(owner, obj, "test")


def application(
    name: str, ignores: Sequence[dict[str, Any]] = (), respect: bool = True, self_heal: bool = True
) -> PlatformObject:
    options = ["CreateNamespace=false", *([RESPECT_IGNORE_DIFFERENCES] if respect else [])]
    spec: dict[str, Any] = {"syncPolicy": {"automated": {"prune": True, "selfHeal": self_heal}, "syncOptions": options}}
    if ignores:
        spec["ignoreDifferences"] = list(ignores)
    return owned(
        STACK,
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": name}, "spec": spec},
    )


def webhooks(
    kind: str,
    name: str,
    *hooks: dict[str, Any],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": ADMISSION, "kind": kind, "metadata": metadata, "webhooks": list(hooks)}


def hook(name: str, ca: str | None = None, policy: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"service": {"name": "svc", "namespace": "ns", "path": "/"}}
    if ca is not None:
        config["caBundle"] = ca
    made: dict[str, Any] = {"name": name, "clientConfig": config}
    if policy is not None:
        made["failurePolicy"] = policy
    return made


def deployment(name: str, namespace: str, replicas: int | None = None, args: Sequence[str] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"spec": {"containers": [{"name": "main", "image": "example/app:1", "args": list(args)}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def crd(name: str, client: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"annotations": annotations} if annotations else {})}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": client}}},
    }


def api_service(name: str, ca: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name},
        "spec": {"caBundle": ca, "service": {"name": "svc", "namespace": "ns"}},
    }


# --- a test per writer: each case (writer, objects as they fight it, objects as the platform renders them) --------

ISTIO_LABELS = {"istio.io/rev": "default"}
INJECT = {"cert-manager.io/inject-ca-from": "kserve/serving-cert"}
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3},
}
SCALED_OBJECT = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "worker", "namespace": "jobs"},
    "spec": {"scaleTargetRef": {"name": "worker"}, "minReplicaCount": 0},
}
CERTGEN_PATCH = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "admission-patch", "namespace": "monitoring"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "patch",
                        "image": "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7",
                        "args": ["patch", "--webhook-name=prom-admission", "--patch-failure-policy=Fail"],
                    }
                ]
            }
        }
    },
}
ECK_CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "elastic-operator", "namespace": "elastic-system"},
    "data": {"eck.yaml": "enable-webhook: true\nwebhook-name: eck-webhook\n"},
}
AGGREGATED = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "team-admin"},
    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-team-admin": "true"}}]},
}


@dataclass(frozen=True)
class Case:
    writer: str
    field: str
    fights: tuple[dict[str, Any], ...]
    settles: tuple[dict[str, Any], ...]
    owner: str = "app"


CASES = (
    Case(
        "istiod-validation",
        "webhooks[0].failurePolicy",
        (webhooks(VWC, "istiod-default-validator", hook("validation.istio.io", policy="Ignore"), labels=ISTIO_LABELS),),
        (webhooks(VWC, "istiod-default-validator", hook("validation.istio.io", policy="Fail"), labels=ISTIO_LABELS),),
    ),
    Case(
        "istiod-injector",
        "webhooks[1].clientConfig.caBundle",
        (
            webhooks(
                MWC, "injector", hook("rev.x"), hook("object.sidecar-injector.istio.io", ca=""), labels=ISTIO_LABELS
            ),
        ),
        # Its patcher leaves webhooks of other names alone.
        (
            webhooks(
                MWC,
                "injector",
                hook("other.istio.io", ca=""),
                hook("object.sidecar-injector.istio.io"),
                labels=ISTIO_LABELS,
            ),
        ),
    ),
    Case(
        "cert-manager-cainjector",
        "spec.conversion.webhook.clientConfig.caBundle",
        (crd("things.example.com", {"caBundle": "Cg==", "service": {"name": "s", "namespace": "n"}}, INJECT),),
        (crd("things.example.com", {"service": {"name": "s", "namespace": "n"}}, INJECT),),
    ),
    Case(
        "kube-webhook-certgen",
        "webhooks[0].failurePolicy",
        (CERTGEN_PATCH, webhooks(VWC, "prom-admission", hook("rules.monitoring.coreos.com", policy="Ignore"))),
        (CERTGEN_PATCH, webhooks(VWC, "prom-admission", hook("rules.monitoring.coreos.com", policy="Fail"))),
    ),
    Case(
        "keda-cert-rotation",
        "spec.caBundle",
        (
            deployment("keda-operator", "keda", args=["--enable-cert-rotation=true"]),
            api_service("v1beta1.external.metrics.k8s.io", "Cg=="),
        ),
        (
            deployment("keda-operator", "keda", args=["--enable-cert-rotation=false"]),
            api_service("v1beta1.external.metrics.k8s.io", "Cg=="),
        ),
    ),
    Case(
        "eck-webhook-certs",
        "webhooks[0].clientConfig.caBundle",
        (ECK_CONFIG, webhooks(VWC, "eck-webhook", hook("es.k8s.elastic.co", ca="Cg=="))),
        (ECK_CONFIG, webhooks(VWC, "eck-webhook", hook("es.k8s.elastic.co"))),
    ),
    Case(
        "external-secrets-cert-controller",
        "webhooks[0].clientConfig.caBundle",
        (
            webhooks(
                VWC, "secretstore-validate", hook("v.eso", ca=""), labels={"external-secrets.io/component": "webhook"}
            ),
        ),
        (webhooks(VWC, "secretstore-validate", hook("v.eso"), labels={"external-secrets.io/component": "webhook"}),),
    ),
    Case(
        "cloudnative-pg-operator",
        "webhooks[0].clientConfig.caBundle",
        (webhooks(MWC, "cnpg-mutating-webhook-configuration", hook("mcluster.cnpg.io", ca="")),),
        (webhooks(MWC, "cnpg-mutating-webhook-configuration", hook("mcluster.cnpg.io")),),
    ),
    Case(
        "metallb-cert-rotation",
        "spec.conversion.webhook.clientConfig.caBundle",
        (crd("bgppeers.metallb.io", {"caBundle": "", "service": {"name": "s", "namespace": "n"}}),),
        (crd("bgppeers.metallb.io", {"service": {"name": "s", "namespace": "n"}}),),
    ),
    Case(
        "training-operator-cert-rotation",
        "webhooks[0].clientConfig.caBundle",
        (webhooks(VWC, "validator.training-operator.kubeflow.org", hook("v.pytorchjob", ca="")),),
        (webhooks(VWC, "validator.training-operator.kubeflow.org", hook("v.pytorchjob")),),
    ),
    Case(
        "knative-operator-conversion",
        "spec.conversion.webhook.clientConfig.service.path",
        (crd("knativeservings.operator.knative.dev", {"service": {"name": "operator-webhook", "path": "/convert"}}),),
        (
            crd(
                "knativeservings.operator.knative.dev",
                {"service": {"name": "operator-webhook", "path": "/resource-conversion"}},
            ),
        ),
    ),
    Case(
        "hpa-controller",
        "spec.replicas",
        (HPA, deployment("web", "apps", replicas=2)),
        (HPA, deployment("web", "apps")),
    ),
    Case(
        "keda-scaler",
        "spec.replicas",
        (SCALED_OBJECT, deployment("worker", "jobs", replicas=0)),
        (SCALED_OBJECT, deployment("worker", "jobs")),
        owner=STACK,
    ),
    Case(
        "clusterrole-aggregation",
        "rules",
        ({**AGGREGATED, "rules": []},),
        (AGGREGATED,),
    ),
)


def test_every_writer_has_a_case_and_a_source() -> None:
    assert sorted(case.writer for case in CASES) == sorted(WRITERS_BY_KEY)
    assert len(WRITERS_BY_KEY) == len(WRITERS)
    for writer in WRITERS:
        assert writer.sources and writer.remedy and writer.objects and writer.fields, writer.key


@pytest.mark.parametrize("case", CASES, ids=[case.writer for case in CASES])
def test_a_field_a_writer_changes_is_found_where_the_manifest_sets_it(case: Case) -> None:
    apps = [] if case.owner == STACK else [application(case.owner)]
    findings = findings_of(*apps, *(owned(case.owner, copy.deepcopy(o)) for o in case.fights))
    assert len(findings) == 1, findings
    assert findings[0].message.startswith(f"{case.field}: ")
    assert f"(writer {case.writer})" in findings[0].message
    assert findings[0].object_ref.startswith(f"{case.owner}: ")
    assert findings_of(*apps, *(owned(case.owner, copy.deepcopy(o)) for o in case.settles)) == []


def test_the_stack_is_told_about_pulumi_and_an_application_about_self_heal() -> None:
    worker = next(case for case in CASES if case.writer == "keda-scaler")
    stack = findings_of(*(owned(STACK, copy.deepcopy(o)) for o in worker.fights))
    assert "each `pulumi up` that updates the object sets it back" in stack[0].message
    role = {**AGGREGATED, "rules": []}
    healed = findings_of(application("roles"), owned("roles", role))
    assert "self-heal writes it back" in healed[0].message
    manual = findings_of(application("roles", self_heal=False), owned("roles", copy.deepcopy(role)))
    assert "each sync writes it back" in manual[0].message


def test_objects_of_helm_releases_are_not_judged() -> None:
    release = Deployer("argo-cd", "Release", "argocd", ())
    assert findings_of(owned("argo-cd", {**AGGREGATED, "rules": []}), deployers=[release]) == []


# --- ignoreDifferences, as Argo CD applies it ----------------------------------------------------------------------

ROLE_IGNORE = {
    "group": "rbac.authorization.k8s.io",
    "kind": "ClusterRole",
    "name": "team-admin",
    "jsonPointers": ["/rules"],
}


def test_an_ignored_field_settles_and_needs_respect_ignore_differences() -> None:
    role = owned("roles", {**AGGREGATED, "rules": []})
    assert findings_of(application("roles", [ROLE_IGNORE]), role) == []
    findings = findings_of(application("roles", [ROLE_IGNORE], respect=False), role)
    assert [f.message.split(":")[0] for f in findings] == ["spec.syncPolicy.syncOptions"]
    assert RESPECT_IGNORE_DIFFERENCES in findings[0].message


def test_an_ignore_for_another_object_or_field_does_not_hide_the_change() -> None:
    role = owned("roles", {**AGGREGATED, "rules": []})
    other_name = {**ROLE_IGNORE, "name": "someone-else"}
    other_field = {**ROLE_IGNORE, "jsonPointers": ["/metadata/labels"]}
    for ignore in (other_name, other_field):
        messages = [f.message for f in findings_of(application("roles", [ignore]), role)]
        assert any(m.startswith("rules: ") for m in messages), messages


def test_an_ignore_no_writer_needs_is_refused() -> None:
    role = owned("roles", copy.deepcopy(AGGREGATED))
    stale = {**ROLE_IGNORE, "name": "gone"}
    needless = {**ROLE_IGNORE, "jsonPointers": ["/rules", "/metadata/labels"]}
    findings = findings_of(
        application("roles", [stale, needless]), role, owned("roles", {**AGGREGATED, "metadata": {"name": "other"}})
    )
    messages = sorted(f.message for f in findings)
    assert messages[0].startswith("spec.ignoreDifferences[0]: ClusterRole gone matches no object Application roles")
    # `/rules` of a role that renders none, and labels no writer touches: both only hide drift.
    assert messages[1].startswith("spec.ignoreDifferences[1].jsonPointers[0]: /rules of ClusterRole team-admin")
    assert messages[2].startswith("spec.ignoreDifferences[1].jsonPointers[1]: /metadata/labels")
    assert all("only hides drift" in m for m in messages[1:])


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({**ROLE_IGNORE, "jqPathExpressions": [".rules"]}, "spec.ignoreDifferences[0].jqPathExpressions"),
        (
            {**ROLE_IGNORE, "managedFieldsManagers": ["kube-controller-manager"]},
            "spec.ignoreDifferences[0].managedFieldsManagers",
        ),
        ({**ROLE_IGNORE, "kind": "*"}, "spec.ignoreDifferences[0].kind"),
        ({**ROLE_IGNORE, "jsonPointers": ["rules"]}, "spec.ignoreDifferences[0].jsonPointers[0]"),
        ({"group": "apps", "jsonPointers": ["/spec/replicas"]}, "spec.ignoreDifferences[0].kind"),
    ],
)
def test_what_the_stage_does_not_model_is_refused_by_name(entry: dict[str, Any], field: str) -> None:
    findings = findings_of(application("roles", [entry]), owned("roles", copy.deepcopy(AGGREGATED)))
    assert findings and findings[0].message.startswith(f"{field}: "), findings
    assert findings[0].object_ref == "stack: argoproj.io/v1alpha1 Application roles"


def test_system_level_diff_settings_are_refused() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"resource.compareoptions": "ignoreAggregatedRoles: true\n", "url": "https://argocd.example.com"},
    }
    findings = findings_of(owned("argo-cd", config), owned("roles", {**AGGREGATED, "rules": []}), application("roles"))
    assert findings[0].message.startswith("data.resource.compareoptions: system-level diff settings are not modelled")


def test_json_pointers_as_argo_cd_reads_them() -> None:
    assert pointer_segments("/metadata/annotations/example.com~1key") == ("metadata", "annotations", "example.com/key")
    assert pointer_segments("/a~0b") == ("a~b",)
    assert pointer_segments("rules") is None
    obj = {"webhooks": [{"clientConfig": {"caBundle": "x"}}], "rules": []}
    assert remove_at(obj, ("webhooks", "0", "clientConfig", "caBundle"))
    assert not remove_at(obj, ("webhooks", "3", "clientConfig"))  # absent: skipped, as a failed JSON patch is
    assert obj == {"webhooks": [{"clientConfig": {}}], "rules": []}


def test_only_fields_the_manifest_sets_are_compared() -> None:
    desired = {"spec": {"a": 1, "list": [1, 2]}}
    assert list(differences(desired, {"spec": {"a": 1, "list": [1, 2], "added": True}, "status": {}})) == []
    assert list(differences(desired, {"spec": {"a": 2, "list": [1, 2, 3]}})) == [("spec", "a"), ("spec", "list")]
    assert list(differences(desired, {"spec": {"list": [1, 2]}})) == [("spec", "a")]


# --- the platform itself -------------------------------------------------------------------------------------------


def test_every_environment_converges(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        findings, checked = convergence_findings(platform)
        assert findings == [], (env, [f"{f.object_ref}: {f.message}" for f in findings])
        assert checked > 10, env


def replaced(
    platform: Platform, targets: Sequence[PlatformObject], change: Callable[[dict[str, Any]], Any]
) -> FakePlatform:
    """The platform with each of `targets` replaced by what `change` makes of a copy of it."""
    chosen = {id(target) for target in targets}
    objects = []
    for item in platform.objects:
        if id(item) in chosen:
            obj = copy.deepcopy(dict(item.object))
            change(obj)
            item = PlatformObject(item.owner, obj, item.origin)
        objects.append(item)
    return FakePlatform(objects, platform.deployers)


def test_istio_validators_render_what_istiod_sets(platforms: dict[str, Platform]) -> None:
    """istio/istio#44285, #52785: the charts render `Ignore` unless told; istiod sets `Fail` once it serves."""
    for env in ("dev", "staging", "prod"):
        platform = platforms[env]
        validators = [
            o for o in platform.objects if o.kind == VWC and o.name.startswith(("istiod-", "istio-validator"))
        ]
        assert {o.owner for o in validators} == {"istio-base", "istiod"}, env
        assert {w["failurePolicy"] for o in validators for w in o.object["webhooks"]} == {"Fail"}, env

        def chart_default(obj: dict[str, Any]) -> None:
            for webhook in obj["webhooks"]:
                webhook["failurePolicy"] = "Ignore"

        unfixed = replaced(platform, validators, chart_default)
        findings = convergence_findings(cast(Platform, unfixed))[0]
        assert sorted(f.object_ref.split(":")[0] for f in findings) == ["istio-base", "istiod"], env
        assert all(f.message.startswith("webhooks[0].failurePolicy: istiod") for f in findings)


def test_kube_prometheus_stack_patch_job_leaves_the_policy_it_renders(platforms: dict[str, Platform]) -> None:
    """helm-charts#2516: a patch Job told `--patch-failure-policy=Fail` beside webhooks rendered `Ignore` fights Argo
    CD. The pinned chart renders both from one value, left empty: the Job writes CA bundles only."""
    platform = platforms["prod"]
    job = next(o for o in platform.owned_by("kube-prometheus-stack") if o.name.endswith("admission-patch"))
    args = job.object["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--patch-failure-policy=" in args
    hooks = [o for o in platform.owned_by("kube-prometheus-stack") if o.kind in (VWC, MWC)]
    assert {w["failurePolicy"] for o in hooks for w in o.object["webhooks"]} == {"Ignore"}

    def told_to_fail(obj: dict[str, Any]) -> None:
        container = obj["spec"]["template"]["spec"]["containers"][0]
        container["args"] = [
            a if not a.startswith("--patch-failure-policy") else "--patch-failure-policy=Fail"
            for a in container["args"]
        ]

    fighting = [
        f
        for f in convergence_findings(cast(Platform, replaced(platform, [job], told_to_fail)))[0]
        if f.object_ref.startswith("kube-prometheus-stack: ")
    ]
    assert {(f.object_ref.split(" ")[-2], f.message.split(":")[0]) for f in fighting} == {
        (VWC, "webhooks[0].failurePolicy"),
        (VWC, "webhooks[1].failurePolicy"),
        (MWC, "webhooks[0].failurePolicy"),
    }
    assert all("(writer kube-webhook-certgen)" in f.message for f in fighting)


def test_the_example_worker_leaves_its_replicas_to_keda(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        workers = [o for o in platform.owned_by(STACK) if o.kind == "Deployment" and o.name == "queue-worker"]
        if not platform.env.components.keda.example_worker.enabled:
            assert workers == [], env
            continue
        assert len(workers) == 1 and "replicas" not in workers[0].object["spec"], env
        assert any(o.kind == "ScaledObject" and o.name == "queue-worker" for o in platform.owned_by(STACK)), env
        pinned = replaced(platform, workers, lambda obj: obj["spec"].update(replicas=0))
        findings = convergence_findings(cast(Platform, pinned))[0]
        assert [f.object_ref for f in findings] == ["stack: apps/v1 Deployment ml-examples/queue-worker"], env
        assert findings[0].message.startswith("spec.replicas: KEDA")


def test_each_declared_ignore_names_the_writer_that_needs_it(platforms: dict[str, Platform]) -> None:
    declared = [entry for component in (BOOTSTRAP, *COMPONENTS) for entry in component.spec.ignore_differences]
    assert declared
    seen: set[IgnoredDifference] = set()
    for platform in platforms.values():
        for judged in touched(platform.objects):
            item = judged.item
            for entry in declared:
                if (item.owner, group_kind(item), item.name) == (
                    entry.application,
                    (entry.group, entry.kind),
                    entry.name,
                ):
                    assert entry.writer in {writer.key for writer, _ in judged.writes}, entry
                    seen.add(entry)
    assert seen == set(declared)


def test_applications_carry_their_ignores_with_respect_ignore_differences(platforms: dict[str, Platform]) -> None:
    poddefaults = next(
        o for o in platforms["dev"].owned_by(STACK) if o.kind == "Application" and o.name == "kubeflow-poddefaults"
    )
    spec = poddefaults.object["spec"]
    assert {
        "group": "admissionregistration.k8s.io",
        "kind": MWC,
        "name": "admission-webhook-mutating-webhook-configuration",
        "jsonPointers": ["/webhooks/0/clientConfig/caBundle"],
    } in spec["ignoreDifferences"]
    assert RESPECT_IGNORE_DIFFERENCES in spec["syncPolicy"]["syncOptions"]
    keda = next(o for o in platforms["dev"].owned_by(STACK) if o.kind == "Application" and o.name == "keda")
    assert "ignoreDifferences" not in keda.object["spec"]
    assert RESPECT_IGNORE_DIFFERENCES not in keda.object["spec"]["syncPolicy"]["syncOptions"]


def test_an_ignored_difference_is_written_as_argo_cd_reads_it() -> None:
    entry = IgnoredDifference("roles", "rbac.authorization.k8s.io", "ClusterRole", "admin", ("/rules",), "w")
    assert entry.spec() == {
        "group": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "admin",
        "jsonPointers": ["/rules"],
    }
    assert IgnoredDifference("a", "", "ConfigMap", "c", ("/data",), "w", namespace="ns").spec()["namespace"] == "ns"


def test_an_ignore_must_name_an_application_of_its_component() -> None:
    stray = IgnoredDifference("elsewhere", "", "ConfigMap", "x", ("/data",), "hpa-controller")
    with pytest.raises(ValueError, match="ignore_differences names Application 'elsewhere'"):
        ComponentSpec(name="demo", layer="platform", namespace="demo", ignore_differences=(stray,))
