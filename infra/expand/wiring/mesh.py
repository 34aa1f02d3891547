"""Istio's mutual TLS on the way to a pod: a client outside the mesh (Prometheus, the API server) reaches a pod
with a sidecar in plain text only where the pod's PeerAuthentication allows it, or where the sidecar does not
capture the port.

Which pods get a sidecar is the injector's decision (infra/expand/sidecar.py, from what the platform applies).
The mode on a port is Istio's: a workload's PeerAuthentication (its `selector` matching the pod; `portLevelMtls`
by the pod's port number first), else its namespace's (no selector), else the mesh-wide one (in the mesh's root
namespace, `rootNamespace` of the mesh config, istiod's own by default); `UNSET` inherits, and nothing at all is
PERMISSIVE. The sidecar captures every inbound port (`traffic.sidecar.istio.io/includeInboundPorts`, `*`) except
Envoy's own (15090, 15021), the status port (15020, `global.proxy.statusPort`) and those the pod or istiod's
values exclude (`traffic.sidecar.istio.io/excludeInboundPorts`, `global.proxy.excludeInboundPorts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import yaml

from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of
from infra.expand.sidecar import Injector, SidecarModelError
from infra.expand.wiring.selectors import selects
from infra.expand.wiring.workloads import Pod

PROXY_PORTS = frozenset({15090, 15021})
"""Envoy's Prometheus and health ports, never captured (the injection template's excludeInboundPorts)."""
STATUS_PORT = 15020
INCLUDE_ANNOTATION = "traffic.sidecar.istio.io/includeInboundPorts"
EXCLUDE_ANNOTATION = "traffic.sidecar.istio.io/excludeInboundPorts"


@dataclass(frozen=True)
class Mode:
    mode: str
    policy: str
    """`PeerAuthentication ns/name`, or what the default is."""


class Mesh:
    def __init__(
        self,
        objects: Iterable[PlatformObject],
        kubernetes_version: str,
        namespace_labels: Callable[[str], Mapping[str, str]],
    ) -> None:
        items = list(objects)
        self.namespace_labels = namespace_labels
        self.problem = ""
        try:
            self.injectors = Injector.find((o.object for o in items), kubernetes_version)
        except SidecarModelError as error:
            self.injectors, self.problem = [], str(error)
        self.policies = [
            o
            for o in items
            if (group_of(str(o.object.get("apiVersion", ""))), o.kind) == ("security.istio.io", "PeerAuthentication")
        ]

    def injected(self, pod: Pod) -> bool:
        if pod.template is None:
            return False
        labels = self.namespace_labels(pod.namespace)
        return any(injector.injects(pod.namespace, labels, pod.template) for injector in self.injectors)

    def plain_text_refused(self, pod: Pod, number: int | None) -> Mode | None:
        """The STRICT mode that refuses a client outside the mesh on `number` of `pod`, if one does."""
        if number is None or not self.injected(pod) or not self._captured(pod, number):
            return None
        mode = self.mode(pod, number)
        return mode if mode.mode == "STRICT" else None

    def mode(self, pod: Pod, number: int) -> Mode:
        labels = pod.labels
        workload = [p for p in self._in(pod.namespace) if (p.object.get("spec") or {}).get("selector")]
        workload = [p for p in workload if selects(p.object["spec"]["selector"], labels)]
        namespace = [p for p in self._in(pod.namespace) if not (p.object.get("spec") or {}).get("selector")]
        root = [p for p in self._in(self._root()) if not (p.object.get("spec") or {}).get("selector")]
        for policy in workload:
            spec = policy.object.get("spec") or {}
            port_level = (spec.get("portLevelMtls") or {}).get(number) or (spec.get("portLevelMtls") or {}).get(
                str(number)
            )
            if port_level and str(port_level.get("mode", "UNSET")) != "UNSET":
                return Mode(str(port_level["mode"]), _ref(policy))
        for policy in (*workload, *namespace, *root):
            mode = str(((policy.object.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET")
            if mode != "UNSET":
                return Mode(mode, _ref(policy))
        return Mode("PERMISSIVE", "no PeerAuthentication (Istio's default)")

    def _in(self, namespace: str) -> list[PlatformObject]:
        return [p for p in self.policies if p.namespace == namespace]

    def _root(self) -> str:
        for injector in self.injectors:
            mesh = yaml.safe_load(injector.mesh_yaml) or {}
            return str(mesh.get("rootNamespace") or injector.config_map.split("/")[0])
        return "istio-system"

    def _captured(self, pod: Pod, number: int) -> bool:
        annotations = ((pod.template or {}).get("metadata") or {}).get("annotations") or {}
        included = str(annotations.get(INCLUDE_ANNOTATION, "*")).strip()
        if included != "*" and number not in _ports(included):
            return False
        excluded = {*PROXY_PORTS, *_ports(str(annotations.get(EXCLUDE_ANNOTATION, "")))}
        for injector in self.injectors:
            excluded.add(int(injector.value("global", "proxy", "statusPort", default=STATUS_PORT) or STATUS_PORT))
            excluded |= _ports(str(injector.value("global", "proxy", "excludeInboundPorts") or ""))
        return number not in excluded


def _ports(listed: str) -> set[int]:
    return {int(part) for part in listed.split(",") if part.strip().isdigit()}


def _ref(policy: PlatformObject) -> str:
    return f"PeerAuthentication {policy.namespace}/{policy.name}"
