"""The `admission` stage: the Pod Security Standards rule by rule, namespaces' levels, Istio's injection model and its
guard against the pinned template, and the real environments."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.expand import pod_security
from infra.expand.pod_security import BASELINE, PRIVILEGED, RESTRICTED, violations

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
