"""What the platform's pods request: every pod template of the stack and of what its Applications apply.

Replicas are counted (the minimum of the HorizontalPodAutoscaler or KEDA ScaledObject that scales a workload, when
one does); a DaemonSet's pods are counted per node by the capacity model. The pods operators make from the
platform's custom resources are counted where the resource says what they request: ECK's Elasticsearch, Kibana,
Logstash and Beats (their pod templates), the Prometheus Operator's Prometheus and Alertmanager, CloudNativePG's
Cluster, MinIO's Tenant, KServe's InferenceService (its predictor with its runtime merged in and KServe's storage
initializer: infra/expand/serving_pods.py) and KubeRay's RayCluster (its head and workers with what KubeRay adds:
infra/expand/ray_pods.py); the others are listed as not counted. Istio's proxy is added
to every pod its injector injects (unless the pod declares an `istio-proxy` container itself, as gateways do), with
what the istiod values or the pod's annotations give it. Jobs and CronJobs run to completion and are not counted.

A pod's request is what the scheduler counts: its containers and restartable (sidecar) init containers together, or
its largest init container with the sidecars started before it, whichever is more; a container that sets only a
limit requests its limit, as the API server defaults it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra.config.syntax import FormatError
from infra.config.syntax.quantities import quantity
from infra.expand.platform import PlatformObject
from infra.expand.ray_pods import ray_cluster_pods
from infra.expand.scope import group_of
from infra.expand.serving_pods import ServingModel

GPU = "nvidia.com/gpu"
ZERO = Decimal(0)
PROXY = "istio-proxy"


class CapacityError(Exception):
    """A resource quantity the platform writes is not one Kubernetes reads."""


# --- amounts of resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """CPU (cores), memory (bytes), GPUs and ephemeral storage (bytes)."""

    cpu: Decimal = ZERO
    memory: Decimal = ZERO
    gpu: Decimal = ZERO
    ephemeral: Decimal = ZERO

    NAMES = {"cpu": "cpu", "memory": "memory", GPU: "gpu", "ephemeral-storage": "ephemeral"}

    @classmethod
    def of(cls, values: Any, where: str) -> Resources:
        """A container's `requests` or `limits`; CapacityError naming `where` for a quantity Kubernetes refuses."""
        if not isinstance(values, Mapping):
            return cls()
        amounts = {}
        for name, attribute in cls.NAMES.items():
            if name in values and values[name] is not None:
                try:
                    amounts[attribute] = quantity(str(values[name]))
                except FormatError as error:
                    raise CapacityError(f"{where}.{name}: {values[name]!r} {error}") from None
        return cls(**amounts)

    def fields(self) -> dict[str, Decimal]:
        return {attribute: getattr(self, attribute) for attribute in self.NAMES.values()}

    def __add__(self, other: Resources) -> Resources:
        return Resources(**{k: v + getattr(other, k) for k, v in self.fields().items()})

    def __sub__(self, other: Resources) -> Resources:
        return Resources(**{k: v - getattr(other, k) for k, v in self.fields().items()})

    def times(self, count: int) -> Resources:
        return Resources(**{k: v * count for k, v in self.fields().items()})

    def most(self, other: Resources) -> Resources:
        return Resources(**{k: max(v, getattr(other, k)) for k, v in self.fields().items()})

    def filled_from(self, limits: Resources, named: Iterable[str]) -> Resources:
        """Requests where a container sets only a limit take the limit (as the API server defaults them)."""
        return Resources(
            **{k: (getattr(limits, k) if k in named else v) for k, v in self.fields().items()},
        )

    def any(self) -> bool:
        return any(self.fields().values())


def show(attribute: str, amount: Decimal) -> str:
    if attribute in ("memory", "ephemeral"):
        return f"{amount / 2**30:.1f} GiB"
    if attribute == "cpu":
        return f"{amount:.2f} CPU"
    return f"{amount:.0f} GPU"


def describe(amounts: Resources, attributes: Sequence[str] = ("cpu", "memory", "gpu")) -> str:
    return ", ".join(show(a, getattr(amounts, a)) for a in attributes if a != "gpu" or getattr(amounts, a))


# --- what pods request ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pods:
    """The pods of one template: `count` of them (per node, for a DaemonSet), each requesting `requests`."""

    owner: str
    ref: str
    where: str
    """Path of the pod spec inside the object."""
    count: int
    daemon: bool
    requests: Resources
    limits: Resources
    spec: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> Resources:
        return self.requests.times(self.count)

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.count} x)" if self.count != 1 else self.ref


def container_resources(
    containers: Iterable[Mapping[str, Any]], where: str
) -> Iterator[tuple[Mapping[str, Any], Resources, Resources]]:
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping):
            continue
        resources = container.get("resources") or {}
        at = f"{where}[{container.get('name', index)}].resources"
        limits = Resources.of(resources.get("limits"), f"{at}.limits")
        requested = resources.get("requests") or {}
        named = [
            attribute
            for name, attribute in Resources.NAMES.items()
            if name not in requested and name in (resources.get("limits") or {})
        ]
        yield container, Resources.of(requested, f"{at}.requests").filled_from(limits, named), limits


def pod_requests(spec: Mapping[str, Any], where: str, extra: Resources = Resources()) -> tuple[Resources, Resources]:
    """(requests, limits) of one pod as the scheduler counts them: its containers and restartable (sidecar) init
    containers together, or an init container with the sidecars started before it, whichever is more."""
    requests, limits = extra, extra
    for _, request, limit in container_resources(spec.get("containers") or (), f"{where}.containers"):
        requests, limits = requests + request, limits + limit
    sidecars, largest_init = Resources(), Resources()
    for container, request, limit in container_resources(spec.get("initContainers") or (), f"{where}.initContainers"):
        if container.get("restartPolicy") == "Always":
            sidecars, requests, limits = sidecars + request, requests + request, limits + limit
        else:
            largest_init = largest_init.most(sidecars + request)
    return requests.most(largest_init), limits


@dataclass(frozen=True)
class _Template:
    where: str
    """Path of the pod spec inside the object (of the resources setting, for operators that take one)."""
    template: Mapping[str, Any]
    """A pod template (metadata, spec), or a pod."""
    count: int
    daemon: bool = False
    note: str = ""


POD_TEMPLATES = {
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("", "ReplicationController"): ("spec", "template"),
}
ECK_COUNTED = {
    ("kibana.k8s.elastic.co", "Kibana"),
    ("logstash.k8s.elastic.co", "Logstash"),
    ("apm.k8s.elastic.co", "ApmServer"),
    ("enterprisesearch.k8s.elastic.co", "EnterpriseSearch"),
    ("maps.k8s.elastic.co", "ElasticMapsServer"),
}
PROMETHEUS_OPERATOR = {("monitoring.coreos.com", "Prometheus"), ("monitoring.coreos.com", "Alertmanager")}
RUN_TO_COMPLETION = {("batch", "Job"), ("batch", "CronJob")}
ECK_DEFAULTS = "ECK gives containers without resources its own defaults, not counted here"
RELOADER = "the operator's config-reloader sidecar is not counted"
NOT_COUNTED_KINDS = {
    ("operator.knative.dev", "KnativeServing"): "the Knative operator's Serving deployments",
    ("operator.knative.dev", "KnativeEventing"): "the Knative operator's Eventing deployments",
    ("kubeflow.org", "Profile"): "the team's own workloads (notebooks, pipeline runs), bounded by its quota",
    ("serving.kserve.io", "ClusterServingRuntime"): "a runtime template: counted in the InferenceServices using it",
    ("serving.kserve.io", "ServingRuntime"): "a runtime template: counted in the InferenceServices using it",
}


def _count(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) and value >= 0 else default


def _synthetic(resources: Any, name: str, scheduling: Mapping[str, Any]) -> dict[str, Any]:
    """A pod for an operator whose resource gives the main container's resources and the scheduling."""
    pod = {key: scheduling[key] for key in ("nodeSelector", "affinity", "tolerations") if scheduling.get(key)}
    return {"metadata": {}, "spec": {**pod, "containers": [{"name": name, "resources": resources or {}}]}}


def _at(spec: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    node: Any = spec
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def templates(
    obj: Mapping[str, Any], serving: ServingModel | None = None, namespace: str = "default"
) -> list[_Template] | str | None:
    """The pod templates of a workload or custom resource (an InferenceService's as `serving` builds its predictor,
    in `namespace`); a reason when its pods are not counted; None when it makes no pods."""
    kind = (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind")))
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    if kind in POD_TEMPLATES:
        return [_Template("spec.template.spec", _at(spec, "template"), _count(spec.get("replicas")))]
    if kind == ("apps", "DaemonSet"):
        return [_Template("spec.template.spec", _at(spec, "template"), 1, daemon=True)]
    if kind == ("", "Pod"):
        return [_Template("spec", obj, 1)]
    if kind in RUN_TO_COMPLETION:
        return "runs to completion"
    if kind == ("elasticsearch.k8s.elastic.co", "Elasticsearch"):
        return [
            _Template(
                f"spec.nodeSets[{i}].podTemplate.spec", _at(s, "podTemplate"), _count(s.get("count")), note=ECK_DEFAULTS
            )
            for i, s in enumerate(spec.get("nodeSets") or ())
            if isinstance(s, Mapping)
        ]
    if kind in ECK_COUNTED:
        return [
            _Template("spec.podTemplate.spec", _at(spec, "podTemplate"), _count(spec.get("count")), note=ECK_DEFAULTS)
        ]
    if kind == ("beat.k8s.elastic.co", "Beat"):
        daemon = isinstance(spec.get("daemonSet"), Mapping)
        part = "daemonSet" if daemon else "deployment"
        count = 1 if daemon else _count(_at(spec, part).get("replicas"))
        return [
            _Template(f"spec.{part}.podTemplate.spec", _at(spec, f"{part}.podTemplate"), count, daemon, ECK_DEFAULTS)
        ]
    if kind in PROMETHEUS_OPERATOR:
        count = _count(spec.get("replicas")) * (_count(spec.get("shards")) if kind[1] == "Prometheus" else 1)
        return [
            _Template("spec.resources", _synthetic(spec.get("resources"), kind[1].lower(), spec), count, note=RELOADER)
        ]
    if kind == ("postgresql.cnpg.io", "Cluster"):
        affinity = _at(spec, "affinity")
        pod = _synthetic(spec.get("resources"), "postgres", affinity)
        return [_Template("spec.resources", pod, _count(spec.get("instances")))]
    if kind == ("minio.min.io", "Tenant"):
        return [
            _Template(
                f"spec.pools[{i}].resources", _synthetic(p.get("resources"), "minio", p), _count(p.get("servers"))
            )
            for i, p in enumerate(spec.get("pools") or ())
            if isinstance(p, Mapping)
        ]
    if kind == ("serving.kserve.io", "InferenceService"):
        predictor = _at(spec, "predictor")
        low = _count(predictor.get("minReplicas"))
        notes = [f"scales {low}..{predictor['maxReplicas']}"] if "maxReplicas" in predictor else []
        built = serving.predictor_pod(obj, namespace) if serving is not None else "no runtimes given"
        if isinstance(built, str):  # not modelled: the predictor's own fields, the model as its container
            notes.append(f"{built}: its own fields only, without what KServe and Knative add")
            model = predictor.get("model") if isinstance(predictor.get("model"), Mapping) else None
            containers = [model] if model else predictor.get("containers")
            built = {"metadata": {}, "spec": {**predictor, "containers": containers}}
        return [_Template("spec.predictor", built, low, note="; ".join(notes))]
    if kind == ("ray.io", "RayCluster"):
        return [
            _Template(f"{pods.path}.spec", pods.template, pods.count, note=pods.note) for pods in ray_cluster_pods(spec)
        ]
    if kind in NOT_COUNTED_KINDS:
        return NOT_COUNTED_KINDS[kind]
    if "." in kind[0] and not kind[0].endswith(".k8s.io") and _has_containers(spec):
        return f"the pods its operator makes ({kind[1]} is not modelled here)"
    return None


def _has_containers(node: Any) -> bool:
    if isinstance(node, Mapping):
        containers = node.get("containers")
        if isinstance(containers, list) and any(isinstance(c, Mapping) and "name" in c for c in containers):
            return True
        return any(_has_containers(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_containers(value) for value in node)
    return False


@dataclass
class Counted:
    pods: list[Pods]
    not_counted: list[tuple[str, str, str]]
    """(object ref, kind, why) of what makes pods that are not counted."""
    problems: list[tuple[str, str]]
    """(object ref, message naming the field) of quantities Kubernetes would refuse."""


def platform_pods(objects: Sequence[PlatformObject], kubernetes_version: str) -> Counted:
    """The pods of every object of the platform."""
    counted = Counted([], [], [])
    scalers = _autoscalers(objects)
    proxies = _ProxyModel(objects, kubernetes_version)
    if proxies.problem:
        counted.not_counted.append(("Istio's proxies", PROXY, proxies.problem))
    serving = ServingModel.of(objects)
    for item in objects:
        found = templates(item.object, serving, item.namespace or "default")
        if found is None:
            continue
        if isinstance(found, str):
            counted.not_counted.append((item.ref, item.kind, found))
            continue
        for template in found:
            try:
                counted.pods.append(_pods(item, template, scalers, proxies))
            except CapacityError as error:
                counted.problems.append((item.ref, str(error)))
    return counted


def _pods(
    item: PlatformObject,
    template: _Template,
    scalers: Mapping[tuple[str, str, str], tuple[int, int, str]],
    proxies: _ProxyModel,
) -> Pods:
    spec = template.template.get("spec") if isinstance(template.template.get("spec"), Mapping) else {}
    where = template.where
    notes = [template.note] if template.note else []
    proxy = proxies.requests(item.namespace, template.template)
    if proxy is not None:
        notes.append("with Istio's proxy")
    requests, limits = pod_requests(spec, where, proxy[0] if proxy else Resources())
    if proxy is not None:
        limits = limits - proxy[0] + proxy[1]
    count = template.count
    scaler = scalers.get((item.namespace, item.kind, item.name))
    if scaler is not None and not template.daemon:
        low, high, name = scaler
        count = low
        notes.append(f"{name} scales it {low}..{high}")
    return Pods(item.owner, item.ref, where, count, template.daemon, requests, limits, spec, tuple(notes))


def _autoscalers(objects: Iterable[PlatformObject]) -> dict[tuple[str, str, str], tuple[int, int, str]]:
    """(namespace, kind, name) of each scaled workload -> (min, max, the scaler)."""
    found = {}
    for item in objects:
        spec = item.object.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        key = (group_of(str(item.object.get("apiVersion", ""))), item.kind)
        if key == ("autoscaling", "HorizontalPodAutoscaler"):
            low, high = _count(spec.get("minReplicas")), _count(spec.get("maxReplicas"))
        elif key == ("keda.sh", "ScaledObject"):
            low, high = _count(spec.get("minReplicaCount"), 0), _count(spec.get("maxReplicaCount"), 100)
        else:
            continue
        kind = str(target.get("kind") or "Deployment")
        found[(item.namespace, kind, str(target.get("name")))] = (low, high, f"{item.kind} {item.name}")
    return found


class _ProxyModel:
    """Which pods Istio injects, and what its proxy requests (the istiod values, or the pod's annotations)."""

    ANNOTATIONS = {
        ("requests", "cpu"): "sidecar.istio.io/proxyCPU",
        ("requests", "memory"): "sidecar.istio.io/proxyMemory",
        ("limits", "cpu"): "sidecar.istio.io/proxyCPULimit",
        ("limits", "memory"): "sidecar.istio.io/proxyMemoryLimit",
    }

    def __init__(self, objects: Sequence[PlatformObject], kubernetes_version: str) -> None:
        from infra.expand.admission import namespace_policies
        from infra.expand.sidecar import Injector, SidecarModelError

        self.problem = ""
        try:
            self.injectors = Injector.find((o.object for o in objects), kubernetes_version)
        except SidecarModelError as error:
            self.injectors, self.problem = [], str(error)
        policies, _ = namespace_policies(objects, int(kubernetes_version.split(".")[1])) if self.injectors else ({}, [])
        self.labels = {name: policy.labels for name, policy in policies.items()}

    def requests(self, namespace: str, template: Mapping[str, Any]) -> tuple[Resources, Resources] | None:
        """(requests, limits) of the proxy injected into pods of `template`; None when none is added (not injected,
        or the pod declares the proxy container itself, with its own resources, as Istio's gateways do)."""
        spec = template.get("spec")
        if not self.injectors or not isinstance(spec, Mapping):
            return None
        declared = [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]
        if any(isinstance(c, Mapping) and c.get("name") == PROXY for c in declared):
            return None
        namespace = namespace or "default"
        for injector in self.injectors:
            if injector.injects(namespace, self.labels.get(namespace, {}), template):
                proxy = injector.value("global", "proxy", "resources", default={}) or {}
                annotations = (template.get("metadata") or {}).get("annotations") or {}
                amounts = {"requests": dict(proxy.get("requests") or {}), "limits": dict(proxy.get("limits") or {})}
                for (part, name), annotation in self.ANNOTATIONS.items():
                    if annotation in annotations:
                        amounts[part][name] = annotations[annotation]
                where = f"istio-proxy of {injector.config_map}"
                return Resources.of(amounts["requests"], where), Resources.of(amounts["limits"], where)
        return None
