"""Policies on Google Cloud resources (pulumi-gcp 10.x input names, camelCase as the engine records them)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.crossguard.common import dig, is_prod

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
SERVICE_ACCOUNT_KEYS = frozenset({"gcp:serviceaccount/key:Key", "gcp:serviceAccount/key:Key"})


def _labels(args: ResourceValidationArgs) -> dict:
    props = args.props
    return props.get("resourceLabels") or props.get("labels") or dig(props, "settings", "userLabels") or {}


def gke_private_nodes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == CLUSTER and dig(args.props, "privateClusterConfig", "enablePrivateNodes") is not True:
        report(f"{args.name}: privateClusterConfig.enablePrivateNodes must be true (nodes without public IPs)")


def gke_workload_identity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == CLUSTER and not dig(args.props, "workloadIdentityConfig", "workloadPool"):
        report(f"{args.name}: workloadIdentityConfig.workloadPool must be set (no node service-account keys in pods)")


def gke_shielded_nodes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == CLUSTER and args.props.get("enableShieldedNodes") is False:
        report(f"{args.name}: enableShieldedNodes must not be false")
    if args.resource_type not in (CLUSTER, NODE_POOL):
        return
    node_config = args.props.get("nodeConfig")
    # A cluster that removes its default pool configures nodes only in its NodePool resources.
    if node_config is None and args.resource_type == CLUSTER and args.props.get("removeDefaultNodePool"):
        return
    if dig(node_config or {}, "shieldedInstanceConfig", "enableSecureBoot") is not True:
        report(f"{args.name}: nodeConfig.shieldedInstanceConfig.enableSecureBoot must be true")


def gke_deletion_protection_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == CLUSTER and is_prod(args.urn, _labels(args)):
        if args.props.get("deletionProtection") is not True:
            report(f"{args.name}: a production cluster needs deletionProtection: true")


def bucket_uniform_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == BUCKET and args.props.get("uniformBucketLevelAccess") is not True:
        report(f"{args.name}: uniformBucketLevelAccess must be true (IAM only, no object ACLs)")


def bucket_public_access_prevented(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == BUCKET and args.props.get("publicAccessPrevention") != "enforced":
        report(f'{args.name}: publicAccessPrevention must be "enforced"')


def bucket_versioned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Versioning keeps overwritten and deleted objects; a retention policy (which Cloud Storage does not allow
    together with versioning) prevents deleting or overwriting them at all, which protects as much."""
    if args.resource_type != BUCKET or dig(args.props, "versioning", "enabled") is True:
        return
    if int(dig(args.props, "retentionPolicy", "retentionPeriod") or 0) > 0:
        return
    report(f"{args.name}: versioning.enabled must be true, or a retentionPolicy set (deleted objects stay recoverable)")


def no_service_account_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in SERVICE_ACCOUNT_KEYS:
        report(f"{args.name}: service-account keys are long-lived secrets; use Workload Identity instead")


def cloud_stateful_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Buckets and Cloud SQL instances in production survive a mistaken `pulumi destroy` or replace."""
    if args.resource_type not in (BUCKET, SQL_INSTANCE) or not is_prod(args.urn, _labels(args)):
        return
    if args.resource_type == BUCKET and args.props.get("forceDestroy") is True:
        report(f"{args.name}: forceDestroy deletes every object with the bucket; not in production")
    if args.opts.protect:
        return
    if args.resource_type == SQL_INSTANCE and args.props.get("deletionProtection") is True:
        return
    wanted = "`protect` (or deletionProtection: true)" if args.resource_type == SQL_INSTANCE else "`protect`"
    report(f"{args.name}: production data needs {wanted}")


def sql_point_in_time_recovery(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SQL_INSTANCE:
        return
    backups = dig(args.props, "settings", "backupConfiguration") or {}
    if backups.get("enabled") is not True:
        report(f"{args.name}: settings.backupConfiguration.enabled must be true")
    engine = str(args.props.get("databaseVersion", ""))
    flag = "pointInTimeRecoveryEnabled" if engine.startswith("POSTGRES") else "binaryLogEnabled"
    if backups.get(flag) is not True and engine.startswith(("POSTGRES", "MYSQL")):
        report(f"{args.name}: settings.backupConfiguration.{flag} must be true (point-in-time recovery)")


def spot_gpu_pool_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_POOL or not is_prod(args.urn, dig(args.props, "nodeConfig", "resourceLabels")):
        return
    node_config = args.props.get("nodeConfig") or {}
    if (node_config.get("spot") or node_config.get("preemptible")) and node_config.get("guestAccelerators"):
        report(f"{args.name}: production GPU pool on Spot VMs; serving there can be reclaimed at any moment")
