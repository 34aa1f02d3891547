"""Whether the NetworkPolicies (and CiliumNetworkPolicies) of a platform let one endpoint reach another.

Kubernetes' rules, as the API documents them: a pod is isolated in a direction when some NetworkPolicy of its
namespace selects it (`podSelector`) with that direction in its `policyTypes` (absent: Ingress, plus Egress when
the policy has egress rules); an isolated pod accepts what at least one of those policies admits, a pod no policy
isolates accepts everything. A rule admits a peer when one of its `from`/`to` entries matches (none: any peer)
and one of its `ports` matches (none: any port). A peer entry with `namespaceSelector` and/or `podSelector`
matches pods (the policy's own namespace when there is no `namespaceSelector`); one with `ipBlock` matches
addresses in `cidr` outside every `except`. A named port is the destination pod's container port of that name
and protocol; `endPort` makes a range.

What is outside the pod network (the API server, the nodes, pods on the host network) is an `Outside`: which
addresses it may have, whether the CNI's CIDR rules see them at all (Cilium's do not see cluster nodes or the API
server), and the Cilium identities it carries. `ipBlock` is never taken to match a pod: Cilium (and GKE's
Dataplane V2, built on it) skip pod addresses in CIDR rules, so such a rule is not relied on.

CiliumNetworkPolicies add to this where they exist: `endpointSelector` picks the pods, a policy with rules in a
direction isolates them unless `enableDefaultDeny` says otherwise, and a rule admits by `fromEntities`/`toEntities`
or `fromEndpoints`/`toEndpoints`, on its `toPorts`. A rule with no peer admits nothing, as in Cilium; CIDR rules
admit none of the endpoints modelled here; deny rules (`ingressDeny`/`egressDeny`) refuse what they match.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of
from infra.expand.wiring.selectors import InvalidSelector, selects, validate
from infra.expand.wiring.workloads import Pod

Direction = Literal["ingress", "egress"]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace, whatever its manifest says."""
CILIUM_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
# Cilium's reserved identities that `cluster` covers besides every endpoint (docs: policy/language, Entities).
CILIUM_CLUSTER_ENTITIES = frozenset({"host", "remote-node", "kube-apiserver", "init", "health", "unmanaged", "ingress"})
ANY_ADDRESS = ipaddress.ip_network("0.0.0.0/0")


@dataclass(frozen=True)
class Port:
    """A destination port: its number (None: not known offline), protocol, and the name the destination gives it."""

    number: int | None
    protocol: str = "TCP"
    name: str = ""

    def __str__(self) -> str:
        number = "(port unknown offline)" if self.number is None else str(self.number)
        named = f" ({self.name})" if self.name else ""
        return f"{self.protocol} {number}{named}"


@dataclass(frozen=True)
class Outside:
    """An endpoint outside the pod network, as each kind of rule sees it."""

    description: str
    cidrs: tuple[ipaddress.IPv4Network, ...]
    """Addresses it may have: an ipBlock admits it when it covers all of them (0.0.0.0/0: not known)."""
    cidr_rules_apply: bool
    """False where the CNI's CIDR rules never match it (Cilium: cluster nodes and the API server)."""
    identities: tuple[frozenset[str], ...] = ()
    """Cilium: the identity labels it may carry (e.g. the API server seen from its own node or another); an
    entity rule admits it when each of these meets the rule's entities."""


Peer = Pod | Outside


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    selecting: tuple[str, ...]
    """The policies that select the pod with rules (or a default deny) in this direction (`Kind name`)."""

    def policies(self) -> str:
        return ", ".join(self.selecting) if self.selecting else "none"


@dataclass(frozen=True)
class PolicyProblem:
    policy: PlatformObject
    message: str


class NetworkPolicies:
    """The platform's policies, indexed by namespace, with the namespaces' labels."""

    def __init__(self, objects: Iterable[PlatformObject]) -> None:
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.kubernetes: dict[str, list[PlatformObject]] = defaultdict(list)
        self.cilium: dict[str, list[PlatformObject]] = defaultdict(list)
        self.problems: list[PolicyProblem] = []
        for item in objects:
            group = group_of(str(item.object.get("apiVersion", "")))
            if (group, item.kind) == ("", "Namespace"):
                labels = (item.object.get("metadata") or {}).get("labels") or {}
                self.namespace_labels[item.name] = {str(k): str(v) for k, v in labels.items()}
            elif (group, item.kind) == ("networking.k8s.io", "NetworkPolicy") and self._valid(item):
                self.kubernetes[item.namespace].append(item)
            elif (group, item.kind) == ("cilium.io", "CiliumNetworkPolicy") and self._valid(item):
                self.cilium[item.namespace].append(item)

    def labels_of_namespace(self, namespace: str) -> dict[str, str]:
        return {**self.namespace_labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}

    def ingress(self, pod: Pod, port: Port, source: Peer) -> Verdict:
        """Whether `source` may open a connection to `pod` on `port`, as `pod`'s namespace's policies say."""
        return self._verdict(pod, "ingress", port, source)

    def egress(self, pod: Pod, port: Port, destination: Peer) -> Verdict:
        """Whether `pod` may open a connection to `destination` on `port`, as `pod`'s namespace's policies say."""
        return self._verdict(pod, "egress", port, destination)

    # --- evaluation ----------------------------------------------------------------------------------------------

    def _verdict(self, pod: Pod, direction: Direction, port: Port, peer: Peer) -> Verdict:
        isolating: list[str] = []
        selecting: list[str] = []
        admitted = denied = False
        for policy in self.kubernetes.get(pod.namespace, ()):
            spec = policy.object.get("spec") or {}
            if direction.capitalize() not in policy_types(spec) or not selects(spec.get("podSelector"), pod.labels):
                continue
            isolating.append(f"NetworkPolicy {policy.name}")
            selecting.append(isolating[-1])
            rules = spec.get(direction) or []
            admitted |= any(self._rule_admits(rule, direction, policy.namespace, port, peer) for rule in rules)
        for policy in self.cilium.get(pod.namespace, ()):
            for spec in cilium_specs(policy.object):
                if not selects(_cilium_selector(spec.get("endpointSelector")), pod.labels):
                    continue
                rules = spec.get(direction) or []
                deny_rules = spec.get(f"{direction}Deny") or []
                default_deny = (spec.get("enableDefaultDeny") or {}).get(direction, True)
                if rules or deny_rules:
                    selecting.append(f"CiliumNetworkPolicy {policy.name}")
                if (rules or deny_rules) and default_deny is not False:
                    isolating.append(selecting[-1])
                admitted |= any(self._cilium_admits(r, direction, policy.namespace, port, peer) for r in rules)
                denied |= any(self._cilium_admits(r, direction, policy.namespace, port, peer) for r in deny_rules)
        return Verdict(not denied and (admitted or not isolating), tuple(selecting))

    def _rule_admits(
        self, rule: Mapping[str, Any], direction: Direction, namespace: str, port: Port, peer: Peer
    ) -> bool:
        entries = rule.get("from" if direction == "ingress" else "to") or []
        if entries and not any(self._entry_matches(entry, namespace, peer) for entry in entries):
            return False
        return ports_admit(rule.get("ports") or [], port)

    def _entry_matches(self, entry: Mapping[str, Any], namespace: str, peer: Peer) -> bool:
        if "ipBlock" in entry:
            return isinstance(peer, Outside) and peer.cidr_rules_apply and block_covers(entry["ipBlock"], peer.cidrs)
        if isinstance(peer, Outside):
            return False
        if "namespaceSelector" in entry:
            if not selects(entry["namespaceSelector"], self.labels_of_namespace(peer.namespace)):
                return False
        elif peer.namespace != namespace:
            return False
        return selects(entry.get("podSelector"), peer.labels)

    def _cilium_admits(
        self, rule: Mapping[str, Any], direction: Direction, namespace: str, port: Port, peer: Peer
    ) -> bool:
        side = "from" if direction == "ingress" else "to"
        entities = {str(e) for e in rule.get(f"{side}Entities") or []}
        endpoints = rule.get(f"{side}Endpoints") or []
        if isinstance(peer, Outside):
            matched = bool(peer.identities) and all(_entity_match(entities, identity) for identity in peer.identities)
        else:
            matched = bool(entities & {"all", "cluster"}) or any(
                _cilium_endpoint_matches(selector, namespace, peer) for selector in endpoints
            )
        return matched and cilium_ports_admit(rule.get("toPorts") or [], port)

    def _valid(self, item: PlatformObject) -> bool:
        """Policies whose selectors the API server would refuse are reported, and not evaluated."""
        try:
            for where, selector in policy_selectors(item.object):
                try:
                    validate(selector)
                except InvalidSelector as error:
                    raise InvalidSelector(f"{where}{error}") from None
        except InvalidSelector as error:
            self.problems.append(PolicyProblem(item, str(error)))
            return False
        return True


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    declared = spec.get("policyTypes")
    if declared:
        return [str(t) for t in declared]
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def ports_admit(ports: Sequence[Mapping[str, Any]], port: Port) -> bool:
    """A NetworkPolicy rule's `ports`: empty admits every port."""
    if not ports:
        return True
    return any(_port_entry_admits(entry, port) for entry in ports)


def _port_entry_admits(entry: Mapping[str, Any], port: Port) -> bool:
    if str(entry.get("protocol") or "TCP") != port.protocol:
        return False
    number = entry.get("port")
    if number is None:
        return True
    if isinstance(number, str):
        return bool(port.name) and number == port.name
    if port.number is None:
        return False
    end = entry.get("endPort")
    return number <= port.number <= end if isinstance(end, int) else port.number == number


def cilium_ports_admit(to_ports: Sequence[Mapping[str, Any]], port: Port) -> bool:
    entries = [entry for block in to_ports for entry in (block.get("ports") or [])]
    if not to_ports:
        return True
    for entry in entries:
        protocol = str(entry.get("protocol") or "ANY")
        if protocol not in ("ANY", port.protocol):
            continue
        value = str(entry.get("port") or "0")
        if not value.isdigit():
            if value == port.name:
                return True
            continue
        first, end = int(value), entry.get("endPort")
        if first == 0:
            return True
        if port.number is not None and (first <= port.number <= int(end) if end else port.number == first):
            return True
    return False


def block_covers(block: Mapping[str, Any], cidrs: Sequence[ipaddress.IPv4Network]) -> bool:
    """Whether an ipBlock admits every address in `cidrs`."""
    try:
        allowed = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        excepted = [ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []]
    except ValueError:
        return False
    return all(
        cidr.version == allowed.version
        and cidr.subnet_of(allowed)  # type: ignore[arg-type]
        and not any(cidr.overlaps(e) for e in excepted)  # type: ignore[arg-type]
        for cidr in cidrs
    )


def cilium_specs(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    specs = [policy["spec"]] if isinstance(policy.get("spec"), Mapping) else []
    return [*specs, *(s for s in policy.get("specs") or [] if isinstance(s, Mapping))]


def policy_selectors(policy: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Every label selector of a NetworkPolicy or CiliumNetworkPolicy, with its field path."""
    if policy.get("kind") == "NetworkPolicy":
        spec = policy.get("spec") or {}
        yield "spec.podSelector", spec.get("podSelector")
        for direction, side in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(spec.get(direction) or []):
                for j, entry in enumerate(rule.get(side) or []):
                    for key in ("namespaceSelector", "podSelector"):
                        if key in entry:
                            yield f"spec.{direction}[{i}].{side}[{j}].{key}", entry[key]
        return
    for k, spec in enumerate(cilium_specs(policy)):
        where = "spec" if k == 0 and isinstance(policy.get("spec"), Mapping) else f"specs[{k}]"
        yield f"{where}.endpointSelector", spec.get("endpointSelector")
        for direction in ("ingress", "egress", "ingressDeny", "egressDeny"):
            side = "from" if direction.startswith("ingress") else "to"
            for i, rule in enumerate(spec.get(direction) or []):
                for j, selector in enumerate(rule.get(f"{side}Endpoints") or []):
                    yield f"{where}.{direction}[{i}].{side}Endpoints[{j}]", selector


def _entity_match(entities: set[str], identity: frozenset[str]) -> bool:
    if "all" in entities:
        return True
    if "cluster" in entities and identity & CILIUM_CLUSTER_ENTITIES:
        return True
    return bool(entities & identity)


def _cilium_selector(selector: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Cilium endpoint selector with its `k8s:`/`any:` source prefixes taken off the keys."""
    if not selector:
        return {}
    return {
        "matchLabels": {_bare(k): v for k, v in (selector.get("matchLabels") or {}).items()},
        "matchExpressions": [{**e, "key": _bare(str(e.get("key")))} for e in selector.get("matchExpressions") or []],
    }


def _cilium_endpoint_matches(selector: Mapping[str, Any], namespace: str, pod: Pod) -> bool:
    """An entry of fromEndpoints/toEndpoints: pods of the policy's namespace unless it names a namespace label."""
    bare = _cilium_selector(selector)
    labels = {**pod.labels, CILIUM_NAMESPACE_LABEL: pod.namespace}
    names_namespace = CILIUM_NAMESPACE_LABEL in bare.get("matchLabels", {}) or any(
        e.get("key") == CILIUM_NAMESPACE_LABEL for e in bare.get("matchExpressions", [])
    )
    if not names_namespace and pod.namespace != namespace:
        return False
    return selects(bare, labels)


def _bare(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key
