"""The shape every platform component has: a spec, an `enabled` rule and a `build` that declares resources.

A component is one module under infra/components/ with one PlatformComponent subclass. It receives the
Environment and ClusterFacts through its PlatformContext and declares Kubernetes resources through the
helpers in this package, parented to itself so `pulumi preview` shows them grouped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra import catalog
from infra.cluster import ClusterFacts
from infra.config.settings.common import ComponentSettings, ExistingComponent, SecretSource
from infra.observability.promrules import Group
from infra.platform.argocd_app import (
    IN_CLUSTER_DELIVERY,
    Delivery,
    IgnoredDifference,
    SyncMode,
    chart_application,
    mirrored_source,
)
from infra.platform.existing import (
    existing_components,
    mesh_namespace,
    monitor_labels,
    prometheus_namespace,
    rule_labels,
)
from infra.platform.expose import Exposure, publish
from infra.platform.labels import SYNC_WAVE, component_labels
from infra.platform.mirrors import merged, mirror_values
from infra.platform.namespace import after, allowance_policies, baseline_allowances, denied_namespace
from infra.platform.network import Allow
from infra.platform.ordering import RESOURCE_OFFSET, owner_of, resource_wave
from infra.platform.secrets import SecretToCreate, secret_key_ref
from infra.sources import Chart

if TYPE_CHECKING:
    from infra.config import Environment

PodSecurity = Literal["restricted", "baseline", "privileged"]

# Custom resources that own data (deleting one deletes its volumes): `protect`ed in prod, so a mistaken
# `pulumi destroy` or replacement stops instead of dropping a database. The kubernetes-stateful-protected policy
# checks the same list (policies/crossguard/kubernetes.py; tests/test_policies.py keeps the two equal).
STATEFUL_CUSTOM_KINDS = frozenset(
    {
        ("postgresql.cnpg.io", "Cluster"),
        ("elasticsearch.k8s.elastic.co", "Elasticsearch"),
        ("minio.min.io", "Tenant"),
    }
)


@dataclass(frozen=True)
class ExtraNamespace:
    """A further namespace a component runs workloads in (e.g. the `knative-serving` namespace its operator
    fills), secured the same way as the component's own namespace."""

    name: str
    network: tuple[Allow, ...] = ()
    """Traffic it allows beyond DNS and same-namespace traffic."""
    pod_security: Literal["restricted", "baseline"] = "restricted"


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    """Component name; also its catalog key when it is a Helm chart."""
    layer: Literal["platform", "observability", "ml", "delivery"]
    namespace: str
    depends_on: tuple[str, ...] = ()
    """Components that must be installed first when they are enabled (e.g. Knative after Istio)."""
    provides_crds: tuple[str, ...] = ()
    """API groups (or group/Kind) whose CRDs this component installs."""
    pod_security: PodSecurity = "restricted"
    """Pod Security level its namespace enforces; `privileged` needs a reason in privileged_reason."""
    privileged_reason: str = ""
    network: tuple[Allow, ...] = ()
    """Traffic its namespace allows beyond DNS and same-namespace traffic."""
    server_side_apply: bool = False
    """Argo CD applies the chart server-side (needed for CRDs too large for client-side apply)."""
    sync: SyncMode = "automated"
    """How Argo CD syncs its Applications: `automated` (prune and self-heal), `automated-no-prune` (self-heal,
    never deletes; for charts whose removed objects hold data) or `manual` (a person syncs)."""
    sync_reason: str = ""
    """Why the component is not fully `automated`; required otherwise, shown in docs/delivery.md."""
    extra_namespaces: tuple[ExtraNamespace, ...] = ()
    """Namespaces besides `namespace` that this component creates and secures (none are created by charts)."""
    charts: tuple[str, ...] = ()
    """Catalog keys of its charts when it has several (Istio); empty: the one named like the component."""
    mesh: bool = False
    """Its pods join the service mesh: with ingress provider istio, its namespace gets sidecar injection and
    the component syncs after Istio."""
    ignore_differences: tuple[IgnoredDifference, ...] = ()
    """Fields of its Applications' objects that a controller writes after each sync, which Argo CD must leave to
    that controller (each names its Application and its writer; the `convergence` stage of `check` proves each
    one needed). Prefer values that make the chart render what the controller writes."""

    def __post_init__(self) -> None:
        if self.sync != "automated" and not self.sync_reason:
            raise ValueError(f"{self.name}: sync {self.sync!r} needs a sync_reason")
        applications = set(self.charts or (self.name,))
        for entry in self.ignore_differences:
            if entry.application not in applications:
                raise ValueError(
                    f"{self.name}: ignore_differences names Application {entry.application!r}, not one of "
                    f"{sorted(applications)}"
                )


@dataclass(frozen=True)
class PlatformContext:
    env: Environment
    facts: ClusterFacts
    waves: Mapping[str, int]
    """Argo CD sync wave of each enabled component's Application."""
    crd_owners: Mapping[str, str]
    """Component that installs each CRD API group (or group/Kind)."""
    namespaces: Mapping[str, str]
    """Namespace of each enabled component."""
    charts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Catalog keys of each enabled component's charts (what Argo CD may pull)."""
    delivery: Delivery = IN_CLUSTER_DELIVERY
    """Where the Applications are written (the cluster's Argo CD, or a hub's) and which cluster they target."""
    bootstrap: Sequence[pulumi.Resource] = ()
    """What every Application needs first: the Argo CD release and its AppProjects."""
    applications: dict[str, list[pulumi.Resource]] = field(default_factory=dict)
    """Applications declared so far, by component, so dependents can wait for them."""
    namespace_resources: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Namespaces declared so far, by name, so objects placed in another component's namespace wait for it."""
    components: Mapping[str, type[PlatformComponent]] = field(default_factory=dict)
    """Class of each enabled component (Argo CD included), by name, for what one component gathers from the others
    (the monitoring component deploys their `alert_groups`)."""

    def chart_version(self, component: str) -> str:
        return catalog.effective_version(component, dict(self.env.versions))

    @property
    def monitoring_enabled(self) -> bool:
        return self.env.components.monitoring.enabled


class PlatformComponent(pulumi.ComponentResource):
    spec: ClassVar[ComponentSpec]
    sources: ClassVar[Mapping[str, Chart]] = {}
    """Its upstream Helm charts and git paths with their default pins, by catalog key: what `versions:` may pin and
    `charts pull` fetches (infra/catalog.py gathers every registered component's)."""
    settings: ClassVar[ComponentSettings | None] = None
    """Its settings model and key under `components:` (infra/config/model.py assembles them). None for a component
    set elsewhere (Argo CD under `argocd:`, the on-prem services under `onprem:`) or not at all."""

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return True

    @classmethod
    def existing(cls, env: Environment) -> ExistingComponent | None:
        """The installation the cluster already runs, when the environment declares one (`components.*.existing`):
        then the stack installs none of the component, and its CRDs are there before anything syncs."""
        return existing_components(env).get(cls.spec.name)

    @classmethod
    def wanted(cls, env: Environment, facts: ClusterFacts) -> bool:
        """Whether the program installs it: `enabled`, unless what the cluster already provides matters too
        (metrics-server only where the cluster has none)."""
        return cls.enabled(env)

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        """Secrets its workloads read that nothing in the platform makes, which the adopter creates before its
        first sync (the `wiring` stage fails on a read Secret that is neither made nor declared here)."""
        return ()

    exported_families: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """The metric families each of its scrape targets exports, by monitor: `<namespace>/<name>` of the ServiceMonitor
    or PodMonitor (its `self.scrape`, or a chart's own), `*` matching any text; a family `prefix_*` stands for every
    family with that prefix. They hold the families the platform's alerts, recording rules and dashboards read and
    the exporter's documented prefixes; a target whose families nothing reads maps to `()` (still listed, so a new
    monitor is a decision). tests/test_metric_families.py fails on a monitor of an environment no component lists
    and on a family read that no target of the environment exports (infra/observability/exporters.py)."""

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        """Its alerting rule groups (built with infra/observability/promrules.py and the shared helpers of
        infra/observability/platform_alerts.py), which the monitoring component deploys as the PrometheusRule
        `<name>-alerts` when both are installed (tests/test_observability.py fails for an installed component
        without an alert)."""
        return []

    @classmethod
    def requires(cls, env: Environment) -> tuple[str, ...]:
        """Components to sync first: the declared ones, and Istio when its pods join the mesh."""
        mesh = ("istio",) if cls.spec.mesh and joins_mesh(env) else ()
        return (*cls.spec.depends_on, *mesh)

    def __init__(self, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mlops:{self.spec.layer}:{type(self).__name__}", self.spec.name, None, opts)
        self.ctx = ctx
        self._exposures: list[Exposure] = []
        self._allowances: dict[str, tuple[pulumi.Resource, list[Allow]]] = {}
        """Each namespace of this component, and what it allows: its policies are declared in `finish`."""
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once every component is built: declares what needed all of them (the UI routes)."""
        for exposure in self._exposures:
            from_ingress = publish(exposure, self.env, self.custom_resource)
            self._allowances[exposure.namespace][1].append(from_ingress)
        for name, (namespace, allows) in self._allowances.items():
            allowance_policies(name, allows, after(namespace, self.opts()))
        self.register_outputs({})

    @property
    def env(self) -> Environment:
        return self.ctx.env

    @property
    def chart(self) -> Chart:
        """The catalog entry named like the component (its only chart, for most components)."""
        return catalog.CATALOG[self.spec.name]

    def opts(self, depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, on the cluster, after the cluster is ready."""
        return pulumi.ResourceOptions(
            parent=self,
            provider=self.ctx.facts.provider,
            depends_on=[*self.ctx.facts.ready, *depends_on],
            **extra,
        )

    def delivery_opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """Options for an Argo CD object: like `opts`, but on the hub's provider in hub mode."""
        opts = self.opts(depends_on=depends_on)
        if self.ctx.delivery.provider is not None:
            opts.provider = self.ctx.delivery.provider
        return opts

    # --- the shared helpers, bound to this component's spec -------------------------------------------------

    def namespace(self, extra_allows: Sequence[Allow] = (), labels: Mapping[str, str] | None = None) -> pulumi.Resource:
        """The component's namespace (with extra `labels` an upstream expects), and its `extra_namespaces`, each
        secured by the namespace helper."""
        self._namespace = self._secured(
            self.spec.namespace, self.spec.pod_security, [*self.spec.network, *extra_allows], labels
        )
        self._extra_namespaces = [
            self._secured(extra.name, extra.pod_security, extra.network) for extra in self.extra_namespaces()
        ]
        return self._namespace

    def extra_namespaces(self) -> tuple[ExtraNamespace, ...]:
        """The extra namespaces this environment needs; a component overrides it to skip unused parts."""
        return self.spec.extra_namespaces

    def _secured(
        self, name: str, pod_security: str, allows: Sequence[Allow], labels: Mapping[str, str] | None = None
    ) -> pulumi.Resource:
        mesh_injection = self.spec.mesh and joins_mesh(self.env)
        namespace = self.ctx.namespace_resources[name] = denied_namespace(
            name,
            pod_security=pod_security,
            kubernetes_version=self.env.kubernetes_version,
            mesh_injection=mesh_injection,
            opts=self.opts(),
            privileged_reason=self.spec.privileged_reason,
            labels=labels,
        )
        baseline = baseline_allowances(
            name,
            mesh_injection,
            self.ctx.monitoring_enabled,
            self.ctx.facts.namespace_egress,
            mesh_namespace(self.env),
            prometheus_namespace(self.env),
        )
        self._allowances[name] = (namespace, [*baseline, *allows])
        if self.ctx.facts.cni == "cilium":
            self._cilium_entities(name, [allow for allow in allows if allow.cluster_entities], namespace)
        return namespace

    def _cilium_entities(self, namespace: str, allows: Sequence[Allow], after: pulumi.Resource) -> None:
        """Cilium's CIDR rules skip nodes and the API server, so the allowances aimed at them (kube-api,
        webhooks) are repeated by entity; default deny stays with the namespace's Kubernetes policy."""
        if not allows:
            return
        spec: dict[str, Any] = {
            "endpointSelector": {},
            "enableDefaultDeny": {"ingress": False, "egress": False},
        }
        for direction in ("ingress", "egress"):
            rules = [allow.cilium_rule() for allow in allows if allow.direction == direction]
            if rules:
                spec[direction] = rules
        self.custom_resource(
            "cilium.io/v2", "CiliumNetworkPolicy", "allow-cluster-entities", spec, namespace=namespace, after=[after]
        )

    def application(
        self,
        values: Mapping[str, Any],
        *,
        chart: str | None = None,
        stage: int = 0,
        installs_crds: bool = True,
        namespace: str | None = None,
        advisories: Sequence[str] = (),
    ) -> pulumi.Resource:
        """A chart of this component as an Argo CD Application, after its namespace and dependencies.

        A catalog entry that is a git source (a kustomize path at a release tag) is delivered the same way;
        `values` are then the Application's kustomize options (e.g. `patches`). `advisories` are shown on
        the Application for reviewers (untested-but-allowed choices).

        Most components have one chart, the catalog entry named like the component. One with several
        (Istio's base, istiod and gateway) passes each `chart` (its catalog key, also the Application name)
        and a `stage` (0-4) that orders them inside the component's wave; `installs_crds` marks the ones
        whose chart carries the component's CRDs. `namespace` places a chart that must run elsewhere than the
        component's namespace (a node agent in kube-system); Argo CD's platform project must allow it.
        """
        if not 0 <= stage < RESOURCE_OFFSET:
            raise ValueError(f"{self.spec.name}: stage must be 0..{RESOURCE_OFFSET - 1}")
        key = chart or self.spec.name
        needs = [dep for dep in self.requires(self.env) if dep in self.ctx.waves]
        waits_for = [app for dep in needs for app in self.ctx.applications.get(dep, [])]
        earlier_stages = self.ctx.applications.get(self.spec.name, [])
        if not catalog.CATALOG[key].is_git:  # the chart's images from the image mirror, when the environment has one
            values = merged(values, mirror_values(key, self.env.mirrors))
        app = chart_application(
            name=key,
            component=self.spec.name,
            layer=self.spec.layer,
            chart=mirrored_source(catalog.CATALOG[key], self.env.mirrors),
            version=self.ctx.chart_version(key),
            namespace=namespace or self.spec.namespace,
            values=values,
            wave=self.ctx.waves[self.spec.name] + stage,
            depends_on_components=needs,
            provides_crds=self.spec.provides_crds if installs_crds else (),
            server_side_apply=self.spec.server_side_apply,
            sync=self.spec.sync,
            advisories=advisories,
            ignore_differences=[entry for entry in self.spec.ignore_differences if entry.application == key],
            delivery=self.ctx.delivery,
            opts=self.delivery_opts([*self.ctx.bootstrap, *waits_for, *earlier_stages, *self._own_namespace()]),
        )
        self.ctx.applications.setdefault(self.spec.name, []).append(app)
        return app

    def custom_resource(
        self,
        api_version: str,
        kind: str,
        name: str,
        spec: Mapping[str, Any],
        namespace: str | None = None,
        annotations: Mapping[str, str] | None = None,
        after: Sequence[pulumi.Resource] = (),
        labels: Mapping[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        """A custom resource of this component, synced after the Application that installs its CRD (or, for
        CRDs of the cluster layer, after the component's own Application) and after `after` (e.g. the object
        that makes its namespace exist). `labels` are further labels, such as those a Prometheus selects by."""
        owner = owner_of(api_version, kind, self.ctx.crd_owners)
        if owner is None:
            raise ValueError(f"{self.spec.name}: no enabled component installs the CRD of {api_version} {kind}")
        if owner in self.ctx.waves and owner not in self.ctx.applications and owner != self.spec.name:
            raise ValueError(f"{self.spec.name} uses {kind} of {owner}: list {owner} before it in infra/components")
        needed = {owner, self.spec.name} & set(self.ctx.waves)
        # Argo CD itself (the bootstrap) has no wave: its resources exist before any Application syncs.
        wave = resource_wave(*(self.ctx.waves[component] for component in needed), 0)
        metadata: dict[str, Any] = {
            "name": name,
            "labels": {**(labels or {}), **component_labels(self.spec.name, self.spec.layer)},
            "annotations": {**(annotations or {}), SYNC_WAVE: str(wave)},
        }
        if namespace is not None:
            metadata["namespace"] = namespace
        waits_for = [app for c in sorted(needed) for app in self.ctx.applications.get(c, [])]
        # Objects of one name in several namespaces (one per extra namespace) need distinct Pulumi names.
        elsewhere = f"{namespace}-" if namespace not in (None, self.spec.namespace) else ""
        holds_data = (api_version.rsplit("/", 1)[0], kind) in STATEFUL_CUSTOM_KINDS
        return k8s.apiextensions.CustomResource(
            f"{self.spec.name}-{kind.lower()}-{elsewhere}{name}",
            api_version=api_version,
            kind=kind,
            metadata=metadata,
            spec=dict(spec),
            opts=self.opts(
                depends_on=[*waits_for, *self._namespace_of(namespace), *after],
                protect=holds_data and self.env.tier == "prod",
            ),
        )

    def secret_ref(self, source: SecretSource, name: str, namespace: str | None = None) -> dict[str, str]:
        """`{name, key}` of the Secret holding a credential named in the Environment (see platform/secrets.py)."""
        return secret_key_ref(
            source,
            name=name,
            namespace=namespace or self.spec.namespace,
            opts=self.opts(depends_on=self._own_namespace()),
        )

    def _own_namespace(self) -> list[pulumi.Resource]:
        namespace = getattr(self, "_namespace", None)
        return [namespace, *getattr(self, "_extra_namespaces", [])] if namespace is not None else []

    def _namespace_of(self, name: str | None) -> list[pulumi.Resource]:
        """The namespace an object goes in, when this program declares it (its own, or e.g. the ingress's)."""
        if name is None or name == self.spec.namespace:
            return self._own_namespace()
        other = self.ctx.namespace_resources.get(name)
        return [other] if other is not None else []

    def scrape(
        self,
        name: str,
        selector: Mapping[str, str],
        port: str | int,
        path: str = "/metrics",
        *,
        namespace: str | None = None,
        pods: bool = False,
        endpoint: Mapping[str, Any] | None = None,
    ) -> None:
        """Monitoring hook: a ServiceMonitor (or, with `pods`, a PodMonitor) for metrics in this component's
        namespace (or `namespace`), when monitoring is on. `port` names the Service port (the container port with
        `pods`), or is the pod's port number (`pods` only: a port no container declares, such as Istio's merged
        metrics). `endpoint` adds fields such as `scheme`/`tlsConfig`."""
        if not self.ctx.monitoring_enabled:
            return
        if isinstance(port, int) and not pods:
            raise ValueError(f"{self.spec.name}: a ServiceMonitor names its Service port; {port} is a number")
        where = namespace or self.spec.namespace
        kind, endpoints_key = ("PodMonitor", "podMetricsEndpoints") if pods else ("ServiceMonitor", "endpoints")
        port_field = "portNumber" if isinstance(port, int) else "port"
        self.custom_resource(
            "monitoring.coreos.com/v1",
            kind,
            name,
            {
                "selector": {"matchLabels": dict(selector)},
                "namespaceSelector": {"matchNames": [where]},
                endpoints_key: [{port_field: port, "path": path, "interval": "30s", **(endpoint or {})}],
            },
            namespace=where,
            labels=monitor_labels(self.env),
        )

    def alerts(self, name: str, groups: Sequence[Mapping[str, Any]], namespace: str | None = None) -> None:
        """Monitoring hook: a PrometheusRule with alerting/recording rule groups, when monitoring is on.
        Rules built with infra/observability/promrules.py carry their component label and explanation."""
        if not self.ctx.monitoring_enabled or not groups:
            return
        self.custom_resource(
            "monitoring.coreos.com/v1",
            "PrometheusRule",
            name,
            {"groups": [dict(group) for group in groups]},
            namespace=namespace or self.spec.namespace,
            labels=rule_labels(self.env),
        )

    def expose(self, name: str, service: str, port: int) -> None:
        """Serve this component's UI Service at https://<name>.<domain> through the environment's ingress,
        with a certificate from the platform ClusterIssuer (see infra/platform/expose.py)."""
        self._exposures.append(Exposure(name, service, port, self.spec.namespace))


def joins_mesh(env: Environment) -> bool:
    return env.ingress.provider == "istio"
