"""Names the platform derives from an environment's settings, in one place: the cluster layer creates
resources by them, and the rules check that they fit the limits of those resources."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from infra.config.syntax.quantities import quantity

if TYPE_CHECKING:  # model.py imports this module
    from infra.config.model import TeamRay

# `metrics`: the blocks Prometheus' Thanos sidecar uploads (components.thanos).
BUCKET_PURPOSES = ("artifacts", "dvc", "backups", "log-snapshots", "metrics")
GKE_CLUSTER_PREFIX = "mlops-"


def bucket_names(prefix: str, environment: str) -> dict[str, str]:
    """Bucket name by purpose, the same on every target: `<prefix>-<environment>-<purpose>`."""
    return {purpose: f"{prefix}-{environment}-{purpose}" for purpose in BUCKET_PURPOSES}


def gke_cluster_name(environment: str) -> str:
    """The GKE cluster, and the prefix of the GCP resources that belong to it."""
    return f"{GKE_CLUSTER_PREFIX}{environment}"


RAY_AUTOSCALER_CPU = "500m"
RAY_AUTOSCALER_MEMORY = "512Mi"
"""Requests and limits of the Ray autoscaler, a container KubeRay adds to the head pod."""


def largest_ray_cluster(ray: TeamRay) -> dict[str, Decimal]:
    """What a team's Ray cluster requests at its largest (head, autoscaler, every group at maxReplicas), in the
    ResourceQuota's terms: `cpu` in cores, `memory` in bytes, `gpu` in devices."""
    cpu = quantity(ray.head.cpu) + quantity(RAY_AUTOSCALER_CPU)
    memory = quantity(ray.head.memory) + quantity(RAY_AUTOSCALER_MEMORY)
    gpu = Decimal(0)
    for group in ray.worker_groups:
        cpu += group.max_replicas * quantity(group.cpu)
        memory += group.max_replicas * quantity(group.memory)
        gpu += group.max_replicas * group.gpu
    return {"cpu": cpu, "memory": memory, "gpu": gpu}
