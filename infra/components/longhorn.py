"""Longhorn: replicated block storage on the cluster's own disks, its storage classes, snapshots and backups.

On-prem it is the cluster's block storage (ClusterFacts names its classes); on GKE it runs only where the
environment asks for it, next to the Persistent Disk classes that stay the default there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra.config.formats import StandardCron
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.network import ANYWHERE, API_SERVER_ENTITIES, KUBE_API, Allow
from infra.platform.resources import resources
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

PROVISIONER = "driver.longhorn.io"
DEFAULT_CLASS = "longhorn"
FAST_CLASS = "longhorn-fast"
SHARED_CLASS = "longhorn-rwx"
# Volumes without a recurring-job label belong to the "default" group, so these jobs cover every volume.
DEFAULT_GROUP = "default"
# Longhorn's admission webhook and recovery backend are called by the API server, from outside the pod network.
LONGHORN_WEBHOOKS = Allow(
    "longhorn-webhooks", "ingress", (ANYWHERE,), (9502, 9503), cluster_entities=API_SERVER_ENTITIES
)
# The backup store is an S3 endpoint in the cluster (MinIO) or outside it, on HTTP(S) or MinIO's port.
OBJECT_STORE_OUT = Allow("object-store", "egress", (ANYWHERE,), (80, 443, 9000))
REPLICAS_BY_TIER = {"dev": 2, "staging": 3, "prod": 3}


class RecurringJob(Settings):
    cron: StandardCron
    """When the job runs, as a five-field cron expression in the cluster's time zone (UTC unless changed)."""
    retain: Annotated[int, Field(ge=1, le=100)]
    """How many snapshots or backups this job keeps per volume; older ones are deleted."""


class LonghornSettings(Settings):
    enabled: bool | None = None
    """Install Longhorn. Unset: on-prem yes (it is the cluster's block storage and cannot be turned off there),
    GKE no. On GKE, `true` requires every node pool to use the Ubuntu node image (Longhorn needs open-iscsi)."""
    snapshots: RecurringJob = RecurringJob(cron="0 */6 * * *", retain=8)
    """Recurring in-cluster snapshots of every Longhorn volume."""
    backups: RecurringJob = RecurringJob(cron="30 2 * * *", retain=14)
    """Recurring backups of every Longhorn volume to the object store's `backups` bucket. Only where the object
    store takes S3 keys (on-prem); on GKE the bucket is reached by Workload Identity, which Longhorn cannot use."""


class Longhorn(PlatformComponent):
    spec = ComponentSpec(
        name="longhorn",
        layer="platform",
        namespace="longhorn-system",
        provides_crds=("longhorn.io",),
        pod_security="privileged",
        privileged_reason=(
            "longhorn-manager and the CSI/instance-manager pods it deploys are privileged and mount host /dev, "
            "/proc and the data path to attach block devices over iSCSI"
        ),
        network=(KUBE_API, LONGHORN_WEBHOOKS, OBJECT_STORE_OUT),
    )
    sources = {
        "longhorn": Chart(
            "https://charts.longhorn.io",
            "longhorn",
            "1.12.1",
            "longhorn-system",
            images=(ImageValue("global.imageRegistry", "docker.io", "registry", implied=True),),
        ),
    }
    settings = ComponentSettings(
        "longhorn", LonghornSettings, "Longhorn block storage, its storage classes, snapshots and backups."
    )

    exported_families = {
        "longhorn-system/longhorn-manager": ("longhorn_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            group(
                "longhorn",
                [
                    alert(
                        "LonghornVolumeDegraded",
                        "longhorn_volume_robustness == 2",
                        component="longhorn",
                        summary="Longhorn volume {{ $labels.volume }} is degraded",
                        description="A replica is missing; Longhorn rebuilds it if a node with space is schedulable.",
                    ),
                    alert(
                        "LonghornVolumeFaulted",
                        "longhorn_volume_robustness == 3",
                        component="longhorn",
                        for_="2m",
                        severity="critical",
                        summary="Longhorn volume {{ $labels.volume }} is faulted",
                        description="No healthy replica is left; the workload using it cannot read its data.",
                    ),
                    alert(
                        "LonghornNodeDown",
                        'longhorn_node_status{condition="ready"} == 0',
                        component="longhorn",
                        summary="Longhorn node {{ $labels.node }} is not ready",
                        description="Replicas on the node are unavailable until it returns.",
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        wanted = env.components.longhorn.enabled
        return wanted if wanted is not None else env.target == "onprem"

    def build(self) -> None:
        self.namespace()
        app = self.application(self.values())
        self.storage_classes(app)
        self.recurring_jobs()
        self.scrape("longhorn-manager", {"app": "longhorn-manager"}, "manager")

    @property
    def replicas(self) -> int:
        return REPLICAS_BY_TIER[self.env.tier]

    @property
    def backup_target(self) -> dict[str, Any] | None:
        """Longhorn authenticates to S3 only with static keys; where the object store grants access through
        Workload Identity (GCS on GKE) there is no key to give it, so backups stay off and snapshots remain."""
        store = self.ctx.facts.object_store
        if store.kind != "s3" or store.credentials != "secret":
            return None
        # MinIO ignores the region, but Longhorn's URL format requires one; the endpoint comes from the secret.
        return {
            "backupTarget": f"s3://{store.buckets['backups']}@us-east-1/longhorn",
            "backupTargetCredentialSecret": store.credentials_secret,
            "pollInterval": 300,
        }

    def values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        values: dict[str, Any] = {
            # The storage classes are declared by this component, so their parameters are reviewed in git.
            "persistence": {"createStorageClass": False},
            "defaultSettings": {
                "defaultReplicaCount": f'{{"v1":"{self.replicas}","v2":"{self.replicas}"}}',
                "nodeDownPodDeletionPolicy": "delete-both-statefulset-and-deployment-pod",
                "storageMinimalAvailablePercentage": 15,
            },
            # Longhorn's docs: the pre-upgrade hook Job must be off under Argo CD and other GitOps tools.
            "preUpgradeChecker": {"jobEnabled": False},
            "longhornManager": {"resources": resources("100m", "256Mi", "500m", "512Mi")},
            "longhornUI": {"replicas": 2 if ha else 1},
            "csi": {
                "attacherReplicaCount": 2 if ha else 1,
                "provisionerReplicaCount": 2 if ha else 1,
                "resizerReplicaCount": 2 if ha else 1,
                "snapshotterReplicaCount": 2 if ha else 1,
            },
            # longhorn-system is isolated by the platform itself (default-deny, then the allowances declared above:
            # same-namespace traffic, the webhooks, the API server, the backup store), so the chart adds no
            # NetworkPolicy of its own. `enabled` governs only the UI's ingress policy; the chart's six other
            # policies follow `restrictInternalTraffic`, true by default since 1.12.
            "networkPolicies": {"enabled": False, "restrictInternalTraffic": False},
            # The ServiceMonitor comes from self.scrape.
            "metrics": {"serviceMonitor": {"enabled": False}},
        }
        if self.backup_target is not None:
            values["defaultBackupStore"] = self.backup_target
        return values

    def storage_classes(self, app: pulumi.Resource) -> None:
        reclaim = "Retain" if self.env.tier == "prod" else "Delete"
        is_default = self.ctx.facts.storage.default == DEFAULT_CLASS
        self.storage_class(DEFAULT_CLASS, {"dataLocality": "disabled"}, reclaim, app, default=is_default)
        # A replica on the pod's node serves reads locally; the others still protect the data.
        self.storage_class(FAST_CLASS, {"dataLocality": "best-effort"}, reclaim, app)
        # ReadWriteMany volumes are served over NFS by a share-manager pod.
        self.storage_class(
            SHARED_CLASS,
            {"dataLocality": "disabled", "nfsOptions": "vers=4.2,noresvport,softerr,timeo=600,retrans=5"},
            reclaim,
            app,
        )

    def storage_class(
        self, name: str, parameters: dict[str, str], reclaim: str, app: pulumi.Resource, default: bool = False
    ) -> None:
        k8s.storage.v1.StorageClass(
            f"storageclass-{name}",
            metadata={
                "name": name,
                "labels": component_labels(self.spec.name, self.spec.layer),
                "annotations": {"storageclass.kubernetes.io/is-default-class": str(default).lower()},
            },
            provisioner=PROVISIONER,
            reclaim_policy=reclaim,
            allow_volume_expansion=True,
            volume_binding_mode="WaitForFirstConsumer" if name == FAST_CLASS else "Immediate",
            parameters={
                "numberOfReplicas": str(self.replicas),
                "staleReplicaTimeout": "30",
                "fsType": "ext4",
                **parameters,
            },
            opts=self.opts(depends_on=[app]),
        )

    def recurring_jobs(self) -> None:
        settings = self.env.components.longhorn
        self.recurring_job("snapshot", settings.snapshots)
        if self.backup_target is not None:
            self.recurring_job("backup", settings.backups)

    def recurring_job(self, task: str, schedule: RecurringJob) -> None:
        name = f"{task}-{DEFAULT_GROUP}"
        self.custom_resource(
            "longhorn.io/v1beta2",
            "RecurringJob",
            name,
            {
                "name": name,
                "task": task,
                "cron": schedule.cron,
                "retain": schedule.retain,
                "concurrency": 2,
                "groups": [DEFAULT_GROUP],
                "labels": {"mlops.dev/recurring-job": name},
            },
            namespace=self.spec.namespace,
        )
