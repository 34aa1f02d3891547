"""The Environment: every platform setting of one stack, typed and immutable.

Its `components:` settings are assembled from the component modules (infra/components/<name>.py, each declaring
its `settings`); the settings no one component owns are in infra/config/settings/ (the cluster layer, and the
platform-wide ones), re-exported here so the rest of the code imports them from one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, create_model
from pydantic.json_schema import SkipJsonSchema

from infra.catalog import CATALOG
from infra.components import EVERY_COMPONENT
from infra.components.argocd import ArgoCdSettings
from infra.config.formats import Domain, PinnedVersion
from infra.config.settings.cluster import (
    AuthorizedNetwork,
    BgpPeer,
    CloudSql,
    GcsBuckets,
    GkeCluster,
    GkeNetwork,
    Gpu,
    Kubeconfig,
    MetalLB,
    MinioTenant,
    NodePool,
    NodeTaint,
    OnPremCluster,
    OnPremEventing,
    OnPremNodes,
    PostgresCluster,
    Registry,
)
from infra.config.settings.common import (
    ComponentSettings,
    ExistingComponent,
    SecretSource,
    Settings,
)
from infra.config.settings.platform import (
    DefaultImages,
    GitOps,
    Ingress,
    MirrorException,
    Mirrors,
    ObjectStore,
)

if TYPE_CHECKING:
    from infra.platform.component import PlatformComponent

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
ComponentName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]

__all__ = [
    "KUBERNETES_VERSIONS",
    "ComponentName",
    "Components",
    "Environment",
    "Settings",
    "ComponentSettings",
    "ExistingComponent",
    "SecretSource",
    "Gpu",
    "NodeTaint",
    "GkeNetwork",
    "AuthorizedNetwork",
    "GcsBuckets",
    "CloudSql",
    "MetalLB",
    "BgpPeer",
    "Registry",
    "PostgresCluster",
    "OnPremEventing",
    "MinioTenant",
    "NodePool",
    "GkeCluster",
    "Kubeconfig",
    "OnPremNodes",
    "OnPremCluster",
    "Ingress",
    "ObjectStore",
    "DefaultImages",
    "MirrorException",
    "Mirrors",
    "GitOps",
]


def assembled_components(components: Sequence[type[PlatformComponent]] = EVERY_COMPONENT) -> type[Settings]:
    """The `components:` settings: one field per component that declares its settings, in registration order, each
    defaulting to its model's defaults."""
    fields: dict[str, Any] = {}
    for component in components:
        declared = component.settings
        if declared is None:
            continue
        if declared.key in fields:
            raise ValueError(f"components.{declared.key} is declared twice (again by {component.__module__})")
        fields[declared.key] = (declared.model, Field(default=declared.model(), description=declared.description))
    return create_model("Components", __base__=Settings, __module__=__name__, **fields)


Components = assembled_components()


class Environment(Settings):
    name: SkipJsonSchema[str] = ""
    """Set from the stack file name (`Pulumi.<name>.yaml`), never written in it."""
    tier: Literal["dev", "staging", "prod"]
    """How critical the environment is. `prod` must be highly available and keeps its data on deletion."""
    target: Literal["gke", "onprem"]
    """Where the platform runs: a GKE cluster this stack creates, or an existing on-premises cluster."""
    kubernetes_version: Literal[KUBERNETES_VERSIONS]  # type: ignore[valid-type]
    """Kubernetes minor version of the cluster; manifests are validated against it."""
    domain: Domain
    """DNS domain under which every platform UI is exposed, e.g. `grafana.<domain>`."""
    high_availability: bool = False
    """Run replicated control components (Argo CD, Prometheus, Alertmanager) across nodes."""
    gke: GkeCluster | None = None
    """The GKE cluster; required when target is `gke`."""
    onprem: OnPremCluster | None = None
    """The existing cluster; required when target is `onprem`."""
    ingress: Ingress = Ingress()
    """Ingress and mesh choice."""
    object_store: ObjectStore
    """Object storage for artifacts and backups."""
    components: Components = Components()
    """Optional components and their settings."""
    gitops: GitOps = GitOps()
    """Where Argo CD finds this repository."""
    versions: dict[ComponentName, PinnedVersion] = {}  # type: ignore[valid-type]
    """Chart versions this environment pins where it differs from the catalog, by component. Promotion copies
    these from one environment to the next."""
    default_images: DefaultImages = DefaultImages()
    """The platform's default images (images/ in this repository): where they are and which builds are offered."""
    argocd: ArgoCdSettings = ArgoCdSettings()
    """Argo CD: single sign-on, RBAC, sync windows and the ML applications it syncs from `apps/`."""
    mirrors: Mirrors = Mirrors()
    """Where a cluster without internet access gets charts, images and git repositories
    (docs/installing-without-internet.md); `python -m infra.cli mirror` lists what to copy there."""
