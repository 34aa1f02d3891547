"""Names the platform derives from an environment's settings, in one place: the cluster layer creates
resources by them, and the rules check that they fit the limits of those resources."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from infra.config.syntax.quantities import quantity

if TYPE_CHECKING:  # the settings modules import this one
    from infra.components.kubeflow import TeamRay
    from infra.config.model import Environment

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


# The Harbor project the images workflow pushes the default images to, on-prem with Harbor as the registry.
HARBOR_IMAGES_PROJECT = "mlops"


def default_images_registry(env: Environment) -> str:
    """Where the environment's default images are: its `defaultImages.registry`, else its own registry (the
    Artifact Registry repository the cluster layer creates on GKE, Harbor's `mlops` project or the existing
    registry on-prem)."""
    if env.default_images.registry is not None:
        return env.default_images.registry
    if env.gke is not None:
        return f"{env.gke.region}-docker.pkg.dev/{env.gke.project}/{gke_cluster_name(env.name)}"
    assert env.onprem is not None  # guaranteed by rules.target_section_matches
    registry = env.onprem.registry
    return registry.url if registry.url is not None else f"harbor.{env.domain}/{HARBOR_IMAGES_PROJECT}"


def default_image(env: Environment, name: str) -> str | None:
    """The reference of the build of default image `name` the environment pins (`defaultImages.tags`), or None."""
    build = env.default_images.tags.get(name)
    if build is None:
        return None
    tag, _, digest = build.partition("@")
    return f"{default_images_registry(env)}/{name}:{tag}" + (f"@{digest}" if digest else "")
