"""Cross-field rules: everything a JSON Schema cannot say about one environment, in one place.

Each rule takes a structurally valid Environment and yields Violations at the config path to fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from infra import compat
from infra.config.errors import Violation, at
from infra.config.model import Environment

Rule = Callable[[Environment], Iterator[Violation]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check_rules(env: Environment) -> list[Violation]:
    return [violation for check in RULES for violation in check(env)]


@rule
def target_section_matches(env: Environment) -> Iterator[Violation]:
    sections = {"gke": env.gke, "onprem": env.onprem}
    for section, value in sections.items():
        if section == env.target and value is None:
            yield Violation(at(section), f"is required when target is {env.target}")
        if section != env.target and value is not None:
            yield Violation(at(section), f"must not be set when target is {env.target}")


@rule
def object_store_fits_target(env: Environment) -> Iterator[Violation]:
    allowed = {"gke": ("gcs",), "onprem": ("minio", "s3")}[env.target]
    if env.object_store.provider not in allowed:
        yield Violation(
            at("objectStore", "provider"),
            f"{env.object_store.provider!r} is not available on target {env.target}; allowed: {', '.join(allowed)}",
        )
    needs_endpoint = env.object_store.provider == "s3"
    if needs_endpoint != (env.object_store.endpoint is not None):
        yield Violation(at("objectStore", "endpoint"), "is required with provider s3, and only with it")


@rule
def prod_is_highly_available(env: Environment) -> Iterator[Violation]:
    if env.tier == "prod" and not env.high_availability:
        yield Violation(at("highAvailability"), "must be true for tier prod")


@rule
def replicas_follow_availability(env: Environment) -> Iterator[Violation]:
    monitoring = env.components.monitoring
    if not (env.high_availability and monitoring.enabled):
        return
    for part, replicas in (
        ("prometheus", monitoring.prometheus.replicas),
        ("alertmanager", monitoring.alertmanager.replicas),
    ):
        if replicas < 2:
            yield Violation(
                at("components", "monitoring", part, "replicas"),
                f"is {replicas}; a highly available environment needs at least 2",
            )


@rule
def node_pools_are_consistent(env: Environment) -> Iterator[Violation]:
    if env.gke is None:
        return
    pools = env.gke.node_pools
    for name, count in Counter(pool.name for pool in pools).items():
        if count > 1:
            index = next(i for i, pool in enumerate(pools) if pool.name == name)
            yield Violation(at("gke", "nodePools", index, "name"), f"{name!r} is used by {count} node pools")
    system_pools = sum(pool.role == "system" for pool in pools)
    if system_pools != 1:
        yield Violation(at("gke", "nodePools"), f"needs exactly one pool with role system, found {system_pools}")
    for index, pool in enumerate(pools):
        if pool.min_nodes > pool.max_nodes:
            yield Violation(
                at("gke", "nodePools", index, "minNodes"),
                f"is {pool.min_nodes}, above maxNodes {pool.max_nodes}",
            )
        if (pool.role == "gpu") != (pool.gpu is not None):
            yield Violation(at("gke", "nodePools", index, "gpu"), "is required for role gpu, and only for it")


@rule
def acme_needs_contact(env: Environment) -> Iterator[Violation]:
    cert_manager = env.components.cert_manager
    if cert_manager.enabled and cert_manager.issuer == "acme" and not cert_manager.acme_email:
        yield Violation(at("components", "certManager", "acmeEmail"), "is required with issuer acme")


@rule
def ml_components_have_their_foundations(env: Environment) -> Iterator[Violation]:
    """Kubeflow authorizes every request with Istio policies, and KServe's serverless mode routes through
    Knative's Istio gateways; both issue webhook certificates with cert-manager. The platform provides these
    instead of the copies bundled with Kubeflow."""
    components = env.components
    needing = [
        name for name, on in (("Kubeflow", components.kubeflow.enabled), ("KServe", components.kserve.enabled)) if on
    ]
    if not needing:
        return
    if env.ingress.provider != "istio":
        yield Violation(at("ingress", "provider"), f"is {env.ingress.provider}; {' and '.join(needing)} need istio")
    if not components.cert_manager.enabled:
        yield Violation(
            at("components", "certManager", "enabled"), f"must be true when {' and '.join(needing)} is enabled"
        )


@rule
def kubeflow_versions_are_compatible(env: Environment) -> Iterator[Violation]:
    """The Kubeflow release, and the Istio, Knative, cert-manager, KServe and Kubernetes versions the
    environment deploys with it, must be a combination infra/compat.py accepts."""
    if not env.components.kubeflow.enabled:
        return
    pins = dict(env.versions)
    release = compat.kubeflow_release(pins)
    for entry in compat.KUBEFLOW_ENTRIES:
        if pins.get(entry, release) != release:
            yield Violation(
                at("versions", entry),
                f"is {pins[entry]}, but kubeflow-pipelines deploys Kubeflow {release}; "
                "every Kubeflow part must come from the same release",
            )
    if release not in compat.MATRIX:
        yield Violation(
            at("versions", "kubeflow-pipelines"),
            f"Kubeflow {release} is not in the compatibility matrix (infra/compat.py); known: "
            f"{', '.join(sorted(compat.MATRIX))}",
        )
        return
    for finding in compat.findings(pins, env.kubernetes_version, kubeflow_products(env)):
        if finding.accepted:
            continue
        if finding.entry == "kubernetes":
            path = at("kubernetesVersion")
        elif finding.entry in pins:
            path = at("versions", finding.entry)
        else:
            path = at("components", "kubeflow", "enabled")
        yield Violation(path, finding.message())


def kubeflow_products(env: Environment) -> set[str]:
    """What runs next to Kubeflow in this environment and must fit its release."""
    products = {"istio", "knative", "kubernetes"}
    if env.components.cert_manager.enabled:
        products.add("cert-manager")
    if env.components.kserve.enabled:
        products.add("kserve")
    return products


@rule
def mlflow_follows_availability(env: Environment) -> Iterator[Violation]:
    """A highly available environment runs the tracking server replicated."""
    mlflow = env.components.mlflow
    if env.high_availability and mlflow.enabled and mlflow.replicas < 2:
        yield Violation(
            at("components", "mlflow", "replicas"), f"is {mlflow.replicas}; a highly available environment needs 2"
        )


@rule
def team_names_are_unique(env: Environment) -> Iterator[Violation]:
    """Each team is one Profile and one namespace, so names must differ."""
    teams = env.components.kubeflow.teams
    seen: set[str] = set()
    for index, team in enumerate(teams):
        if team.name in seen:
            yield Violation(at("components", "kubeflow", "teams", index, "name"), f"{team.name!r} is used twice")
        seen.add(team.name)
