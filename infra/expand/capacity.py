"""Capacity: what the platform's pods request (infra/expand/pods.py), beside what the environment's nodes can
allocate at their largest.

The nodes are the GKE node pools at their maximum size (`maxNodes` per zone, in the region's three zones: GKE's
default for a regional cluster) with what their machine type can allocate (infra/expand/machines.py), or the on-prem
nodes the stack file describes (`onprem.nodes`); without those, on-prem capacity is unknown and stated so. Where a
pod may run is read from its nodeSelector, required node affinity and tolerations against each node group's labels
and taints (GKE's own node labels, the pool's role and labels; GPU pools carry the `nvidia.com/gpu` taint); a
DaemonSet counts once per node it may run on.

The platform fits when, for every set of node groups, the pods that can only run on that set request no more than
the set allocates after its DaemonSets (per resource: a necessary condition for any placement), and when every pod
fits on one node it may run on. The teams' quotas are set beside the headroom that remains.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.config import Environment
from infra.config.syntax.quantities import quantity
from infra.expand.machines import SOURCE as MACHINES
from infra.expand.machines import gke_allocatable_cpu, gke_allocatable_memory, machine
from infra.expand.platform import PlatformObject
from infra.expand.pods import ZERO, Pods, Resources, describe, platform_pods, show
from infra.offline.validate import Finding
from infra.platform.labels import GPU_TAINT_KEY, POOL_ROLE_LABEL

STAGE = "capacity"
ZONES = 3
"""Zones a regional GKE cluster's node pools span when no node locations are set (GKE's default)."""
LARGEST_SHOWN = 5
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


# --- nodes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeGroup:
    """Identical nodes: a GKE node pool at its maximum size, or a group of on-prem nodes."""

    name: str
    where: str
    """The stack file's setting that makes it, e.g. `gke.nodePools[1]`."""
    machine: str
    nodes: int
    allocatable: Resources | None
    """Per node; None when the machine type is unknown."""
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    ephemeral_known: bool = False
    size_setting: str = ""
    """The setting that bounds `nodes` (`maxNodes`, `count`)."""


def node_groups(env: Environment) -> tuple[list[NodeGroup], list[Finding]]:
    """The environment's nodes at their largest; findings for what cannot be known (an unknown machine type)."""
    groups: list[NodeGroup] = []
    findings: list[Finding] = []
    if env.gke is not None:
        for index, pool in enumerate(env.gke.node_pools):
            where = f"gke.nodePools[{index}]"
            shape = machine(pool.machine_type)
            if shape is None:
                findings.append(
                    Finding(
                        STAGE,
                        f"node pool {pool.name}",
                        f"{where}.machineType: {pool.machine_type} is not in the machine table of {MACHINES}, so "
                        "what the pool can allocate is unknown; add its vCPUs, memory and GPUs there",
                    )
                )
            gpus = pool.gpu.count if pool.gpu is not None else (shape.gpus if shape else 0)
            allocatable = (
                Resources(gke_allocatable_cpu(shape.vcpus), gke_allocatable_memory(shape.memory_gib), Decimal(gpus))
                if shape is not None
                else None
            )
            labels = {
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "cloud.google.com/gke-nodepool": pool.name,
                "node.kubernetes.io/instance-type": pool.machine_type,
                POOL_ROLE_LABEL: pool.role,
                **({"cloud.google.com/gke-spot": "true"} if pool.spot else {}),
                **({"cloud.google.com/gke-accelerator": pool.gpu.type} if pool.gpu is not None else {}),
                **pool.labels,
            }
            taints = tuple(Taint(t.key, t.value, t.effect) for t in pool.taints)
            if pool.gpu is not None:
                taints += (Taint(GPU_TAINT_KEY, "present", "NoSchedule"),)
            groups.append(
                NodeGroup(
                    pool.name,
                    where,
                    pool.machine_type,
                    pool.max_nodes * ZONES,
                    allocatable,
                    labels,
                    taints,
                    size_setting=f"{where}.maxNodes",
                )
            )
    elif env.onprem is not None:
        for index, nodes in enumerate(env.onprem.nodes):
            where = f"onprem.nodes[{index}]"
            ephemeral = nodes.ephemeral_storage
            allocatable = Resources(
                quantity(nodes.cpu),
                quantity(nodes.memory),
                Decimal(nodes.gpu),
                quantity(ephemeral) if ephemeral else ZERO,
            )
            groups.append(
                NodeGroup(
                    nodes.name,
                    where,
                    f"{nodes.cpu} CPU, {nodes.memory}" + (f", {nodes.gpu} GPU" if nodes.gpu else ""),
                    nodes.count,
                    allocatable,
                    {"kubernetes.io/os": "linux", **nodes.labels},
                    tuple(Taint(t.key, t.value, t.effect) for t in nodes.taints),
                    ephemeral_known=ephemeral is not None,
                    size_setting=f"{where}.count",
                )
            )
    return groups, findings


# --- where a pod may run -----------------------------------------------------------------------------------


def _requirement_holds(requirement: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = str(requirement.get("key")), requirement.get("operator")
    values = [str(v) for v in requirement.get("values") or ()]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            number, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _term_holds(term: Mapping[str, Any], group: NodeGroup) -> bool:
    # matchFields can only name a node (metadata.name): any node of the group may be that one.
    return all(_requirement_holds(r, group.labels) for r in term.get("matchExpressions") or ())


def _tolerated(taint: Taint, tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect")
        if effect and effect != taint.effect:
            continue
        key, operator = toleration.get("key"), toleration.get("operator") or "Equal"
        if not key:
            if operator == "Exists":
                return True
            continue
        if key == taint.key and (operator == "Exists" or str(toleration.get("value") or "") == taint.value):
            return True
    return False


def may_run_on(spec: Mapping[str, Any], requests: Resources, group: NodeGroup) -> bool:
    """Whether the scheduler may place a pod of `spec` (requesting `requests`) on a node of `group`."""
    selector = spec.get("nodeSelector") or {}
    if any(group.labels.get(str(key)) != str(value) for key, value in selector.items()):
        return False
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        or {}
    ).get("nodeSelectorTerms")
    if required and not any(_term_holds(term, group) for term in required):
        return False
    tolerations = spec.get("tolerations") or ()
    if any(t.effect in BLOCKING_EFFECTS and not _tolerated(t, tolerations) for t in group.taints):
        return False
    return not (requests.gpu and group.allocatable is not None and not group.allocatable.gpu)


# --- the whole environment ----------------------------------------------------------------------------------


@dataclass
class Capacity:
    stack: str
    groups: list[NodeGroup]
    pods: list[Pods]
    not_counted: list[tuple[str, str, str]] = field(default_factory=list)
    """(object ref, kind, why) of what makes pods that are not counted."""
    quotas: list[tuple[str, str, Resources]] = field(default_factory=list)
    """(team, setting, quota) of every Kubeflow team."""
    findings: list[Finding] = field(default_factory=list)
    unknown: str = ""
    """Why the nodes' capacity is unknown (on-prem without `onprem.nodes`)."""

    @property
    def daemons(self) -> list[Pods]:
        return [p for p in self.pods if p.daemon]

    @property
    def workloads(self) -> list[Pods]:
        return [p for p in self.pods if not p.daemon]

    def daemon_load(self, group: NodeGroup) -> Resources:
        """What the DaemonSets that run on each node of `group` request there."""
        total = Resources()
        for pods in self.daemons:
            if may_run_on(pods.spec, pods.requests, group):
                total += pods.requests
        return total

    def daemon_nodes(self, pods: Pods) -> int:
        return sum(g.nodes for g in self.groups if may_run_on(pods.spec, pods.requests, g))

    def counted(self, pods: Pods) -> int:
        """How many pods of `pods` run: a DaemonSet's per node it can run on (at the nodes' largest)."""
        return pods.count * self.daemon_nodes(pods) if pods.daemon else pods.count

    def requests(self) -> Resources:
        total = Resources()
        for pods in self.pods:
            total += pods.requests.times(self.counted(pods))
        return total

    def limits(self) -> Resources:
        total = Resources()
        for pods in self.pods:
            total += pods.limits.times(self.counted(pods))
        return total

    def allocatable(self) -> Resources | None:
        if not self.groups or any(g.allocatable is None for g in self.groups):
            return None
        total = Resources()
        for group in self.groups:
            assert group.allocatable is not None
            total += group.allocatable.times(group.nodes)
        return total

    def headroom(self) -> Resources | None:
        allocatable = self.allocatable()
        return None if allocatable is None else allocatable - self.requests()

    def eligible(self, pods: Pods) -> tuple[NodeGroup, ...]:
        return tuple(g for g in self.groups if may_run_on(pods.spec, pods.requests, g))

    def largest(self, attribute: str, among: Iterable[Pods] | None = None) -> list[tuple[Pods, Decimal]]:
        ranked = [(p, getattr(p.requests, attribute) * self.counted(p)) for p in (among or self.pods)]
        ranked = [(p, amount) for p, amount in ranked if amount > 0]
        return sorted(ranked, key=lambda item: (-item[1], item[0].ref))[:LARGEST_SHOWN]

    def summary(self) -> dict[str, Any]:
        """Plain numbers, for the pull-request diff."""
        allocatable, headroom = self.allocatable(), self.headroom()
        return {
            "requests": _plain(self.requests()),
            "limits": _plain(self.limits()),
            "allocatable": _plain(allocatable) if allocatable is not None else None,
            "headroom": _plain(headroom) if headroom is not None else None,
            "pods": sum(self.counted(p) for p in self.pods),
            "nodes": sum(g.nodes for g in self.groups) if self.groups else None,
            "errors": sum(f.severity == "error" for f in self.findings),
        }


def _plain(amounts: Resources) -> dict[str, str]:
    return {k: str(v) for k, v in amounts.fields().items()}


def capacity_of(env: Environment, objects: Sequence[PlatformObject]) -> Capacity:
    """The capacity of an environment whose platform is `objects`."""
    groups, findings = node_groups(env)
    counted = platform_pods(objects, env.kubernetes_version)
    capacity = Capacity(env.name, groups, counted.pods, counted.not_counted, findings=findings)
    capacity.findings += [Finding(STAGE, ref, message) for ref, message in counted.problems]
    capacity.quotas = _quotas(env)
    capacity.findings += fit_findings(capacity)
    capacity.findings += quota_findings(capacity)
    if env.target == "onprem" and not groups:
        capacity.unknown = "onprem.nodes is not set"
        capacity.findings.append(
            Finding(
                STAGE,
                "nodes",
                f"onprem.nodes: not set, so the platform's requests ({describe(capacity.requests())}) are held "
                "against no capacity; describe the cluster's nodes there to have them checked",
                "advisory",
            )
        )
    return capacity


def _quotas(env: Environment) -> list[tuple[str, str, Resources]]:
    kubeflow = env.components.kubeflow
    if kubeflow is None or not kubeflow.enabled:
        return []
    return [
        (
            team.name,
            f"components.kubeflow.teams[{index}].quota",
            Resources(quantity(team.quota.cpu), quantity(team.quota.memory), Decimal(team.quota.gpu)),
        )
        for index, team in enumerate(kubeflow.teams)
    ]


# --- does it fit ------------------------------------------------------------------------------------------


FIT_ATTRIBUTES = ("cpu", "memory", "gpu", "ephemeral")


def fit_findings(capacity: Capacity) -> list[Finding]:
    if not capacity.groups or any(g.allocatable is None for g in capacity.groups):
        return []
    findings: list[Finding] = []
    free: dict[str, Resources] = {}
    for group in capacity.groups:
        assert group.allocatable is not None
        load = capacity.daemon_load(group)
        free[group.name] = group.allocatable - load
        over = [a for a in FIT_ATTRIBUTES if _judged(a, [group]) and getattr(load, a) > getattr(group.allocatable, a)]
        if over:
            daemons = [p for p in capacity.daemons if may_run_on(p.spec, p.requests, group)]
            findings.append(
                Finding(
                    STAGE,
                    f"node pool {group.name}",
                    f"{group.where}: the DaemonSets that run on each {group.machine} node request "
                    + _versus(load, group.allocatable, over)
                    + "; largest: "
                    + _consumers(capacity, over[0], daemons, per_pod=True),
                )
            )
    by_groups: dict[tuple[str, ...], list[Pods]] = defaultdict(list)
    for pods in capacity.workloads:
        if pods.count == 0:
            continue
        eligible = capacity.eligible(pods)
        if not eligible:
            findings.append(
                Finding(
                    STAGE,
                    f"{pods.owner}: {pods.ref.split(': ', 1)[-1]}",
                    f"{pods.where}: no node group lets its pods run there (nodeSelector, node affinity, tolerations "
                    f"against {', '.join(g.name for g in capacity.groups)}): {pods.count} pod(s) would stay Pending",
                )
            )
            continue
        by_groups[tuple(g.name for g in eligible)].append(pods)
        roomiest = [a for a in FIT_ATTRIBUTES if _judged(a, eligible)]
        too_big = [a for a in roomiest if all(getattr(pods.requests, a) > getattr(free[g.name], a) for g in eligible)]
        if too_big:
            findings.append(
                Finding(
                    STAGE,
                    pods.ref,
                    f"{pods.where}: each pod requests {describe(pods.requests, too_big)}, more than a node it may "
                    "run on has free after its DaemonSets ("
                    + "; ".join(f"{g.name}, {g.machine}: {describe(free[g.name], too_big)}" for g in eligible)
                    + "): it can never be scheduled",
                )
            )
    findings += _set_findings(capacity, by_groups, free)
    return findings


def _judged(attribute: str, groups: Iterable[NodeGroup]) -> bool:
    """Ephemeral storage is judged only where the node groups say what they allocate of it."""
    return attribute != "ephemeral" or all(g.ephemeral_known for g in groups)


def _set_findings(
    capacity: Capacity, by_groups: Mapping[tuple[str, ...], list[Pods]], free: Mapping[str, Resources]
) -> list[Finding]:
    """For every set of node groups, the pods that can only run there against what the set gives at its largest:
    the worst excess per resource is reported once."""
    groups = {g.name: g for g in capacity.groups}
    worst: dict[str, tuple[Decimal, tuple[str, ...], Resources, Resources, list[Pods]]] = {}
    for size in range(1, len(groups) + 1):
        for chosen in itertools.combinations(list(groups), size):
            inside = [p for names, pods in by_groups.items() if set(names) <= set(chosen) for p in pods]
            if not inside:
                continue
            demand = Resources()
            for pods in inside:
                demand += pods.total
            supply = Resources()
            for name in chosen:
                supply += free[name].times(groups[name].nodes)
            for attribute in FIT_ATTRIBUTES:
                if not _judged(attribute, (groups[n] for n in chosen)):
                    continue
                excess = getattr(demand, attribute) - getattr(supply, attribute)
                if excess > 0 and (attribute not in worst or excess > worst[attribute][0]):
                    worst[attribute] = (excess, chosen, demand, supply, inside)
    findings = []
    for attribute, (excess, chosen, demand, supply, inside) in sorted(worst.items()):
        pools = [groups[name] for name in chosen]
        names = ", ".join(chosen)
        shapes = ", ".join(f"{g.nodes} x {g.machine}" for g in pools)
        findings.append(
            Finding(
                STAGE,
                f"node pools {names}",
                f"{', '.join(g.size_setting for g in pools)}: the pods that can only run on {names} request "
                f"{show(attribute, getattr(demand, attribute))}, but at their largest ({shapes}) they allocate "
                f"{show(attribute, getattr(supply, attribute))} after their DaemonSets: short by "
                f"{show(attribute, excess)}; largest consumers: {_consumers(capacity, attribute, inside)}",
            )
        )
    return findings


def _versus(load: Resources, allocatable: Resources, attributes: Sequence[str]) -> str:
    return ", ".join(
        f"{show(a, getattr(load, a))} of the {show(a, getattr(allocatable, a))} it allocates" for a in attributes
    )


def _consumers(capacity: Capacity, attribute: str, among: Sequence[Pods], per_pod: bool = False) -> str:
    if per_pod:
        ranked = sorted(
            ((p, getattr(p.requests, attribute)) for p in among if getattr(p.requests, attribute) > 0),
            key=lambda item: (-item[1], item[0].ref),
        )[:LARGEST_SHOWN]
    else:
        ranked = capacity.largest(attribute, among)
    return ", ".join(f"{p.label} {show(attribute, amount)}" for p, amount in ranked) or "(none request any)"


def quota_findings(capacity: Capacity) -> list[Finding]:
    """Advisory: the teams' quotas together are more than the headroom the platform leaves."""
    headroom = capacity.headroom()
    if headroom is None or not capacity.quotas:
        return []
    total = Resources()
    for _, _, quota in capacity.quotas:
        total += quota
    over = [a for a in ("cpu", "memory", "gpu") if getattr(total, a) > max(getattr(headroom, a), ZERO)]
    if not over:
        return []
    return [
        Finding(
            STAGE,
            "Kubeflow teams",
            "components.kubeflow.teams[*].quota: the teams may request "
            + describe(total, over)
            + " together, but the nodes at their largest have "
            + describe(headroom, over)
            + " left after the platform: the teams cannot all use their quota at once",
            "advisory",
        )
    ]


# --- the check stage and the report -------------------------------------------------------------------------


def capacity_findings(platform: Any) -> tuple[list[Finding], int]:
    """The `capacity` stage of `check`: a Platform's requests against its nodes at their largest."""
    capacity = capacity_of(platform.env, platform.objects)
    return capacity.findings, len(capacity.pods)


def report(capacity: Capacity) -> str:
    """What `render` prints: the nodes, the platform's requests and limits, the headroom, the teams' quotas."""
    lines = ["  capacity (nodes at their largest; requests of every platform pod):"]
    for group in capacity.groups:
        allocatable = describe(group.allocatable) if group.allocatable is not None else "unknown machine type"
        lines.append(
            f"    {group.name}: {group.nodes} x {group.machine} ({group.size_setting}), each allocates {allocatable}; "
            f"DaemonSets take {describe(capacity.daemon_load(group))} of each"
        )
    if capacity.unknown:
        per_node = Resources()
        for pods in capacity.daemons:
            per_node += pods.requests
        lines.append(
            f"    nodes: unknown ({capacity.unknown}); DaemonSets request {describe(per_node)} on each node, not "
            "counted below"
        )
    requests, limits = capacity.requests(), capacity.limits()
    pods = sum(capacity.counted(p) for p in capacity.pods)
    lines.append(f"    requests: {describe(requests)} ({pods} pods); limits: {describe(limits)}")
    if requests.ephemeral:
        judged = bool(capacity.groups) and all(g.ephemeral_known for g in capacity.groups)
        lines.append(
            f"    ephemeral storage requested: {show('ephemeral', requests.ephemeral)}"
            + ("" if judged else " (what the nodes allocate of it is not known here: not checked)")
        )
    allocatable, headroom = capacity.allocatable(), capacity.headroom()
    if allocatable is not None and headroom is not None:
        lines.append(f"    allocatable: {describe(allocatable)}; headroom: {describe(headroom)}")
    for attribute in ("cpu", "memory"):
        lines.append(
            f"    most {attribute}: "
            + ", ".join(f"{p.label} {show(attribute, amount)}" for p, amount in capacity.largest(attribute))
        )
    idle = [p for p in capacity.pods if not p.requests.any()]
    if idle:
        lines.append(f"    {len(idle)} pod templates request nothing (best effort: evicted first under pressure)")
    for team, _, quota in capacity.quotas:
        lines.append(f"    team {team} quota: {describe(quota)}")
    if capacity.not_counted:
        kinds: dict[str, int] = defaultdict(int)
        for _, kind, why in capacity.not_counted:
            kinds[f"{kind}: {why}"] += 1
        lines.append("    not counted: " + "; ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    lines += [f"  - [capacity/{f.severity}] {f.object_ref}: {f.message}" for f in capacity.findings]
    return "\n".join(lines)
