"""Rules between values that are each well-formed (formats.py) but cannot work together.

Like rules.py, each rule names the config path to fix; these are the ones a consumer would reject later, at
`pulumi up` or in the cluster: overlapping address pools, a heap larger than its container, two contributors
bound under one name, a version pin of the wrong kind for its source. They run after rules.py's, in RULES.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from infra.catalog import CATALOG
from infra.config.derived import bucket_names, gke_cluster_name
from infra.config.errors import Violation, at
from infra.config.model import Environment, NodePool
from infra.config.rules import repeats, rule
from infra.config.syntax import FormatError
from infra.config.syntax.names import dns1123_label
from infra.config.syntax.network import address_pool
from infra.config.syntax.quantities import byte_size, jvm_size
from infra.config.syntax.versions import semver
from infra.platform.labels import GPU_TAINT_KEY, POOL_ROLE_LABEL

BUCKET_NAME_MAX = 63
GKE_CLUSTER_NAME_MAX = 40

# Which machines carry which accelerator: A100s, H100s and L4s come built into their accelerator-optimized
# machine families (and in fixed numbers), T4s are attached to N1 machines.
GPU_MACHINE_FAMILIES = {
    "nvidia-tesla-t4": ("n1-",),
    "nvidia-l4": ("g2-",),
    "nvidia-tesla-a100": ("a2-highgpu-", "a2-megagpu-"),
    "nvidia-a100-80gb": ("a2-ultragpu-",),
    "nvidia-h100-80gb": ("a3-highgpu-", "a3-edgegpu-"),
}
G2_GPUS = {"4": 1, "8": 1, "12": 1, "16": 1, "32": 1, "24": 2, "48": 4, "96": 8}
BUILT_IN_GPUS = re.compile(r"^a[23]-[a-z]+gpu-(\d+)g$")


@rule
def stack_name_fits_what_is_named_after_it(env: Environment) -> Iterator[Violation]:
    """The stack name (from `Pulumi.<name>.yaml`) names the GKE cluster (`mlops-<name>`, at most 40 characters)
    and every bucket (`<bucketPrefix>-<name>-<purpose>`, at most 63), so it is a lowercase DNS label."""
    if not env.name:
        return
    try:
        dns1123_label(env.name)
    except FormatError as error:
        yield Violation(at("name"), f"the stack name {env.name!r} (from the file name) is not usable: {error}")
        return
    cluster = gke_cluster_name(env.name)
    if env.gke is not None and len(cluster) > GKE_CLUSTER_NAME_MAX:
        yield Violation(
            at("name"),
            f"the stack name {env.name!r} makes the GKE cluster name {cluster}, longer than "
            f"{GKE_CLUSTER_NAME_MAX} characters",
        )
    longest = max(bucket_names(env.object_store.bucket_prefix, env.name).values(), key=len)
    if len(longest) > BUCKET_NAME_MAX:
        yield Violation(
            at("objectStore", "bucketPrefix"),
            f"makes the bucket name {longest} ({len(longest)} characters); bucket names have at most {BUCKET_NAME_MAX}",
        )


@rule
def node_pools_keep_their_role_and_taints(env: Environment) -> Iterator[Violation]:
    """A pool's labels do not replace its role label (`mlops.io/pool-role`), and no two taints of a node share a
    key and effect (Kubernetes refuses such a node), counting the `nvidia.com/gpu` taint of GPU pools."""
    if env.gke is None:
        return
    for index, pool in enumerate(env.gke.node_pools):
        if POOL_ROLE_LABEL in pool.labels:
            yield Violation(
                at("gke", "nodePools", index, "labels", POOL_ROLE_LABEL),
                f"is set by the platform from the pool's role ({pool.role}); remove it",
            )
        taints = [(taint.key, taint.effect) for taint in pool.taints]
        if pool.gpu is not None:
            taints.append((GPU_TAINT_KEY, "NoSchedule"))
        for taint, message in repeats(taints):
            yield Violation(at("gke", "nodePools", index, "taints", taint, "key"), message)


@rule
def gpus_fit_their_machine_type(env: Environment) -> Iterator[Violation]:
    """A GPU pool's accelerator matches its machine type: T4s attach to N1 machines, L4s come with G2, A100s with
    A2 and H100s with A3 machines, in the number the machine type carries."""
    if env.gke is None:
        return
    for index, pool in enumerate(env.gke.node_pools):
        if pool.gpu is not None:
            yield from _gpu_fits(index, pool)


def _gpu_fits(index: int, pool: NodePool) -> Iterator[Violation]:
    assert pool.gpu is not None
    families = GPU_MACHINE_FAMILIES[pool.gpu.type]
    if not pool.machine_type.startswith(families):
        yield Violation(
            at("gke", "nodePools", index, "machineType"),
            f"is {pool.machine_type}; {pool.gpu.type} needs a machine type of {' or '.join(f + '*' for f in families)}",
        )
        return
    built_in = BUILT_IN_GPUS.match(pool.machine_type)
    expected = int(built_in.group(1)) if built_in else None
    if pool.machine_type.startswith("g2-standard-"):
        expected = G2_GPUS.get(pool.machine_type.removeprefix("g2-standard-"))
    if expected is not None and pool.gpu.count != expected:
        yield Violation(
            at("gke", "nodePools", index, "gpu", "count"),
            f"is {pool.gpu.count}; {pool.machine_type} comes with {expected} GPU{'s' if expected > 1 else ''}",
        )


@rule
def teams_that_get_gpus_have_a_gpu_pool(env: Environment) -> Iterator[Violation]:
    """On GKE, a team's GPU quota needs a node pool with role `gpu` to spend it on."""
    if env.gke is None or any(pool.role == "gpu" for pool in env.gke.node_pools):
        return
    for index, team in enumerate(env.components.kubeflow.teams):
        if team.quota.gpu > 0:
            yield Violation(
                at("components", "kubeflow", "teams", index, "quota", "gpu"),
                f"is {team.quota.gpu}, but no node pool has role gpu",
            )


@rule
def pubsub_topics_are_unique(env: Environment) -> Iterator[Violation]:
    """Each topic is one Pub/Sub resource, so names must differ."""
    if env.gke is None:
        return
    for index, message in repeats(list(env.gke.pubsub_topics)):
        yield Violation(at("gke", "pubsubTopics", index), message)


@rule
def address_pools_do_not_overlap(env: Environment) -> Iterator[Violation]:
    """MetalLB refuses address ranges that share an address, and two BGP peers at one address."""
    if env.onprem is None:
        return
    metallb = env.onprem.load_balancer
    seen: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for index, entry in enumerate(metallb.addresses):
        networks = address_pool(entry)
        clash = next(
            (other for other, net in seen for mine in networks if mine.version == net.version and mine.overlaps(net)),
            None,
        )
        if clash is not None:
            yield Violation(at("onprem", "loadBalancer", "addresses", index), f"{entry} overlaps {clash}")
        seen += [(entry, net) for net in networks]
    for index, message in repeats([ipaddress.ip_address(peer.address) for peer in metallb.peers]):
        yield Violation(at("onprem", "loadBalancer", "peers", index, "address"), message)


@rule
def elasticsearch_heap_fits_its_memory(env: Environment) -> Iterator[Violation]:
    """The JVM heap of each Elasticsearch node is smaller than the node's memory, which also holds the JVM's
    own memory and the file cache (Elastic advises at most half)."""
    elasticsearch = env.components.logging.elasticsearch
    heap, memory = jvm_size(elasticsearch.heap), byte_size(elasticsearch.memory)
    if heap >= memory:
        yield Violation(
            at("components", "logging", "elasticsearch", "heap"),
            f"is {elasticsearch.heap}, not below memory {elasticsearch.memory}: the node would be killed when the "
            "heap fills (keep it at most half)",
        )


@rule
def minio_can_erasure_code(env: Environment) -> Iterator[Violation]:
    """The MinIO operator refuses a pool of 2 servers with fewer than 4 volumes in all, and of 3 servers with
    fewer than 6."""
    if env.onprem is None or env.object_store.provider != "minio":
        return
    minio = env.onprem.minio
    needed = {2: 4, 3: 6}.get(minio.servers, 0)
    if minio.servers * minio.volumes_per_server < needed:
        yield Violation(
            at("onprem", "minio", "volumesPerServer"),
            f"is {minio.volumes_per_server}; {minio.servers} servers need at least {needed} volumes in all",
        )


@rule
def knative_scale_bounds_are_ordered(env: Environment) -> Iterator[Violation]:
    """Knative refuses a minScale above maxScale (0 means unbounded)."""
    scaling = env.components.knative.autoscaling
    if scaling.max_scale and scaling.min_scale > scaling.max_scale:
        yield Violation(
            at("components", "knative", "autoscaling", "minScale"),
            f"is {scaling.min_scale}, above maxScale {scaling.max_scale}",
        )


@rule
def team_members_can_sign_in(env: Environment) -> Iterator[Violation]:
    """A team lists each member once (each is one RoleBinding named after the address, in any case), and with
    sign-in its owner and members have addresses in an allowed e-mail domain, or they could never get in."""
    kubeflow = env.components.kubeflow
    # No sign-in admits anyone; no domain at all is kubeflow_has_sign_in's to report.
    domains = {domain.lower() for domain in kubeflow.auth.allowed_email_domains} if kubeflow.auth else set()
    for index, team in enumerate(kubeflow.teams):
        base = ("components", "kubeflow", "teams", index)
        for member, message in repeats([member.lower() for member in team.members]):
            yield Violation(at(*base, "members", member), message)
        people = [((*base, "owner"), team.owner)]
        people += [((*base, "members", i), member) for i, member in enumerate(team.members)]
        if not domains or "*" in domains:
            continue
        for path, address in people:
            if address.rpartition("@")[2].lower() not in domains:
                yield Violation(
                    at(*path),
                    f"{address!r} is not in an allowed e-mail domain ({', '.join(sorted(domains))}): "
                    "this person could not sign in",
                )


@rule
def argocd_apps_are_unique(env: Environment) -> Iterator[Violation]:
    """Each ML application is one namespace (`ml-<name>`) and one Application, so names must differ."""
    for index, message in repeats(list(env.argocd.apps)):
        yield Violation(at("argocd", "apps", index), message)


@rule
def argocd_sign_in_asks_for_an_id_token(env: Environment) -> Iterator[Violation]:
    """Argo CD's OIDC login needs the `openid` scope: without it the identity provider issues no ID token."""
    if env.argocd.sso is not None and "openid" not in env.argocd.sso.requested_scopes:
        yield Violation(at("argocd", "sso", "requestedScopes"), "must include openid")


@rule
def dns_settings_cover_the_domain(env: Environment) -> Iterator[Violation]:
    """external-dns writes the records of `<ui>.<domain>`: a domain filter must be the domain or a parent of
    it, and an RFC 2136 zone must hold it."""
    dns = env.components.external_dns
    if dns.provider == "none":
        return
    if dns.domain_filters and not any(_within(env.domain, parent) for parent in dns.domain_filters):
        yield Violation(
            at("components", "externalDns", "domainFilters"),
            f"none of {', '.join(dns.domain_filters)} is {env.domain} or a parent of it: no platform record would be "
            "written",
        )
    if dns.rfc2136 is not None and not _within(env.domain, dns.rfc2136.zone):
        yield Violation(
            at("components", "externalDns", "rfc2136", "zone"),
            f"{dns.rfc2136.zone} does not hold {env.domain}; the server would refuse the updates",
        )


def _within(name: str, parent: str) -> bool:
    return name == parent or name.endswith(f".{parent}")


@rule
def pins_fit_their_sources(env: Environment) -> Iterator[Violation]:
    """A Helm chart is pinned to a semantic version (1.2.3 or v1.2.3); a calendar release tag such as 26.03 is
    for git sources (kubeflow/manifests) only."""
    for component, version in env.versions.items():
        if CATALOG[component].is_git:
            continue
        try:
            semver(version)
        except FormatError:
            yield Violation(
                at("versions", component),
                f"{version!r} is a release tag; {component} is a Helm chart, pinned by a semantic version such as "
                f"{CATALOG[component].version}",
            )
