"""CrossGuard policies for the platform stacks.

The same functions run under `pulumi preview --policy-pack policies/crossguard` and offline in
`python -m infra.cli check`. Constructing a PolicyPack starts a server, so only __main__.py does that.
Mandatory policies block a deployment; advisory ones name a rule with legitimate exceptions.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies.crossguard import gcp, kubernetes

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def _resource(name: str, description: str, validate: Callable, level: EnforcementLevel = MANDATORY):
    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    # --- Kubernetes objects and charts ---
    _resource(
        "chart-versions-pinned",
        "Every Helm chart (Argo CD Application or Helm release) names an exact version.",
        kubernetes.chart_versions_pinned,
    ),
    _resource(
        "images-pinned",
        "Every container image and every image.tag in chart values names a fixed version (no latest).",
        kubernetes.images_pinned,
    ),
    _resource(
        "namespace-pod-security",
        "Every namespace enforces a Pod Security Standard level.",
        kubernetes.namespace_has_pod_security,
    ),
    StackValidationPolicy(
        name="namespace-default-deny",
        description="Every namespace has a default-deny NetworkPolicy for ingress and egress.",
        enforcement_level=MANDATORY,
        validate=kubernetes.namespaces_default_deny,
    ),
    _resource(
        "container-resources",
        "Every container the stack declares directly sets CPU and memory requests and limits.",
        kubernetes.containers_have_resources,
    ),
    _resource(
        "kubernetes-stateful-protected",
        "Production PVCs and stateful custom resources (CNPG, Elasticsearch, MinIO) are `protect`ed.",
        kubernetes.kubernetes_stateful_protected,
    ),
    _resource(
        "privileged-namespace-reason",
        "A privileged namespace says why in its mlops.dev/privileged-reason annotation.",
        kubernetes.privileged_namespace_has_reason,
        ADVISORY,
    ),
    # --- Google Cloud ---
    _resource("gke-private-nodes", "GKE nodes have private IPs only.", gcp.gke_private_nodes),
    _resource("gke-workload-identity", "GKE clusters enable Workload Identity.", gcp.gke_workload_identity),
    _resource("gke-shielded-nodes", "GKE nodes are shielded with secure boot.", gcp.gke_shielded_nodes),
    _resource(
        "gke-deletion-protection",
        "Production GKE clusters have deletion protection.",
        gcp.gke_deletion_protection_in_prod,
    ),
    _resource("bucket-uniform-access", "Buckets use uniform bucket-level access.", gcp.bucket_uniform_access),
    _resource(
        "bucket-public-access-prevention",
        "Buckets enforce public access prevention.",
        gcp.bucket_public_access_prevented,
    ),
    _resource("bucket-versioning", "Buckets keep object versions.", gcp.bucket_versioned),
    _resource("no-service-account-keys", "No Google service-account keys are created.", gcp.no_service_account_keys),
    _resource(
        "cloud-stateful-protected",
        "Production buckets and Cloud SQL instances cannot be deleted by accident.",
        gcp.cloud_stateful_protected,
    ),
    _resource(
        "sql-point-in-time-recovery",
        "Cloud SQL instances take backups with point-in-time recovery.",
        gcp.sql_point_in_time_recovery,
    ),
    _resource(
        "spot-gpu-pool-in-prod",
        "Production GPU pools on Spot VMs may be reclaimed at any moment; fine for training, not for serving.",
        gcp.spot_gpu_pool_in_prod,
        ADVISORY,
    ),
]
