"""The cluster layer: the only place where GKE and on-prem differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.cluster import gke, onprem
from infra.cluster.facts import (
    ClusterFacts,
    Database,
    EventBroker,
    ObjectStore,
    StorageClasses,
    WorkloadIdentity,
)
from infra.platform.secrets import SecretToCreate

if TYPE_CHECKING:
    from infra.config import Environment

__all__ = [
    "ClusterFacts",
    "Database",
    "EventBroker",
    "ObjectStore",
    "StorageClasses",
    "WorkloadIdentity",
    "build_cluster",
    "cni_of",
]


def cni_of(env: Environment) -> str:
    """The CNI the cluster layer gives an environment (ClusterFacts.cni), for offline checks without facts."""
    return env.onprem.cni if env.onprem is not None else "dataplane-v2"


def cluster_secrets_to_create(env: Environment) -> tuple[SecretToCreate, ...]:
    """Secrets the cluster layer's facts name that the adopter creates (the components declare their own)."""
    return onprem.secrets_to_create(env) if env.target == "onprem" else ()


def build_cluster(env: Environment) -> ClusterFacts:
    builders = {"gke": gke.build, "onprem": onprem.build}
    return builders[env.target](env)
