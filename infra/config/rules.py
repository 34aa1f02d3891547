"""Cross-field rules: everything a JSON Schema cannot say about one environment, in one place.

Each rule takes a structurally valid Environment and yields Violations at the config path to fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from infra.catalog import CATALOG, ISTIO_CHARTS
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
def platform_uis_need_certificates(env: Environment) -> Iterator[Violation]:
    """cert-manager stays enabled: every platform UI is served over TLS with a certificate it issues."""
    if not env.components.cert_manager.enabled:
        yield Violation(
            at("components", "certManager", "enabled"),
            "must be true: every platform UI is served over TLS with a certificate cert-manager issues",
        )


@rule
def dns01_names_its_zone(env: Environment) -> Iterator[Violation]:
    """ACME DNS-01 names the GCP project of the Cloud DNS zone it writes challenges into."""
    cert_manager = env.components.cert_manager
    if cert_manager.issuer == "acme" and cert_manager.acme_solver == "dns01" and not cert_manager.cloud_dns_project:
        yield Violation(at("components", "certManager", "cloudDnsProject"), "is required with acmeSolver dns01")


@rule
def external_dns_has_its_provider_settings(env: Environment) -> Iterator[Violation]:
    """external-dns has the settings of its provider (googleProject or rfc2136), and only those."""
    dns = env.components.external_dns
    if (dns.provider == "google") != (dns.google_project is not None):
        yield Violation(
            at("components", "externalDns", "googleProject"), "is required with provider google, and only with it"
        )
    if (dns.provider == "rfc2136") != (dns.rfc2136 is not None):
        yield Violation(
            at("components", "externalDns", "rfc2136"), "is required with provider rfc2136, and only with it"
        )


@rule
def forward_auth_needs_traefik(env: Environment) -> Iterator[Violation]:
    """forwardAuthUrl is a Traefik middleware: it is set only with ingress provider traefik."""
    if env.ingress.forward_auth_url and env.ingress.provider != "traefik":
        yield Violation(at("ingress", "forwardAuthUrl"), "is only used with provider traefik")


# Every chart of the Istio release repository: base, cni, istiod and gateway ship together.
ISTIO_RELEASE = tuple(key for key, chart in CATALOG.items() if chart.repo_url == ISTIO_CHARTS)


@rule
def istio_charts_share_one_version(env: Environment) -> Iterator[Violation]:
    """Istio's charts (base, cni, istiod, gateway) are pinned all together, to one version, or not at all."""
    pinned = {chart: env.versions[chart] for chart in ISTIO_RELEASE if chart in env.versions}
    if pinned and (len(set(pinned.values())) > 1 or len(pinned) < len(ISTIO_RELEASE)):
        for chart in ISTIO_RELEASE:
            yield Violation(
                at("versions", chart),
                f"Istio's charts are one release: pin {', '.join(ISTIO_RELEASE)} together, to the same version",
            )
