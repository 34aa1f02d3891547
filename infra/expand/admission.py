"""The `admission` stage: every pod template of the platform against the Pod Security level its namespace enforces,
with the containers Istio injects where injection is on.

Pod templates are those of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs
and CronJobs (their job template), of the stack and of every Application, and the pods an operator makes of a custom
resource where the platform models what the operator adds: KubeRay's RayCluster (infra/expand/ray_pods.py) and
KServe's InferenceService, its runtime merged in, with KServe's storage initializer and Knative's queue-proxy
(infra/expand/serving_pods.py; the runtimes are judged through the predictors that use them). Not judged: core
PodTemplates (never admitted as pods themselves) and the pod specs inside other custom resources (ECK's
Elasticsearch, Kibana, Beats and Logstash, a runtime no predictor uses, ...): their operators build the pods and
add to them at run time; one advisory per environment counts them.

A namespace's level is its `pod-security.kubernetes.io/enforce` label at `enforce-version` (`latest`, or a version
newer than the cluster's, means the cluster's), read from the Namespace the platform creates. Kubeflow team
namespaces are created by the Kubeflow profile controller from each Profile: their labels are modelled as that
controller applies them (`istio-injection: enabled`, then its `namespace-labels.yaml` ConfigMap, which adds each
label the namespace lacks and removes those given an empty value). A namespace the platform does not create, or one
without an enforce label, is judged at the cluster's default level, `privileged` (the platform configures no
admission defaults); an advisory says which pods that leaves unchecked.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from infra.expand import pod_security
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.ray_pods import ray_cluster_pods
from infra.expand.scope import group_of
from infra.expand.serving_pods import ServingModel
from infra.expand.sidecar import INJECTOR_WEBHOOK_SUFFIX, Injector, SidecarModelError
from infra.offline.validate import Finding

STAGE = "admission"
CLUSTER_DEFAULT_LEVEL = pod_security.PRIVILEGED
LABEL_PREFIX = "pod-security.kubernetes.io/"
NAME_LABEL = "kubernetes.io/metadata.name"
# Where each workload kind keeps the pod template its controller creates pods from.
POD_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}
PROFILE = ("kubeflow.org", "Profile")
# What the Kubeflow profile controller (v1.10) puts on every team namespace before its configured labels.
PROFILE_CONTROLLER_LABELS = {"istio-injection": "enabled"}
PROFILE_LABELS_KEY = "namespace-labels.yaml"
_CONTAINER = re.compile(r"(?:initContainers|containers|ephemeralContainers)\[([^\]]*)\]")


@dataclass(frozen=True)
class NamespacePolicy:
    name: str
    labels_json: str
    level: str
    version: int
    source: str
    """Who creates the namespace, as the findings say it."""
    defaulted: bool = False
    """Judged at the cluster's default level (not created by the platform, or no enforce label)."""
    problems: tuple[str, ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        return json.loads(self.labels_json)

    def describe(self) -> str:
        return f"Pod Security {self.level} (v1.{self.version}) of namespace {self.name} ({self.source})"


def policy_from_labels(name: str, labels: Mapping[str, str], cluster_minor: int, source: str) -> NamespacePolicy:
    """The policy Pod Security admission enforces in a namespace with these labels (as admission parses them: an
    invalid level means restricted, an invalid version means latest, and both are reported)."""
    labels = {**labels, NAME_LABEL: name}
    problems = []
    level = labels.get(LABEL_PREFIX + "enforce")
    defaulted = level is None
    if level is None:
        level = CLUSTER_DEFAULT_LEVEL
    elif level not in pod_security.LEVELS:
        problems.append(f"label {LABEL_PREFIX}enforce={level!r} is not a level: admission enforces restricted")
        level = pod_security.RESTRICTED
    version = cluster_minor
    text = labels.get(LABEL_PREFIX + "enforce-version", "latest")
    if text != "latest":
        match = re.fullmatch(r"v1\.(0|[1-9][0-9]*)", text)
        if match is None:
            problems.append(f"label {LABEL_PREFIX}enforce-version={text!r} is not latest or v1.<minor>: latest applies")
        else:
            version = min(int(match.group(1)), cluster_minor)
    return NamespacePolicy(name, json.dumps(labels, sort_keys=True), level, version, source, defaulted, tuple(problems))


def profile_namespace_labels(objects: Iterable[PlatformObject]) -> dict[str, str] | None:
    """The labels the Kubeflow profile controller gives each team namespace, from its `namespace-labels.yaml`
    ConfigMap among `objects`; None when the platform applies no such ConfigMap. ValueError when it applies
    several or the file is not a map of labels."""
    found = [o for o in objects if o.kind == "ConfigMap" and PROFILE_LABELS_KEY in (o.object.get("data") or {})]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"several ConfigMaps hold {PROFILE_LABELS_KEY}: " + ", ".join(o.ref for o in found))
    try:
        configured = yaml.safe_load(found[0].object["data"][PROFILE_LABELS_KEY]) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{found[0].ref}: data.{PROFILE_LABELS_KEY} is not YAML: {error}") from None
    if not isinstance(configured, dict):
        raise ValueError(f"{found[0].ref}: data.{PROFILE_LABELS_KEY} is not a map of labels")
    labels = dict(PROFILE_CONTROLLER_LABELS)
    for key, value in configured.items():
        if value in (None, ""):
            labels.pop(str(key), None)
        else:
            labels.setdefault(str(key), str(value))
    return labels


def namespace_policies(
    objects: Sequence[PlatformObject], cluster_minor: int
) -> tuple[dict[str, NamespacePolicy], list[Finding]]:
    """The policy of every namespace the platform creates (Namespaces, and Kubeflow Profiles' team namespaces)."""
    policies: dict[str, NamespacePolicy] = {}
    findings: list[Finding] = []
    profiles = []
    for item in objects:
        key = (group_of(str(item.object.get("apiVersion", ""))), item.kind)
        if key == ("", "Namespace"):
            source = "created by the stack" if item.owner == STACK else f"created by Application {item.owner}"
            labels = {str(k): str(v) for k, v in ((item.object.get("metadata") or {}).get("labels") or {}).items()}
            policies[item.name] = policy_from_labels(item.name, labels, cluster_minor, source)
        elif key == PROFILE:
            profiles.append(item)
    if profiles:
        try:
            team_labels = profile_namespace_labels(objects)
        except ValueError as error:
            team_labels = None
            findings.append(Finding(STAGE, profiles[0].ref, f"metadata.labels: {error}"))
        for profile in profiles:
            if profile.name in policies:
                continue
            if team_labels is None:
                findings.append(
                    Finding(
                        STAGE,
                        profile.ref,
                        f"metadata.name: the team namespace {profile.name} is created by the Kubeflow profile "
                        f"controller, but the platform applies no {PROFILE_LABELS_KEY} ConfigMap that says its labels",
                    )
                )
                continue
            source = f"created by the Kubeflow profile controller for Profile {profile.name}"
            policies[profile.name] = policy_from_labels(profile.name, team_labels, cluster_minor, source)
    return policies, findings


def pod_template(obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(path of the pod template inside the object, ending in a dot or empty; the template) of a workload."""
    path = POD_TEMPLATES.get((group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind"))))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    return "".join(f"{key}." for key in path), node


RAY_CLUSTER = ("ray.io", "RayCluster")
INFERENCE_SERVICE = ("serving.kserve.io", "InferenceService")


def pod_templates(item: PlatformObject, serving: ServingModel) -> list[tuple[str, Mapping[str, Any]]] | str:
    """(path, template) of each pod template a workload, or a custom resource whose operator's pods are modelled,
    makes pods from (with what the operator adds); for a custom resource that is not modelled, why."""
    found = pod_template(item.object)
    if found is not None:
        return [found]
    kind = (group_of(str(item.object.get("apiVersion", ""))), item.kind)
    spec = item.object.get("spec")
    if kind == RAY_CLUSTER and isinstance(spec, Mapping):
        return [(f"{pods.path}.", pods.template) for pods in ray_cluster_pods(spec)]
    if kind == INFERENCE_SERVICE:
        pod = serving.predictor_pod(item.object, item.namespace or "default")
        return pod if isinstance(pod, str) else [("spec.predictor.", pod)]
    return []


@lru_cache(maxsize=4096)
def _judged(pod_json: str, level: str, version: int, at: str) -> tuple[pod_security.Violation, ...]:
    return tuple(pod_security.violations(json.loads(pod_json), level, version, at))


@lru_cache(maxsize=4096)
def _injected(injector: Injector, pod_json: str, namespace: str, labels_json: str) -> tuple[str, frozenset[str]]:
    """The pod as `injector` leaves it (unchanged when it does not inject it) and the containers it added."""
    pod = json.loads(pod_json)
    if not injector.injects(namespace, json.loads(labels_json), pod):
        return pod_json, frozenset()
    injected = injector.inject(pod)
    return json.dumps(injected.pod, sort_keys=True), injected.containers


def admission_findings(platform: Platform) -> tuple[list[Finding], int]:
    return judge(platform.objects, platform.env.kubernetes_version)


def judge(objects: Sequence[PlatformObject], kubernetes_version: str) -> tuple[list[Finding], int]:
    """Findings for every pod template of `objects` that its namespace's Pod Security level refuses, and how many
    pod templates were judged."""
    cluster_minor = int(kubernetes_version.split(".")[1])
    policies, findings = namespace_policies(objects, cluster_minor)
    try:
        injectors = Injector.find((o.object for o in objects), kubernetes_version)
    except SidecarModelError as error:
        injectors = []
        webhooks = [
            o.ref
            for o in objects
            if o.kind == "MutatingWebhookConfiguration"
            and any(str(h.get("name", "")).endswith(INJECTOR_WEBHOOK_SUFFIX) for h in o.object.get("webhooks") or ())
        ]
        findings.append(Finding(STAGE, webhooks[0] if webhooks else "sidecar injection", f"webhooks: {error}"))
    config_maps = {f"{o.namespace}/{o.name}": o.ref for o in objects if o.kind == "ConfigMap"}
    findings += [
        Finding(STAGE, config_maps.get(i.config_map, i.config_map), f"data.config.templates: {line}")
        for i in injectors
        for line in i.drift()
    ]
    reported: set[str] = set()
    unchecked: dict[str, list[PlatformObject]] = defaultdict(list)
    judged = 0
    serving = ServingModel.of(objects)
    modelled: set[str] = set()
    for item in objects:
        templates = pod_templates(item, serving)
        if isinstance(templates, str) or not templates:
            continue
        if group_of(str(item.object.get("apiVersion", ""))) not in ("", "apps", "batch"):
            modelled.add(item.ref)
        namespace = item.namespace or "default"
        policy = policies.get(namespace) or policy_from_labels(
            namespace, {}, cluster_minor, "not created by the platform"
        )
        if policy.name not in reported:
            reported.add(policy.name)
            findings += [Finding(STAGE, f"Namespace {policy.name}", problem) for problem in policy.problems]
        for at, template in templates:
            if policy.defaulted:
                unchecked[namespace].append(item)
            judged += 1
            pod_json = json.dumps(template, sort_keys=True)
            added: frozenset[str] = frozenset()
            try:
                for injector in injectors:
                    pod_json, added = _injected(injector, pod_json, namespace, policy.labels_json)
                    if added:
                        break
            except SidecarModelError as error:
                findings.append(Finding(STAGE, item.ref, f"{at}metadata.annotations: {error}"))
                continue
            try:
                violations = _judged(pod_json, policy.level, policy.version, at)
            except pod_security.UnmodelledVersion as error:
                findings.append(Finding(STAGE, item.ref, f"metadata.namespace: {policy.describe()}: {error}"))
                continue
            findings += [_finding(item, violation, policy, added) for violation in violations]
    findings += [_default_advisory(namespace, items, policies) for namespace, items in sorted(unchecked.items())]
    skipped = _custom_pod_specs(o for o in objects if o.ref not in modelled and not serving.judged_in_use(o))
    if skipped:
        findings.append(
            Finding(
                STAGE,
                "custom resources",
                "pod specs inside custom resources are not judged (their operators build the pods at run time): "
                + ", ".join(f"{count} {kind}" for kind, count in sorted(skipped.items())),
                "advisory",
            )
        )
    return findings, judged


def _finding(
    item: PlatformObject, violation: pod_security.Violation, policy: NamespacePolicy, added: frozenset[str]
) -> Finding:
    container = _CONTAINER.search(violation.path)
    note = ""
    if container is not None and container.group(1) in added:
        note = (
            f"; {container.group(1)} is added by Istio's sidecar injection, with the securityContext that the "
            "istiod values (ConfigMap istio-sidecar-injector: global.proxy.*, pilot.cni.enabled) give it"
        )
    return Finding(STAGE, item.ref, f"{violation.path}: {violation.message}: refused by {policy.describe()}{note}")


def _default_advisory(namespace: str, items: list[PlatformObject], policies: Mapping[str, NamespacePolicy]) -> Finding:
    why = (
        "has no pod-security.kubernetes.io/enforce label" if namespace in policies else "is not created by the platform"
    )
    owners = sorted({item.owner for item in items})
    return Finding(
        STAGE,
        f"Namespace {namespace}",
        f"metadata.labels: {namespace} {why}, so its {len(items)} pod template(s) (of "
        + ", ".join("the stack" if owner == STACK else owner for owner in owners)
        + f") are judged at the cluster's default Pod Security level, {CLUSTER_DEFAULT_LEVEL}, which refuses nothing: "
        "their security contexts are not checked here",
        "advisory",
    )


def _custom_pod_specs(objects: Iterable[PlatformObject]) -> dict[str, int]:
    """Custom resources (by kind) that embed a pod spec: somewhere a `containers` list of named containers, or a
    KServe predictor."""
    counts: dict[str, int] = defaultdict(int)
    for item in objects:
        group = group_of(str(item.object.get("apiVersion", "")))
        # An Argo CD Application's spec holds chart values, whose pods the expansion renders and judges.
        custom = "." in group and not group.endswith(".k8s.io") and group != "argoproj.io"
        if custom and item.kind != "CustomResourceDefinition" and _has_containers(item.object.get("spec")):
            counts[item.kind] += 1
    return dict(counts)


def _has_containers(node: Any) -> bool:
    if isinstance(node, Mapping):
        containers = node.get("containers")
        if isinstance(containers, list) and any(isinstance(c, Mapping) and "name" in c for c in containers):
            return True
        if isinstance(node.get("predictor"), Mapping):  # KServe: the predictor is a pod spec with a model
            return True
        return any(_has_containers(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_containers(value) for value in node)
    return False
