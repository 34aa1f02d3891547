"""Addresses in the cluster's object store, written the way ML tools expect them (gs:// or s3://)."""

from __future__ import annotations

from infra.cluster.facts import ObjectStore

SCHEME = {"gcs": "gs", "s3": "s3"}


def object_store_url(store: ObjectStore, purpose: str, path: str = "") -> str:
    """URL of `path` inside the bucket kept for `purpose` (artifacts, dvc, ...)."""
    url = f"{SCHEME[store.kind]}://{store.buckets[purpose]}"
    return f"{url}/{path}" if path else url
