"""The `admission` stage: the Pod Security Standards rule by rule, namespaces' levels, Istio's injection model and its
guard against the pinned template, and the real environments."""

from __future__ import annotations

import copy
import json
import tarfile
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from infra.catalog import CATALOG, effective_version
from infra.expand import pod_security
from infra.expand.admission import (
    judge,
    namespace_policies,
    policy_from_labels,
    profile_namespace_labels,
)
from infra.expand.caches import Caches
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.pod_security import BASELINE, PRIVILEGED, RESTRICTED, violations
from infra.expand.sidecar import (
    MODEL,
    TEMPLATE_FINGERPRINTS,
    Injector,
    SidecarModelError,
    selector_matches,
    template_drift,
)

AT = "spec.template."
APP = f"{AT}spec.containers[app]"
INIT = f"{AT}spec.initContainers[setup]"
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def restricted_container() -> dict[str, Any]:
    return copy.deepcopy(RESTRICTED_CONTAINER)


GOOD_POD: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "setup", "image": "busybox", "securityContext": restricted_container()}],
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "ports": [{"containerPort": 8080}],
                "securityContext": restricted_container(),
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
            }
        ],
        "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "config", "configMap": {"name": "web"}}],
    },
}

Mutation = Callable[[dict[str, Any]], None]


def app(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def app_context(pod: dict[str, Any]) -> dict[str, Any]:
    return app(pod)["securityContext"]


def pod_context(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["securityContext"]


def mutated(*mutations: Mutation) -> dict[str, Any]:
    pod = copy.deepcopy(GOOD_POD)
    for mutation in mutations:
        mutation(pod)
    return pod


def found(pod: dict[str, Any], level: str, version: int = 34) -> list[tuple[str, str]]:
    return [(v.rule, v.path) for v in violations(pod, level, version, AT)]


# Each rule of the standard: (rule, level that introduces it, a pod that breaks exactly that rule, the field named).
RULE_CASES: dict[str, tuple[str, Mutation, str]] = {
    "windowsHostProcess": (
        BASELINE,
        lambda p: pod_context(p).update(windowsOptions={"hostProcess": True}),
        f"{AT}spec.securityContext.windowsOptions.hostProcess",
    ),
    "hostNamespaces": (BASELINE, lambda p: p["spec"].update(hostNetwork=True), f"{AT}spec.hostNetwork"),
    "privileged": (BASELINE, lambda p: app_context(p).update(privileged=True), f"{APP}.securityContext.privileged"),
    "capabilities_baseline": (
        BASELINE,
        lambda p: app_context(p).update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        f"{APP}.securityContext.capabilities.add",
    ),
    "hostPathVolumes": (
        BASELINE,
        lambda p: p["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/var/log"}}),
        f"{AT}spec.volumes[host].hostPath",
    ),
    "hostPorts": (BASELINE, lambda p: app(p)["ports"][0].update(hostPort=8080), f"{APP}.ports[0].hostPort"),
    "appArmorProfile": (
        BASELINE,
        lambda p: app_context(p).update(appArmorProfile={"type": "Unconfined"}),
        f"{APP}.securityContext.appArmorProfile.type",
    ),
    "seLinuxOptions": (
        BASELINE,
        lambda p: app_context(p).update(seLinuxOptions={"type": "spc_t"}),
        f"{APP}.securityContext.seLinuxOptions.type",
    ),
    "procMount": (BASELINE, lambda p: app_context(p).update(procMount="Unmasked"), f"{APP}.securityContext.procMount"),
    "seccompProfile_baseline": (
        BASELINE,
        lambda p: app_context(p).update(seccompProfile={"type": "Unconfined"}),
        f"{APP}.securityContext.seccompProfile.type",
    ),
    "sysctls": (
        BASELINE,
        lambda p: pod_context(p).update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
        f"{AT}spec.securityContext.sysctls[kernel.msgmax]",
    ),
    "hostProbesAndHostLifecycle": (
        BASELINE,
        lambda p: app(p)["readinessProbe"]["httpGet"].update(host="10.0.0.1"),
        f"{APP}.readinessProbe.httpGet.host",
    ),
    "restrictedVolumes": (
        RESTRICTED,
        lambda p: p["spec"]["volumes"].append({"name": "share", "nfs": {"server": "nas", "path": "/"}}),
        f"{AT}spec.volumes[share].nfs",
    ),
    "allowPrivilegeEscalation": (
        RESTRICTED,
        lambda p: app_context(p).pop("allowPrivilegeEscalation"),
        f"{APP}.securityContext.allowPrivilegeEscalation",
    ),
    "runAsNonRoot": (
        RESTRICTED,
        lambda p: app_context(p).update(runAsNonRoot=False),
        f"{APP}.securityContext.runAsNonRoot",
    ),
    "runAsUser": (RESTRICTED, lambda p: app_context(p).update(runAsUser=0), f"{APP}.securityContext.runAsUser"),
    "seccompProfile_restricted": (
        RESTRICTED,
        # The pod-level profile moves to the init container only: the app container is left without one.
        lambda p: p["spec"]["initContainers"][0]["securityContext"].update(
            seccompProfile=pod_context(p).pop("seccompProfile")
        ),
        f"{APP}.securityContext.seccompProfile",
    ),
    "capabilities_restricted": (
        RESTRICTED,
        lambda p: app_context(p).update(capabilities={}),
        f"{APP}.securityContext.capabilities.drop",
    ),
}
# Where a restricted rule replaces a baseline one, the restricted level reports the breach under its own rule.
AT_RESTRICTED = {
    "capabilities_baseline": "capabilities_restricted",
    "hostPathVolumes": "restrictedVolumes",
    "seccompProfile_baseline": "seccompProfile_restricted",
}


def test_every_rule_has_a_case() -> None:
    assert sorted(RULE_CASES) == sorted(rule.id for rule in pod_security.RULES)


def test_the_good_pod_passes_every_level() -> None:
    for level in pod_security.LEVELS:
        assert found(GOOD_POD, level) == []


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_a_pod_breaking_one_rule_is_refused_at_its_level_naming_the_field(rule: str) -> None:
    level, mutation, path = RULE_CASES[rule]
    pod = mutated(mutation)
    assert found(pod, level) == [(rule, path)]
    # Each level includes the ones below it; nothing is refused below the rule's level.
    assert found(pod, RESTRICTED) == [(AT_RESTRICTED.get(rule, rule), path)]
    assert found(pod, PRIVILEGED) == []
    if level == RESTRICTED:
        assert found(pod, BASELINE) == []


def test_messages_say_what_the_rule_wants() -> None:
    pod = mutated(lambda p: pod_context(p).pop("seccompProfile"))
    messages = {v.path: v.message for v in violations(pod, RESTRICTED, 34, AT)}
    assert "RuntimeDefault or Localhost" in messages[f"{APP}.securityContext.seccompProfile"]
    assert f"{AT}spec.securityContext.seccompProfile" in messages[f"{APP}.securityContext.seccompProfile"]


# The fine print of the standard.


def test_restricted_seccomp_is_satisfied_at_pod_level_or_by_every_container() -> None:
    without = mutated(lambda p: pod_context(p).pop("seccompProfile"))
    assert found(without, RESTRICTED) == [
        ("seccompProfile_restricted", f"{INIT}.securityContext.seccompProfile"),
        ("seccompProfile_restricted", f"{APP}.securityContext.seccompProfile"),
    ]
    each = mutated(
        lambda p: pod_context(p).pop("seccompProfile"),
        lambda p: p["spec"]["initContainers"][0].update(
            securityContext={**RESTRICTED_CONTAINER, "seccompProfile": {"type": "Localhost", "localhostProfile": "x"}}
        ),
        lambda p: app(p).update(securityContext={**RESTRICTED_CONTAINER, "seccompProfile": {"type": "RuntimeDefault"}}),
    )
    assert found(each, RESTRICTED) == []
    # An Unconfined pod-level profile satisfies nothing: the containers must then set their own.
    unconfined = mutated(lambda p: pod_context(p).update(seccompProfile={"type": "Unconfined"}))
    assert ("seccompProfile_restricted", f"{AT}spec.securityContext.seccompProfile.type") in found(
        unconfined, RESTRICTED
    )
    assert ("seccompProfile_restricted", f"{APP}.securityContext.seccompProfile") in found(unconfined, RESTRICTED)


def test_run_as_non_root_at_pod_level_covers_containers_that_leave_it_unset() -> None:
    assert found(GOOD_POD, RESTRICTED) == []  # the containers inherit the pod's runAsNonRoot
    unset = mutated(lambda p: pod_context(p).pop("runAsNonRoot"))
    assert found(unset, RESTRICTED) == [
        ("runAsNonRoot", f"{INIT}.securityContext.runAsNonRoot"),
        ("runAsNonRoot", f"{APP}.securityContext.runAsNonRoot"),
    ]
    pod_false = mutated(lambda p: pod_context(p).update(runAsNonRoot=False))
    assert ("runAsNonRoot", f"{AT}spec.securityContext.runAsNonRoot") in found(pod_false, RESTRICTED)


def test_host_namespaces_are_each_named() -> None:
    pod = mutated(lambda p: p["spec"].update(hostPID=True, hostIPC=True))
    assert found(pod, BASELINE) == [
        ("hostNamespaces", f"{AT}spec.hostPID"),
        ("hostNamespaces", f"{AT}spec.hostIPC"),
    ]


def test_capabilities_baseline_set_and_restricted_net_bind_service() -> None:
    chown = mutated(lambda p: app_context(p).update(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}))
    assert found(chown, BASELINE) == []
    assert found(chown, RESTRICTED) == [("capabilities_restricted", f"{APP}.securityContext.capabilities.add")]
    net_bind = mutated(lambda p: app_context(p).update(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}))
    assert found(net_bind, RESTRICTED) == []


def test_app_armor_annotations_and_allowed_profiles() -> None:
    key = "container.apparmor.security.beta.kubernetes.io/app"
    annotated = mutated(lambda p: p["metadata"].update(annotations={key: "unconfined"}))
    assert found(annotated, BASELINE) == [("appArmorProfile", f"{AT}metadata.annotations[{key}]")]
    allowed = mutated(
        lambda p: p["metadata"].update(annotations={key: "localhost/custom"}),
        lambda p: pod_context(p).update(appArmorProfile={"type": "RuntimeDefault"}),
    )
    assert found(allowed, RESTRICTED) == []


def test_se_linux_user_and_role_are_refused_and_container_types_allowed() -> None:
    pod = mutated(lambda p: pod_context(p).update(seLinuxOptions={"user": "system_u", "role": "system_r"}))
    assert found(pod, BASELINE) == [
        ("seLinuxOptions", f"{AT}spec.securityContext.seLinuxOptions.user"),
        ("seLinuxOptions", f"{AT}spec.securityContext.seLinuxOptions.role"),
    ]
    engine = mutated(lambda p: app_context(p).update(seLinuxOptions={"type": "container_engine_t", "level": "s0"}))
    assert found(engine, BASELINE, 31) == []
    assert found(engine, BASELINE, 30) == [("seLinuxOptions", f"{APP}.securityContext.seLinuxOptions.type")]


def test_safe_sysctls_depend_on_the_policy_version() -> None:
    pod = mutated(lambda p: pod_context(p).update(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "4096 87380"}]))
    assert found(pod, BASELINE, 32) == []
    assert found(pod, BASELINE, 31) == [("sysctls", f"{AT}spec.securityContext.sysctls[net.ipv4.tcp_rmem]")]


def test_probe_and_lifecycle_hosts_are_refused_from_v1_34() -> None:
    pod = mutated(lambda p: app(p).update(lifecycle={"preStop": {"httpGet": {"host": "example.com", "port": 80}}}))
    assert found(pod, BASELINE, 34) == [("hostProbesAndHostLifecycle", f"{APP}.lifecycle.preStop.httpGet.host")]
    assert found(pod, BASELINE, 33) == []


def test_init_and_ephemeral_containers_are_judged() -> None:
    init = mutated(lambda p: p["spec"]["initContainers"][0]["securityContext"].update(privileged=True))
    assert found(init, BASELINE) == [("privileged", f"{INIT}.securityContext.privileged")]
    debug = {"name": "debug", "image": "busybox", "securityContext": {"privileged": True}}
    ephemeral = mutated(lambda p: p["spec"].update(ephemeralContainers=[debug]))
    assert ("privileged", f"{AT}spec.ephemeralContainers[debug].securityContext.privileged") in found(
        ephemeral, BASELINE
    )


def test_a_volume_without_a_source_is_an_empty_dir_and_unknown_sources_are_refused() -> None:
    defaulted = mutated(lambda p: p["spec"]["volumes"].append({"name": "scratch", "emptyDir": None}))
    assert found(defaulted, RESTRICTED) == []
    unknown = mutated(lambda p: p["spec"]["volumes"].append({"name": "odd", "someDriver": {}}))
    assert found(unknown, RESTRICTED) == [("restrictedVolumes", f"{AT}spec.volumes[odd].someDriver")]


def test_windows_pods_are_exempt_from_three_restricted_rules() -> None:
    pod = mutated(
        lambda p: p["spec"].update(os={"name": "windows"}),
        lambda p: pod_context(p).pop("seccompProfile"),
        lambda p: app(p).update(securityContext={}),
        lambda p: p["spec"]["initContainers"][0].update(securityContext={}),
    )
    assert found(pod, RESTRICTED) == []


def test_versions_outside_the_model_are_refused_with_a_pointer_to_the_module() -> None:
    with pytest.raises(pod_security.UnmodelledVersion, match="infra/expand/pod_security.py"):
        violations(GOOD_POD, RESTRICTED, 35)
    with pytest.raises(pod_security.UnmodelledVersion):
        violations(GOOD_POD, BASELINE, 24)


# Namespaces and their levels.


def namespace(name: str, labels: dict[str, str] | None = None, owner: str = STACK) -> PlatformObject:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    return PlatformObject(owner, obj, "test")


def enforcing(level: str, version: str = "v1.34") -> dict[str, str]:
    return {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version}


def deployment(name: str, ns: str, pod: dict[str, Any], owner: str = "web") -> PlatformObject:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": pod},
    }
    return PlatformObject(owner, obj, "test")


def errors(findings: list[Any]) -> list[str]:
    return [f"{f.object_ref}: {f.message}" for f in findings if f.severity == "error"]


def test_labels_give_level_and_version_as_admission_reads_them() -> None:
    assert policy_from_labels("a", enforcing(BASELINE, "v1.31"), 34, "").version == 31
    newer = policy_from_labels("a", enforcing(RESTRICTED, "v1.40"), 34, "")
    assert (newer.level, newer.version) == (RESTRICTED, 34)
    latest = policy_from_labels("a", {"pod-security.kubernetes.io/enforce": BASELINE}, 33, "")
    assert (latest.level, latest.version, latest.defaulted) == (BASELINE, 33, False)
    unlabelled = policy_from_labels("a", {}, 34, "")
    assert (unlabelled.level, unlabelled.defaulted) == (PRIVILEGED, True)
    bad = policy_from_labels("a", enforcing("strict", "1.34"), 34, "")
    assert bad.level == RESTRICTED and len(bad.problems) == 2


def test_a_pod_its_namespace_refuses_is_an_error_naming_environment_object_and_field() -> None:
    privileged_pod = mutated(lambda p: app_context(p).update(privileged=True))
    objects = [namespace("web", enforcing(RESTRICTED)), deployment("api", "web", privileged_pod)]
    findings, judged = judge(objects, "1.34")
    assert judged == 1
    assert errors(findings) == [
        "web: apps/v1 Deployment web/api: spec.template.spec.containers[app].securityContext.privileged: must not "
        "be true (privileged container): refused by Pod Security restricted (v1.34) of namespace web (created by "
        "the stack)"
    ]
    allowed, _ = judge([namespace("web", enforcing(PRIVILEGED)), deployment("api", "web", privileged_pod)], "1.34")
    assert errors(allowed) == []


def test_namespaces_the_platform_does_not_label_are_judged_at_the_cluster_default_and_said_so() -> None:
    privileged_pod = mutated(lambda p: app_context(p).update(privileged=True))
    findings, _ = judge([deployment("agent", "kube-system", privileged_pod, owner="cni")], "1.34")
    assert errors(findings) == []
    [advisory] = [f for f in findings if f.object_ref == "Namespace kube-system"]
    assert advisory.severity == "advisory"
    assert "not created by the platform" in advisory.message and "privileged" in advisory.message


def test_every_workload_kind_is_judged_at_its_pod_template() -> None:
    bad = mutated(lambda p: p["spec"].update(hostPID=True))
    kinds = {
        ("v1", "Pod"): lambda pod: pod,
        ("apps/v1", "StatefulSet"): lambda pod: {"template": pod},
        ("apps/v1", "DaemonSet"): lambda pod: {"template": pod},
        ("apps/v1", "ReplicaSet"): lambda pod: {"template": pod},
        ("v1", "ReplicationController"): lambda pod: {"template": pod},
        ("batch/v1", "Job"): lambda pod: {"template": pod},
        ("batch/v1", "CronJob"): lambda pod: {"jobTemplate": {"spec": {"template": pod}}},
    }
    paths = {}
    for (api_version, kind), wrap in kinds.items():
        body = wrap(bad)
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "web"}}
        obj |= {"spec": body["spec"]} if kind == "Pod" else {"spec": body}
        [finding] = errors(judge([namespace("web", enforcing(BASELINE)), PlatformObject("a", obj, "t")], "1.34")[0])
        paths[kind] = finding.split(": ")[2]
    assert paths == {
        "Pod": "spec.hostPID",
        "StatefulSet": "spec.template.spec.hostPID",
        "DaemonSet": "spec.template.spec.hostPID",
        "ReplicaSet": "spec.template.spec.hostPID",
        "ReplicationController": "spec.template.spec.hostPID",
        "Job": "spec.template.spec.hostPID",
        "CronJob": "spec.jobTemplate.spec.template.spec.hostPID",
    }


def test_invalid_labels_and_unmodelled_versions_are_findings_not_tracebacks() -> None:
    objects = [namespace("web", enforcing("strict")), deployment("api", "web", GOOD_POD)]
    assert any("is not a level" in message for message in errors(judge(objects, "1.34")[0]))
    old = [namespace("web", enforcing(RESTRICTED, "v1.20")), deployment("api", "web", GOOD_POD)]
    assert any("outside what infra/expand/pod_security.py implements" in m for m in errors(judge(old, "1.34")[0]))


def profile(name: str) -> PlatformObject:
    obj = {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name}, "spec": {}}
    return PlatformObject(STACK, obj, "test")


def profile_labels_map(text: str) -> PlatformObject:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "namespace-labels-data-abc", "namespace": "kubeflow"},
        "data": {"namespace-labels.yaml": text},
    }
    return PlatformObject("kubeflow-profiles", obj, "test")


def test_team_namespaces_get_the_labels_the_profile_controller_applies() -> None:
    config = profile_labels_map("pod-security.kubernetes.io/enforce: baseline\nistio-injection: ''\nteam: 'yes'\n")
    assert profile_namespace_labels([config]) == {"pod-security.kubernetes.io/enforce": "baseline", "team": "yes"}
    policies, findings = namespace_policies([profile("team-a"), config], 34)
    assert findings == [] and policies["team-a"].level == BASELINE
    assert "Kubeflow profile controller" in policies["team-a"].source
    _, missing = namespace_policies([profile("team-a")], 34)
    assert [f.object_ref for f in missing] == ["stack: kubeflow.org/v1 Profile team-a"]


def test_custom_resources_with_pod_specs_are_counted_as_not_judged() -> None:
    es = {
        "apiVersion": "elasticsearch.k8s.elastic.co/v1",
        "kind": "Elasticsearch",
        "metadata": {"name": "logs", "namespace": "logging"},
        "spec": {"nodeSets": [{"podTemplate": {"spec": {"containers": [{"name": "elasticsearch"}]}}}]},
    }
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "serving"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/iris"}}},
    }
    # An Application's chart values may name containers: the expansion renders and judges those pods, not this.
    values = {"prometheus": {"prometheusSpec": {"containers": [{"name": "thanos-sidecar"}]}}}
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "kube-prometheus-stack", "namespace": "argocd"},
        "spec": {"source": {"helm": {"valuesObject": values}}},
    }
    objects = [PlatformObject(STACK, es, "t"), PlatformObject("serving", isvc, "t"), PlatformObject(STACK, app, "t")]
    findings, judged = judge(objects, "1.34")
    assert judged == 0
    assert [(f.severity, f.message.split(": ")[-1]) for f in findings] == [
        ("advisory", "1 Elasticsearch, 1 InferenceService")
    ]


# Istio's injection.


def injector_of(platform: Platform) -> Injector:
    [injector] = Injector.find((o.object for o in platform.objects), platform.env.kubernetes_version)
    return injector


@pytest.fixture(scope="module")
def dev_injector(platforms: dict[str, Platform]) -> Injector:
    return injector_of(platforms["dev"])


def with_values(injector: Injector, change: Callable[[dict[str, Any]], None], minor: int | None = None) -> Injector:
    values = json.loads(injector.values_json)
    change(values)
    return Injector(
        injector.revision,
        injector.webhooks_json,
        injector.config_yaml,
        json.dumps(values),
        injector.mesh_yaml,
        injector.kubernetes_minor if minor is None else minor,
    )


MESH = {"istio-injection": "enabled", "kubernetes.io/metadata.name": "web"}
PLAIN = {"kubernetes.io/metadata.name": "web"}


def test_injection_follows_namespace_labels_pod_labels_and_host_network(dev_injector: Injector) -> None:
    opted_out = mutated(lambda p: p["metadata"]["labels"].update({"sidecar.istio.io/inject": "false"}))
    opted_in = mutated(lambda p: p["metadata"]["labels"].update({"sidecar.istio.io/inject": "true"}))
    host = mutated(lambda p: p["spec"].update(hostNetwork=True))
    assert dev_injector.injects("web", MESH, GOOD_POD)
    assert not dev_injector.injects("web", PLAIN, GOOD_POD)
    assert not dev_injector.injects("web", MESH, opted_out)
    assert dev_injector.injects("web", PLAIN, opted_in)
    assert dev_injector.injects("web", {**PLAIN, "istio.io/rev": "default"}, GOOD_POD)
    assert not dev_injector.injects("web", MESH, host)
    assert not dev_injector.injects("kube-system", {**MESH, "kubernetes.io/metadata.name": "kube-system"}, opted_in)
    annotated = mutated(lambda p: p["metadata"].update(annotations={"sidecar.istio.io/inject": "false"}))
    assert not dev_injector.injects("web", MESH, annotated)


def test_never_inject_selector_of_the_injector_config_is_honoured(dev_injector: Injector) -> None:
    config = yaml.safe_load(dev_injector.config_yaml)
    config["neverInjectSelector"] = [{"matchLabels": {"app": "web"}}]
    injector = Injector(
        dev_injector.revision,
        dev_injector.webhooks_json,
        yaml.safe_dump(config),
        dev_injector.values_json,
        dev_injector.mesh_yaml,
        34,
    )
    assert not injector.injects("web", MESH, GOOD_POD)


def test_label_selectors() -> None:
    labels = {"a": "1"}
    assert selector_matches(None, labels)
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchLabels": {"a": "2"}}, labels)


def test_the_sidecar_template_adds_validation_and_a_native_proxy_with_the_values_security_context(
    dev_injector: Injector,
) -> None:
    injected = dev_injector.inject(GOOD_POD)
    spec = injected.pod["spec"]
    assert injected.containers == {"istio-validation", "istio-proxy"}
    assert [c["name"] for c in spec["initContainers"]] == ["istio-validation", "istio-proxy", "setup"]
    assert [c["name"] for c in spec["containers"]] == ["app"]
    proxy = spec["initContainers"][1]
    assert proxy["restartPolicy"] == "Always"
    assert proxy["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 1337,
        "runAsGroup": 1337,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert violations(injected.pod, RESTRICTED, 34) == []


def test_native_sidecars_follow_istiods_auto_mode_and_the_pod_annotation(dev_injector: Injector) -> None:
    older = with_values(dev_injector, lambda v: None, minor=32)
    assert [c["name"] for c in older.inject(GOOD_POD).pod["spec"]["containers"]] == ["istio-proxy", "app"]
    annotated = mutated(lambda p: p["metadata"].update(annotations={"sidecar.istio.io/nativeSidecar": "false"}))
    assert "istio-proxy" in [c["name"] for c in dev_injector.inject(annotated).pod["spec"]["containers"]]
    disabled = with_values(
        dev_injector, lambda v: v["pilot"].setdefault("env", {}).update(ENABLE_NATIVE_SIDECARS="false")
    )
    assert "istio-proxy" in [c["name"] for c in disabled.inject(GOOD_POD).pod["spec"]["containers"]]


def test_without_the_cni_the_injected_istio_init_needs_more_than_baseline(dev_injector: Injector) -> None:
    no_cni = with_values(dev_injector, lambda v: v["pilot"]["cni"].update(enabled=False))
    pod = no_cni.inject(GOOD_POD).pod
    init = pod["spec"]["initContainers"][0]
    assert init["name"] == "istio-init"
    assert init["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert [v.rule for v in violations(pod, BASELINE, 34)] == ["capabilities_baseline"]
    assert {v.rule for v in violations(pod, RESTRICTED, 34)} == {
        "capabilities_restricted",
        "runAsNonRoot",
        "runAsUser",
    }


def test_the_istiod_values_decide_the_injected_seccomp_profile(dev_injector: Injector) -> None:
    """Defect 2's mechanism: without global.proxy.seccompProfile, a pod that sets seccomp only per container (as
    Kubeflow's katib-ui does) is refused for the injected containers."""
    per_container = mutated(
        lambda p: pod_context(p).pop("seccompProfile"),
        lambda p: app_context(p).update(seccompProfile={"type": "RuntimeDefault"}),
        lambda p: p["spec"]["initContainers"][0]["securityContext"].update(seccompProfile={"type": "RuntimeDefault"}),
    )
    assert violations(dev_injector.inject(per_container).pod, RESTRICTED, 34, AT) == []
    unset = with_values(dev_injector, lambda v: v["global"]["proxy"].update(seccompProfile={}))
    found_paths = [v.path for v in violations(unset.inject(per_container).pod, RESTRICTED, 34, AT)]
    assert found_paths == [
        f"{AT}spec.initContainers[istio-validation].securityContext.seccompProfile",
        f"{AT}spec.initContainers[istio-proxy].securityContext.seccompProfile",
    ]


def test_the_gateway_template_keeps_the_gateways_own_container_settings(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    [gateway] = [o for o in platform.objects if o.kind == "Deployment" and o.name == "istio-ingressgateway"]
    template = gateway.object["spec"]["template"]
    injector = injector_of(platform)
    assert injector.injects("istio-system", {"kubernetes.io/metadata.name": "istio-system"}, template)
    injected = injector.inject(template)
    assert injected.template == "gateway"
    [proxy] = injected.pod["spec"]["containers"]
    assert proxy["securityContext"]["runAsUser"] == 1337 and proxy["securityContext"]["runAsNonRoot"] is True
    assert violations(injected.pod, RESTRICTED, 34) == []


def test_templates_and_proxy_config_the_model_does_not_implement_are_errors(dev_injector: Injector) -> None:
    custom = mutated(lambda p: p["metadata"].update(annotations={"inject.istio.io/templates": "grpc-agent"}))
    with pytest.raises(SidecarModelError, match="grpc-agent"):
        dev_injector.inject(custom)
    objects = [
        namespace("web", {**enforcing(RESTRICTED), "istio-injection": "enabled"}),
        deployment("api", "web", custom),
        *[PlatformObject("istiod", o, "t") for o in injector_objects(dev_injector)],
    ]
    assert any("grpc-agent" in message for message in errors(judge(objects, "1.34")[0]))


def injector_objects(injector: Injector) -> list[dict[str, Any]]:
    """The objects an injector is read from, rebuilt from it."""
    hooks = [
        {
            "name": f"{i}.sidecar-injector.istio.io",
            "namespaceSelector": ns,
            "objectSelector": obj,
            "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system"}},
        }
        for i, (ns, obj) in enumerate(json.loads(injector.webhooks_json))
    ]
    meta = {"namespace": "istio-system"}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "istio-sidecar-injector"},
            "webhooks": hooks,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": "istio-sidecar-injector"},
            "data": {"config": injector.config_yaml, "values": injector.values_json},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": "istio"},
            "data": {"mesh": injector.mesh_yaml},
        },
    ]


def test_a_webhook_without_its_configuration_is_an_error() -> None:
    hook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector"},
        "webhooks": [{"name": "namespace.sidecar-injector.istio.io"}],
    }
    with pytest.raises(SidecarModelError, match="istio-system/istio-sidecar-injector"):
        Injector.find([hook], "1.34")
    findings, _ = judge([PlatformObject("istiod", hook, "t")], "1.34")
    [message] = errors(findings)
    assert message.startswith(
        "istiod: admissionregistration.k8s.io/v1 MutatingWebhookConfiguration istio-sidecar-injector: webhooks: "
    )
    assert "ConfigMap istio-system/istio-sidecar-injector that configures the injection" in message


def test_an_unreadable_injector_configuration_is_an_error_naming_the_config_map_key(dev_injector: Injector) -> None:
    broken = Injector(dev_injector.revision, dev_injector.webhooks_json, dev_injector.config_yaml, "{not json", "", 34)
    objects = [PlatformObject("istiod", o, "t") for o in injector_objects(broken)]
    [message] = errors(judge(objects, "1.34")[0])
    assert "ConfigMap istio-system/istio-sidecar-injector data.values cannot be read" in message


# The guard: the model against the pinned injection templates.

TEMPLATE_FILES = {
    "sidecar": "istiod/files/injection-template.yaml",
    "gateway": "istiod/files/gateway-injection-template.yaml",
}


def pinned_istiod_versions(platforms: dict[str, Platform]) -> set[str]:
    return {CATALOG["istiod"].version} | {
        effective_version("istiod", dict(p.env.versions)) for p in platforms.values() if "istiod" in p.env.versions
    }


def test_the_model_matches_the_injection_templates_of_every_pinned_istiod(platforms: dict[str, Platform]) -> None:
    caches = Caches.from_environment()
    for version in sorted(pinned_istiod_versions(platforms)):
        with tarfile.open(caches.chart_archive("istiod", version)) as archive:
            for name, member in TEMPLATE_FILES.items():
                file = archive.extractfile(member)
                assert file is not None, f"istiod {version} has no {member}"
                drift = template_drift(name, file.read().decode())
                assert drift == [], f"istiod {version} {member}: the model in {MODEL} is outdated:\n" + "\n".join(drift)


def test_a_changed_security_context_in_the_template_is_reported_naming_the_model(dev_injector: Injector) -> None:
    text = yaml.safe_load(dev_injector.config_yaml)["templates"]["sidecar"]
    assert template_drift("sidecar", text) == []
    changed = text.replace(
        "      readOnlyRootFilesystem: true\n      runAsGroup: {{ if $tproxy }}",
        "      readOnlyRootFilesystem: false\n      runAsGroup: {{ if $tproxy }}",
        1,
    )
    assert changed != text
    [drift] = template_drift("sidecar", changed)
    assert "securityContext#1" in drift and MODEL in drift
    assert set(TEMPLATE_FINGERPRINTS) == set(TEMPLATE_FILES)


def test_the_check_reports_template_drift_of_the_applied_injector(dev_injector: Injector) -> None:
    config = yaml.safe_load(dev_injector.config_yaml)
    config["templates"]["sidecar"] = config["templates"]["sidecar"].replace(
        "- NET_RAW", "- NET_RAW\n        - SYS_ADMIN"
    )
    drifted = Injector(
        dev_injector.revision,
        dev_injector.webhooks_json,
        yaml.safe_dump(config),
        dev_injector.values_json,
        dev_injector.mesh_yaml,
        34,
    )
    objects = [PlatformObject("istiod", o, "t") for o in injector_objects(drifted)]
    [message] = errors(judge(objects, "1.34")[0])
    assert message.startswith("istiod: v1 ConfigMap istio-system/istio-sidecar-injector: data.config.templates: ")
    assert MODEL in message and "securityContext#1" in message


# The real environments.


def test_every_environment_passes_admission(platforms: dict[str, Platform]) -> None:
    for name, platform in platforms.items():
        findings, judged = judge(platform.objects, platform.env.kubernetes_version)
        # The example environment (no Kubeflow, no logging, no Argo CD of its own) has fewer pods than the others.
        assert judged > (15 if name == "hub-example" else 40), name
        assert errors(findings) == [], name


def test_katib_ui_with_its_injected_sidecar_passes_the_restricted_kubeflow_namespace(
    platforms: dict[str, Platform],
) -> None:
    """Defect 2: the istiod values give the injected containers RuntimeDefault seccomp, as upstream Kubeflow does."""
    platform = platforms["dev"]
    assert injector_of(platform).seccomp_profile() == {"type": "RuntimeDefault"}
    [katib_ui] = [o for o in platform.objects if o.kind == "Deployment" and o.name == "katib-ui"]
    findings, _ = judge(platform.objects, platform.env.kubernetes_version)
    assert [f.message for f in findings if f.object_ref == katib_ui.ref] == []
    # The same platform with the istiod values of before the fix (and without the pod's own seccomp profile, which
    # the platform now gives katib-ui too): the stage names both injected containers.
    before = [without_pod_seccomp(without_proxy_seccomp(o), katib_ui.ref) for o in platform.objects]
    findings, _ = judge(before, platform.env.kubernetes_version)
    assert [f.message.split(": ")[0] for f in findings if f.object_ref == katib_ui.ref] == [
        "spec.template.spec.initContainers[istio-validation].securityContext.seccompProfile",
        "spec.template.spec.initContainers[istio-proxy].securityContext.seccompProfile",
    ]


def without_pod_seccomp(item: PlatformObject, ref: str) -> PlatformObject:
    """`item`, or (when it is `ref`) the workload without its pod's seccomp profile."""
    if item.ref != ref:
        return item
    changed = copy.deepcopy(dict(item.object))
    changed["spec"]["template"]["spec"].get("securityContext", {}).pop("seccompProfile", None)
    return PlatformObject(item.owner, changed, item.origin)


def without_proxy_seccomp(item: PlatformObject) -> PlatformObject:
    """`item`, or the injector's ConfigMap with the istiod values setting no `global.proxy.seccompProfile`."""
    if item.kind != "ConfigMap" or item.name != "istio-sidecar-injector":
        return item
    values = json.loads(item.object["data"]["values"])
    values["global"]["proxy"].pop("seccompProfile")
    changed = {**item.object, "data": {**item.object["data"], "values": json.dumps(values)}}
    return PlatformObject(item.owner, changed, item.origin)


def test_kubeflow_team_namespaces_enforce_baseline_at_the_environments_version_and_warn_restricted(
    platforms: dict[str, Platform],
) -> None:
    """Defect 9, on the expanded profile controller config: enforce baseline (notebooks, pipeline steps and Katib
    trials run user images that set no restricted securityContext), pinned to the environment's Kubernetes version,
    with warn and audit at restricted like every other namespace of the platform."""
    caches = Caches.from_environment()
    for name, platform in platforms.items():
        if not any(o.kind == "Profile" for o in platform.objects):
            continue
        tag = effective_version("kubeflow-profiles", dict(platform.env.versions))
        tree = caches.git_tree(CATALOG["kubeflow-profiles"].repo_url, tag)
        upstream = yaml.safe_load((tree / "applications/profiles/upstream/base/namespace-labels.yaml").read_text())
        labels = profile_namespace_labels(platform.objects)
        version = f"v{platform.env.kubernetes_version}"
        assert labels is not None, name
        assert {k: v for k, v in labels.items() if k.startswith("pod-security.kubernetes.io/")} == {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": version,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": version,
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": version,
        }, name
        assert labels["istio-injection"] == "enabled"
        assert upstream.items() <= labels.items(), f"{name}: upstream's team namespace labels must be kept"
        policies, _ = namespace_policies(platform.objects, int(platform.env.kubernetes_version.split(".")[1]))
        teams = [o.name for o in platform.objects if o.kind == "Profile"]
        assert {policies[team].level for team in teams} == {BASELINE}
