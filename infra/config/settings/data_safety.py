"""Policy and data safety: scheduled backups (Velero) and secrets from a secret store (External Secrets)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    HttpUrl,
    KubernetesName,
    Namespace,
    StandardCron,
)
from infra.config.settings.common import Settings


class BackupSchedule(Settings):
    name: KubernetesName
    """Schedule name; its backups are named `<name>-<timestamp>`."""
    schedule: StandardCron = "0 2 * * *"
    """Cron expression (UTC) of when a backup starts, e.g. `0 2 * * *` for 02:00 every day."""
    ttl_hours: Annotated[int, Field(ge=1, le=87600)] = 720
    """How long each backup is kept, in hours (720 = 30 days)."""
    include_namespaces: tuple[Namespace, ...] = ()
    """Namespaces to back up; empty means every namespace."""
    snapshot_volumes: bool = True
    """Also snapshot persistent volumes (Compute Engine disk snapshots on GKE, CSI snapshots on-prem)."""


class Velero(Settings):
    enabled: bool = True
    """Install Velero, which backs up Kubernetes objects and volumes to the object store's `backups` bucket."""
    schedules: Annotated[tuple[BackupSchedule, ...], Field(min_length=1)] = (BackupSchedule(name="daily"),)
    """Backup schedules; restores are described in docs/restore.md."""


class VaultStore(Settings):
    server: HttpUrl
    """URL of the Vault server, e.g. `https://vault.example.internal:8200`."""
    path: Annotated[str, Field(min_length=1)] = "secret"
    """Mount path of the KV secrets engine."""
    kv_version: Literal["v1", "v2"] = "v2"
    """Version of that KV secrets engine."""
    auth_mount: Annotated[str, Field(min_length=1)] = "kubernetes"
    """Mount path of Vault's Kubernetes auth method, which trusts this cluster's service account tokens."""
    role: Annotated[str, Field(min_length=1)] = "external-secrets"
    """Vault role bound to the `external-secrets` service account."""


class ExternalSecrets(Settings):
    enabled: bool = True
    """Install External Secrets Operator: Kubernetes Secrets are created from GCP Secret Manager (GKE, through
    Workload Identity) or from the on-prem store, never written in git."""
    onprem_store: Literal["kubernetes", "vault"] = "kubernetes"
    """On-prem only: where secrets live. `kubernetes`: Secrets the platform team keeps in the `external-secrets`
    namespace; `vault`: a HashiCorp Vault (set `vault`)."""
    vault: VaultStore | None = None
    """The Vault server; required with onpremStore `vault`, and only with it."""
