"""Cloud Storage buckets (artifacts, DVC remote, backups, log snapshots) and the Artifact Registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_gcp as gcp

from infra.cluster.facts import PIPELINE_RUNS_PREFIX

if TYPE_CHECKING:
    from infra.config import Environment

SECONDS_PER_DAY = 86_400


def build_buckets(
    env: Environment, names: dict[str, str], opts: pulumi.ResourceOptions
) -> dict[str, gcp.storage.Bucket]:
    assert env.gke is not None
    prod = env.tier == "prod"
    # Prod data survives `pulumi destroy` and a mistaken replace: protected, never force-emptied.
    bucket_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=prod))
    return {
        purpose: gcp.storage.Bucket(
            name,
            name=name,
            project=env.gke.project,
            location=env.gke.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=not prod,
            labels={"environment": env.name, "purpose": purpose},
            **_protection(env, purpose),
            opts=bucket_opts,
        )
        for purpose, name in names.items()
    }


def _protection(env: Environment, purpose: str) -> dict[str, Any]:
    """Versioning with pruning of old versions; or a retention policy where one is asked for (Cloud Storage
    rejects a bucket with both)."""
    assert env.gke is not None
    settings = env.gke.buckets
    rules: list[dict[str, Any]] = []
    if purpose == "log-snapshots":
        rules.append({"action": {"type": "Delete"}, "condition": {"age": settings.log_snapshots_days}})
    if purpose == "artifacts" and settings.pipeline_runs_days is not None:
        condition = {"age": settings.pipeline_runs_days, "matches_prefixes": [f"{PIPELINE_RUNS_PREFIX}/"]}
        rules.append({"action": {"type": "Delete"}, "condition": condition})
    retention = settings.retention_days.get(purpose)  # type: ignore[call-overload]
    if retention is not None:
        return {
            "versioning": {"enabled": False},
            "retention_policy": {"retention_period": str(retention * SECONDS_PER_DAY), "is_locked": False},
            "lifecycle_rules": rules,
        }
    rules += [
        {
            "action": {"type": "Delete"},
            "condition": {"num_newer_versions": settings.noncurrent_versions_kept, "with_state": "ARCHIVED"},
        },
        {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": settings.noncurrent_days}},
    ]
    return {"versioning": {"enabled": True}, "lifecycle_rules": rules}


def build_registry(env: Environment, name: str, opts: pulumi.ResourceOptions) -> gcp.artifactregistry.Repository:
    assert env.gke is not None
    prod = env.tier == "prod"
    return gcp.artifactregistry.Repository(
        name,
        repository_id=name,
        project=env.gke.project,
        location=env.gke.region,
        format="DOCKER",
        description=f"Container images of the {env.name} MLOps platform",
        # Released tags never move in prod, so a deployed digest is always the reviewed one.
        docker_config={"immutable_tags": prod},
        labels={"environment": env.name},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=prod)),
    )
