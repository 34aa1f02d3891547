"""GKE target: the cluster and the Google Cloud services the platform uses.

Spine stage: only the ClusterFacts a GKE cluster provides. The network, private cluster, node pools, buckets,
Cloud SQL, Artifact Registry and Workload Identity bindings land with the cluster-layer issue.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.cluster.facts import ClusterFacts, ObjectStore, StorageClasses
from infra.config import Environment

BUCKET_PURPOSES = ("artifacts", "dvc", "backups", "log-snapshots")


def build(env: Environment) -> ClusterFacts:
    assert env.gke is not None  # guaranteed by rules.target_section_matches
    cluster_name = f"mlops-{env.name}"
    provider = k8s.Provider(
        "gke",
        context=f"gke_{env.gke.project}_{env.gke.region}_{cluster_name}",
        enable_server_side_apply=True,
    )
    buckets = {purpose: f"{env.object_store.bucket_prefix}-{env.name}-{purpose}" for purpose in BUCKET_PURPOSES}
    return ClusterFacts(
        target="gke",
        provider=provider,
        storage=StorageClasses(default="standard-rwo", fast="premium-rwo"),
        object_store=ObjectStore(
            kind="gcs", endpoint="https://storage.googleapis.com", buckets=buckets, credentials="workload-identity"
        ),
        registry=f"{env.gke.region}-docker.pkg.dev/{env.gke.project}/{cluster_name}",
        load_balancer="cloud",
        cni="dataplane-v2",
        has_metrics_server=True,
        has_managed_logging=True,
    )
