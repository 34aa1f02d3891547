"""Cross-field rules: everything a JSON Schema cannot say about one environment, in one place.

Each rule takes a structurally valid Environment and yields Violations at the config path to fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable, Iterator, Sequence
from decimal import Decimal

from pydantic.alias_generators import to_camel

from infra import compat
from infra.catalog import CATALOG
from infra.components.istio import ISTIO_CHARTS
from infra.config.derived import largest_ray_cluster
from infra.config.errors import Violation, at
from infra.config.model import Environment, SecretSource
from infra.config.syntax import durations, quantities

Rule = Callable[[Environment], Iterator[Violation]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check_rules(env: Environment) -> list[Violation]:
    return [violation for check in RULES for violation in check(env)]


def repeats(values: Sequence[Hashable]) -> Iterator[tuple[int, str]]:
    """(index, message) for every entry that repeats an earlier one: the entry to rename or remove."""
    first: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        if value in first:
            yield index, f"{value!r} is used twice (also at [{first[value]}])"
        else:
            first[value] = index


def set_exactly_when(needed: bool, present: bool, path: str, condition: str) -> Iterator[Violation]:
    """A setting that belongs to one choice: required with it, and an error without it."""
    if needed != present:
        preposition = condition.split(" ", 1)[0]
        yield Violation(path, f"is required {condition}, and only {preposition} it")


@rule
def target_section_matches(env: Environment) -> Iterator[Violation]:
    """The section of the chosen target (`gke` or `onprem`) is set, and the other one is not."""
    sections = {"gke": env.gke, "onprem": env.onprem}
    for section, value in sections.items():
        if section == env.target and value is None:
            yield Violation(at(section), f"is required when target is {env.target}")
        if section != env.target and value is not None:
            yield Violation(at(section), f"must not be set when target is {env.target}")


@rule
def object_store_fits_target(env: Environment) -> Iterator[Violation]:
    """GKE keeps objects in Cloud Storage; on-prem uses MinIO or an S3 endpoint (which needs `endpoint`)."""
    allowed = {"gke": ("gcs",), "onprem": ("minio", "s3")}[env.target]
    if env.object_store.provider not in allowed:
        yield Violation(
            at("objectStore", "provider"),
            f"{env.object_store.provider!r} is not available on target {env.target}; allowed: {', '.join(allowed)}",
        )
    yield from set_exactly_when(
        env.object_store.provider == "s3",
        env.object_store.endpoint is not None,
        at("objectStore", "endpoint"),
        "with provider s3",
    )


@rule
def prod_is_highly_available(env: Environment) -> Iterator[Violation]:
    """Tier `prod` must set `highAvailability: true`."""
    if env.tier == "prod" and not env.high_availability:
        yield Violation(at("highAvailability"), "must be true for tier prod")


@rule
def replicas_follow_availability(env: Environment) -> Iterator[Violation]:
    """A highly available environment runs at least 2 Prometheus and 2 Alertmanager replicas."""
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
    """Node pool names are unique, exactly one pool has role `system`, minNodes <= maxNodes, and only `gpu`
    pools (all of them) have accelerators."""
    if env.gke is None:
        return
    pools = env.gke.node_pools
    for index, message in repeats([pool.name for pool in pools]):
        yield Violation(at("gke", "nodePools", index, "name"), message)
    system_pools = sum(pool.role == "system" for pool in pools)
    if system_pools != 1:
        yield Violation(at("gke", "nodePools"), f"needs exactly one pool with role system, found {system_pools}")
    for index, pool in enumerate(pools):
        if pool.min_nodes > pool.max_nodes:
            yield Violation(
                at("gke", "nodePools", index, "minNodes"),
                f"is {pool.min_nodes}, above maxNodes {pool.max_nodes}",
            )
        yield from set_exactly_when(
            pool.role == "gpu", pool.gpu is not None, at("gke", "nodePools", index, "gpu"), "for role gpu"
        )


@rule
def acme_needs_contact(env: Environment) -> Iterator[Violation]:
    """The ACME issuer needs a contact address (`components.certManager.acmeEmail`)."""
    cert_manager = env.components.cert_manager
    if (
        cert_manager.enabled
        and not cert_manager.existing
        and cert_manager.issuer == "acme"
        and not cert_manager.acme_email
    ):
        yield Violation(at("components", "certManager", "acmeEmail"), "is required with issuer acme")


# --- observability ---------------------------------------------------------------------------------------


def secret_sources(env: Environment) -> list[tuple[tuple[str | int, ...], SecretSource]]:
    """Every credential the environment names, with its config path."""
    monitoring = env.components.monitoring
    base = ("components", "monitoring")
    sources = [
        ((*base, "alerting", "receivers", i, "secret"), receiver.secret)
        for i, receiver in enumerate(monitoring.alerting.receivers)
    ]
    if monitoring.grafana.sso is not None:
        sources.append(((*base, "grafana", "sso", "clientSecret"), monitoring.grafana.sso.client_secret))
    return sources


@rule
def secrets_name_one_source(env: Environment) -> Iterator[Violation]:
    """Every credential names exactly one source: an existing Secret or a Pulumi secret config key."""
    for path, source in secret_sources(env):
        if (source.existing_secret is None) == (source.config_key is None):
            yield Violation(at(*path), "needs exactly one of existingSecret and configKey")


@rule
def alert_routes_name_receivers(env: Environment) -> Iterator[Violation]:
    """Routes and the default receiver refer to receivers that exist; receiver names are unique."""
    alerting = env.components.monitoring.alerting
    names = [receiver.name for receiver in alerting.receivers]
    base = ("components", "monitoring", "alerting")
    for index, message in repeats(names):
        yield Violation(at(*base, "receivers", index, "name"), message)
    known = ", ".join(names) or "none defined"
    if alerting.default_receiver is not None and alerting.default_receiver not in names:
        yield Violation(
            at(*base, "defaultReceiver"), f"{alerting.default_receiver!r} is not a receiver; receivers: {known}"
        )
    for index, route in enumerate(alerting.routes):
        if route.receiver not in names:
            yield Violation(
                at(*base, "routes", index, "receiver"), f"{route.receiver!r} is not a receiver; receivers: {known}"
            )
    for index, receiver in enumerate(alerting.receivers):
        if receiver.channel is not None and receiver.type != "slack":
            yield Violation(at(*base, "receivers", index, "channel"), "is only allowed for type slack")


@rule
def elasticsearch_has_quorum_when_highly_available(env: Environment) -> Iterator[Violation]:
    """A highly available environment that may run ELK needs three Elasticsearch nodes for a master quorum;
    `logging.enabled: false` opts out (e.g. GKE with Cloud Logging)."""
    logging = env.components.logging
    if env.high_availability and logging.enabled is not False and logging.elasticsearch.count < 3:
        yield Violation(
            at("components", "logging", "elasticsearch", "count"),
            f"is {logging.elasticsearch.count}; a highly available environment needs at least 3 "
            "(or set components.logging.enabled: false)",
        )


@rule
def argocd_access_stays_possible(env: Environment) -> Iterator[Violation]:
    """Without SSO, Argo CD has only its local admin user, and group bindings match nobody."""
    argocd = env.argocd
    if argocd.mode == "hub":
        return  # who signs in to the hub, and how, is the hub's own configuration
    if argocd.sso is None and not argocd.admin_enabled:
        yield Violation(at("argocd", "adminEnabled"), "may be false only when argocd.sso is set (nobody could log in)")
    if argocd.sso is None and argocd.rbac.bindings:
        yield Violation(at("argocd", "rbac", "bindings"), "need argocd.sso: groups come from the identity provider")


@rule
def longhorn_fits_target(env: Environment) -> Iterator[Violation]:
    """Longhorn is the block storage of on-prem clusters, so it cannot be turned off there; on GKE it runs
    only on the Ubuntu node image, which ships the open-iscsi it needs (COS does not)."""
    wanted = env.components.longhorn.enabled
    if env.target == "onprem" and wanted is False:
        yield Violation(
            at("components", "longhorn", "enabled"),
            "cannot be false on target onprem: Longhorn provides its storage classes; leave it unset or true",
        )
    if env.gke is None or not wanted:
        return
    for index, pool in enumerate(env.gke.node_pools):
        if pool.image_type != "UBUNTU_CONTAINERD":
            yield Violation(
                at("gke", "nodePools", index, "imageType"),
                f"is {pool.image_type}; Longhorn on GKE needs UBUNTU_CONTAINERD on every node pool",
            )


@rule
def metallb_mode_has_peers(env: Environment) -> Iterator[Violation]:
    """BGP mode needs routers to peer with; layer 2 mode has none."""
    if env.onprem is None:
        return
    metallb = env.onprem.load_balancer
    yield from set_exactly_when(
        metallb.mode == "bgp", bool(metallb.peers), at("onprem", "loadBalancer", "peers"), "with mode bgp"
    )


@rule
def existing_registry_has_url(env: Environment) -> Iterator[Violation]:
    """An existing registry must be named; Harbor needs no URL."""
    if env.onprem is None:
        return
    registry = env.onprem.registry
    yield from set_exactly_when(
        registry.provider == "existing",
        registry.url is not None,
        at("onprem", "registry", "url"),
        "with provider existing",
    )


@rule
def onprem_services_follow_availability(env: Environment) -> Iterator[Violation]:
    """A highly available on-prem environment runs a replicated database and an erasure-coded MinIO."""
    if env.onprem is None or not env.high_availability:
        return
    if env.onprem.database.instances < 3:
        yield Violation(
            at("onprem", "database", "instances"),
            f"is {env.onprem.database.instances}; a highly available environment needs at least 3",
        )
    if env.object_store.provider == "minio" and env.onprem.minio.servers < 4:
        yield Violation(
            at("onprem", "minio", "servers"),
            f"is {env.onprem.minio.servers}; a highly available MinIO needs at least 4 (erasure coding)",
        )


@rule
def gke_ranges_do_not_overlap(env: Environment) -> Iterator[Violation]:
    """Subnet, pod, service and control-plane ranges share no address (each is a network: formats.py)."""
    if env.gke is None:
        return
    ranges = env.gke.network
    networks: dict[str, ipaddress.IPv4Network] = {}
    for field in ("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr"):
        network = ipaddress.IPv4Network(getattr(ranges, field))
        for other, seen in networks.items():
            if network.overlaps(seen):
                yield Violation(at("gke", "network", to_camel(field)), f"{network} overlaps {to_camel(other)} {seen}")
        networks[field] = network


@rule
def backup_schedules_are_unique(env: Environment) -> Iterator[Violation]:
    """Velero Schedule objects are named after their schedule, so two with one name would be one object."""
    for index, message in repeats([schedule.name for schedule in env.components.velero.schedules]):
        yield Violation(at("components", "velero", "schedules", index, "name"), message)


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
    if (
        cert_manager.existing is None
        and cert_manager.issuer == "acme"
        and cert_manager.acme_solver == "dns01"
        and not cert_manager.cloud_dns_project
    ):
        yield Violation(at("components", "certManager", "cloudDnsProject"), "is required with acmeSolver dns01")


@rule
def external_dns_has_its_provider_settings(env: Environment) -> Iterator[Violation]:
    """external-dns has the settings of its provider (googleProject or rfc2136), and only those."""
    dns = env.components.external_dns
    yield from set_exactly_when(
        dns.provider == "google",
        dns.google_project is not None,
        at("components", "externalDns", "googleProject"),
        "with provider google",
    )
    yield from set_exactly_when(
        dns.provider == "rfc2136",
        dns.rfc2136 is not None,
        at("components", "externalDns", "rfc2136"),
        "with provider rfc2136",
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
    for entry in compat.kubeflow_entries():
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
    existing = compat.existing_products(env)
    for finding in compat.findings(
        pins, env.kubernetes_version, compat.kubeflow_products(env), compat.existing_versions(env)
    ):
        if finding.accepted:
            continue
        if finding.entry == "kubernetes":
            path = at("kubernetesVersion")
        elif finding.entry in existing:
            path = existing[finding.entry][0]
        elif finding.entry in pins:
            path = at("versions", finding.entry)
        else:
            path = at("components", "kubeflow", "enabled")
        yield Violation(path, finding.message())


# Catalog entries of the charts of each component the cluster may already run, with the config path that says so.
EXISTING_CHARTS = {
    ("components", "istio", "existing"): ISTIO_RELEASE,
    ("components", "certManager", "existing"): ("cert-manager",),
    ("components", "monitoring", "existing"): ("kube-prometheus-stack",),
}
# What Kubeflow's upstream manifests write of the ingress gateway (its kubeflow-gateway's selector, the namespace
# of the gateway identity its AuthorizationPolicies admit): an existing Istio's gateway must match them.
KUBEFLOW_GATEWAY_NAMESPACE = "istio-system"
KUBEFLOW_GATEWAY_LABELS = {"istio": "ingressgateway"}


@rule
def existing_istio_needs_istio_ingress(env: Environment) -> Iterator[Violation]:
    """An existing Istio is the environment's ingress: it is declared only with ingress provider istio."""
    if env.components.istio.existing is not None and env.ingress.provider != "istio":
        yield Violation(
            at("components", "istio", "existing"),
            f"is only used with ingress provider istio (not {env.ingress.provider})",
        )


@rule
def existing_components_are_not_pinned(env: Environment) -> Iterator[Violation]:
    """The stack installs no chart of a component the cluster already runs, so nothing pins one: its version is
    the `existing.version` the cluster runs."""
    components = env.components
    declared = {
        ("components", "istio", "existing"): components.istio.existing,
        ("components", "certManager", "existing"): components.cert_manager.existing,
        ("components", "monitoring", "existing"): components.monitoring.existing,
    }
    for path, charts in EXISTING_CHARTS.items():
        if declared[path] is None:
            continue
        for chart in charts:
            if chart in env.versions:
                yield Violation(
                    at("versions", chart),
                    f"pins a chart the stack does not install: {at(*path)} says the cluster runs it already "
                    f"(version {declared[path].version}); remove the pin",
                )


@rule
def an_existing_prometheus_takes_no_settings_of_the_one_the_stack_installs(env: Environment) -> Iterator[Violation]:
    """With an existing Prometheus the stack installs no kube-prometheus-stack, so its sizing, Grafana and alert
    routing would go nowhere: refused rather than silently ignored (those are configured where that Prometheus
    is)."""
    monitoring = env.components.monitoring
    if monitoring.existing is None:
        return
    defaults = type(monitoring)()
    unused = {
        "prometheus": "the stack installs no Prometheus of its own; configure the cluster's own",
        "alertmanager": "the stack installs no Alertmanager of its own; configure the cluster's own",
        "grafana": "the stack installs no Grafana of its own; configure the cluster's own",
        "alerting": "the stack installs no Alertmanager to route alerts; route the platform's alerts in the cluster's "
        "own Alertmanager",
    }
    for name, instead in unused.items():
        if getattr(monitoring, name) != getattr(defaults, name):
            yield Violation(
                at("components", "monitoring", name),
                f"is not used with components.monitoring.existing: {instead}, or remove existing",
            )


@rule
def kubeflow_fits_the_existing_istio(env: Environment) -> Iterator[Violation]:
    """Kubeflow's upstream manifests select the ingress gateway by `istio: ingressgateway` in istio-system, and
    the sign-in needs the ext_authz provider the stack writes into the mesh config of the Istio it installs."""
    existing = env.components.istio.existing
    kubeflow = env.components.kubeflow
    if existing is None or not kubeflow.enabled or env.ingress.provider != "istio":
        return
    base = ("components", "istio", "existing")
    if existing.gateway_namespace != KUBEFLOW_GATEWAY_NAMESPACE:
        yield Violation(
            at(*base, "gatewayNamespace"),
            f"is {existing.gateway_namespace}; Kubeflow's manifests expect the ingress gateway in "
            f"{KUBEFLOW_GATEWAY_NAMESPACE}",
        )
    if any(existing.gateway_labels.get(key) != value for key, value in KUBEFLOW_GATEWAY_LABELS.items()):
        yield Violation(
            at(*base, "gatewayLabels"),
            "must include istio: ingressgateway: Kubeflow's kubeflow-gateway selects the ingress gateway by it",
        )
    if kubeflow.auth is not None:
        yield Violation(
            at("components", "kubeflow", "auth"),
            "needs the Istio the stack installs: the sign-in calls oauth2-proxy through an ext_authz provider in "
            "istiod's mesh config, which the stack does not write into an existing Istio",
        )


@rule
def hub_mode_has_its_hub(env: Environment) -> Iterator[Violation]:
    """A hub Argo CD is described exactly in hub mode; single sign-on, the default role and the repo server's git
    mirrors are the hub's own settings there (the stack writes per-project roles instead); only GKE clusters so far."""
    argocd = env.argocd
    hub = argocd.mode == "hub"
    yield from set_exactly_when(hub, argocd.hub is not None, at("argocd", "hub"), "with mode hub")
    if not hub:
        return
    if argocd.sso is not None:
        yield Violation(at("argocd", "sso"), "is the hub's own setting with mode hub; configure it on the hub")
    if argocd.rbac.default_role != "none":
        yield Violation(
            at("argocd", "rbac", "defaultRole"), "is the hub's own setting with mode hub; configure it on the hub"
        )
    if env.mirrors.git:
        yield Violation(
            at("mirrors", "git"),
            "configures the git of Argo CD's repo server, which is the hub's with argocd.mode hub; configure it there",
        )
    if env.target != "gke":
        yield Violation(
            at("argocd", "mode"),
            f"hub is supported on GKE only so far: the hub reaches a GKE cluster with Workload Identity, while a "
            f"{env.target} cluster would need a token the stack cannot read offline",
        )


@rule
def kubeflow_has_sign_in(env: Environment) -> Iterator[Violation]:
    """Kubeflow authorizes every request by the user header the ingress gateway passes on; only with
    `components.kubeflow.auth` does the gateway sign users in and set that header itself. Production needs it;
    elsewhere its absence is shown as an advisory on the Kubeflow Applications. Sign-in requests an ID token
    (scope `openid`), which is what the gateway verifies, and admits at least one e-mail domain."""
    kubeflow = env.components.kubeflow
    path = at("components", "kubeflow", "auth")
    if kubeflow.enabled and kubeflow.auth is None and env.tier == "prod":
        yield Violation(
            path,
            "is required for tier prod: without it the Kubeflow dashboard has no sign-in and trusts whatever "
            "kubeflow-userid header reaches it",
        )
    # Like the other Kubeflow settings, sign-in stays valid (and unused) while Kubeflow is turned off.
    if kubeflow.auth is None:
        return
    if "openid" not in kubeflow.auth.requested_scopes:
        yield Violation(
            at("components", "kubeflow", "auth", "requestedScopes"),
            "must include openid: without it the identity provider issues no ID token to verify",
        )
    # A rule rather than a schema bound: pydantic would report a bad entry a second time as a too-short list.
    if not kubeflow.auth.allowed_email_domains:
        yield Violation(
            at("components", "kubeflow", "auth", "allowedEmailDomains"),
            "needs at least one domain (oauth2-proxy admits nobody without one); `*` admits any",
        )


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
    for index, message in repeats([team.name for team in env.components.kubeflow.teams]):
        yield Violation(at("components", "kubeflow", "teams", index, "name"), message)


@rule
def gpu_operator_is_for_onprem(env: Environment) -> Iterator[Violation]:
    """NVIDIA's GPU operator installs drivers and a device plugin, which GKE manages on its GPU pools itself."""
    if env.target != "onprem" and env.components.gpu_operator.enabled:
        yield Violation(
            at("components", "gpuOperator", "enabled"),
            "is for target onprem only: GKE installs the NVIDIA driver and device plugin on GPU pools itself "
            "(and the platform adds the DCGM exporter there)",
        )


@rule
def thanos_has_what_it_reads(env: Environment) -> Iterator[Violation]:
    """Thanos reads Prometheus' blocks, so it needs monitoring; a coarser resolution is kept at least as long as
    the finer one it is made from. The `metrics` bucket takes no retention policy: the compactor must delete the
    blocks it compacts and those past retention."""
    thanos = env.components.thanos
    base = ("components", "thanos")
    if thanos.enabled and not env.components.monitoring.enabled:
        yield Violation(at(*base, "enabled"), "needs components.monitoring.enabled: Thanos reads Prometheus' blocks")
    retention = thanos.retention
    order = (("raw", retention.raw), ("fiveMinutes", retention.five_minutes), ("oneHour", retention.one_hour))
    for (finer, finer_value), (coarser, coarser_value) in zip(order, order[1:], strict=False):
        if durations.prometheus_duration(coarser_value) < durations.prometheus_duration(finer_value):
            yield Violation(
                at(*base, "retention", coarser),
                f"is {coarser_value}, shorter than {finer} ({finer_value}): downsampled blocks are made from the "
                "finer ones and should outlive them",
            )
    if env.gke is not None and "metrics" in env.gke.buckets.retention_days:
        yield Violation(
            at("gke", "buckets", "retentionDays", "metrics"),
            "cannot be set: Thanos' compactor deletes the blocks it compacts and those past "
            "components.thanos.retention, which a retention policy would refuse",
        )


@rule
def team_ray_clusters_fit(env: Environment) -> Iterator[Violation]:
    """A team's Ray cluster needs the KubeRay operator; its worker groups have unique names and minReplicas <=
    maxReplicas; at its largest (head, autoscaler and every group at maxReplicas) it fits the team's quota; GPU
    workers need nodes with that many GPUs (a `gpu` pool on GKE; on-prem, declared `onprem.nodes` when any are)."""
    for index, team in enumerate(env.components.kubeflow.teams):
        if team.ray is None:
            continue
        base = ("components", "kubeflow", "teams", index, "ray")
        if not env.components.kuberay.enabled:
            yield Violation(at(*base), "needs components.kuberay.enabled: the KubeRay operator makes the cluster")
        groups = team.ray.worker_groups
        for group_index, message in repeats([group.name for group in groups]):
            yield Violation(at(*base, "workerGroups", group_index, "name"), message)
        most = most_gpus_per_node(env)
        for group_index, group in enumerate(groups):
            path = (*base, "workerGroups", group_index)
            if group.min_replicas > group.max_replicas:
                yield Violation(
                    at(*path, "minReplicas"), f"is {group.min_replicas}, above maxReplicas {group.max_replicas}"
                )
            if group.gpu and most is not None and group.gpu > most:
                nodes = "no node has GPUs" if most == 0 else f"the nodes have at most {most}"
                yield Violation(at(*path, "gpu"), f"is {group.gpu} GPUs per worker, but {nodes}")
        largest = largest_ray_cluster(team.ray)
        quota = {
            "cpu": quantities.quantity(team.quota.cpu),
            "memory": quantities.quantity(team.quota.memory),
            "gpu": Decimal(team.quota.gpu),
        }
        for resource, needed in largest.items():
            if needed > quota[resource]:
                yield Violation(
                    at(*base),
                    f"requests up to {needed.normalize():f} {RAY_QUOTA_UNITS[resource]} at its largest (head, "
                    f"autoscaler, every worker group at maxReplicas), above the team's quota.{resource} of "
                    f"{quota[resource].normalize():f}",
                )


RAY_QUOTA_UNITS = {"cpu": "CPU cores", "memory": "bytes of memory", "gpu": "GPUs"}


def most_gpus_per_node(env: Environment) -> int | None:
    """The most GPUs one node of the environment has; None where the nodes are not declared (on-prem)."""
    if env.gke is not None:
        return max((pool.gpu.count for pool in env.gke.node_pools if pool.gpu is not None), default=0)
    if env.onprem is not None and env.onprem.nodes:
        return max(group.gpu for group in env.onprem.nodes)
    return None


# The rules between well-formed values that their consumers check later; imported last, as they use `rule`.
from infra.config import relations  # noqa: E402, F401
