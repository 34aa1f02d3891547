"""Storage: the object store of artifacts, backups and snapshots, and Longhorn block storage."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    BucketPrefix,
    S3Endpoint,
    StandardCron,
)
from infra.config.settings.common import Settings


class ObjectStore(Settings):
    provider: Literal["gcs", "minio", "s3"]
    """Where ML artifacts, backups and log snapshots go: Cloud Storage (GKE), an in-cluster MinIO, or an
    existing S3-compatible endpoint (on-prem)."""
    endpoint: S3Endpoint | None = None
    """URL of an existing S3-compatible endpoint; only with provider `s3`."""
    bucket_prefix: BucketPrefix = "mlops"
    """Prefix of every bucket name, so environments sharing an endpoint do not collide."""


class RecurringJob(Settings):
    cron: StandardCron
    """When the job runs, as a five-field cron expression in the cluster's time zone (UTC unless changed)."""
    retain: Annotated[int, Field(ge=1, le=100)]
    """How many snapshots or backups this job keeps per volume; older ones are deleted."""


class Longhorn(Settings):
    enabled: bool | None = None
    """Install Longhorn. Unset: on-prem yes (it is the cluster's block storage and cannot be turned off there),
    GKE no. On GKE, `true` requires every node pool to use the Ubuntu node image (Longhorn needs open-iscsi)."""
    snapshots: RecurringJob = RecurringJob(cron="0 */6 * * *", retain=8)
    """Recurring in-cluster snapshots of every Longhorn volume."""
    backups: RecurringJob = RecurringJob(cron="30 2 * * *", retain=14)
    """Recurring backups of every Longhorn volume to the object store's `backups` bucket. Only where the object
    store takes S3 keys (on-prem); on GKE the bucket is reached by Workload Identity, which Longhorn cannot use."""
