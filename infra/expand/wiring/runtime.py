"""What a scrape target may select that no manifest of the platform contains: objects an operator makes at run
time from a resource the platform declares, and what every cluster of a target runs on its own. This is the one
list of them; each entry says who makes what, and where the convention comes from. A target that resolves only
through these is reported as an advisory naming the entry; what an entry declares (labels, ports, host network)
is still checked against the target and the network policies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.components.gpu_operator import NAMESPACE as GPU_OPERATOR_NAMESPACE
from infra.config import Environment
from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of
from infra.expand.wiring.cluster import ClusterEndpoints
from infra.expand.wiring.policies import Outside
from infra.expand.wiring.workloads import ContainerPort, Pod, container_ports


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target: int | str
    protocol: str = "TCP"


@dataclass(frozen=True, eq=False)
class RuntimeService:
    """A Service something besides the platform's manifests writes (with its endpoints)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    made_by: str
    ports: tuple[ServicePort, ...] | None = None
    """None: not known offline."""
    backend: Outside | None = None
    """Its endpoints when they are not pods (nodes, the API server); None: pods, see `pods`."""
    pods: Pod | None = None
    """Its pods when they are known only by the labels the maker gives them."""


@dataclass(frozen=True)
class RuntimeObjects:
    services: tuple[RuntimeService, ...]
    pods: tuple[Pod, ...]


@dataclass(frozen=True)
class ResourceMaker:
    """An operator that makes pods (and, with `services`, Services selecting them) for each resource of a kind."""

    group: str
    kind: str
    labels: Callable[[PlatformObject], dict[str, str]]
    made_by: str
    """`{ref}` is the resource."""
    services: bool
    namespace: str | None = None
    """Where the pods run when that is not the resource's namespace (a cluster-scoped resource's operands)."""
    ports: Callable[[PlatformObject], tuple[ContainerPort, ...]] | None = None
    """The ports the resource declares for its pods, where it has pod templates; None: not known offline."""


RESOURCE_MAKERS = (
    ResourceMaker(
        "operator.knative.dev",
        "KnativeServing",
        lambda _: {"app.kubernetes.io/name": "knative-serving"},
        "the Knative operator makes Knative Serving's Deployments and Services from {ref} (every object of "
        "knative/serving's release manifests carries app.kubernetes.io/name=knative-serving)",
        services=True,
    ),
    ResourceMaker(
        "operator.knative.dev",
        "KnativeEventing",
        lambda _: {"app.kubernetes.io/name": "knative-eventing"},
        "the Knative operator makes Knative Eventing's Deployments and Services from {ref} (every object of "
        "knative/eventing's release manifests carries app.kubernetes.io/name=knative-eventing)",
        services=True,
    ),
    ResourceMaker(
        "minio.min.io",
        "Tenant",
        lambda tenant: {"v1.min.io/tenant": tenant.name},
        "the MinIO operator makes the StatefulSet and Services of {ref}, labelled v1.min.io/tenant=<tenant>",
        services=True,
    ),
    ResourceMaker(
        "ray.io",
        "RayCluster",
        lambda cluster: {"ray.io/cluster": cluster.name},
        "KubeRay makes the head and worker pods of {ref}, and its head Service, labelled ray.io/cluster=<cluster>",
        services=True,
        ports=lambda cluster: ray_cluster_ports(cluster.object),
    ),
    ResourceMaker(
        "nvidia.com",
        "ClusterPolicy",
        lambda _: {"app": "nvidia-dcgm-exporter"},
        "NVIDIA's GPU operator makes the DCGM exporter's DaemonSet and Service (nvidia-dcgm-exporter, labelled "
        "app=nvidia-dcgm-exporter) from {ref}, in its own namespace (assets/state-dcgm-exporter)",
        services=True,
        namespace=GPU_OPERATOR_NAMESPACE,
    ),
    ResourceMaker(
        "postgresql.cnpg.io",
        "Cluster",
        lambda cluster: {"cnpg.io/cluster": cluster.name},
        "CloudNativePG makes the instance pods of {ref} itself (no Deployment or StatefulSet), labelled "
        "cnpg.io/cluster=<cluster>",
        services=False,
    ),
)


def ray_cluster_ports(cluster: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    """The container ports a RayCluster's head and worker pod templates declare (KubeRay keeps declared ports)."""
    spec = cluster.get("spec") or {}
    templates = [(spec.get("headGroupSpec") or {}).get("template") or {}]
    templates += [(group or {}).get("template") or {} for group in spec.get("workerGroupSpecs") or []]
    return tuple(dict.fromkeys(port for t in templates for port in container_ports(t.get("spec") or {})))


# The Prometheus Operator keeps a Service of every node's kubelet (`--kubelet-service`), with these ports
# (pkg/kubelet/controller.go, v0.93) and labels.
KUBELET_SERVICE_FLAG = "--kubelet-service="
KUBELET_LABELS = {
    "k8s-app": "kubelet",
    "app.kubernetes.io/name": "kubelet",
    "app.kubernetes.io/managed-by": "prometheus-operator",
}
KUBELET_PORTS = (
    ServicePort("https-metrics", 10250, 10250),
    ServicePort("http-metrics", 10255, 10255),
    ServicePort("cadvisor", 4194, 4194),
)
# Every cluster has it: the API server keeps its endpoints.
API_SERVER_SERVICE = ("default", "kubernetes", {"component": "apiserver", "provider": "kubernetes"})
CLUSTER_DNS_LABELS = {"k8s-app": "kube-dns"}
# GKE Standard runs kube-dns (GKE docs, "Using kube-dns": the default DNS provider); its containers serve these
# (kubernetes/kubernetes cluster/addons/dns/kube-dns/kube-dns.yaml.in: kubedns 10053 and metrics 10055, dnsmasq 53,
# sidecar metrics 10054).
KUBE_DNS_PORTS = (
    ContainerPort(53, "dns", "UDP"),
    ContainerPort(53, "dns-tcp"),
    ContainerPort(10053, "dns-local", "UDP"),
    ContainerPort(10053, "dns-tcp-local"),
    ContainerPort(10055, "metrics"),
    ContainerPort(10054, "metrics"),
)
# kubeadm runs CoreDNS (cmd/kubeadm/app/phases/addons/dns/manifests.go: 53 dns/dns-tcp, 9153 metrics).
COREDNS_PORTS = (ContainerPort(53, "dns", "UDP"), ContainerPort(53, "dns-tcp"), ContainerPort(9153, "metrics"))
LOCALHOST_BY_DEFAULT = (
    "kubeadm serves these metrics on 127.0.0.1 only unless the cluster configuration sets {flag}: Prometheus "
    "needs them on the node's address"
)


@dataclass(frozen=True)
class ClusterPods:
    """Pods every cluster of a target runs, with the ports their components serve."""

    component: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...]
    made_by: str
    host_network: bool = False


def _control_plane(component: str, labels: dict[str, str], ports: tuple[int, ...], runs: str, flag: str) -> ClusterPods:
    return ClusterPods(
        component,
        labels,
        tuple(ContainerPort(p) for p in ports),
        f"{component}, {runs}; {LOCALHOST_BY_DEFAULT.format(flag=flag)}",
        host_network=True,
    )


STATIC_POD = "a static pod of kubeadm's control-plane nodes"
# On-prem (kubeadm): the control plane's static pods and kube-proxy (docs/getting-started-onprem.md requires it) run
# on the nodes' network, with their metrics ports' defaults (kube-controller-manager --secure-port 10257,
# kube-scheduler 10259, etcd --listen-metrics-urls :2381, kube-proxy metricsBindAddress :10249). GKE runs its control
# plane outside the cluster and shows none of them.
ONPREM_CONTROL_PLANE = (
    _control_plane(
        "etcd",
        {"component": "etcd", "tier": "control-plane"},
        (2379, 2381),
        STATIC_POD,
        "etcd.local.extraArgs listen-metrics-urls=http://0.0.0.0:2381",
    ),
    _control_plane(
        "kube-controller-manager",
        {"component": "kube-controller-manager", "tier": "control-plane"},
        (10257,),
        STATIC_POD,
        "controllerManager.extraArgs bind-address=0.0.0.0",
    ),
    _control_plane(
        "kube-scheduler",
        {"component": "kube-scheduler", "tier": "control-plane"},
        (10259,),
        STATIC_POD,
        "scheduler.extraArgs bind-address=0.0.0.0",
    ),
    _control_plane(
        "kube-proxy",
        {"k8s-app": "kube-proxy"},
        (10249, 10256),
        "the cluster's DaemonSet on every node",
        "KubeProxyConfiguration metricsBindAddress=0.0.0.0:10249",
    ),
)
GKE_DNS = ClusterPods("kube-dns", CLUSTER_DNS_LABELS, KUBE_DNS_PORTS, "kube-dns, GKE's cluster DNS (not CoreDNS)")
KUBEADM_DNS = ClusterPods("CoreDNS", CLUSTER_DNS_LABELS, COREDNS_PORTS, "CoreDNS, kubeadm's cluster DNS")


def cluster_pods(env: Environment) -> tuple[ClusterPods, ...]:
    return (GKE_DNS,) if env.target == "gke" else (KUBEADM_DNS, *ONPREM_CONTROL_PLANE)


def runtime_objects(objects: Iterable[PlatformObject], env: Environment, cluster: ClusterEndpoints) -> RuntimeObjects:
    items = list(objects)
    services: list[RuntimeService] = list(_cluster_services(items, cluster))
    pods: list[Pod] = [
        Pod(
            "kube-system",
            dict(c.labels),
            c.ports,
            f"pods of {c.component} (the cluster's)",
            host_network=c.host_network,
            note=c.made_by,
            exhaustive_ports=True,
        )
        for c in cluster_pods(env)
    ]
    for item in items:
        group = group_of(str(item.object.get("apiVersion", "")))
        for maker in RESOURCE_MAKERS:
            if (group, item.kind) != (maker.group, maker.kind):
                continue
            made_by = maker.made_by.format(ref=f"{item.kind} {item.namespace}/{item.name}")
            labels = maker.labels(item)
            namespace = maker.namespace or item.namespace
            ports = maker.ports(item) if maker.ports is not None else None
            pod = Pod(namespace, labels, ports or (), made_by, ports_known=ports is not None, note=made_by)
            pods.append(pod)
            if maker.services:
                services.append(RuntimeService(namespace, "", labels, made_by, pods=pod))
    return RuntimeObjects(tuple(services), tuple(pods))


def _cluster_services(items: list[PlatformObject], cluster: ClusterEndpoints) -> Iterator[RuntimeService]:
    namespace, name, labels = API_SERVER_SERVICE
    yield RuntimeService(
        namespace,
        name,
        labels,
        "the API server keeps Service default/kubernetes in every cluster",
        (ServicePort("https", 443, cluster.api_server_port),),
        backend=cluster.api_server,
    )
    for flag in kubelet_service_flags(items):
        kubelet_namespace, _, kubelet_name = flag.partition("/")
        yield RuntimeService(
            kubelet_namespace,
            kubelet_name,
            KUBELET_LABELS,
            f"the Prometheus Operator keeps Service {flag} of every node's kubelet ({KUBELET_SERVICE_FLAG}{flag})",
            KUBELET_PORTS,
            backend=cluster.nodes,
        )


def kubelet_service_flags(items: Iterable[PlatformObject]) -> Iterator[str]:
    """`namespace/name` of each kubelet Service a Prometheus Operator Deployment of the platform keeps."""
    for item in items:
        if item.kind != "Deployment":
            continue
        spec = ((item.object.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            for arg in container.get("args") or []:
                if isinstance(arg, str) and arg.startswith(KUBELET_SERVICE_FLAG) and "/" in arg:
                    yield arg.removeprefix(KUBELET_SERVICE_FLAG)
