"""On-prem target: an existing cluster reached by kubeconfig, with replacements for what a cloud gives.

Spine stage: only the ClusterFacts contract. The CNI release, MinIO, Longhorn, CloudNativePG, MetalLB and
Harbor land with the cluster-layer issue.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.cluster.facts import ClusterFacts, ObjectStore, StorageClasses
from infra.cluster.gke import BUCKET_PURPOSES
from infra.config import Environment


def build(env: Environment) -> ClusterFacts:
    assert env.onprem is not None  # guaranteed by rules.target_section_matches
    provider = k8s.Provider(
        "onprem",
        context=env.onprem.kubeconfig.context,
        kubeconfig=env.onprem.kubeconfig.path,
        enable_server_side_apply=True,
    )
    store = env.object_store
    buckets = {purpose: f"{store.bucket_prefix}-{env.name}-{purpose}" for purpose in BUCKET_PURPOSES}
    return ClusterFacts(
        target="onprem",
        provider=provider,
        storage=StorageClasses(default="longhorn", fast="longhorn-fast", shared="longhorn-rwx"),
        object_store=ObjectStore(
            kind="s3",
            endpoint=store.endpoint or "http://minio.minio.svc.cluster.local",
            buckets=buckets,
            credentials="secret",
            credentials_secret="object-store-credentials",
        ),
        registry=f"harbor.{env.domain}",
        load_balancer="metallb",
        cni=env.onprem.cni,
        has_metrics_server=False,
    )
