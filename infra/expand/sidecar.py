"""Istio's sidecar injection, modelled: which pods the injector mutates, and the containers, volumes and security
contexts its injection templates add, as the pinned istiod chart (1.30.3) writes them.

Everything is read from what the platform applies: the injector's MutatingWebhookConfiguration (which namespaces and
pods its webhooks are called for), the `istio-sidecar-injector` ConfigMap (`config`: policy, never/always-inject
selectors, default templates and the templates' text; `values`: the merged istiod values the templates read, such as
`pilot.cni.enabled`, `global.proxy.privileged` and `global.proxy.seccompProfile`) and the mesh config (`istio`
ConfigMap: the default interception mode and proxy metadata). A change of the istiod values therefore changes what
this model adds.

The templates themselves are Go templates with Istio's own functions, so they are not rendered here: the parts that
decide admission (each `securityContext` block, the `volumes` block, and the variables that pick the interception
mode, NET_BIND_SERVICE and native sidecars) are implemented below, and their text is fingerprinted.
`template_drift` compares the fingerprints with a template's text (the ConfigMap's at check time, the chart's in the
tests), so an istiod version that changes them fails loudly instead of being judged by an outdated model.

Not modelled (a pod that uses one is reported, not guessed): injection templates other than `sidecar` and `gateway`,
and per-pod proxy config (`proxy.istio.io/config`). The proxy's user id is Istio's default 1337 (OpenShift's
namespace ranges do not apply). Native sidecars in `auto` mode (istiod's default since 1.27) are on when every node
runs Kubernetes 1.33 or later: the model takes the nodes to run the environment's Kubernetes version.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import yaml

MODEL = "infra/expand/sidecar.py"
INJECTOR_CONFIG_MAP = "istio-sidecar-injector"
MESH_CONFIG_MAP = "istio"
INJECTOR_WEBHOOK_SUFFIX = "sidecar-injector.istio.io"
INJECT_LABEL = "sidecar.istio.io/inject"
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
NATIVE_SIDECAR_ANNOTATION = "sidecar.istio.io/nativeSidecar"
INTERCEPTION_ANNOTATION = "sidecar.istio.io/interceptionMode"
NET_BIND_ANNOTATION = "sidecar.istio.io/capNetBindService"
USER_VOLUME_ANNOTATION = "sidecar.istio.io/userVolume"
BOOTSTRAP_ANNOTATION = "sidecar.istio.io/bootstrapOverride"
# Namespaces the injector never injects into, whatever their labels (Istio's IgnoredNamespaces).
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
PROXY = "istio-proxy"
PROXY_ID = 1337
NATIVE_SIDECARS_SINCE = 33
"""Kubernetes minor from which istiod's `auto` mode injects the proxy as a native sidecar."""
TRUE_WORDS = frozenset({"y", "yes", "true", "on"})

# The fingerprint (first 64 bits of the sha256) of each part of the istiod 1.30.3 injection templates this module
# implements; see `template_parts`. When a test or `check` reports a difference, read the new template's part and
# update the model (and these fingerprints) to match it.
TEMPLATE_FINGERPRINTS: dict[str, dict[str, int]] = {
    "sidecar": {
        "securityContext#1": 0x31A4C84BE5EBD5E1,  # istio-validation / istio-init: Injector.validation_context
        "securityContext#2": 0xD4FB913D1A926805,  # istio-proxy: Injector.proxy_context
        "volumes": 0x94F7D3D08734946F,  # Injector.proxy_volumes, and the userVolume annotation (_sidecar)
        "variables": 0x3E77193722C5A7E0,  # interception_mode, capNetBindService (_sidecar), native_sidecar
    },
    "gateway": {
        "securityContext#1": 0xD0F7165F5B5CE1D6,  # the pod's: _gateway
        "securityContext#2": 0x8443AAF5458C38CB,  # istio-proxy's user and group: _gateway
        "volumes": 0x8DCFC93D8B6219A0,  # Injector.proxy_volumes
    },
}


class SidecarModelError(Exception):
    """The injection of a pod cannot be modelled (missing configuration, a template the model does not implement)."""


@dataclass(frozen=True)
class Injected:
    pod: dict[str, Any]
    """The pod (`metadata` and `spec`) as the injector returns it."""
    containers: frozenset[str]
    """The names of the containers the injection added or changed."""
    template: str


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects `labels`; a missing or empty selector selects everything."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def template_parts(text: str) -> dict[str, str]:
    """The parts of an injection template the model implements: every `securityContext` block (numbered in order),
    the `volumes` block, and the lines that define the `$tproxy`, `$capNetBindService` and `$nativeSidecar`
    variables."""
    lines = text.splitlines()
    parts: dict[str, str] = {}
    count = 0
    for index, line in enumerate(lines):
        key = line.strip()
        if key in ("securityContext:", "volumes:"):
            name = "volumes" if key == "volumes:" else f"securityContext#{count + 1}"
            count += key == "securityContext:"
            parts[name] = "\n".join(_block(lines, index))
    variables = [
        line.strip() for line in lines if re.match(r"\{\{-? \$(tproxy|capNetBindService|nativeSidecar) :=", line)
    ]
    if variables:
        parts["variables"] = "\n".join(variables)
    return parts


def _block(lines: list[str], start: int) -> list[str]:
    """The lines of the YAML block that starts at `lines[start]`: deeper-indented lines, and at the key's own
    indentation list items, comments and template directives (`{{- if ... }}` around the block's fields)."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = [lines[start].rstrip()]
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth > indent or (depth == indent and line.lstrip().startswith(("{{", "- ", "#"))):
            block.append(line.rstrip())
        else:
            break
    return block


def fingerprint(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def template_drift(name: str, text: str) -> list[str]:
    """How template `name`'s text differs from what the model implements: one line per changed, added or removed
    part; empty when the model matches."""
    expected = TEMPLATE_FINGERPRINTS.get(name)
    if expected is None:
        return [f"injection template {name!r} is not modelled by {MODEL}"]
    found = {part: fingerprint(body) for part, body in template_parts(text).items()}
    drift = []
    for part in sorted(expected.keys() | found.keys()):
        if part not in found:
            drift.append(f"template {name!r} no longer has the part {part} that {MODEL} implements")
        elif part not in expected:
            drift.append(f"template {name!r} has a part {part} that {MODEL} does not implement")
        elif found[part] != expected[part]:
            drift.append(
                f"template {name!r} part {part} changed (fingerprint {found[part]:#018x}, {MODEL} implements "
                f"{expected[part]:#018x}): re-read it and update the model"
            )
    return drift


@lru_cache(maxsize=16)
def _parsed_yaml(text: str) -> dict[str, Any]:
    """The injector's configuration as data, parsed once per text: every environment of a fleet with the same istiod
    values has the same (tens of kilobytes of templates); the result is only read."""
    return yaml.safe_load(text) or {}


@dataclass(frozen=True)
class Injector:
    """One istiod revision's injector, built from the objects the platform applies (`Injector.find`)."""

    revision: str
    webhooks_json: str
    """The injector webhooks' (namespaceSelector, objectSelector) pairs, as JSON."""
    config_yaml: str
    values_json: str
    mesh_yaml: str
    kubernetes_minor: int
    config_map: str = f"istio-system/{INJECTOR_CONFIG_MAP}"
    """`namespace/name` of the ConfigMap the configuration is read from."""

    @classmethod
    def find(cls, objects: Iterable[Mapping[str, Any]], kubernetes_version: str) -> list[Injector]:
        """Every injector the platform installs (one per istiod revision); empty without one. SidecarModelError
        when an injector webhook exists but its configuration is not among the objects."""
        objects = list(objects)
        by_name = {
            (str(_meta(o).get("namespace") or ""), str(_meta(o).get("name") or "")): o
            for o in objects
            if o.get("kind") == "ConfigMap"
        }
        injectors = []
        for hook_config in objects:
            if hook_config.get("kind") != "MutatingWebhookConfiguration":
                continue
            hooks = [
                h for h in hook_config.get("webhooks") or () if str(h.get("name", "")).endswith(INJECTOR_WEBHOOK_SUFFIX)
            ]
            if not hooks:
                continue
            revision = str((_meta(hook_config).get("labels") or {}).get("istio.io/rev") or "default")
            namespace = str((hooks[0].get("clientConfig") or {}).get("service", {}).get("namespace") or "istio-system")
            suffix = "" if revision == "default" else f"-{revision}"
            data: dict[str, Mapping[str, Any]] = {}
            for base in (INJECTOR_CONFIG_MAP, MESH_CONFIG_MAP):
                config_map = by_name.get((namespace, base + suffix))
                if config_map is None:
                    raise SidecarModelError(
                        f"MutatingWebhookConfiguration {_meta(hook_config).get('name')} injects sidecars, but the "
                        f"ConfigMap {namespace}/{base + suffix} that configures the injection is not applied by the "
                        "platform"
                    )
                data[base] = config_map.get("data") or {}
            selectors = [(h.get("namespaceSelector") or {}, h.get("objectSelector") or {}) for h in hooks]
            injector = cls(
                revision=revision,
                webhooks_json=json.dumps(selectors, sort_keys=True),
                config_yaml=str(data[INJECTOR_CONFIG_MAP].get("config") or ""),
                values_json=str(data[INJECTOR_CONFIG_MAP].get("values") or "{}"),
                mesh_yaml=str(data[MESH_CONFIG_MAP].get("mesh") or ""),
                kubernetes_minor=int(kubernetes_version.split(".")[1]),
                config_map=f"{namespace}/{INJECTOR_CONFIG_MAP + suffix}",
            )
            injector.parse(f"{namespace}/{MESH_CONFIG_MAP + suffix}")
            injectors.append(injector)
        return injectors

    def parse(self, mesh_map: str) -> None:
        """Read the configuration once; SidecarModelError naming the ConfigMap key that is not what istiod reads."""
        for where, read in (
            (f"ConfigMap {self.config_map} data.config", lambda: self.config),
            (f"ConfigMap {self.config_map} data.values", lambda: self.values),
            (f"ConfigMap {mesh_map} data.mesh", lambda: self.proxy_config),
        ):
            try:
                parsed = read()
            except (yaml.YAMLError, json.JSONDecodeError, AttributeError) as error:
                raise SidecarModelError(f"{where} cannot be read: {error}") from None
            if not isinstance(parsed, dict):
                raise SidecarModelError(f"{where} is not a map")

    @cached_property
    def config(self) -> dict[str, Any]:
        return _parsed_yaml(self.config_yaml)

    @cached_property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    @cached_property
    def proxy_config(self) -> dict[str, Any]:
        return _parsed_yaml(self.mesh_yaml).get("defaultConfig") or {}

    @cached_property
    def webhooks(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [tuple(pair) for pair in json.loads(self.webhooks_json)]  # type: ignore[misc]

    def drift(self) -> list[str]:
        """How the templates this injector uses differ from what the model implements."""
        templates = self.config.get("templates") or {}
        return [
            line
            for name in sorted(TEMPLATE_FINGERPRINTS)
            if name in templates
            for line in template_drift(name, templates[name])
        ]

    def value(self, *path: str, default: Any = None) -> Any:
        node: Any = self.values
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node

    # Which pods are injected.

    def called_for(self, namespace_labels: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
        """Whether the API server calls one of the injector's webhooks for a pod with these labels."""
        return any(
            selector_matches(namespace_selector, namespace_labels) and selector_matches(object_selector, pod_labels)
            for namespace_selector, object_selector in self.webhooks
        )

    def injects(self, namespace: str, namespace_labels: Mapping[str, str], pod: Mapping[str, Any]) -> bool:
        """Whether a pod of `namespace` is injected: its webhook is called, and the injector's own policy (host
        network, ignored namespaces, the pod's `sidecar.istio.io/inject`, the never/always selectors) agrees."""
        metadata, spec = _meta(pod), pod.get("spec") or {}
        labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        if not self.called_for(namespace_labels, labels):
            return False
        if spec.get("hostNetwork") is True or namespace in IGNORED_NAMESPACES:
            return False
        asked = labels.get(INJECT_LABEL, (metadata.get("annotations") or {}).get(INJECT_LABEL, ""))
        inject, by_default = str(asked).lower() in TRUE_WORDS, str(asked) == ""
        if by_default and any(selector_matches(s, labels) for s in self.config.get("neverInjectSelector") or ()):
            inject, by_default = False, False
        if by_default and any(selector_matches(s, labels) for s in self.config.get("alwaysInjectSelector") or ()):
            inject, by_default = True, False
        policy = self.config.get("policy", "enabled")
        if policy == "enabled":
            return True if by_default else inject
        if policy == "disabled":
            return False if by_default else inject
        return False

    # What injection adds.

    def inject(self, pod: Mapping[str, Any]) -> Injected:
        """The pod as the injector returns it; SidecarModelError when a template it uses is not modelled."""
        annotations = _meta(pod).get("annotations") or {}
        if PROXY_CONFIG_ANNOTATION in annotations:
            raise SidecarModelError(
                f"annotation {PROXY_CONFIG_ANNOTATION} (per-pod proxy config) is not modelled by {MODEL}"
            )
        requested = annotations.get(TEMPLATES_ANNOTATION)
        names = (
            [n.strip() for n in str(requested).split(",")]
            if requested
            else list(self.config.get("defaultTemplates") or ["sidecar"])
        )
        result = copy.deepcopy(dict(pod))
        added: set[str] = set()
        for name in names:
            apply = _TEMPLATES.get(name)
            if apply is None:
                raise SidecarModelError(
                    f"injection template {name!r} is not modelled by {MODEL} (sidecar, gateway are)"
                )
            added |= apply(self, result, annotations)
        return Injected(result, frozenset(added), ",".join(names))

    def interception_mode(self, annotations: Mapping[str, Any]) -> str:
        return str(annotations.get(INTERCEPTION_ANNOTATION) or self.proxy_config.get("interceptionMode") or "REDIRECT")

    def native_sidecar(self, annotations: Mapping[str, Any]) -> bool:
        if NATIVE_SIDECAR_ANNOTATION in annotations and annotations[NATIVE_SIDECAR_ANNOTATION] != "":
            return annotations[NATIVE_SIDECAR_ANNOTATION] != "false"
        mode = str(self.value("pilot", "env", "ENABLE_NATIVE_SIDECARS", default="auto")).lower()
        if mode == "auto":
            return self.kubernetes_minor >= NATIVE_SIDECARS_SINCE
        return mode == "true"

    def seccomp_profile(self) -> dict[str, Any] | None:
        """`global.proxy.seccompProfile` as the templates write it (`{{ if }}`: an empty map writes nothing)."""
        return self.value("global", "proxy", "seccompProfile") or None

    def privileged(self) -> bool:
        return self.value("global", "proxy", "privileged") is True

    def validation_context(self) -> dict[str, Any]:
        """The securityContext of `istio-validation` (CNI) or `istio-init` (iptables set up by the pod itself). With
        the CNI the user is the proxy's in either interception mode (the template's TPROXY branch also gives 1337)."""
        cni = self.value("pilot", "cni", "enabled") is True
        context: dict[str, Any] = {
            "allowPrivilegeEscalation": self.privileged(),
            "privileged": self.privileged(),
            "capabilities": {"drop": ["ALL"]} if cni else {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        }
        if cni:
            context |= {
                "readOnlyRootFilesystem": True,
                "runAsGroup": PROXY_ID,
                "runAsUser": PROXY_ID,
                "runAsNonRoot": True,
            }
        else:
            context |= {"readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0}
        return self._with_seccomp(context)

    def proxy_context(self, tproxy: bool, net_bind: bool) -> dict[str, Any]:
        """The securityContext of the `istio-proxy` container of the sidecar template."""
        if (self.proxy_config.get("proxyMetadata") or {}).get("IPTABLES_TRACE_LOGGING") == "true":
            context: dict[str, Any] = {
                "allowPrivilegeEscalation": True,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                "privileged": True,
                "readOnlyRootFilesystem": True,
                "runAsGroup": PROXY_ID,
                "runAsNonRoot": False,
                "runAsUser": 0,
            }
            return self._with_seccomp(context)
        capabilities: dict[str, Any] = {"drop": ["ALL"]}
        if tproxy or net_bind:
            capabilities["add"] = [*(["NET_ADMIN"] if tproxy else []), *(["NET_BIND_SERVICE"] if net_bind else [])]
        context = {
            "allowPrivilegeEscalation": self.privileged(),
            "capabilities": capabilities,
            "privileged": self.privileged(),
            "readOnlyRootFilesystem": True,
        }
        if tproxy or net_bind:
            context |= {"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": PROXY_ID}
        else:
            context |= {"runAsNonRoot": True, "runAsUser": PROXY_ID, "runAsGroup": PROXY_ID}
        return self._with_seccomp(context)

    def _with_seccomp(self, context: dict[str, Any]) -> dict[str, Any]:
        profile = self.seccomp_profile()
        return {**context, "seccompProfile": copy.deepcopy(profile)} if profile else context

    def proxy_volumes(self, annotations: Mapping[str, Any], template: str) -> list[dict[str, Any]]:
        """The volumes the `sidecar` or `gateway` template adds (only their sources matter to admission; a lightstep
        tracer's secret is left out: secrets are allowed everywhere)."""
        gke_certificate = self.value("global", "caName") == "GkeWorkloadCertificate"
        volumes: list[dict[str, Any]] = [
            {"name": "workload-socket", "emptyDir": {}},
            {"name": "credential-socket", "emptyDir": {}},
            {"name": "gke-workload-certificate", "csi": {"driver": "workloadcertificates.security.cloud.google.com"}}
            if gke_certificate
            else {"name": "workload-certs", "emptyDir": {}},
            {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
            {"name": "istio-data", "emptyDir": {}},
            {"name": "istio-podinfo", "downwardAPI": {}},
            {"name": "istio-token", "projected": {}},
        ]
        if BOOTSTRAP_ANNOTATION in annotations:
            volumes.append(
                {"name": "custom-bootstrap-volume", "configMap": {"name": annotations[BOOTSTRAP_ANNOTATION]}}
            )
        if self.value("global", "pilotCertProvider") == "istiod":
            trust_bundle = self.value("pilot", "env", "ENABLE_CLUSTER_TRUST_BUNDLE_API") is True
            volumes.append({"name": "istiod-ca-cert", **({"projected": {}} if trust_bundle else {"configMap": {}})})
        if template == "sidecar":
            volumes.append({"name": "istio-ca-crl", "configMap": {"optional": True}})
        if self.value("global", "mountMtlsCerts") is True:
            volumes.append({"name": "istio-certs", "secret": {"optional": True}})
        return volumes


def _sidecar(injector: Injector, pod: dict[str, Any], annotations: Mapping[str, Any]) -> set[str]:
    """What the `sidecar` template adds: the init container that checks (CNI) or sets up (istio-init) the traffic
    redirection, the proxy as a container or native sidecar, and the proxy's volumes."""
    spec = pod.setdefault("spec", {})
    mode = injector.interception_mode(annotations)
    tproxy = mode == "TPROXY"
    asked = annotations.get(NET_BIND_ANNOTATION, injector.value("global", "proxy", "capNetBindService"))
    net_bind = _go_text(asked) == "true"
    native = injector.native_sidecar(annotations)
    added: set[str] = set()
    init_containers: list[dict[str, Any]] = []
    if mode != "NONE":
        name = "istio-validation" if injector.value("pilot", "cni", "enabled") is True else "istio-init"
        init_containers.append({"name": name, "securityContext": injector.validation_context()})
        added.add(name)
    proxy: dict[str, Any] = {
        "name": PROXY,
        "ports": [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}],
        "securityContext": injector.proxy_context(tproxy, net_bind),
        "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}},
    }
    lifecycle = injector.value("global", "proxy", "lifecycle")
    if lifecycle:
        proxy["lifecycle"] = copy.deepcopy(lifecycle)
    if native:
        proxy["restartPolicy"] = "Always"
        init_containers.append(proxy)
    added.add(PROXY)
    spec["initContainers"] = _merge_containers(init_containers, spec.get("initContainers") or [])
    if not native:
        spec["containers"] = _merge_containers([proxy], spec.get("containers") or [])
    user_volumes = annotations.get(USER_VOLUME_ANNOTATION)
    extra = [{"name": k, **v} for k, v in json.loads(user_volumes).items()] if user_volumes else []
    spec["volumes"] = _merge_named(spec.get("volumes") or [], [*injector.proxy_volumes(annotations, "sidecar"), *extra])
    return added


def _gateway(injector: Injector, pod: dict[str, Any], annotations: Mapping[str, Any]) -> set[str]:
    """What the `gateway` template adds: the pod's securityContext (`gateways.securityContext`, or the sysctl that
    lets Envoy bind low ports), the proxy's user and group on the `istio-proxy` container the gateway brings, and
    the proxy's volumes."""
    spec = pod.setdefault("spec", {})
    context = injector.value("gateways", "securityContext") or {
        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    }
    spec["securityContext"] = {**(spec.get("securityContext") or {}), **copy.deepcopy(context)}
    proxy = {"name": PROXY, "securityContext": {"runAsUser": PROXY_ID, "runAsGroup": PROXY_ID}}
    spec["containers"] = _merge_containers([proxy], spec.get("containers") or [])
    spec["volumes"] = _merge_named(spec.get("volumes") or [], injector.proxy_volumes(annotations, "gateway"))
    return {PROXY}


_TEMPLATES = {"sidecar": _sidecar, "gateway": _gateway}


def _merge_containers(injected: Sequence[dict[str, Any]], own: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pod's containers with the injected ones: an injected container the pod already declares keeps the pod's
    settings over the template's (Istio re-applies them after injecting); the injected ones come first."""
    own_by_name = {c.get("name"): c for c in own}
    merged = [_deep_merge(c, own_by_name[c["name"]]) if c["name"] in own_by_name else c for c in injected]
    names = {c["name"] for c in injected}
    return [*merged, *(copy.deepcopy(dict(c)) for c in own if c.get("name") not in names)]


def _merge_named(own: Sequence[Mapping[str, Any]], added: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {v["name"] for v in added}
    return [*(copy.deepcopy(dict(v)) for v in own if v.get("name") not in names), *added]


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(copy.deepcopy(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _go_text(value: Any) -> str:
    """A value as Istio's `annotation` template function prints it (Go's fmt: booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}
