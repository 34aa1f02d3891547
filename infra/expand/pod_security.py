"""The Pod Security Standards' `baseline` and `restricted` levels, as Kubernetes' Pod Security admission enforces them
at policy versions v1.25 to v1.34 (the versions of every check are those of k8s.io/pod-security-admission 0.34).

`violations(pod, level, version)` judges one pod (`metadata` and `spec`, as a pod template has them) and returns one
`Violation` per offending field, its path relative to the pod (`spec.containers[app].securityContext.privileged`).
Containers are named by their `name`; init and ephemeral containers are judged like the others, as admission does.

As admission does, a level includes the rules of the levels below it, a rule applies from the policy version that
introduced it, and a restricted rule replaces the baseline rule it tightens (capabilities, volumes, seccomp). Not
modelled: the relaxations for pods with `hostUsers: false` (behind a feature gate that is off by default up to 1.34),
and the admission configuration's exemptions (users, runtime classes, namespaces), which the platform does not set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
OLDEST_MODELLED = 25
"""The oldest policy version modelled: 1.25 exempted Windows pods from three restricted rules."""
NEWEST_MODELLED = 34
"""The newest policy version modelled: 1.35 changed the procMount, runAsNonRoot and runAsUser rules."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# The safe sysctls, by the policy version that added them.
SAFE_SYSCTLS: tuple[tuple[int, frozenset[str]], ...] = (
    (
        0,
        frozenset(
            {
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_unprivileged_port_start",
            }
        ),
    ),
    (27, frozenset({"net.ipv4.ip_local_reserved_ports"})),
    (
        29,
        frozenset(
            {
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            }
        ),
    ),
    (32, frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})),
)
SELINUX_TYPES: tuple[tuple[int, frozenset[str]], ...] = (
    (0, frozenset({"", "container_t", "container_init_t", "container_kvm_t"})),
    (31, frozenset({"container_engine_t"})),
)
ALLOWED_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
# Inline volume sources the restricted level allows; every other source is refused.
RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
VOLUME_SOURCES = RESTRICTED_VOLUME_SOURCES | {
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
POD_LEVEL = "spec.securityContext"
LIFECYCLE_HANDLERS = ("postStart", "preStop")


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    """The offending field, relative to the pod: `spec.containers[app].securityContext.privileged`."""
    message: str


class Pod:
    """Read access to a pod's metadata and spec, with the null-is-unset reading the API server gives them."""

    def __init__(self, pod: Mapping[str, Any]) -> None:
        self.metadata: Mapping[str, Any] = pod.get("metadata") or {}
        self.spec: Mapping[str, Any] = pod.get("spec") or {}

    @property
    def security_context(self) -> Mapping[str, Any]:
        return self.spec.get("securityContext") or {}

    @property
    def windows(self) -> bool:
        return (self.spec.get("os") or {}).get("name") == "windows"

    def containers(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(path, container) of every init, regular and ephemeral container."""
        for key in CONTAINER_LISTS:
            for container in self.spec.get(key) or ():
                yield f"spec.{key}[{container.get('name', '')}]", container

    def container_contexts(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(path of the securityContext, securityContext) of every container; an empty one where unset."""
        for path, container in self.containers():
            yield f"{path}.securityContext", container.get("securityContext") or {}

    def contexts(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """The pod's securityContext, then every container's."""
        yield "spec.securityContext", self.security_context
        yield from self.container_contexts()


Check = Callable[[Pod, int], list[Violation]]


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    check: Check
    since: int = 0
    replaces: str = ""
    """The baseline rule this restricted rule replaces where it applies."""


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)  # type: ignore[assignment]
    return mapping


def _set_for(version: int, table: tuple[tuple[int, frozenset[str]], ...]) -> frozenset[str]:
    return frozenset().union(*(values for since, values in table if since <= version))


def host_process(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("windowsHostProcess", f"{path}.windowsOptions.hostProcess", "must not be true (HostProcess pod)")
        for path, context in pod.contexts()
        if _get(context, "windowsOptions", "hostProcess") is True
    ]


def host_namespaces(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("hostNamespaces", f"spec.{field}", "must not be true (shares a namespace of the node)")
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if pod.spec.get(field) is True
    ]


def privileged(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("privileged", f"{path}.privileged", "must not be true (privileged container)")
        for path, context in pod.container_contexts()
        if context.get("privileged") is True
    ]


def capabilities_baseline(pod: Pod, version: int) -> list[Violation]:
    found = []
    for path, context in pod.container_contexts():
        extra = sorted(set(_get(context, "capabilities", "add") or ()) - BASELINE_CAPABILITIES)
        if extra:
            found.append(
                Violation(
                    "capabilities_baseline",
                    f"{path}.capabilities.add",
                    f"adds {', '.join(extra)}, beyond the default capabilities the baseline level allows",
                )
            )
    return found


def host_path_volumes(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("hostPathVolumes", f"spec.volumes[{volume.get('name', '')}].hostPath", "hostPath volumes are refused")
        for volume in pod.spec.get("volumes") or ()
        if volume.get("hostPath") is not None
    ]


def host_ports(pod: Pod, version: int) -> list[Violation]:
    found = []
    for path, container in pod.containers():
        for index, port in enumerate(container.get("ports") or ()):
            if port.get("hostPort"):
                found.append(
                    Violation(
                        "hostPorts", f"{path}.ports[{index}].hostPort", f"host port {port['hostPort']} is refused"
                    )
                )
    return found


def app_armor(pod: Pod, version: int) -> list[Violation]:
    found = [
        Violation(
            "appArmorProfile",
            f"{path}.appArmorProfile.type",
            f"{_get(context, 'appArmorProfile', 'type')!r} is refused (RuntimeDefault or Localhost only)",
        )
        for path, context in pod.contexts()
        if context.get("appArmorProfile") is not None
        and _get(context, "appArmorProfile", "type") not in ALLOWED_PROFILE_TYPES
    ]
    for key, value in sorted((pod.metadata.get("annotations") or {}).items()):
        allowed = not value or value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not allowed:
            found.append(
                Violation(
                    "appArmorProfile",
                    f"metadata.annotations[{key}]",
                    f"{value!r} is refused (runtime/default or localhost/* only)",
                )
            )
    return found


def se_linux(pod: Pod, version: int) -> list[Violation]:
    types = _set_for(version, SELINUX_TYPES)
    found = []
    for path, context in pod.contexts():
        options = context.get("seLinuxOptions")
        if options is None:
            continue
        if (options.get("type") or "") not in types:
            allowed = ", ".join(sorted(t for t in types if t))
            found.append(
                Violation(
                    "seLinuxOptions", f"{path}.seLinuxOptions.type", f"{options['type']!r} is refused ({allowed})"
                )
            )
        for field in ("user", "role"):
            if options.get(field):
                found.append(Violation("seLinuxOptions", f"{path}.seLinuxOptions.{field}", "must not be set"))
    return found


def proc_mount(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("procMount", f"{path}.procMount", f"{context['procMount']!r} is refused (Default only)")
        for path, context in pod.container_contexts()
        if context.get("procMount") not in (None, "Default")
    ]


def seccomp_baseline(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation(
            "seccompProfile_baseline",
            f"{path}.seccompProfile.type",
            f"{_get(context, 'seccompProfile', 'type')!r} is refused (RuntimeDefault or Localhost only)",
        )
        for path, context in pod.contexts()
        if context.get("seccompProfile") is not None
        and _get(context, "seccompProfile", "type") not in ALLOWED_PROFILE_TYPES
    ]


def sysctls(pod: Pod, version: int) -> list[Violation]:
    safe = _set_for(version, SAFE_SYSCTLS)
    return [
        Violation(
            "sysctls",
            f"spec.securityContext.sysctls[{sysctl.get('name', '')}]",
            f"not one of the safe sysctls at v1.{version}",
        )
        for sysctl in pod.security_context.get("sysctls") or ()
        if sysctl.get("name") not in safe
    ]


def probe_hosts(pod: Pod, version: int) -> list[Violation]:
    found = []
    for path, container in pod.containers():
        handlers = [(f"{path}.{probe}", container.get(probe)) for probe in PROBES]
        handlers += [
            (f"{path}.lifecycle.{handler}", _get(container, "lifecycle", handler)) for handler in LIFECYCLE_HANDLERS
        ]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = _get(handler or {}, action, "host")
                if host:
                    found.append(
                        Violation("hostProbesAndHostLifecycle", f"{where}.{action}.host", f"{host!r} is refused")
                    )
    return found


def restricted_volumes(pod: Pod, version: int) -> list[Violation]:
    found = []
    for volume in pod.spec.get("volumes") or ():
        sources = [key for key in volume if key != "name" and volume[key] is not None]
        # A volume without a source is an emptyDir: the API server defaults it so before admission.
        refused = [key for key in sources if key not in RESTRICTED_VOLUME_SOURCES]
        for key in refused:
            kind = key if key in VOLUME_SOURCES else f"{key} (unknown)"
            found.append(
                Violation(
                    "restrictedVolumes",
                    f"spec.volumes[{volume.get('name', '')}].{key}",
                    f"volume type {kind} is refused (restricted allows "
                    + ", ".join(sorted(RESTRICTED_VOLUME_SOURCES))
                    + ")",
                )
            )
    return found


def privilege_escalation(pod: Pod, version: int) -> list[Violation]:
    if pod.windows:
        return []
    return [
        Violation("allowPrivilegeEscalation", f"{path}.allowPrivilegeEscalation", "must be set to false")
        for path, context in pod.container_contexts()
        if context.get("allowPrivilegeEscalation") is not False
    ]


def run_as_non_root(pod: Pod, version: int) -> list[Violation]:
    pod_value = pod.security_context.get("runAsNonRoot")
    found = []
    if pod_value is False:
        found.append(Violation("runAsNonRoot", "spec.securityContext.runAsNonRoot", "must not be false"))
    for path, context in pod.container_contexts():
        value = context.get("runAsNonRoot")
        if value is False:
            found.append(Violation("runAsNonRoot", f"{path}.runAsNonRoot", "must not be false"))
        elif value is None and pod_value is not True:
            found.append(
                Violation(
                    "runAsNonRoot",
                    f"{path}.runAsNonRoot",
                    "must be true, here or for the whole pod at spec.securityContext.runAsNonRoot",
                )
            )
    return found


def run_as_user(pod: Pod, version: int) -> list[Violation]:
    return [
        Violation("runAsUser", f"{path}.runAsUser", "must not be 0 (root)")
        for path, context in pod.contexts()
        if context.get("runAsUser") == 0
    ]


def seccomp_restricted(pod: Pod, version: int) -> list[Violation]:
    if pod.windows:
        return []
    found = seccomp_baseline(pod, version)
    pod_set = _get(pod.security_context, "seccompProfile", "type") in ALLOWED_PROFILE_TYPES
    for path, context in pod.container_contexts():
        if context.get("seccompProfile") is None and not pod_set:
            found.append(
                Violation(
                    "seccompProfile_restricted",
                    f"{path}.seccompProfile",
                    "must set type RuntimeDefault or Localhost, here or for the whole pod at "
                    "spec.securityContext.seccompProfile",
                )
            )
    return [Violation("seccompProfile_restricted", v.path, v.message) for v in found]


def capabilities_restricted(pod: Pod, version: int) -> list[Violation]:
    if pod.windows:
        return []
    found = []
    for path, context in pod.container_contexts():
        if "ALL" not in (_get(context, "capabilities", "drop") or ()):
            found.append(Violation("capabilities_restricted", f"{path}.capabilities.drop", 'must include "ALL"'))
        extra = sorted(set(_get(context, "capabilities", "add") or ()) - {"NET_BIND_SERVICE"})
        if extra:
            found.append(
                Violation(
                    "capabilities_restricted",
                    f"{path}.capabilities.add",
                    f"adds {', '.join(extra)} (restricted allows only NET_BIND_SERVICE)",
                )
            )
    return found


RULES: tuple[Rule, ...] = (
    Rule("windowsHostProcess", BASELINE, host_process),
    Rule("hostNamespaces", BASELINE, host_namespaces),
    Rule("privileged", BASELINE, privileged),
    Rule("capabilities_baseline", BASELINE, capabilities_baseline),
    Rule("hostPathVolumes", BASELINE, host_path_volumes),
    Rule("hostPorts", BASELINE, host_ports),
    Rule("appArmorProfile", BASELINE, app_armor),
    Rule("seLinuxOptions", BASELINE, se_linux),
    Rule("procMount", BASELINE, proc_mount),
    Rule("seccompProfile_baseline", BASELINE, seccomp_baseline, since=19),
    Rule("sysctls", BASELINE, sysctls),
    Rule("hostProbesAndHostLifecycle", BASELINE, probe_hosts, since=34),
    Rule("restrictedVolumes", RESTRICTED, restricted_volumes, replaces="hostPathVolumes"),
    Rule("allowPrivilegeEscalation", RESTRICTED, privilege_escalation, since=8),
    Rule("runAsNonRoot", RESTRICTED, run_as_non_root),
    Rule("runAsUser", RESTRICTED, run_as_user, since=23),
    Rule("seccompProfile_restricted", RESTRICTED, seccomp_restricted, since=19, replaces="seccompProfile_baseline"),
    Rule("capabilities_restricted", RESTRICTED, capabilities_restricted, since=22, replaces="capabilities_baseline"),
)


class UnmodelledVersion(ValueError):
    """A policy version outside the range this module implements."""


def rules_for(level: str, version: int) -> tuple[Rule, ...]:
    """The rules a namespace enforcing `level` at policy version v1.`version` applies."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r} (one of {', '.join(LEVELS)})")
    if not OLDEST_MODELLED <= version <= NEWEST_MODELLED:
        raise UnmodelledVersion(
            f"Pod Security policy version v1.{version} is outside what infra/expand/pod_security.py implements "
            f"(v1.{OLDEST_MODELLED} to v1.{NEWEST_MODELLED}); compare the rules of k8s.io/pod-security-admission at "
            "that version and extend the module"
        )
    included = LEVELS[1 : LEVELS.index(level) + 1]
    active = [rule for rule in RULES if rule.level in included and rule.since <= version]
    replaced = {rule.replaces for rule in active}
    return tuple(rule for rule in active if rule.id not in replaced)


def violations(pod: Mapping[str, Any], level: str, version: int, at: str = "") -> list[Violation]:
    """Every field of `pod` (a pod, or a pod template: `metadata` and `spec`) that the Pod Security `level` at
    policy version v1.`version` refuses; empty when admission would let the pod in. `at` is where the pod sits in
    its object (`spec.template.` in a Deployment): paths, and the pod-level fields messages point to, start there."""
    subject = Pod(pod)
    return [
        Violation(found.rule, at + found.path, found.message.replace(POD_LEVEL, at + POD_LEVEL))
        for rule in rules_for(level, version)
        for found in rule.check(subject, version)
    ]
