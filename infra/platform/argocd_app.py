"""The one way an add-on reaches the cluster: an Argo CD Application of its upstream source, either a Helm
chart (values computed in Python) or a kustomize path in a git repository at a release tag (kustomize
options such as patches computed in Python)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.config.settings.platform import Mirrors
from infra.platform import labels
from infra.sources import Chart

ARGOCD_NAMESPACE = "argocd"
PLATFORM_PROJECT = "platform"
IN_CLUSTER = "https://kubernetes.default.svc"

SyncMode = Literal["automated", "automated-no-prune", "manual"]
ENVIRONMENT_LABEL = "mlops.dev/environment"
SOURCE_KEY = "mlops.dev/application"
"""Annotation of an Application written into a hub: its name without the environment prefix (the catalog key),
which the offline expansion and the checks know it by."""


@dataclass(frozen=True)
class Delivery:
    """Where the platform's Argo CD objects are written and which cluster they sync: the cluster's own Argo CD
    (argocd.mode in-cluster), or a hub's, with names prefixed by the environment (several clusters share a hub)."""

    namespace: str = ARGOCD_NAMESPACE
    prefix: str = ""
    cluster: str = ""
    """The name the hub knows this cluster by; empty: the in-cluster server."""
    provider: Any = None
    """The Kubernetes provider of the hub (pulumi_kubernetes.Provider); None: the cluster's."""

    @property
    def hub(self) -> bool:
        return bool(self.cluster)

    environment: str = ""
    """The environment the objects written into a hub belong to (their ENVIRONMENT_LABEL)."""

    def name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels of every object written into a hub: which environment it belongs to (the drift workflow selects
        this environment's Applications by it)."""
        return {ENVIRONMENT_LABEL: self.environment} if self.hub else {}

    def destination(self, namespace: str) -> dict[str, str]:
        target = {"name": self.cluster} if self.hub else {"server": IN_CLUSTER}
        return {**target, "namespace": namespace}


IN_CLUSTER_DELIVERY = Delivery()
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}
RESPECT_IGNORE_DIFFERENCES = "RespectIgnoreDifferences=true"


@dataclass(frozen=True)
class IgnoredDifference:
    """One entry of an Application's `ignoreDifferences`: fields of one object that a controller other than Argo CD
    writes after each sync (the table in infra/expand/writers.py says which and why). Argo CD leaves them out of
    its comparison, and with RespectIgnoreDifferences a sync keeps the cluster's value instead of writing the
    rendered one back. As narrow as Argo CD allows: one object by group, kind and name, and JSON pointers."""

    application: str
    """The Application that carries it (its catalog key: the chart's, or the Kubeflow part's)."""
    group: str
    """API group without version; "" for the core group."""
    kind: str
    name: str
    json_pointers: tuple[str, ...]
    writer: str
    """Key of the runtime writer (infra/expand/writers.py) that changes these fields."""
    namespace: str | None = None

    def spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"group": self.group, "kind": self.kind, "name": self.name}
        if self.namespace is not None:
            entry["namespace"] = self.namespace
        entry["jsonPointers"] = list(self.json_pointers)
        return entry


def mirrored_url(url: str, mirrors: Mapping[str, str]) -> str:
    """`url` with its upstream prefix replaced by that prefix's git mirror (mirrors.git), the longest prefix
    winning as in git's `insteadOf`; unchanged when no prefix matches."""
    prefixes = [prefix for prefix in mirrors if url.startswith(prefix)]
    if not prefixes:
        return url
    prefix = max(prefixes, key=len)
    return mirrors[prefix] + url[len(prefix) :]


def mirrored_source(chart: Chart, mirrors: Mirrors) -> Chart:
    """A catalog entry as an Application names it: a git source under a mirrored prefix from its mirror (Argo CD
    resolves an Application's tag with a git client that ignores the repo server's `insteadOf`); a Helm chart from
    the chart mirror (an OCI registry, named without `oci://` as Argo CD's Helm sources want it) when there is one."""
    if chart.is_git:
        return replace(chart, repo_url=mirrored_url(chart.repo_url, mirrors.git))
    if mirrors.charts:
        return replace(chart, repo_url=mirrors.charts.removeprefix("oci://"))
    return chart


def sync_policy(mode: SyncMode, sync_options: list[str]) -> dict[str, Any]:
    """Argo CD syncPolicy for a sync mode; `manual` leaves out `automated`, so only a person syncs."""
    policy: dict[str, Any] = {"syncOptions": sync_options, "retry": RETRY}
    if mode != "manual":
        policy["automated"] = {"prune": mode == "automated", "selfHeal": True}
    return policy


def chart_application(
    *,
    name: str,
    component: str,
    layer: str,
    chart: Chart,
    version: str,
    namespace: str,
    values: Mapping[str, Any],
    wave: int,
    depends_on_components: Sequence[str] = (),
    provides_crds: Sequence[str] = (),
    server_side_apply: bool = False,
    sync: SyncMode = "automated",
    advisories: Sequence[str] = (),
    release_name: str | None = None,
    project: str = PLATFORM_PROJECT,
    ignore_differences: Sequence[IgnoredDifference] = (),
    delivery: Delivery = IN_CLUSTER_DELIVERY,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    sync_options = ["CreateNamespace=false", "PruneLast=true"]
    if server_side_apply:
        sync_options.append("ServerSideApply=true")
    if ignore_differences:
        # Without it a sync applies the rendered value of an ignored field, and the controller that owns it has to
        # write it again: a webhook without its CA bundle refuses requests until then.
        sync_options.append(RESPECT_IGNORE_DIFFERENCES)
    annotations = {
        labels.SYNC_WAVE: str(wave),
        labels.WAIT_FOR: labels.HEALTHY,
    }
    if depends_on_components:
        annotations[labels.DEPENDS_ON] = ",".join(sorted(depends_on_components))
    if provides_crds:
        annotations[labels.PROVIDES_CRDS] = ",".join(sorted(provides_crds))
    if advisories:
        annotations[labels.ADVISORY] = "; ".join(advisories)
    if delivery.hub:
        annotations[SOURCE_KEY] = name
    spec: dict[str, Any] = {
        "project": delivery.name(project),
        # The release keeps the catalog key: a prefix would rename what the chart makes.
        "source": application_source(chart, version, values, release_name or name),
        "destination": delivery.destination(namespace),
        "syncPolicy": sync_policy(sync, sync_options),
    }
    if ignore_differences:
        spec["ignoreDifferences"] = [entry.spec() for entry in ignore_differences]
    return k8s.apiextensions.CustomResource(
        f"{name}-application",
        api_version="argoproj.io/v1alpha1",
        kind="Application",
        metadata={
            "name": delivery.name(name),
            "namespace": delivery.namespace,
            "labels": {**labels.component_labels(component, layer), **delivery.labels},
            "annotations": annotations,
            # Deleting the Application removes what it installed instead of orphaning it.
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        spec=spec,
        opts=opts,
    )


def application_source(chart: Chart, version: str, values: Mapping[str, Any], release_name: str) -> dict[str, Any]:
    """An Application source: for a chart, `values` are its Helm values; for a git source, they are the
    Application's kustomize options (patches, images, commonLabels...)."""
    if chart.is_git:
        source: dict[str, Any] = {"repoURL": chart.repo_url, "path": chart.path, "targetRevision": version}
        if values:
            source["kustomize"] = dict(values)
        return source
    return {
        "repoURL": chart.repo_url,
        "chart": chart.chart,
        "targetRevision": version,
        "helm": {"releaseName": release_name, "valuesObject": dict(values)},
    }
