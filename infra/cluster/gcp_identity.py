"""One Google service account per workload that needs Google Cloud, bound to its Kubernetes service account by
Workload Identity. No service account keys exist anywhere: pods get short-lived tokens from the metadata server.

Components annotate their Kubernetes service account with `facts.identity.annotations(<workload>)`; the
namespace and name below must be the ones the component's chart uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.cluster.facts import iam_database_user

OBJECT_ADMIN = "roles/storage.objectAdmin"
OBJECT_VIEWER = "roles/storage.objectViewer"
# storage.buckets.get (and storage.objects.list): the bucket's metadata, which no object role includes.
BUCKET_READER = "roles/storage.legacyBucketReader"
SQL_ROLES = ("roles/cloudsql.client", "roles/cloudsql.instanceUser")


@dataclass(frozen=True)
class Workload:
    namespace: str
    service_account: str
    """Kubernetes service account name."""
    buckets: dict[str, str] = field(default_factory=dict)
    """Bucket-level role by bucket purpose (least privilege: only the buckets it uses)."""
    project_roles: tuple[str, ...] = ()
    """Roles that exist only at project level (Cloud SQL, Cloud DNS, Secret Manager, disk snapshots)."""
    database_user: bool = False
    """Log in to Cloud SQL as this service account (IAM database authentication)."""
    object_prefix: str | None = None
    """Its bucket roles hold only for objects under this prefix (an IAM condition); None: the whole bucket."""
    bucket_metadata: tuple[str, ...] = ()
    """Buckets (by purpose) whose metadata it reads: for clients that look a bucket up before using its objects."""

    def bucket_roles(self) -> list[tuple[str, str, str | None]]:
        """(bucket purpose, role, object prefix or None) of every grant it has on a bucket."""
        grants = [(purpose, role, self.object_prefix) for purpose, role in self.buckets.items()]
        return grants + [(purpose, BUCKET_READER, None) for purpose in self.bucket_metadata]


WORKLOADS: dict[str, Workload] = {
    "mlflow": Workload("mlflow", "mlflow", {"artifacts": OBJECT_ADMIN}, SQL_ROLES, database_user=True),
    # Pipeline steps: the Profile controller hands this identity to every team namespace (Profile plugin
    # WorkloadIdentity), so it has bucket access only and is no database user.
    "kubeflow-pipelines": Workload("kubeflow", "pipeline-runner", {"artifacts": OBJECT_ADMIN, "dvc": OBJECT_VIEWER}),
    # The Pipelines UI server reads run artifacts to preview and download them (kubeflow_pipelines.ui_patches).
    # On the whole bucket: it lists objects first, and a condition on object names does not hold for a list
    # request, which is checked on the bucket. Read-only, where the pipeline steps already write it all.
    "kubeflow-pipelines-ui": Workload("kubeflow", "ml-pipeline-ui", {"artifacts": OBJECT_VIEWER}),
    # Kubeflow Pipelines' ML Metadata server (kubeflow/manifests 26.03: Deployment metadata-grpc-deployment,
    # service account metadata-grpc-server), the part of KFP that can use the cluster's PostgreSQL.
    "kubeflow-metadata": Workload("kubeflow", "metadata-grpc-server", project_roles=SQL_ROLES, database_user=True),
    # Velero snapshots persistent disks besides writing backup archives.
    "velero": Workload("velero", "velero", {"backups": OBJECT_ADMIN}, ("roles/compute.storageAdmin",)),
    "elasticsearch-snapshots": Workload("elastic-system", "elasticsearch-snapshots", {"log-snapshots": OBJECT_ADMIN}),
    "longhorn-backups": Workload("longhorn-system", "longhorn-service-account", {"backups": OBJECT_ADMIN}),
    # The DNS zone is not managed by this stack, so Cloud DNS roles cannot be narrowed to it here.
    "external-dns": Workload("external-dns", "external-dns", project_roles=("roles/dns.admin",)),
    "external-secrets": Workload(
        "external-secrets", "external-secrets", project_roles=("roles/secretmanager.secretAccessor",)
    ),
    "cert-manager": Workload("cert-manager", "cert-manager", project_roles=("roles/dns.admin",)),
    # The feature server (chart feast-feature-server 0.66.0 runs it as serviceAccount.name, which the component
    # creates) reads its registry, feast/registry.db in the artifacts bucket, and writes it where it finds none.
    # Feast's GCS registry store looks the bucket up first (get_bucket), hence the bucket's metadata.
    "feast": Workload(
        "feast", "feast", {"artifacts": OBJECT_ADMIN}, object_prefix="feast/", bucket_metadata=("artifacts",)
    ),
    # Long-term metrics (components.thanos): Prometheus' Thanos sidecar uploads its blocks (the Prometheus pods run
    # as kube-prometheus-stack's service account); the compactor rewrites and deletes them; the store gateway only
    # reads them. Thanos' GCS client reads objects and lists prefixes, and never the bucket's own metadata.
    "thanos-sidecar": Workload("monitoring", "kube-prometheus-stack-prometheus", {"metrics": OBJECT_ADMIN}),
    "thanos-compactor": Workload("thanos", "thanos-compactor", {"metrics": OBJECT_ADMIN}),
    "thanos-store": Workload("thanos", "thanos-storegateway", {"metrics": OBJECT_VIEWER}),
}


EVENTING = Workload("knative-eventing", "pubsub-events")
"""Publishes to and subscribes on the environment's Pub/Sub topics (granted per topic in gcp_pubsub.py)."""


def workload_account(
    workload: str, spec: Workload, project: str, after: pulumi.Resource, opts: pulumi.ResourceOptions
) -> tuple[gcp.serviceaccount.Account, pulumi.Output[str]]:
    """The workload's Google service account, usable only by its Kubernetes service account; and its IAM member.
    The identity pool exists once the cluster does (`after`)."""
    account = gcp.serviceaccount.Account(
        workload,
        account_id=f"wi-{workload}",
        project=project,
        display_name=f"Workload Identity of {spec.namespace}/{spec.service_account}",
        opts=opts,
    )
    gcp.serviceaccount.IAMMember(
        f"{workload}-workload-identity",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{project}.svc.id.goog[{spec.namespace}/{spec.service_account}]",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[after])),
    )
    return account, account.email.apply(lambda email: f"serviceAccount:{email}")


def build_identities(
    project: str,
    buckets: dict[str, gcp.storage.Bucket],
    database: gcp.sql.DatabaseInstance,
    after: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> dict[str, pulumi.Output[str]]:
    """Service account email by workload, with the access each workload needs."""
    emails: dict[str, pulumi.Output[str]] = {}
    for workload, spec in WORKLOADS.items():
        account, member = workload_account(workload, spec, project, after, opts)
        for purpose, role, prefix in spec.bucket_roles():
            bucket = buckets[purpose].name
            gcp.storage.BucketIAMMember(
                f"{workload}-{purpose}-{role.rsplit('.', 1)[-1]}",
                bucket=bucket,
                role=role,
                member=member,
                condition=None if prefix is None else objects_under(bucket, prefix),
                opts=opts,
            )
        for role in spec.project_roles:
            gcp.projects.IAMMember(
                f"{workload}-{role.rsplit('.', 1)[-1]}", project=project, role=role, member=member, opts=opts
            )
        if spec.database_user:
            gcp.sql.User(
                f"{workload}-database-user",
                project=project,
                instance=database.name,
                name=account.email.apply(iam_database_user),
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                # The user gets no privileges here: Cloud SQL's API can only add it to existing roles, so the grant
                # on its database is a one-time SQL step (docs/cloud-sql-iam.md).
                opts=opts,
            )
        emails[workload] = account.email
    return emails


def objects_under(bucket: pulumi.Input[str], prefix: str) -> gcp.storage.BucketIAMMemberConditionArgs:
    """An IAM condition that limits a bucket role to the objects under `prefix` (IAM conditions on buckets need
    uniform bucket-level access, which every platform bucket has)."""
    expression = pulumi.Output.concat('resource.name.startsWith("projects/_/buckets/', bucket, f'/objects/{prefix}")')
    return gcp.storage.BucketIAMMemberConditionArgs(
        title=f"only-{prefix.strip('/')}", description=f"objects under {prefix}", expression=expression
    )
