"""The cluster layer: the only place where GKE and on-prem differ."""

from infra.cluster import gke, onprem
from infra.cluster.facts import ClusterFacts, Database, EventBroker, ObjectStore, StorageClasses, WorkloadIdentity
from infra.config import Environment

__all__ = [
    "ClusterFacts",
    "Database",
    "EventBroker",
    "ObjectStore",
    "StorageClasses",
    "WorkloadIdentity",
    "build_cluster",
]


def build_cluster(env: Environment) -> ClusterFacts:
    builders = {"gke": gke.build, "onprem": onprem.build}
    return builders[env.target](env)
