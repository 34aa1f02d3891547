"""Velero: scheduled backups of Kubernetes objects and persistent volumes to the object store.

Backups go to the `backups` bucket of ClusterFacts.object_store: Cloud Storage through Workload Identity on GKE
(with Compute Engine disk snapshots), an S3-compatible store with the object store's credentials Secret on-prem
(volumes there are snapshotted through CSI, and Longhorn keeps its own recurring backups). Restores: docs/restore.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

from pydantic import Field

from infra.config.formats import KubernetesName, Namespace, StandardCron
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.mirrors import mirrored_image
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, HTTPS_OUT, KUBE_API, Allow
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

LOCATION = "default"
# Velero 1.18 pairs with the 1.14 object-store plugins (Velero's compatibility matrix).
PLUGINS = {
    "gcs": ("velero.io/gcp", "velero/velero-plugin-for-gcp:v1.14.0"),
    "s3": ("aws", "velero/velero-plugin-for-aws:v1.14.0"),
}
# The S3 plugin reads an AWS credentials file from this key of the object store's credentials Secret.
CREDENTIALS_KEY = "cloud"
RESTRICTED_CONTAINER = restricted_container(non_root=False)


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


class VeleroSettings(Settings):
    enabled: bool = True
    """Install Velero, which backs up Kubernetes objects and volumes to the object store's `backups` bucket."""
    schedules: Annotated[tuple[BackupSchedule, ...], Field(min_length=1)] = (BackupSchedule(name="daily"),)
    """Backup schedules; restores are described in docs/restore.md."""


class Velero(PlatformComponent):
    spec = ComponentSpec(
        name="velero",
        layer="platform",
        namespace="velero",
        provides_crds=("velero.io",),
        network=(KUBE_API, HTTPS_OUT),
    )
    sources = {
        "velero": Chart(
            "https://vmware-tanzu.github.io/helm-charts",
            "velero",
            "12.1.0",
            "velero",
            images=(ImageValue("image.repository", "docker.io/velero/velero"),),
        ),
    }
    settings = ComponentSettings("velero", VeleroSettings, "Scheduled backups of Kubernetes objects and volumes.")

    exported_families = {
        "velero/velero": ("velero_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("velero", "velero", "Velero"),
            group(
                "velero-backups",
                [
                    alert(
                        "VeleroBackupFailed",
                        "increase(velero_backup_failure_total[1h]) > 0",
                        component="velero",
                        summary="A Velero backup of schedule {{ $labels.schedule }} failed",
                        description=(
                            "Read `velero backup describe --details` for the failed backup; restores rely on it."
                        ),
                    ),
                    alert(
                        "VeleroBackupTooOld",
                        'time() - velero_backup_last_successful_timestamp{schedule!=""} > 2 * 86400',
                        component="velero",
                        severity="critical",
                        summary="Schedule {{ $labels.schedule }} has had no successful backup for two days",
                        description="Data written since the last good backup cannot be restored (docs/restore.md).",
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.velero.enabled

    def build(self) -> None:
        self.namespace(self._object_store_egress())
        self.application(self.values())
        self.locations()
        self.schedules()
        self.scrape("velero", {"app.kubernetes.io/name": "velero"}, "http-monitoring")

    @property
    def _store(self):  # noqa: ANN202 (ClusterFacts.ObjectStore)
        return self.ctx.facts.object_store

    def values(self) -> dict[str, Any]:
        store = self._store
        _, plugin_image = PLUGINS[store.kind]
        uses_secret = store.credentials == "secret"
        return {
            "initContainers": [
                {
                    "name": "object-store-plugin",
                    "image": mirrored_image(plugin_image, self.env.mirrors),
                    "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                    "securityContext": RESTRICTED_CONTAINER,
                    "resources": resources("50m", "64Mi", "100m", "128Mi"),
                }
            ],
            # Locations and schedules are declared as custom resources below, reviewed and validated like the rest.
            "configuration": {"backupStorageLocation": [], "volumeSnapshotLocation": []},
            "schedules": {},
            "backupsEnabled": True,
            "snapshotsEnabled": True,
            # Argo CD applies the chart's crds/ on every sync, so the chart's kubectl upgrade job is not needed.
            "upgradeCRDs": False,
            "credentials": {
                "useSecret": uses_secret,
                "existingSecret": store.credentials_secret if uses_secret else None,
            },
            "serviceAccount": {"server": {"create": True, "name": "velero", "annotations": self._annotations()}},
            "podSecurityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": RESTRICTED_CONTAINER,
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            "deployNodeAgent": False,
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        }

    def _annotations(self) -> dict[str, Any]:
        return dict(self.ctx.facts.identity.annotations("velero"))

    def locations(self) -> None:
        store = self._store
        provider, _ = PLUGINS[store.kind]
        location: dict[str, Any] = {
            "provider": provider,
            "default": True,
            "objectStorage": {"bucket": store.buckets["backups"], "prefix": "velero"},
        }
        if store.kind == "s3":
            location["config"] = {"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": store.endpoint}
        if store.credentials == "secret" and store.credentials_secret:
            location["credential"] = {"name": store.credentials_secret, "key": CREDENTIALS_KEY}
        namespace = self.spec.namespace
        self.custom_resource("velero.io/v1", "BackupStorageLocation", LOCATION, location, namespace=namespace)
        if store.kind == "gcs":
            # Persistent disks are snapshotted by Compute Engine, next to the cluster.
            snapshots = {"provider": provider, "config": {"snapshotLocation": self._region()}}
            self.custom_resource("velero.io/v1", "VolumeSnapshotLocation", LOCATION, snapshots, namespace=namespace)

    def _region(self) -> str:
        return self.env.gke.region if self.env.gke is not None else ""

    def schedules(self) -> None:
        for schedule in self.env.components.velero.schedules:
            template: dict[str, Any] = {
                "ttl": f"{schedule.ttl_hours}h0m0s",
                "storageLocation": LOCATION,
                "snapshotVolumes": schedule.snapshot_volumes,
                "includedNamespaces": list(schedule.include_namespaces) or ["*"],
            }
            if schedule.snapshot_volumes and self._store.kind == "gcs":
                template["volumeSnapshotLocations"] = [LOCATION]
            spec = {"schedule": schedule.schedule, "useOwnerReferencesInBackup": False, "template": template}
            self.custom_resource("velero.io/v1", "Schedule", schedule.name, spec, namespace=self.spec.namespace)

    def _object_store_egress(self) -> list[Allow]:
        url = urlparse(self._store.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        if port == 443:
            return []  # HTTPS_OUT covers it
        # An in-cluster S3 endpoint (MinIO) is a pod in another namespace, not an address outside.
        return [Allow("object-store", "egress", (ANY_NAMESPACE, ANYWHERE), (port,))]
