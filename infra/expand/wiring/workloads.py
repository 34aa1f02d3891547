"""The pods a platform runs, as far as its objects say: each workload's pod template, and the pods the Prometheus
Operator makes from its Prometheus and Alertmanager resources (known from the operator's conventions)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of

# Kinds whose objects carry a pod template, and where it sits.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
MONITORING_GROUP = "monitoring.coreos.com"
# What the Prometheus Operator (v0.93, kube-prometheus-stack 88.x) puts on the pods it makes: the labels are the
# ones its CRDs list as reserved under `podMetadata` (pkg/apis/monitoring/v1/prometheus_types.go,
# alertmanager_types.go; `app.kubernetes.io/version` is left out, its value is derived from the image), the ports
# those of pkg/prometheus/common.go MakeContainerPorts (9090, named `spec.portName`, default `web`),
# pkg/alertmanager/statefulset.go (9093 `web`, 9094 `mesh-tcp`/`mesh-udp`) and pkg/operator/config_reloader.go
# (8080 `reloader-web`).
OPERATOR_SOURCE = "prometheus-operator v0.93 conventions"


@dataclass(frozen=True)
class ContainerPort:
    number: int
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True, eq=False)
class Pod:
    """The pods of one template: where they run, their labels, and the ports their containers declare."""

    namespace: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...]
    source: str
    """What makes them, for messages: `Deployment cert-manager/cert-manager`, or the operator and its resource."""
    host_network: bool = False
    ports_known: bool = True
    """False when what makes them is not in the platform and their ports were not declared anywhere."""
    note: str = ""
    """Why they are not in the platform's objects (made at run time or by the cluster), for advisories."""
    exhaustive_ports: bool = False
    """Its ports are every port it serves (a cluster component's, from its defaults), not only the declared ones
    (a container may listen on a port it does not declare)."""
    template: Mapping[str, Any] | None = None
    """The pod template itself, where the platform has it (what Istio's injector decides on)."""

    def port_named(self, name: str, protocol: str = "TCP") -> ContainerPort | None:
        return next((p for p in self.ports if p.name == name and p.protocol == protocol), None)

    def serves(self, number: int, protocol: str = "TCP") -> ContainerPort | None:
        return next((p for p in self.ports if p.number == number and p.protocol == protocol), None)


def pod_templates(objects: Iterable[PlatformObject]) -> Iterator[Pod]:
    """Every pod template of the platform's workloads (and bare Pods)."""
    for item in objects:
        if group_of(str(item.object.get("apiVersion", ""))) not in ("", "apps", "batch"):
            continue
        template = item.object if item.kind == "Pod" else _dig(item.object, TEMPLATE_PATHS.get(item.kind))
        if not isinstance(template, Mapping):
            continue
        spec = template.get("spec") or {}
        yield Pod(
            namespace=item.namespace,
            labels={str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()},
            ports=tuple(container_ports(spec)),
            source=f"{item.kind} {item.namespace}/{item.name}",
            host_network=bool(spec.get("hostNetwork")),
            template=template,
        )


def container_ports(pod_spec: Mapping[str, Any]) -> Iterator[ContainerPort]:
    """Ports of the containers that serve: the main ones and native sidecars (init containers that keep running)."""
    sidecars = [c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in [*(pod_spec.get("containers") or []), *sidecars]:
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and isinstance(port.get("containerPort"), int):
                name, protocol = str(port.get("name") or ""), str(port.get("protocol") or "TCP")
                yield ContainerPort(port["containerPort"], name, protocol)


def operator_pods(objects: Iterable[PlatformObject]) -> Iterator[Pod]:
    """The pods the Prometheus Operator makes for each Prometheus (one StatefulSet per shard) and Alertmanager."""
    for item in objects:
        if group_of(str(item.object.get("apiVersion", ""))) != MONITORING_GROUP:
            continue
        spec = item.object.get("spec") or {}
        extra = {str(k): str(v) for k, v in ((spec.get("podMetadata") or {}).get("labels") or {}).items()}
        common = {
            "app.kubernetes.io/instance": item.name,
            "app.kubernetes.io/managed-by": "prometheus-operator",
        }
        local = bool(spec.get("listenLocal"))
        reloader = () if local else (ContainerPort(8080, "reloader-web"),)
        if item.kind == "Prometheus":
            web = () if local else (ContainerPort(9090, str(spec.get("portName") or "web")),)
            # With `spec.thanos` the operator adds the Thanos sidecar container, serving gRPC (Store API) on 10901
            # `grpc` and its metrics on 10902 `http` (pkg/prometheus/server/statefulset.go).
            if spec.get("thanos") is not None:
                web += (ContainerPort(10901, "grpc"), ContainerPort(10902, "http"))
            shards = spec.get("shards")
            for shard in range(shards if isinstance(shards, int) and shards > 0 else 1):
                reserved = {
                    **common,
                    "app.kubernetes.io/name": "prometheus",
                    "prometheus": item.name,
                    "operator.prometheus.io/name": item.name,
                    "operator.prometheus.io/shard": str(shard),
                }
                yield Pod(
                    item.namespace,
                    {**extra, **reserved},
                    (*web, *reloader),
                    f"pods of Prometheus {item.namespace}/{item.name} (made by the Prometheus Operator; "
                    f"{OPERATOR_SOURCE})",
                )
        elif item.kind == "Alertmanager":
            web = () if local else (ContainerPort(9093, str(spec.get("portName") or "web")),)
            mesh = (ContainerPort(9094, "mesh-tcp"), ContainerPort(9094, "mesh-udp", "UDP"))
            reserved = {**common, "app.kubernetes.io/name": "alertmanager", "alertmanager": item.name}
            yield Pod(
                item.namespace,
                {**extra, **reserved},
                (*web, *mesh, *reloader),
                f"pods of Alertmanager {item.namespace}/{item.name} (made by the Prometheus Operator; "
                f"{OPERATOR_SOURCE})",
            )


def _dig(value: Any, path: tuple[str, ...] | None) -> Any:
    if path is None:
        return None
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
