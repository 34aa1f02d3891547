"""Cross-field rules: everything a JSON Schema cannot say about one environment, in one place.

Each rule takes a structurally valid Environment and yields Violations at the config path to fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

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
def backup_schedules_are_unique(env: Environment) -> Iterator[Violation]:
    """Velero Schedule objects are named after their schedule, so two with one name would be one object."""
    schedules = env.components.velero.schedules
    seen: set[str] = set()
    for index, schedule in enumerate(schedules):
        if schedule.name in seen:
            yield Violation(at("components", "velero", "schedules", index, "name"), f"{schedule.name!r} is used twice")
        seen.add(schedule.name)


@rule
def vault_matches_onprem_store(env: Environment) -> Iterator[Violation]:
    """Vault settings belong to the on-prem Vault store, and that store needs them."""
    settings = env.components.external_secrets
    if settings.enabled and settings.onprem_store == "vault" and env.target == "onprem" and settings.vault is None:
        yield Violation(at("components", "externalSecrets", "vault"), "is required with onpremStore vault")
    if settings.vault is not None and (settings.onprem_store != "vault" or env.target != "onprem"):
        yield Violation(
            at("components", "externalSecrets", "vault"), "is only used on target onprem with onpremStore vault"
        )
