"""Scrape targets: every ServiceMonitor and PodMonitor endpoint finds something to scrape, a Prometheus of the
platform loads the monitor, and the network policies on both ends let that Prometheus' pods reach each target.

A ServiceMonitor selects Services (`selector`, in `namespaceSelector`: `any`, `matchNames`, or else its own
namespace); an endpoint's `port` names a Service port (`targetPort` a pod port instead); the Service's pods are
the targets, on the port its `targetPort` resolves to in each. A PodMonitor selects pods, an endpoint names a
container port (`port`), or gives its number (`portNumber`, or the older `targetPort`). What only an operator or the
cluster makes (runtime.py) resolves with an advisory naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.expand.platform import PlatformObject
from infra.expand.wiring.index import Resolution, ServiceView, Target, WiringIndex, pod_port
from infra.expand.wiring.policies import Outside, Port
from infra.expand.wiring.runtime import ServicePort
from infra.expand.wiring.selectors import InvalidSelector, describe, selects, validate
from infra.expand.wiring.workloads import Pod, operator_pods
from infra.offline.validate import Finding

STAGE = "wiring"
GROUP = "monitoring.coreos.com"
MONITOR_KINDS = {
    "ServiceMonitor": ("endpoints", "serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
    "PodMonitor": ("podMetricsEndpoints", "podMonitorSelector", "podMonitorNamespaceSelector"),
}
NOTHING_SCRAPED = "Prometheus scrapes nothing there, and no alert on those metrics can fire"


@dataclass(frozen=True)
class Server:
    """A Prometheus of the platform and the pods the operator makes for it."""

    resource: PlatformObject
    pods: tuple[Pod, ...]

    @property
    def name(self) -> str:
        return f"Prometheus {self.resource.namespace}/{self.resource.name}"


def scrape_findings(index: WiringIndex) -> tuple[list[Finding], int]:
    servers, findings = prometheus_servers(index)
    checked = 0
    for kind, (endpoints_key, _, _) in MONITOR_KINDS.items():
        for monitor in index.of_kind(GROUP, kind):
            spec = monitor.object.get("spec") or {}
            endpoints = spec.get(endpoints_key) or []
            checked += len(endpoints)
            findings += _monitor_findings(index, servers, monitor, spec, endpoints_key, endpoints)
    return findings, checked


def prometheus_servers(index: WiringIndex) -> tuple[list[Server], list[Finding]]:
    """Every Prometheus of the platform with its pods; one whose monitor selectors the API server would refuse is
    reported and loads nothing."""
    servers, findings = [], []
    for item in index.of_kind(GROUP, "Prometheus"):
        spec = item.object.get("spec") or {}
        try:
            for key in (k for _, selector, namespaces in MONITOR_KINDS.values() for k in (selector, namespaces)):
                try:
                    validate(spec.get(key))
                except InvalidSelector as error:
                    raise InvalidSelector(f"spec.{key}{error}") from None
        except InvalidSelector as error:
            findings.append(Finding(STAGE, item.ref, f"{error}: it loads no monitor"))
            continue
        servers.append(Server(item, tuple(operator_pods([item]))))
    return servers, findings


def loads(index: WiringIndex, server: Server, monitor: PlatformObject) -> bool:
    """Whether a Prometheus picks up a monitor: its selector (absent: none) over the monitor's labels, and its
    namespace selector (absent: its own namespace only) over the monitor's namespace."""
    _, selector_key, namespace_key = MONITOR_KINDS[monitor.kind]
    spec = server.resource.object.get("spec") or {}
    selector = spec.get(selector_key)
    labels = (monitor.object.get("metadata") or {}).get("labels") or {}
    if selector is None or not selects(selector, labels):
        return False
    namespaces = spec.get(namespace_key)
    if namespaces is None:
        return monitor.namespace == server.resource.namespace
    return selects(namespaces, index.policies.labels_of_namespace(monitor.namespace))


def _monitor_findings(
    index: WiringIndex,
    servers: Sequence[Server],
    monitor: PlatformObject,
    spec: Mapping[str, Any],
    endpoints_key: str,
    endpoints: Sequence[Mapping[str, Any]],
) -> Iterator[Finding]:
    try:
        validate(spec.get("selector"))
    except InvalidSelector as error:
        yield Finding(STAGE, monitor.ref, f"spec.selector{error}")
        return
    loaders = [server for server in servers if loads(index, server, monitor)]
    if not loaders:
        yield Finding(
            STAGE,
            monitor.ref,
            "metadata.labels: no Prometheus of the platform loads this "
            f"{monitor.kind} ({', '.join(s.name for s in servers) or 'there is none'}; their "
            f"{MONITOR_KINDS[monitor.kind][1]} and {MONITOR_KINDS[monitor.kind][2]} leave it out): {NOTHING_SCRAPED}",
        )
    namespaces = _namespaces(spec, monitor.namespace)
    outside: dict[str, list[int]] = {}
    for i, endpoint in enumerate(endpoints):
        where = f"spec.{endpoints_key}[{i}]"
        if monitor.kind == "ServiceMonitor":
            resolution = _service_monitor_targets(index, spec, namespaces, endpoint, where)
        else:
            resolution = _pod_monitor_targets(index, spec, namespaces, endpoint, where)
        for problem in resolution.problems:
            yield Finding(STAGE, monitor.ref, f"{problem}: {NOTHING_SCRAPED}")
        for note in resolution.unknown:
            outside.setdefault(note, []).append(i)
        yield from _path_findings(index, loaders, monitor, where, resolution.targets)
    if outside:
        indexes = sorted({i for found in outside.values() for i in found})
        yield Finding(
            STAGE,
            monitor.ref,
            f"spec.{endpoints_key}[{', '.join(map(str, indexes))}]: resolve to what the platform's manifests do not "
            f"contain: {'; '.join(outside)}",
            "advisory",
        )


def _namespaces(spec: Mapping[str, Any], own: str) -> set[str] | None:
    """The namespaces a monitor looks in; None for every namespace."""
    selector = spec.get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    names = selector.get("matchNames") or []
    return {str(n) for n in names} if names else {own}


def _service_monitor_targets(
    index: WiringIndex,
    spec: Mapping[str, Any],
    namespaces: set[str] | None,
    endpoint: Mapping[str, Any],
    where: str,
) -> Resolution:
    result = Resolution()
    selector = spec.get("selector") or {}
    candidates = [
        service
        for namespace, services in index.services.items()
        if namespaces is None or namespace in namespaces
        for service in services
        if selects(selector, service.labels)
    ]
    looked_in = "every namespace" if namespaces is None else ", ".join(sorted(namespaces))
    if not candidates:
        result.problems.append(f"spec.selector: selects no Service in {looked_in} ({describe(selector)})")
        return result
    port_name, target_port = endpoint.get("port"), endpoint.get("targetPort")
    matched = 0
    for service in candidates:
        if service.ports is None:
            matched += 1
            if service.runtime_pods is not None:
                wanted = str(port_name or target_port or "any")
                result.targets.append(Target(service.runtime_pods, Port(None, name=wanted), str(service)))
            result.unknown.append(f"{service.made_by} (port {port_name or target_port!s} not checked offline)")
            continue
        for port in _service_ports(service, port_name):
            resolved = index.resolve(service, port)
            targets = resolved.targets
            if target_port is not None:
                targets = [t for t in targets if _is_pod_port(t.port, target_port)]
            matched += bool(targets) or bool(resolved.problems)
            result.targets += targets
            result.problems += [f"{where}: {problem}" for problem in resolved.problems]
            result.unknown += resolved.unknown
    if not matched:
        found = "; ".join(f"{s.namespace}/{s.name}: {s.port_names()}" for s in candidates)
        wanted = f"a port named {port_name!r}" if port_name else f"pods with port {target_port!r}"
        field = "port" if port_name else "targetPort"
        result.problems.append(f"{where}.{field}: no Service it selects has {wanted} ({found})")
    return result


def _service_ports(service: ServiceView, name: Any) -> list[ServicePort]:
    ports = service.ports or ()
    return [p for p in ports if p.name == name] if name else list(ports)


def _is_pod_port(port: Port, wanted: Any) -> bool:
    return port.number == wanted if isinstance(wanted, int) else port.name == str(wanted)


def _pod_monitor_targets(
    index: WiringIndex,
    spec: Mapping[str, Any],
    namespaces: set[str] | None,
    endpoint: Mapping[str, Any],
    where: str,
) -> Resolution:
    result = Resolution()
    selector = spec.get("selector") or {}
    pods = [
        pod
        for namespace, found in index.pods.items()
        if namespaces is None or namespace in namespaces
        for pod in found
        if selects(selector, pod.labels)
    ]
    looked_in = "every namespace" if namespaces is None else ", ".join(sorted(namespaces))
    if not pods:
        result.problems.append(f"spec.selector: selects no pod in {looked_in} ({describe(selector)})")
        return result
    wanted: int | str | None = endpoint.get("port") or endpoint.get("portNumber") or endpoint.get("targetPort")
    field = "port" if endpoint.get("port") else "portNumber" if endpoint.get("portNumber") else "targetPort"
    missing = []
    for pod in pods:
        if wanted is None:
            targets = [Target(pod, Port(p.number, p.protocol, p.name), "its pods") for p in pod.ports]
            result.targets += targets or [Target(pod, Port(None), "its pods")]
        else:
            resolved = pod_port(pod, wanted, "TCP")
            if isinstance(resolved, str):
                missing.append(pod)
            else:
                result.targets.append(Target(pod, resolved, f"container port {wanted}"))
        if pod.note:
            result.unknown.append(pod.note)
    if missing and len(missing) == len(pods):
        found = "; ".join(f"{p.source}: {', '.join(c.name or str(c.number) for c in p.ports) or 'none'}" for p in pods)
        result.problems.append(f"{where}.{field}: no pod it selects declares container port {wanted!r} ({found})")
    return result


def _path_findings(
    index: WiringIndex, loaders: Sequence[Server], monitor: PlatformObject, where: str, targets: Sequence[Target]
) -> Iterator[Finding]:
    seen: set[str] = set()
    for server in loaders:
        for source in server.pods:
            for target in targets:
                for message in _refusals(index, server, source, target):
                    if message in seen:
                        continue
                    seen.add(message)
                    unknown = target.port.number is None
                    severity = "advisory" if unknown else "error"
                    tail = " (its port is not known offline: only a rule for every port proves it)" if unknown else ""
                    yield Finding(STAGE, monitor.ref, f"{where}: {message}{tail}", severity)


def _refusals(index: WiringIndex, server: Server, source: Pod, target: Target) -> Iterator[str]:
    """Why `source` cannot reach `target`, if it cannot: its own namespace's egress, then the target's ingress."""
    destination: Pod | Outside = target.destination
    if isinstance(destination, Pod) and destination.host_network:
        destination = index.cluster.nodes
    out = index.policies.egress(source, target.port, destination)
    if not out.allowed:
        yield (
            f"{server.name} cannot reach {target.describe()}: the policies of {source.namespace} selecting its pods "
            f"for egress ({out.policies()}) let none out to {_peer(destination)} on {target.port}"
        )
    pod = target.pod
    if pod is not None:
        into = index.policies.ingress(pod, target.port, source)
        if not into.allowed:
            yield (
                f"{server.name} cannot reach {target.describe()}: the policies of {pod.namespace} selecting it for "
                f"ingress ({into.policies()}) admit none from its pods ({_labels(source)}) on {target.port}"
            )
        strict = None if index.mesh.injected(source) else index.mesh.plain_text_refused(pod, target.port.number)
        if strict is not None:
            yield (
                f"{server.name} cannot reach {target.describe()}: its pods carry Istio's sidecar, and "
                f"{strict.policy} ({strict.mode}) makes it accept only mutual TLS on that port, which Prometheus, "
                "outside the mesh, does not speak (scrape the sidecar's merged metrics on its status port instead)"
            )


def _peer(peer: Pod | Outside) -> str:
    return peer.description if isinstance(peer, Outside) else f"{peer.source} in {peer.namespace}"


def _labels(pod: Pod) -> str:
    shown = {k: v for k, v in pod.labels.items() if k in ("app.kubernetes.io/name", "operator.prometheus.io/name")}
    return f"{pod.namespace}, " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
