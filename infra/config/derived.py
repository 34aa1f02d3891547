"""Names the platform derives from an environment's settings, in one place: the cluster layer creates
resources by them, and the rules check that they fit the limits of those resources."""

from __future__ import annotations

# `metrics`: the blocks Prometheus' Thanos sidecar uploads (components.thanos).
BUCKET_PURPOSES = ("artifacts", "dvc", "backups", "log-snapshots", "metrics")
GKE_CLUSTER_PREFIX = "mlops-"


def bucket_names(prefix: str, environment: str) -> dict[str, str]:
    """Bucket name by purpose, the same on every target: `<prefix>-<environment>-<purpose>`."""
    return {purpose: f"{prefix}-{environment}-{purpose}" for purpose in BUCKET_PURPOSES}


def gke_cluster_name(environment: str) -> str:
    """The GKE cluster, and the prefix of the GCP resources that belong to it."""
    return f"{GKE_CLUSTER_PREFIX}{environment}"
