"""ClusterFacts: everything the platform layer may know about the cluster it runs on.

The cluster layer (gke.py or onprem.py) fills this once; components read it and never branch on the target
themselves. What a cloud gives (object storage, block storage, database, load balancer, registry, identity)
is described here the same way whether GCP or an on-prem replacement provides it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class StorageClasses:
    default: str
    """ReadWriteOnce block storage for databases, Prometheus, Elasticsearch."""
    fast: str
    """SSD-backed class for latency-sensitive volumes."""
    shared: str | None = None
    """ReadWriteMany class where one exists (Longhorn on-prem, Filestore on GKE)."""


@dataclass(frozen=True)
class ObjectStore:
    kind: Literal["gcs", "s3"]
    endpoint: str
    buckets: Mapping[str, str]
    """Bucket name by purpose: artifacts, dvc, backups, log-snapshots."""
    credentials: Literal["workload-identity", "secret"]
    """GKE grants access through Workload Identity; on-prem workloads read a Secret."""
    credentials_secret: str | None = None
    """Name of the Secret (in each consuming namespace) holding S3 keys when credentials is `secret`."""


@dataclass(frozen=True)
class Database:
    kind: Literal["cloudsql", "cloudnativepg"]
    host: pulumi.Input[str]
    port: int = 5432
    credentials_secret: str = "platform-db-credentials"


@dataclass(frozen=True)
class WorkloadIdentity:
    """Kubernetes service account annotations that grant a workload its cloud identity."""

    service_accounts: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Cloud identity (e.g. Google service account email) by workload name."""

    def annotations(self, workload: str) -> dict[str, pulumi.Input[str]]:
        email = self.service_accounts.get(workload)
        return {"iam.gke.io/gcp-service-account": email} if email is not None else {}


@dataclass(frozen=True)
class ClusterFacts:
    target: Literal["gke", "onprem"]
    provider: k8s.Provider
    storage: StorageClasses
    object_store: ObjectStore
    registry: str
    load_balancer: Literal["cloud", "metallb"]
    cni: Literal["dataplane-v2", "cilium", "calico"]
    has_metrics_server: bool
    has_managed_logging: bool = False
    """The cluster already ships container logs somewhere (GKE: Cloud Logging), so ELK is optional there."""
    identity: WorkloadIdentity = field(default_factory=WorkloadIdentity)
    database: Database | None = None
    ready: Sequence[pulumi.Resource] = ()
    """Resources the platform must wait for (the cluster and node pools, the CNI)."""

    def opts(self, **extra: object) -> pulumi.ResourceOptions:
        """Options that put a Kubernetes resource on this cluster, after it is ready."""
        return pulumi.ResourceOptions(provider=self.provider, depends_on=list(self.ready), **extra)  # type: ignore[arg-type]
