"""Cloud SQL for PostgreSQL on a private IP: the metadata database of MLflow and Kubeflow Pipelines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from infra.cluster.facts import PLATFORM_DATABASES

if TYPE_CHECKING:
    from infra.config import Environment


def build_database(
    env: Environment, name: str, vpc: gcp.compute.Network, opts: pulumi.ResourceOptions
) -> gcp.sql.DatabaseInstance:
    assert env.gke is not None
    gke, settings, prod = env.gke, env.gke.database, env.tier == "prod"
    peering_range = gcp.compute.GlobalAddress(
        f"{name}-private-services",
        name=f"{name}-private-services",
        project=gke.project,
        network=vpc.id,
        purpose="VPC_PEERING",
        address_type="INTERNAL",
        prefix_length=20,
        opts=opts,
    )
    peering = gcp.servicenetworking.Connection(
        f"{name}-private-services",
        network=vpc.id,
        service="servicenetworking.googleapis.com",
        reserved_peering_ranges=[peering_range.name],
        opts=opts,
    )
    instance = gcp.sql.DatabaseInstance(
        name,
        name=name,
        project=gke.project,
        region=gke.region,
        database_version=settings.postgres_version,
        deletion_protection=prod,
        settings={
            "tier": settings.tier,
            "availability_type": "REGIONAL" if env.high_availability else "ZONAL",
            "disk_type": "PD_SSD",
            "disk_size": settings.disk_size_gb,
            "disk_autoresize": True,
            "deletion_protection_enabled": prod,
            "ip_configuration": {"ipv4_enabled": False, "private_network": vpc.id, "ssl_mode": "ENCRYPTED_ONLY"},
            "backup_configuration": {
                "enabled": True,
                "point_in_time_recovery_enabled": True,
                "start_time": "02:00",
                "transaction_log_retention_days": 7,
                "backup_retention_settings": {"retained_backups": settings.backup_retention, "retention_unit": "COUNT"},
            },
            # Workloads log in with their Google service account (Workload Identity): no database passwords.
            "database_flags": [
                {"name": "cloudsql.iam_authentication", "value": "on"},
                {"name": "log_min_duration_statement", "value": "1000"},
            ],
            "maintenance_window": {"day": 7, "hour": 3, "update_track": "stable"},
            "user_labels": {"environment": env.name},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[peering], protect=prod)),
    )
    for database in PLATFORM_DATABASES:
        gcp.sql.Database(f"{name}-{database}", name=database, project=gke.project, instance=instance.name, opts=opts)
    return instance
