"""One environment's wiring facts, indexed once: Services (the platform's and those made at run time), pods by
namespace, network policies, and where the API server and nodes are; and how a Service port resolves to the
places its connections end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from infra.expand.platform import Platform, PlatformObject
from infra.expand.scope import group_of
from infra.expand.wiring.cluster import ClusterEndpoints, cluster_endpoints
from infra.expand.wiring.mesh import Mesh
from infra.expand.wiring.policies import NetworkPolicies, Outside, Port
from infra.expand.wiring.runtime import RuntimeService, ServicePort, runtime_objects
from infra.expand.wiring.selectors import selects_map
from infra.expand.wiring.workloads import Pod, operator_pods, pod_templates


@dataclass(frozen=True, eq=False)
class ServiceView:
    """A Service as the resolution needs it, whether the platform declares it or something makes it at run time."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: tuple[ServicePort, ...] | None
    """None: not known offline."""
    selector: Mapping[str, str] | None = None
    backend: Outside | None = None
    runtime_pods: Pod | None = None
    made_by: str = ""
    """Empty for the platform's own Services."""

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.name else f"in {self.namespace}"
        return f"Service {name}" + (f" ({self.made_by})" if self.made_by else "")

    def port_names(self) -> str:
        if self.ports is None:
            return "ports not known offline"
        return ", ".join(p.name or str(p.port) for p in self.ports) or "no ports"


@dataclass(frozen=True)
class Target:
    """Where a connection ends: a pod (or the nodes, or the API server), on a port, and how it got there."""

    destination: Pod | Outside
    port: Port
    via: str
    """`Service cert-manager/cert-manager port http-metrics`, or the monitor's own selection."""

    @property
    def pod(self) -> Pod | None:
        """The pod whose namespace's ingress policies decide; None outside the pod network (and on the host's)."""
        if isinstance(self.destination, Pod) and not self.destination.host_network:
            return self.destination
        return None

    @property
    def runtime_note(self) -> str:
        return self.destination.note if isinstance(self.destination, Pod) else ""

    def describe(self) -> str:
        where = self.destination.source if isinstance(self.destination, Pod) else self.destination.description
        return f"{where} on {self.port}, via {self.via}"


@dataclass
class Resolution:
    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why part of it leads nowhere; each a message tail."""
    unknown: list[str] = field(default_factory=list)
    """What could not be known offline (made at run time); each a message tail."""


class WiringIndex:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.objects = platform.objects
        self.policies = NetworkPolicies(self.objects)
        self.cluster: ClusterEndpoints = cluster_endpoints(platform.env)
        self.runtime = runtime_objects(self.objects, platform.env, self.cluster)
        self.mesh = Mesh(self.objects, platform.env.kubernetes_version, self.policies.labels_of_namespace)

    @cached_property
    def services(self) -> dict[str, list[ServiceView]]:
        found: dict[str, list[ServiceView]] = defaultdict(list)
        for item in self.of_kind("", "Service"):
            found[item.namespace].append(service_view(item))
        for made in self.runtime.services:
            found[made.namespace].append(runtime_view(made))
        return found

    @cached_property
    def pods(self) -> dict[str, list[Pod]]:
        found: dict[str, list[Pod]] = defaultdict(list)
        for pod in (*pod_templates(self.objects), *operator_pods(self.objects), *self.runtime.pods):
            found[pod.namespace].append(pod)
        return found

    @cached_property
    def by_kind(self) -> dict[tuple[str, str], list[PlatformObject]]:
        found: dict[tuple[str, str], list[PlatformObject]] = defaultdict(list)
        for item in self.objects:
            found[(group_of(str(item.object.get("apiVersion", ""))), item.kind)].append(item)
        return found

    def of_kind(self, group: str, kind: str) -> list[PlatformObject]:
        return self.by_kind.get((group, kind), [])

    def service(self, namespace: str, name: str) -> ServiceView | None:
        return next((s for s in self.services.get(namespace, ()) if s.name == name), None)

    def service_pods(self, service: ServiceView) -> list[Pod]:
        if service.runtime_pods is not None:
            return [service.runtime_pods]
        return [pod for pod in self.pods.get(service.namespace, ()) if selects_map(service.selector, pod.labels)]

    def resolve(self, service: ServiceView, port: ServicePort) -> Resolution:
        """Where connections to `service` on `port` end: its pods' ports, or the addresses behind it."""
        result = Resolution()
        via = f"{service} port {port.name or port.port}"
        if service.made_by:
            result.unknown.append(service.made_by)
        if service.backend is not None:
            number = port.target if isinstance(port.target, int) else None
            result.targets.append(Target(service.backend, Port(number, port.protocol), via))
            return result
        pods = self.service_pods(service)
        if not pods:
            if service.selector:
                selector = _pairs(service.selector)
                result.problems.append(f"{service} selects no pod of the platform (selector {selector})")
            else:
                result.problems.append(
                    f"{service} has no selector: its endpoints would be written by something the platform does not "
                    "declare"
                )
        for pod in pods:
            resolved = pod_port(pod, port.target, port.protocol)
            if isinstance(resolved, str):
                result.problems.append(f"{via}: {resolved}")
            else:
                result.targets.append(Target(pod, resolved, via))
            if pod.note:
                result.unknown.append(pod.note)
        return result


def pod_port(pod: Pod, target: int | str, protocol: str) -> Port | str:
    """The port a connection to `pod` on `target` (a number, or a container port's name) reaches; a message when
    the pod has no such port."""
    if isinstance(target, str):
        found = pod.port_named(target, protocol)
        if found is not None:
            return Port(found.number, protocol, found.name)
        if not pod.ports_known:
            return Port(None, protocol, target)
        declared = ", ".join(f"{p.name or '(unnamed)'} {p.number}" for p in pod.ports) or "none"
        return f"targets the container port named {target!r}, which {pod.source} does not declare (ports: {declared})"
    served = pod.serves(target, protocol)
    if served is None and pod.exhaustive_ports:
        ports = ", ".join(str(p.number) for p in pod.ports if p.protocol == protocol)
        return f"targets {protocol} {target}, which {pod.source} do not serve (they serve {ports})"
    return Port(target, protocol, served.name if served else "")


def service_view(item: PlatformObject) -> ServiceView:
    spec = item.object.get("spec") or {}
    labels = (item.object.get("metadata") or {}).get("labels") or {}
    return ServiceView(
        item.namespace,
        item.name,
        {str(k): str(v) for k, v in labels.items()},
        tuple(service_ports(spec)),
        selector={str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
    )


def service_ports(spec: Mapping[str, Any]) -> Iterator[ServicePort]:
    for port in spec.get("ports") or []:
        if not isinstance(port, Mapping) or not isinstance(port.get("port"), int):
            continue
        target = port.get("targetPort", port["port"])
        yield ServicePort(str(port.get("name") or ""), port["port"], target, str(port.get("protocol") or "TCP"))


def runtime_view(made: RuntimeService) -> ServiceView:
    return ServiceView(
        made.namespace,
        made.name,
        made.labels,
        made.ports,
        backend=made.backend,
        runtime_pods=made.pods,
        made_by=made.made_by,
    )


def _pairs(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
