"""The shape every platform component has: a spec, an `enabled` rule and a `build` that declares resources.

A component is one module under infra/components/ with one PlatformComponent subclass. It receives the
Environment and ClusterFacts through its PlatformContext and declares Kubernetes resources through the
helpers in this package, parented to itself so `pulumi preview` shows them grouped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import CATALOG, Chart, effective_version
from infra.cluster import ClusterFacts
from infra.config import Environment
from infra.platform.argocd_app import chart_application
from infra.platform.labels import SYNC_WAVE, component_labels
from infra.platform.namespace import secured_namespace
from infra.platform.network import Allow
from infra.platform.ordering import RESOURCE_OFFSET, owner_of, resource_wave

PodSecurity = Literal["restricted", "baseline", "privileged"]


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
    bootstrap: Sequence[pulumi.Resource] = ()
    """What every Application needs first: the Argo CD release and its AppProjects."""
    applications: dict[str, list[pulumi.Resource]] = field(default_factory=dict)
    """Applications declared so far, by component, so dependents can wait for them."""

    def chart_version(self, component: str) -> str:
        return effective_version(component, dict(self.env.versions))

    @property
    def monitoring_enabled(self) -> bool:
        return self.env.components.monitoring.enabled


class PlatformComponent(pulumi.ComponentResource):
    spec: ClassVar[ComponentSpec]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return True

    def __init__(self, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mlops:{self.spec.layer}:{type(self).__name__}", self.spec.name, None, opts)
        self.ctx = ctx
        self.build()
        self.register_outputs({})

    def build(self) -> None:
        raise NotImplementedError

    @property
    def env(self) -> Environment:
        return self.ctx.env

    @property
    def chart(self) -> Chart:
        """The catalog entry named like the component (its only chart, for most components)."""
        return CATALOG[self.spec.name]

    def opts(self, depends_on: Sequence[pulumi.Resource] = (), **extra: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, on the cluster, after the cluster is ready."""
        return pulumi.ResourceOptions(
            parent=self,
            provider=self.ctx.facts.provider,
            depends_on=[*self.ctx.facts.ready, *depends_on],
            **extra,
        )

    # --- the shared helpers, bound to this component's spec -------------------------------------------------

    def namespace(self, extra_allows: Sequence[Allow] = (), labels: Mapping[str, str] | None = None) -> pulumi.Resource:
        self._namespace = secured_namespace(
            self.spec.namespace,
            labels=labels,
            pod_security=self.spec.pod_security,
            kubernetes_version=self.env.kubernetes_version,
            allows=[*self.spec.network, *extra_allows],
            scraped_by_prometheus=self.ctx.monitoring_enabled,
            opts=self.opts(),
        )
        return self._namespace

    def application(
        self,
        values: Mapping[str, Any],
        *,
        chart: str | None = None,
        stage: int = 0,
        installs_crds: bool = True,
        advisories: Sequence[str] = (),
    ) -> pulumi.Resource:
        """A chart of this component as an Argo CD Application, after its namespace and dependencies.

        A catalog entry that is a git source (a kustomize path at a release tag) is delivered the same way;
        `values` are then the Application's kustomize options (e.g. `patches`). `advisories` are shown on
        the Application for reviewers (untested-but-allowed choices).

        Most components have one chart, the catalog entry named like the component. One with several
        (Istio's base, istiod and gateway) passes each `chart` (its catalog key, also the Application name)
        and a `stage` (0-4) that orders them inside the component's wave; `installs_crds` marks the ones
        whose chart carries the component's CRDs.
        """
        if not 0 <= stage < RESOURCE_OFFSET:
            raise ValueError(f"{self.spec.name}: stage must be 0..{RESOURCE_OFFSET - 1}")
        key = chart or self.spec.name
        needs = [dep for dep in self.spec.depends_on if dep in self.ctx.waves]
        waits_for = [app for dep in needs for app in self.ctx.applications.get(dep, [])]
        earlier_stages = self.ctx.applications.get(self.spec.name, [])
        app = chart_application(
            name=key,
            component=self.spec.name,
            layer=self.spec.layer,
            chart=CATALOG[key],
            version=self.ctx.chart_version(key),
            namespace=self.spec.namespace,
            values=values,
            wave=self.ctx.waves[self.spec.name] + stage,
            depends_on_components=needs,
            provides_crds=self.spec.provides_crds if installs_crds else (),
            server_side_apply=self.spec.server_side_apply,
            advisories=advisories,
            opts=self.opts(depends_on=[*self.ctx.bootstrap, *waits_for, *earlier_stages, *self._own_namespace()]),
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
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> k8s.apiextensions.CustomResource:
        """A custom resource of this component, synced after the Application that installs its CRD (and after
        `depends_on`, e.g. the object that makes its namespace exist)."""
        owner = owner_of(api_version, kind, self.ctx.crd_owners)
        if owner is None:
            raise ValueError(f"{self.spec.name}: no enabled component installs the CRD of {api_version} {kind}")
        if owner in self.ctx.waves and owner not in self.ctx.applications and owner != self.spec.name:
            raise ValueError(f"{self.spec.name} uses {kind} of {owner}: list {owner} before it in infra/components")
        needed = {owner, self.spec.name} & set(self.ctx.waves)
        wave = resource_wave(*(self.ctx.waves[component] for component in needed))
        metadata: dict[str, Any] = {
            "name": name,
            "labels": component_labels(self.spec.name, self.spec.layer),
            "annotations": {SYNC_WAVE: str(wave)},
        }
        if namespace is not None:
            metadata["namespace"] = namespace
        waits_for = [app for c in sorted(needed) for app in self.ctx.applications.get(c, [])]
        # Objects with the same name in several namespaces (one per team) need distinct Pulumi names.
        elsewhere = f"{namespace}-" if namespace not in (None, self.spec.namespace) else ""
        return k8s.apiextensions.CustomResource(
            f"{self.spec.name}-{kind.lower()}-{elsewhere}{name}",
            api_version=api_version,
            kind=kind,
            metadata=metadata,
            spec=dict(spec),
            opts=self.opts(depends_on=[*waits_for, *self._own_namespace(), *depends_on]),
        )

    def _own_namespace(self) -> list[pulumi.Resource]:
        namespace = getattr(self, "_namespace", None)
        return [namespace] if namespace is not None else []

    def scrape(self, name: str, selector: Mapping[str, str], port: str, path: str = "/metrics") -> None:
        """Monitoring hook: a ServiceMonitor for the component's metrics Service, when monitoring is on."""
        if not self.ctx.monitoring_enabled:
            return
        self.custom_resource(
            "monitoring.coreos.com/v1",
            "ServiceMonitor",
            name,
            {
                "selector": {"matchLabels": dict(selector)},
                "namespaceSelector": {"matchNames": [self.spec.namespace]},
                "endpoints": [{"port": port, "path": path, "interval": "30s"}],
            },
            namespace=self.spec.namespace,
        )
