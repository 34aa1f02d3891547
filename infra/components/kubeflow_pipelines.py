"""Kubeflow Pipelines (kubeflow/manifests 26.03, KFP 2.16.0) on the cluster layer's services, as far as upstream
allows: ML Metadata in the cluster's PostgreSQL, the pipeline root setting in its object store.

What stays upstream's, and why (docs/ml-platform.md):
- The API server and the cache server keep the bundled MySQL. KFP 2.16.0's API server has no working PostgreSQL
  path (its storage layer is MySQL-only: `InitDBClient` ends in `storage.NewMySQLDialect()`, queries use `?`
  placeholders, and the manifests' `DB_DRIVER_NAME` is not the `DBDriverName` setting it reads; kubeflow/pipelines
  issue #13956), and the cache server accepts only the `mysql` driver (backend/src/cache/client_manager.go).
- SeaweedFS stays: the multi-user profile controller (sync.py) creates each team's object store credentials through
  SeaweedFS' IAM API. What it writes into each team's `kfp-launcher` ConfigMap (a `minio://mlpipeline/...` pipeline
  root) is replaced by `launcher_config`: the team's runs keep their artifacts in the cluster's bucket.
- So the install config's `bucketName` stays upstream's `mlpipeline`: it names a bucket of SeaweedFS, not of the
  cluster's store. The API server keeps uploaded pipelines there (`OBJECTSTORECONFIG_BUCKETNAME`, with SeaweedFS as
  `OBJECTSTORECONFIG_HOST`), the workflow controller's default artifact repository (run logs) points there, and
  SeaweedFS creates only that bucket, which the profile controller grants each team (sync.py `S3_BUCKET_NAME`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from infra.cluster.facts import PIPELINE_RUNS_PREFIX, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, ClusterFacts, ObjectStore
from infra.config.settings.platform import Mirrors
from infra.platform.argocd_app import mirrored_url
from infra.platform.database import DatabaseLogin, database_login
from infra.platform.kustomize import config_map_ops, json_patch, merge_patch
from infra.platform.mirrors import mirrored_containers, mirrored_image
from infra.platform.object_store import object_store_url

METADATA_WORKLOAD = "kubeflow-metadata"
"""Its Workload Identity (gcp_identity.WORKLOADS), bound to the service account below."""
METADATA_DATABASE = "metadb"
METADATA_DEPLOYMENT = "metadata-grpc-deployment"
METADATA_CONTAINER = "container"
METADATA_SERVICE_ACCOUNT = "metadata-grpc-server"
# Upstream's gRPC limits (base/metadata/base/metadata-grpc-deployment.yaml), repeated because the patch replaces
# the argument list as a whole.
GRPC_CHANNEL_ARGUMENTS = (
    "grpc.max_metadata_size=16384,grpc.max_receive_message_length=104857600,grpc.max_send_message_length=104857600"
)
UPSTREAM_STORES = (
    "Pipelines' API server and cache server keep the MySQL bundled with kubeflow/manifests (KFP 2.16.0 runs "
    "neither on PostgreSQL: kubeflow/pipelines#13956; the cache server is MySQL-only), and SeaweedFS stays "
    "(the multi-user profile controller provisions each team's SeaweedFS credentials through it)"
)
UI_WORKLOAD = "kubeflow-pipelines-ui"
"""The Pipelines UI server's Workload Identity (gcp_identity.WORKLOADS), bound to the service account below."""
UI_DEPLOYMENT = "ml-pipeline-ui"
UI_CONTAINER = "ml-pipeline-ui"
UI_SERVICE_ACCOUNT = "ml-pipeline-ui"
CACHE_SERVER_APP = "cache-server"
CACHE_WEBHOOK_PORT = 8443
"""The cache server's webhook port (base/cache/cache-deployment.yaml, `webhook-api`; WEBHOOK_PORT)."""
API_SERVER_DEPLOYMENT = "ml-pipeline"
API_SERVER_METRICS_PORT = 8888
"""The API server's REST port, which also serves /metrics (base/pipeline/ml-pipeline-apiserver-deployment.yaml)."""
MERGED_METRICS_PORT = 15020
MERGED_METRICS_PATH = "/stats/prometheus"
"""Istio's status port and the path where its agent serves the merged metrics of an injected pod (istiod 1.30;
the injection template excludes the status port from inbound capture, so no mutual TLS applies there)."""
LAUNCHER_CONFIG = "kfp-launcher"
"""Read by KFP's driver and launcher in each team namespace (backend/src/v2/config/env.go)."""
CLUSTER_DOMAIN = ".svc.cluster.local"
DEFAULT_PORTS = {"http": 80, "https": 443}
# MinIO answers to any region; the S3 client needs one.
S3_REGION = "us-east-1"
CACHE_STEP_IMAGE = "ghcr.io/containerd/busybox:1.36"
"""The image the cache server's webhook runs in place of a step whose result it reuses (its one container only
prints that the outputs come from the cache). KFP 2.16.0 names `ghcr.io/containerd/busybox` without a tag everywhere
(pipeline-install-config `cacheImage`, backend/src/cache/server/mutation.go), so each node would run whatever
`latest` is when it pulls; the tag is the one containerd, who publishes the image, uses in its own tests
(integration/images/image_list.go)."""
REMOTE_BASES = "https://github.com/argoproj/argo-workflows"
"""The repository of the remote kustomize bases the Pipelines path reads (kubeflow/manifests 26.03,
third-party/argo: three paths of argo-workflows at v3.7.3); Argo CD's repo server clones it at every build."""


def remote_bases_advisory(mirrors: Mapping[str, str]) -> str | None:
    """What reviewers must know when no git mirror (mirrors.git) serves those bases."""
    if mirrored_url(REMOTE_BASES, mirrors) != REMOTE_BASES:
        return None
    location = REMOTE_BASES.removeprefix("https://")
    return (
        f"Argo CD builds this path from remote kustomize bases it clones from {location} (v3.7.3) at every sync: "
        "the repo server needs github.com, or a mirror in mirrors.git"
    )


def team_pipeline_root(store: ObjectStore, team: str) -> str:
    return object_store_url(store, "artifacts", f"{PIPELINE_RUNS_PREFIX}/{team}")


def launcher_config(store: ObjectStore, team: str) -> dict[str, str]:
    """The team's `kfp-launcher` data: its runs' artifacts under `pipelines/<team>/` of the artifacts bucket. On
    GKE (gs://) the launcher uses the pod's credentials, the Profile's Workload Identity; an S3 store needs the
    endpoint and the keys of the store's credentials Secret in the team namespace (KFP 2.16 `providers`)."""
    data = {"defaultPipelineRoot": team_pipeline_root(store, team), "clusterDomain": CLUSTER_DOMAIN}
    if store.kind == "s3":
        assert store.credentials_secret is not None  # an S3 store always names its credentials Secret
        default = {
            "endpoint": store.endpoint,
            "region": S3_REGION,
            "disableSSL": urlsplit(store.endpoint).scheme == "http",
            "forcePathStyle": True,
            "credentials": {
                "fromEnv": False,
                "secretRef": {
                    "secretName": store.credentials_secret,
                    "accessKeyKey": S3_ACCESS_KEY_ID,
                    "secretKeyKey": S3_SECRET_ACCESS_KEY,
                },
            },
        }
        # The launcher parses this key as YAML, of which JSON is a subset.
        data["providers"] = json.dumps({"s3": {"default": default}}, sort_keys=True)
    return data


def pipelines_patches(facts: ClusterFacts, login: DatabaseLogin | None, mirrors: Mirrors) -> list[dict[str, Any]]:
    """Patches of the Pipelines part: the install config, and ML Metadata on the cluster database when there
    is one (`login`, from `metadata_login`). The install config's `bucketName` is left alone (module docstring).
    Its pipeline root reaches `kfp-launcher` of the `kubeflow` namespace (and the profile controller's
    KFP_DEFAULT_PIPELINE_ROOT, which 26.03's sync.py does not read); each team's `kfp-launcher` is the stack's. The
    images the patches name come from the image mirror, when `mirrors` has one."""
    store = facts.object_store
    settings = {
        "defaultPipelineRoot": object_store_url(store, "artifacts", PIPELINE_RUNS_PREFIX),
        "cacheImage": mirrored_image(CACHE_STEP_IMAGE, mirrors),
    }
    patches = [
        json_patch("ConfigMap", "pipeline-install-config", config_map_ops(settings)),
        *ui_patches(facts),
        api_server_metrics_patch(),
    ]
    if login is not None:
        patches += metadata_patches(login, facts.identity.annotations(METADATA_WORKLOAD), mirrors)
    return patches


def ui_patches(facts: ClusterFacts) -> list[dict[str, Any]]:
    """The Pipelines UI previews and downloads run artifacts by reading them itself, from `kubeflow`, with its
    own credentials (KFP's frontend server, `frontend/server/handlers/artifacts.ts`): gs:// with its pod's Google
    credentials, s3:// with the AWS_* settings of its environment. A team's `kfp-launcher` provider Secret is not
    used for that in multi-user mode (the server reads Secrets of its own namespace only), so the UI gets read
    access of its own: on GKE its Workload Identity, on-prem the object store keys of `kubeflow`."""
    store = facts.object_store
    if store.credentials == "workload-identity":
        annotations = facts.identity.annotations(UI_WORKLOAD)
        if not annotations:
            return []
        return [merge_patch("v1", "ServiceAccount", UI_SERVICE_ACCOUNT, {"metadata": {"annotations": annotations}})]
    assert store.credentials_secret is not None  # an S3 store always names its credentials Secret
    endpoint = urlsplit(store.endpoint)
    env = [
        # The UI's S3 client takes a host name and a TLS switch, and no port (ui_endpoint_problem).
        {"name": "AWS_S3_ENDPOINT", "value": endpoint.hostname},
        {"name": "AWS_SSL", "value": "true" if endpoint.scheme == "https" else "false"},
        {"name": "AWS_REGION", "value": S3_REGION},
        *(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": store.credentials_secret, "key": key}}}
            for key in (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)
        ),
    ]
    pod = {"containers": [{"name": UI_CONTAINER, "env": env}]}
    return [merge_patch("apps/v1", "Deployment", UI_DEPLOYMENT, {"spec": {"template": {"spec": pod}}})]


def api_server_metrics_patch() -> dict[str, Any]:
    """Where the API server's metrics are, in the annotations Istio's injector reads: with metrics merging on
    (istiod's `meshConfig.enablePrometheusMerge`) the sidecar's agent fetches them from the server and serves them,
    with the proxy's own, on the status port (MERGED_METRICS_PORT), which the mesh's mutual TLS leaves out."""
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(API_SERVER_METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    template = {"metadata": {"annotations": annotations}}
    return merge_patch("apps/v1", "Deployment", API_SERVER_DEPLOYMENT, {"spec": {"template": template}})


def cache_webhook_peer_authentication() -> dict[str, Any]:
    """The cache server's webhook port in plain text for the mesh (the API server, which calls it, has no sidecar;
    the webhook's own TLS protects it); the pod's other traffic keeps the mesh's mode."""
    return {
        "selector": {"matchLabels": {"app": CACHE_SERVER_APP}},
        "portLevelMtls": {str(CACHE_WEBHOOK_PORT): {"mode": "PERMISSIVE"}},
    }


def ui_endpoint_problem(store: ObjectStore) -> str | None:
    """Why the Pipelines UI cannot read this S3 endpoint, if it cannot: its client has no port setting."""
    endpoint = urlsplit(store.endpoint)
    if store.credentials != "secret" or endpoint.port in (None, DEFAULT_PORTS.get(endpoint.scheme)):
        return None
    return (
        f"the Pipelines UI cannot preview run artifacts at {store.endpoint}: its S3 client takes no port "
        "(AWS_S3_ENDPOINT is a host name); serve the endpoint on the scheme's default port"
    )


def metadata_login(facts: ClusterFacts) -> DatabaseLogin | None:
    """How the ML Metadata server reaches the cluster database; None where the cluster has none."""
    return database_login(facts, METADATA_DATABASE, METADATA_WORKLOAD) if facts.database is not None else None


def metadata_patches(login: DatabaseLogin, annotations: dict[str, Any], mirrors: Mirrors) -> list[dict[str, Any]]:
    """The ML Metadata server on PostgreSQL, with the flags of upstream's own `base/metadata/overlays/postgres`
    (MLMD 1.14.0), but on the cluster's database instead of the extra PostgreSQL that overlay deploys. The
    database exists already (the cluster layer creates it), so the server skips creating it and needs no
    right to create databases; without a password flag it sends none (IAM login through the proxy)."""
    args = [
        "--grpc_port=8080",
        "--metadata_source_config_type=postgresql",
        "--postgres_config_host=$(POSTGRES_HOST)",
        f"--postgres_config_port={login.port}",
        f"--postgres_config_dbname={login.database}",
        "--postgres_config_user=$(POSTGRES_USER)",
        *(["--postgres_config_password=$(POSTGRES_PASSWORD)"] if login.credentials_secret else []),
        "--postgres_config_skip_db_creation=true",
        "--enable_database_upgrade=true",
        f"--grpc_channel_arguments={GRPC_CHANNEL_ARGUMENTS}",
    ]
    env = [
        # Upstream's entries read the MySQL Secret and settings: replaced, not merged.
        {"$patch": "replace"},
        {"name": "POSTGRES_HOST", "value": login.host},
        *login.credentials_env("POSTGRES_USER", "POSTGRES_PASSWORD"),
    ]
    pod: dict[str, Any] = {"containers": [{"name": METADATA_CONTAINER, "env": env, "args": args}]}
    if login.sidecars:
        pod["initContainers"] = mirrored_containers(login.sidecars, mirrors)
    patches = [merge_patch("apps/v1", "Deployment", METADATA_DEPLOYMENT, {"spec": {"template": {"spec": pod}}})]
    if annotations:
        patches.append(
            merge_patch("v1", "ServiceAccount", METADATA_SERVICE_ACCOUNT, {"metadata": {"annotations": annotations}})
        )
    return patches
