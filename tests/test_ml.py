"""The ML platform under mocks, on both targets: Kubeflow Applications and Profiles, KServe, MLflow, the apps/
examples and the Kubeflow version compatibility rule."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.catalog import CATALOG
from infra.cluster import ObjectStore, gke, onprem
from infra.cluster.gcp_identity import WORKLOADS
from infra.components.kubeflow import KUBEFLOW_MANIFESTS, KUBEFLOW_PARTS, KUBEFLOW_RELEASE
from infra.components.kubeflow_pipelines import UPSTREAM_STORES, ui_endpoint_problem
from infra.components.mlflow import MissingClusterService
from infra.components.mlflow_auth import IAM_LOGIN_SECRET
from infra.config import InvalidEnvironment, load_stack_file
from infra.config.derived import default_image
from infra.offline.render import Rendered, render_stack
from infra.offline.validate import ManifestValidator
from infra.platform import labels
from infra.platform.database import CLOUD_SQL_PROXY_IMAGE

from .conftest import ENVIRONMENTS, REPO, allowances

APPS = REPO / "apps"
# The runner build the scheduled-notebook overlays pin (the images workflow's tag: a commit of images/).
RUNNER_TAG = yaml.safe_load((REPO / "apps/scheduled-notebooks/overlays/dev/kustomization.yaml").read_text())["images"][
    0
]["newTag"]
ML_APPS = ("model-serving", "scheduled-notebooks")
OVERLAYS = ("dev", "staging", "prod", "onprem")
SERVING_OVERLAYS = ("dev", "staging", "prod")  # the example model: the GKE examples (on-prem runs KServe without it)


def objects(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def application(r: Rendered, name: str) -> dict[str, Any]:
    return next(app for app in objects(r, "Application") if app["metadata"]["name"] == name)


def stack_copy(tmp_path: Path, env: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of a real stack file with its platform settings edited."""
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    edit(document["config"]["mlops-platform:platform"])
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def identity(r: Rendered, workload: str) -> str:
    """The Google service account email the GKE cluster layer creates for `workload`."""
    return f"wi-{workload}@{r.env.gke.project}.iam.gserviceaccount.com"


def secret_references(value: Any) -> set[str]:
    """Names of the Secrets a chart value or patch refers to, wherever they appear in it."""
    if isinstance(value, dict):
        found = {str(value["name"])} if "name" in value and {"key", "passwordKey"} & set(value) else set()
        if "secretKeyRef" in value:
            found.add(value["secretKeyRef"]["name"])
        return found | {name for item in value.values() for name in secret_references(item)}
    if isinstance(value, list):
        return {name for item in value for name in secret_references(item)}
    return set()


def without_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster layer that provides no database (both targets provide one now; a new target may not)."""
    for module in (gke, onprem):
        build = module.build

        def patched(env: Any, build: Any = build) -> Any:
            return dataclasses.replace(build(env), database=None)

        monkeypatch.setattr(module, "build", patched)


def enable(*components: str) -> Callable[[dict[str, Any]], None]:
    def edit(platform: dict[str, Any]) -> None:
        platform["ingress"] = {"provider": "istio"}
        for component in components:
            platform["components"].setdefault(component, {})["enabled"] = True

    return edit


@pytest.fixture(scope="module")
def validator_for(crd_schemas: str) -> Callable[[str], ManifestValidator]:
    allowlist = yaml.safe_load((REPO / "policies" / "crd-allowlist.yaml").read_text()) or {}
    return lambda version: ManifestValidator(version, crd_schemas, allowlist)


# --- Kubeflow ------------------------------------------------------------------------------------------


def test_kubeflow_parts_are_git_applications_of_one_release(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    parts = [a for a in objects(r, "Application") if a["metadata"]["labels"][labels.COMPONENT] == "kubeflow"]
    assert {a["metadata"]["name"] for a in parts} == {f"kubeflow-{part}" for part in KUBEFLOW_PARTS}
    for app in parts:
        source = app["spec"]["source"]
        assert source["repoURL"] == KUBEFLOW_MANIFESTS and source["targetRevision"] == KUBEFLOW_RELEASE
        assert source["path"] == CATALOG[app["metadata"]["name"]].path and "chart" not in source
        # The platform's Istio, cert-manager and Knative, never the copies under common/ in kubeflow/manifests.
        assert not source["path"].startswith(("common/istio/istio-install", "common/cert-manager", "common/knative"))
    project = next(p for p in objects(r, "AppProject") if p["metadata"]["name"] == "platform")
    assert {KUBEFLOW_MANIFESTS, "ghcr.io/kserve/charts"} <= set(project["spec"]["sourceRepos"])


def test_kubeflow_applications_validate_and_sync_after_cert_manager(
    rendered: dict[str, Rendered], validator_for: Callable[[str], ManifestValidator]
) -> None:
    r = rendered["dev"]
    validator = validator_for(r.env.kubernetes_version)
    cert_manager_wave = int(application(r, "cert-manager")["metadata"]["annotations"][labels.SYNC_WAVE])
    for app in objects(r, "Application"):
        if app["metadata"]["labels"][labels.COMPONENT] in ("kubeflow", "kserve"):
            assert validator.validate(app) == [], app["metadata"]["name"]
            assert int(app["metadata"]["annotations"][labels.SYNC_WAVE]) > cert_manager_wave


def test_pipelines_store_artifacts_in_the_object_store(rendered: dict[str, Rendered]) -> None:
    patch = application(rendered["dev"], "kubeflow-pipelines")["spec"]["source"]["kustomize"]["patches"][0]
    assert patch["target"] == {"kind": "ConfigMap", "name": "pipeline-install-config"}
    values = {op["path"]: op["value"] for op in json.loads(patch["patch"])}
    assert values["/data/defaultPipelineRoot"] == "gs://mlops-dev-artifacts/pipelines"
    # The bucket of the bundled SeaweedFS stays upstream's (tests/test_expanded_defects.py checks its consumers).
    assert "/data/bucketName" not in values


def test_the_dashboard_keeps_its_workload_patch_beside_its_links(rendered: dict[str, Rendered]) -> None:
    """Before: the links patch replaced the dashboard's patches, and its container ran without requests or limits."""
    patches = application(rendered["dev"], "kubeflow-central-dashboard")["spec"]["source"]["kustomize"]["patches"]
    parsed = [json.loads(p["patch"]) for p in patches]
    assert [p["target"]["name"] for p in patches] == ["centraldashboard", "centraldashboard-config"]
    (container,) = parsed[0]["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "centraldashboard" and set(container["resources"]) == {"requests", "limits"}


def pipelines_patches(r: Rendered) -> dict[tuple[str, str], Any]:
    """The Pipelines Application's kustomize patches by (kind, name) of their target, parsed; the patches that only
    give a workload resources, a pod securityContext or no API token (kubeflow.workload_patches) left out."""
    patches = application(r, "kubeflow-pipelines")["spec"]["source"]["kustomize"]["patches"]
    parsed = [(p["target"]["kind"], p["target"]["name"], json.loads(p["patch"])) for p in patches]
    return {(kind, name): patch for kind, name, patch in parsed if not posture_only(patch)}


POSTURE_KEYS = {"containers", "securityContext", "automountServiceAccountToken"}


def posture_only(patch: Any) -> bool:
    """A workload patch of kubeflow.workload_patches: containers by name with resources, the pod's securityContext,
    automountServiceAccountToken, and nothing else."""
    if not isinstance(patch, dict) or set(patch) - {"apiVersion", "kind", "metadata", "spec"}:
        return False
    pod = patch.get("spec", {}).get("template", {}).get("spec")
    return (
        isinstance(pod, dict)
        and list(patch["spec"]) == ["template"]
        and list(patch["spec"]["template"]) == ["spec"]
        and not set(pod) - POSTURE_KEYS
        and all(set(c) <= {"name", "resources"} for c in pod.get("containers", []))
    )


def metadata_pod(r: Rendered) -> dict[str, Any]:
    return pipelines_patches(r)[("Deployment", "metadata-grpc-deployment")]["spec"]["template"]["spec"]


def test_ml_metadata_on_gke_logs_in_through_the_auth_proxy_as_its_identity(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    project, region = r.env.gke.project, r.env.gke.region
    pod = metadata_pod(r)
    [proxy] = pod["initContainers"]
    assert proxy["name"] == "cloud-sql-proxy" and proxy["restartPolicy"] == "Always"
    assert proxy["image"] == CLOUD_SQL_PROXY_IMAGE
    assert proxy["args"][-1] == f"{project}:{region}:mlops-dev"
    assert {"--auto-iam-authn", "--private-ip", "--address=127.0.0.1", "--port=5432"} <= set(proxy["args"])
    [server] = pod["containers"]
    env = {e["name"]: e for e in server["env"] if "name" in e}
    assert env["POSTGRES_HOST"]["value"] == "127.0.0.1"
    assert env["POSTGRES_USER"]["value"] == f"wi-kubeflow-metadata@{project}.iam"
    assert "POSTGRES_PASSWORD" not in env and secret_references(server) == set()
    assert not [arg for arg in server["args"] if arg.startswith("--postgres_config_password")]
    assert "--metadata_source_config_type=postgresql" in server["args"]
    assert {"--postgres_config_dbname=metadb", "--postgres_config_skip_db_creation=true"} <= set(server["args"])
    # Its Kubernetes service account is the one gcp_identity binds to the database user's Google account.
    account = pipelines_patches(r)[("ServiceAccount", "metadata-grpc-server")]
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": identity(r, "kubeflow-metadata")}


def test_ml_metadata_on_prem_logs_in_with_the_cloudnativepg_secret(tmp_path: Path) -> None:
    r = render_stack(stack_copy(tmp_path, "onprem", enable("kubeflow")))
    pod = metadata_pod(r)
    assert "initContainers" not in pod
    [server] = pod["containers"]
    env = {e["name"]: e for e in server["env"] if "name" in e}
    assert env["POSTGRES_HOST"]["value"] == "platform-db-rw.cnpg-system.svc.cluster.local"
    assert secret_references(server) == {"platform-db-app"}
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in env.values() if "valueFrom" in e} == {"username", "password"}
    assert "--postgres_config_password=$(POSTGRES_PASSWORD)" in server["args"]
    assert ("ServiceAccount", "metadata-grpc-server") not in pipelines_patches(r)
    values = {op["path"]: op["value"] for op in pipelines_patches(r)[("ConfigMap", "pipeline-install-config")]}
    assert values["/data/defaultPipelineRoot"] == "s3://mlops-onprem-artifacts/pipelines"


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_pipelines_api_and_cache_servers_keep_upstreams_mysql_and_say_why(tmp_path: Path, env: str) -> None:
    """KFP 2.16.0 cannot run its API server or cache server on PostgreSQL, so they are not patched towards it."""
    r = render_stack(stack_copy(tmp_path, env, enable("kubeflow")))
    targets = set(pipelines_patches(r))
    # ML Metadata and the UI (its artifact credentials) are patched; the API server only where its metrics are
    # (its pods' annotations, which Istio reads: test_wiring), the cache server and MySQL not.
    patched = {name for kind, name in targets if kind == "Deployment"}
    assert not patched - {"metadata-grpc-deployment", "ml-pipeline-ui", "ml-pipeline"}
    api_server = pipelines_patches(r)[("Deployment", "ml-pipeline")]
    assert list(api_server["spec"]["template"]) == ["metadata"] and list(api_server["spec"]) == ["template"]
    notes = application(r, "kubeflow-pipelines")["metadata"]["annotations"][labels.ADVISORY]
    assert UPSTREAM_STORES in notes
    assert ("docs/cloud-sql-iam.md" in notes) == (r.env.target == "gke")
    # The note belongs to the Pipelines part only.
    assert (
        UPSTREAM_STORES not in application(r, "kubeflow-central-dashboard")["metadata"]["annotations"][labels.ADVISORY]
    )


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_team_pipelines_keep_their_artifacts_in_the_cluster_bucket(
    tmp_path: Path, validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    r = render_stack(stack_copy(tmp_path, env, add_teams if env == "onprem" else enable("kubeflow")))
    validator = validator_for(r.env.kubernetes_version)
    bucket = f"{r.env.object_store.bucket_prefix}-{r.env.name}-artifacts"
    for team in r.env.components.kubeflow.teams:
        launcher = next(
            c
            for c in objects(r, "ConfigMap")
            if c["metadata"] == c["metadata"] | {"name": "kfp-launcher", "namespace": team.name}
        )
        assert validator.validate(launcher) == []
        # Applied over what the Pipelines profile controller writes first (its minio:// SeaweedFS root).
        assert launcher["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
        data = launcher["data"]
        if r.env.target == "gke":
            # gs://: the launcher uses the pod's credentials, the Profile's Workload Identity.
            assert data == {
                "defaultPipelineRoot": f"gs://{bucket}/pipelines/{team.name}",
                "clusterDomain": ".svc.cluster.local",
            }
        else:
            assert data["defaultPipelineRoot"] == f"s3://{bucket}/pipelines/{team.name}"
            s3 = yaml.safe_load(data["providers"])["s3"]["default"]
            assert s3["endpoint"] == "http://minio.minio.svc.cluster.local" and s3["disableSSL"] is True
            assert s3["credentials"] == {
                "fromEnv": False,
                "secretRef": {
                    "secretName": "object-store-credentials",
                    "accessKeyKey": "AWS_ACCESS_KEY_ID",
                    "secretKeyKey": "AWS_SECRET_ACCESS_KEY",
                },
            }


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_pipelines_ui_reads_run_artifacts_with_credentials_of_its_own(tmp_path: Path, env: str) -> None:
    """The UI server previews and downloads what the teams' runs write to the artifacts bucket: on GKE as its own
    Workload Identity (read-only), on-prem with the object store keys of the kubeflow namespace."""
    r = render_stack(stack_copy(tmp_path, env, enable("kubeflow")))
    patches = pipelines_patches(r)
    if r.env.target == "gke":
        account = patches[("ServiceAccount", "ml-pipeline-ui")]
        assert account["metadata"]["annotations"] == {
            "iam.gke.io/gcp-service-account": identity(r, "kubeflow-pipelines-ui")
        }
        assert ("Deployment", "ml-pipeline-ui") not in patches
        member = f"serviceAccount:{identity(r, 'kubeflow-pipelines-ui')}"
        grants = [
            res.inputs
            for res in r.run.resources
            if res.type == "gcp:storage/bucketIAMMember:BucketIAMMember" and res.inputs["member"] == member
        ]
        assert [(g["bucket"], g["role"], g.get("condition")) for g in grants] == [
            (f"mlops-{env}-artifacts", "roles/storage.objectViewer", None)
        ]
        bindings = {
            res.inputs["member"]
            for res in r.run.resources
            if res.type == "gcp:serviceaccount/iAMMember:IAMMember"
            and res.name == "kubeflow-pipelines-ui-workload-identity"
        }
        assert bindings == {f"serviceAccount:{r.env.gke.project}.svc.id.goog[kubeflow/ml-pipeline-ui]"}
        return
    assert ("ServiceAccount", "ml-pipeline-ui") not in patches
    [ui] = patches[("Deployment", "ml-pipeline-ui")]["spec"]["template"]["spec"]["containers"]
    assert ui["name"] == "ml-pipeline-ui"
    env_vars = {e["name"]: e for e in ui["env"]}
    assert env_vars["AWS_S3_ENDPOINT"]["value"] == "minio.minio.svc.cluster.local"
    assert env_vars["AWS_SSL"]["value"] == "false"
    assert secret_references(ui) == {"object-store-credentials"}
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in env_vars.values() if "valueFrom" in e} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }


@pytest.mark.parametrize(
    ("endpoint", "readable"),
    [
        ("http://minio.minio.svc.cluster.local", True),
        ("https://s3.example.com", True),
        ("https://s3.example.com:443", True),
        ("http://s3.example.com:9000", False),
    ],
)
def test_an_s3_endpoint_on_another_port_is_flagged_for_the_pipelines_ui(endpoint: str, readable: bool) -> None:
    store = ObjectStore(kind="s3", endpoint=endpoint, buckets={}, credentials="secret", credentials_secret="s")
    problem = ui_endpoint_problem(store)
    assert (problem is None) == readable
    if problem is not None:
        assert endpoint in problem and "port" in problem


def test_notebook_images_come_from_the_environment(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    patch = application(r, "kubeflow-jupyter-web-app")["spec"]["source"]["kustomize"]["patches"][0]
    form = yaml.safe_load(json.loads(patch["patch"])[0]["value"])["spawnerFormDefaults"]
    images = [default_image(r.env, "notebook"), *r.env.components.kubeflow.notebook_images]
    assert form["image"] == {"value": images[0], "options": images}


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_one_profile_per_team_with_quota_and_members(
    tmp_path: Path, validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    r = render_stack(stack_copy(tmp_path, env, add_teams if env == "onprem" else enable("kubeflow")))
    validator = validator_for(r.env.kubernetes_version)
    teams = r.env.components.kubeflow.teams
    profiles = {p["metadata"]["name"]: p for p in objects(r, "Profile")}
    assert set(profiles) == {team.name for team in teams}
    for team in teams:
        profile = profiles[team.name]
        assert validator.validate(profile) == []
        assert profile["spec"]["owner"] == {"kind": "User", "name": team.owner}
        hard = profile["spec"]["resourceQuotaSpec"]["hard"]
        assert hard["requests.cpu"] == team.quota.cpu and hard["requests.memory"] == team.quota.memory
        assert hard["requests.nvidia.com/gpu"] == str(team.quota.gpu)
        assert hard["requests.storage"] == team.quota.storage
        bindings = [b for b in objects(r, "RoleBinding") if b["metadata"]["namespace"] == team.name]
        assert sorted(b["subjects"][0]["name"] for b in bindings) == sorted(team.members)
        assert all(b["roleRef"]["name"] == "kubeflow-edit" for b in bindings)
        access = next(d for d in objects(r, "PodDefault") if d["metadata"]["namespace"] == team.name)
        assert validator.validate(access) == []
        env_vars = {e["name"]: e["value"] for e in access["spec"]["env"]}
        scheme = "gs" if r.env.target == "gke" else "s3"
        assert env_vars["DVC_REMOTE_URL"] == f"{scheme}://{r.env.object_store.bucket_prefix}-{r.env.name}-dvc"
        assert ("envFrom" in access["spec"]) == (r.env.target == "onprem")
        # On GKE the team's pipelines and notebooks get the Pipelines identity; on-prem they read a Secret.
        plugins = profile["spec"].get("plugins", [])
        if r.env.target == "gke":
            account = identity(r, "kubeflow-pipelines")
            assert plugins == [{"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": account}}]
        else:
            assert plugins == []


def add_teams(platform: dict[str, Any]) -> None:
    enable("kubeflow")(platform)
    platform["components"]["kubeflow"]["teams"] = [
        # The on-prem example signs users in through the corporate identity provider: its domain only.
        {
            "name": "team-vision",
            "owner": "alice@corp.example.net",
            "members": ["bob@corp.example.net", "dan@corp.example.net"],
        },
        {"name": "team-ops", "owner": "erin@corp.example.net", "quota": {"cpu": "4", "gpu": 0}},
    ]


def test_kubeflow_without_a_database_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_database(monkeypatch)

    def kubeflow_only(platform: dict[str, Any]) -> None:
        enable("kubeflow")(platform)
        platform["components"]["mlflow"]["enabled"] = False  # refused without a database (tested below)

    r = render_stack(stack_copy(tmp_path, "dev", kubeflow_only))
    annotations = application(r, "kubeflow-pipelines")["metadata"]["annotations"]
    assert "ML Metadata keeps the bundled MySQL too" in annotations[labels.ADVISORY]
    # No ML Metadata patch: the install config, the UI's identity for run artifacts, and the API server's metrics.
    assert set(pipelines_patches(r)) == {
        ("ConfigMap", "pipeline-install-config"),
        ("ServiceAccount", "ml-pipeline-ui"),
        ("Deployment", "ml-pipeline"),
    }


# --- model serving -------------------------------------------------------------------------------------


def test_kserve_is_serverless_with_runtimes_after_its_crds(
    rendered: dict[str, Rendered], validator_for: Callable[[str], ManifestValidator]
) -> None:
    r = rendered["dev"]
    crds, resources = application(r, "kserve-crd"), application(r, "kserve")
    assert (
        crds["spec"]["source"]["repoURL"] == "ghcr.io/kserve/charts" and crds["spec"]["source"]["chart"] == "kserve-crd"
    )
    assert resources["spec"]["source"]["chart"] == "kserve-resources"
    values = resources["spec"]["source"]["helm"]["valuesObject"]["kserve"]
    assert values["controller"]["deploymentMode"] == "Knative"
    wave = lambda obj: int(obj["metadata"]["annotations"][labels.SYNC_WAVE])  # noqa: E731
    assert wave(crds) < wave(resources)
    # Argo CD reads Helm charts from an OCI registry only when the registry is declared with enableOCI.
    repositories = [s for s in objects(r, "Secret") if s["metadata"]["namespace"] == "argocd"]
    assert [s["metadata"]["name"] for s in repositories] == ["repository-ghcr-io-kserve-charts"]
    assert repositories[0]["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    runtimes = objects(r, "ClusterServingRuntime")
    formats = {f["name"] for rt in runtimes for f in rt["spec"]["supportedModelFormats"]}
    assert {"sklearn", "xgboost", "pytorch", "huggingface"} <= formats
    validator = validator_for(r.env.kubernetes_version)
    for runtime in runtimes:
        assert validator.validate(runtime) == []
        assert wave(runtime) > wave(crds)


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run([kubectl, "kustomize", str(path)], check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def artifacts_bucket(env: str) -> str:
    loaded = load_stack_file(ENVIRONMENTS / f"Pulumi.{env}.yaml")
    return f"{loaded.object_store.bucket_prefix}-{env}-artifacts"


@pytest.mark.parametrize("env", SERVING_OVERLAYS)
def test_example_inference_service_reads_its_environments_bucket(
    validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    docs = kustomize(APPS / "model-serving" / "overlays" / env)
    loaded = load_stack_file(ENVIRONMENTS / f"Pulumi.{env}.yaml")
    validator = validator_for(loaded.kubernetes_version)
    service = next(d for d in docs if d["kind"] == "InferenceService")
    assert validator.validate(service) == []
    assert loaded.target == "gke"
    assert service["spec"]["predictor"]["model"]["storageUri"].startswith(f"gs://{artifacts_bucket(env)}/")
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["metadata"]["name"] == service["spec"]["predictor"]["serviceAccountName"]
    assert "iam.gke.io/gcp-service-account" in account["metadata"]["annotations"]


@pytest.mark.parametrize("env", OVERLAYS)
def test_scheduled_notebook_is_a_hardened_papermill_cronjob(
    validator_for: Callable[[str], ManifestValidator], env: str
) -> None:
    docs = kustomize(APPS / "scheduled-notebooks" / "overlays" / env)
    loaded = load_stack_file(ENVIRONMENTS / f"Pulumi.{env}.yaml")
    validator = validator_for(loaded.kubernetes_version)
    assert all(validator.validate(doc) == [] for doc in docs)
    cronjob = next(d for d in docs if d["kind"] == "CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "papermill" in container["args"][0] and container["image"].endswith(f"/papermill-runner:{RUNNER_TAG}")
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    run = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("notebook-run-"))
    scheme = "gs" if loaded.target == "gke" else "s3"
    assert run["data"]["INPUT_NOTEBOOK"].startswith(f"{scheme}://{artifacts_bucket(env)}/")


# --- MLflow --------------------------------------------------------------------------------------------


def mlflow_values(r: Rendered) -> dict[str, Any]:
    return application(r, "mlflow")["spec"]["source"]["helm"]["valuesObject"]


def test_mlflow_runs_where_the_cluster_database_is_wired(rendered: dict[str, Rendered]) -> None:
    """The environments that turn MLflow on (prod waits for its one-time grant; see its stack file) render it,
    and test_check's clean `check` of every environment covers it."""
    running = {"dev", "staging", "onprem", "onprem-traefik", "airgap", "hub-example"}
    assert {name for name, r in rendered.items() if r.env.components.mlflow.enabled} == running
    for name in sorted(running - {"hub-example"}):
        assert application(rendered[name], "mlflow")["spec"]["source"]["chart"] == "mlflow"


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_mlflow_on_gke_logs_in_through_the_auth_proxy_without_a_password(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    project, region = r.env.gke.project, r.env.gke.region
    values = mlflow_values(r)
    # The chart's own PostgreSQL settings would need a password: the store URI names the IAM user and the proxy.
    assert values["backendStore"] == {"databaseMigration": False, "databaseConnectionCheck": False}
    user = f"wi-mlflow%40{project}.iam"
    assert values["extraArgs"]["backendStoreUri"] == f"postgresql://{user}@127.0.0.1:5432/mlflow"
    # The proxy first (a native sidecar, so it keeps running), then the schema migration through it.
    proxy, migration = values["initContainers"]
    assert proxy["image"] == CLOUD_SQL_PROXY_IMAGE and proxy["restartPolicy"] == "Always"
    assert "restartPolicy" not in migration
    assert migration["env"] == [{"name": "MLFLOW_BACKEND_STORE_URI", "value": values["extraArgs"]["backendStoreUri"]}]
    assert migration["image"] == f"{values['image']['repository']}:{values['image']['tag']}"
    assert proxy["args"][0:2] == ["--auto-iam-authn", "--private-ip"]
    assert proxy["args"][-1] == f"{project}:{region}:mlops-{env}"
    assert proxy["startupProbe"]["httpGet"]["path"] == "/startup"
    assert values["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": identity(r, "mlflow")}
    # The only Secrets it reads are the admin account and the auth database's login, which names the IAM user and
    # holds no password (test_mlflow_auth.py); none holds a database password.
    assert secret_references(values) == {"mlflow-admin", IAM_LOGIN_SECRET}
    assert "docs/cloud-sql-iam.md" in application(r, "mlflow")["metadata"]["annotations"][labels.ADVISORY]
    # Its namespace lets the proxy reach Cloud SQL (3307) and the SQL Admin API (443).
    cloud_sql = allowances(r, "mlflow")["cloud-sql-out"]
    assert cloud_sql["direction"] == "egress"
    assert {port["port"] for port in cloud_sql["rule"]["ports"]} == {3307, 443}


def test_mlflow_on_prem_logs_in_with_the_cloudnativepg_secret(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    values = mlflow_values(r)
    store = values["backendStore"]
    assert store["postgres"] == {
        "enabled": True,
        "host": "platform-db-rw.cnpg-system.svc.cluster.local",
        "port": 5432,
        "database": "mlflow",
    }
    assert store["existingDatabaseSecret"]["name"] == "platform-db-app"
    assert store["databaseMigration"] is True and store["databaseConnectionCheck"] is True
    # The chart's migration runs the same MLflow as the server.
    assert values["initImages"]["mlflowDbMigration"] == values["image"]
    assert "initContainers" not in values and "extraArgs" not in values
    assert labels.ADVISORY not in application(r, "mlflow")["metadata"]["annotations"]


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_mlflow_keeps_artifacts_in_the_object_store_behind_the_platform_ingress(tmp_path: Path, env: str) -> None:
    r = render_stack(stack_copy(tmp_path, env, enable("mlflow")))
    values = mlflow_values(r)
    assert values["auth"]["enabled"] is True
    # Served at https://mlflow.<domain> through the platform's ingress (Istio here) with its own certificate.
    host = f"mlflow.{r.env.domain}"
    assert [c["spec"]["dnsNames"] for c in objects(r, "Certificate") if c["metadata"]["name"] == "mlflow"] == [[host]]
    route = next(v for v in objects(r, "VirtualService") if v["metadata"]["name"] == "mlflow")
    assert route["spec"]["hosts"] == [host] and route["metadata"]["namespace"] == "mlflow"
    artifacts = values["artifactRoot"]
    bucket = artifacts_bucket(env)
    if env == "dev":
        assert artifacts["gcs"] == {"enabled": True, "bucket": bucket, "path": "mlflow"}
        assert "s3" not in artifacts
    else:
        assert artifacts["s3"]["bucket"] == bucket
        assert artifacts["s3"]["existingSecret"]["name"] == "object-store-credentials"
        assert values["extraEnvVars"]["MLFLOW_S3_ENDPOINT_URL"].startswith("http")
        assert values["serviceAccount"]["annotations"] == {}
        assert "gcs" not in artifacts


def test_mlflow_without_a_database_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_database(monkeypatch)
    with pytest.raises(MissingClusterService, match=r"components\.mlflow\.enabled"):
        render_stack(stack_copy(tmp_path, "dev", enable("mlflow")))


# --- version compatibility -----------------------------------------------------------------------------


def violations(tmp_path: Path, env: str, edit: Callable[[dict[str, Any]], None]) -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(stack_copy(tmp_path, env, edit))
    return [str(v) for v in caught.value.violations]


def pin(**versions: str) -> Callable[[dict[str, Any]], None]:
    def edit(platform: dict[str, Any]) -> None:
        platform.setdefault("versions", {}).update(versions)

    return edit


def test_incompatible_pin_is_rejected_naming_both_versions(tmp_path: Path) -> None:
    found = violations(tmp_path, "dev", pin(**{"cert-manager": "v1.18.2"}))
    assert found == [
        "mlops-platform:platform.versions.cert-manager: cert-manager v1.18.2 is not compatible with Kubeflow 26.03; "
        "Kubeflow 26.03 accepts cert-manager 1.19-1.21 (tested with 1.19)"
    ]


def test_unknown_kubeflow_release_and_mixed_parts_are_rejected(tmp_path: Path) -> None:
    found = violations(tmp_path, "dev", pin(**{"kubeflow-pipelines": "25.09", "kubeflow-katib": "26.03"}))
    assert any("versions.kubeflow-pipelines: Kubeflow 25.09 is not in the compatibility matrix" in v for v in found)
    assert any(v.startswith("mlops-platform:platform.versions.kubeflow-katib: is 26.03") for v in found)


def test_kubernetes_outside_the_release_is_rejected(tmp_path: Path) -> None:
    def old_cluster(platform: dict[str, Any]) -> None:
        platform["kubernetesVersion"] = "1.31"

    found = violations(tmp_path, "dev", old_cluster)
    assert found == [
        "mlops-platform:platform.kubernetesVersion: kubernetes 1.31 is not compatible with Kubeflow 26.03; "
        "Kubeflow 26.03 accepts kubernetes 1.32-1.35 (tested with 1.34)"
    ]


def test_kubeflow_needs_istio(tmp_path: Path) -> None:
    def traefik(platform: dict[str, Any]) -> None:
        platform["ingress"] = {"provider": "traefik"}

    assert violations(tmp_path, "dev", traefik) == [
        "mlops-platform:platform.ingress.provider: is traefik; Kubeflow and KServe need istio"
    ]


def test_untested_but_allowed_versions_are_shown_to_reviewers(rendered: dict[str, Rendered]) -> None:
    note = application(rendered["dev"], "kubeflow-central-dashboard")["metadata"]["annotations"][labels.ADVISORY]
    assert f"cert-manager {CATALOG['cert-manager'].version} is untested with Kubeflow 26.03" in note
    assert f"kserve {CATALOG['kserve'].version} is untested with Kubeflow 26.03" in note
    # The platform's Istio and Knative are newer than Kubeflow 26.03 was tested with, yet inside its band.
    assert f"istio {CATALOG['istiod'].version} is untested with Kubeflow 26.03" in note
    assert f"knative {CATALOG['knative'].version} is untested with Kubeflow 26.03" in note
    # One per product, though KServe has two catalog entries and Istio four.
    assert note.count(" is untested with") == 4


# --- Feast ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_feast_registry_in_the_object_store_and_online_store_in_cluster(tmp_path: Path, env: str) -> None:
    r = render_stack(stack_copy(tmp_path, env, enable("feast")))
    values = application(r, "feast")["spec"]["source"]["helm"]["valuesObject"]
    config = yaml.safe_load(base64.b64decode(values["feature_store_yaml_base64"]))
    scheme = "gs" if r.env.target == "gke" else "s3"
    assert config["registry"]["path"] == f"{scheme}://{artifacts_bucket(env)}/feast/registry.db"
    assert config["online_store"] == {"type": "redis", "connection_string": "feast-redis.feast.svc.cluster.local:6379"}
    redis = next(o for o in objects(r, "StatefulSet") if o["metadata"]["name"] == "feast-redis")
    assert redis["metadata"]["namespace"] == "feast"
    claim = redis["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == ("standard-rwo" if env == "dev" else "longhorn")
    # The chart (0.66.0) creates no service account: its pods run as serviceAccount.name, the one declared here.
    account = next(o for o in objects(r, "ServiceAccount") if o["metadata"]["name"] == values["serviceAccount"]["name"])
    assert account["metadata"]["namespace"] == "feast"
    secret_env = [e for e in values["extraEnvs"] if "valueFrom" in e]
    if r.env.target == "gke":
        assert secret_env == []
        # Its own Google service account, bound to exactly that Kubernetes service account, with grants that
        # cover the registry (gcp_identity.WORKLOADS; the grants themselves are tested in test_cluster.py).
        spec = WORKLOADS["feast"]
        assert (spec.namespace, spec.service_account) == ("feast", account["metadata"]["name"])
        assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": identity(r, "feast")}
        assert spec.object_prefix is not None
        assert config["registry"]["path"].startswith(f"gs://{artifacts_bucket(env)}/{spec.object_prefix}")
        assert set(spec.buckets) | set(spec.bucket_metadata) == {"artifacts"}
    else:
        assert {e["valueFrom"]["secretKeyRef"]["name"] for e in secret_env} == {"object-store-credentials"}


def test_feast_is_optional(tmp_path: Path) -> None:
    def disable(platform: dict[str, Any]) -> None:
        platform["components"]["feast"] = {"enabled": False}

    r = render_stack(stack_copy(tmp_path, "dev", disable))
    assert "feast" not in {a["metadata"]["name"] for a in objects(r, "Application")}
    assert not [o for o in r.manifests if o.object["metadata"].get("namespace") == "feast"]


def test_team_objects_wait_for_their_profile(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    teams = {team.name for team in r.env.components.kubeflow.teams}
    inside = [m for m in r.manifests if m.object["metadata"].get("namespace") in teams]
    # With the platform's Istio, each member also gets the AuthorizationPolicy KFAM would write; a team with a Ray
    # cluster gets it with its PodMonitor, NetworkPolicy and dashboard route (kuberay.py).
    ray = {"RayCluster", "PodMonitor", "NetworkPolicy", "VirtualService"}
    assert {m.object["kind"] for m in inside} == {"PodDefault", "RoleBinding", "AuthorizationPolicy", "ConfigMap", *ray}
    for m in inside:
        profile = f"kubernetes:kubeflow.org/v1:Profile::kubeflow-profile-{m.object['metadata']['namespace']}"
        assert profile in m.resource.dependencies, m.path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda p: p["components"].update({"mlflow": {"enabled": True, "replicas": 1}}),
            "mlops-platform:platform.components.mlflow.replicas: is 1; a highly available environment needs 2",
        ),
        (
            lambda p: p["components"]["kubeflow"]["teams"].append({"name": "team-vision", "owner": "x@example.com"}),
            "mlops-platform:platform.components.kubeflow.teams[1].name: 'team-vision' is used twice (also at [0])",
        ),
    ],
)
def test_ml_settings_rules(tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert violations(tmp_path, "prod", edit) == [expected]


def test_per_team_objects_have_distinct_pulumi_names(tmp_path: Path) -> None:
    """The same object name in several team namespaces must not collide in Pulumi (URNs are type + name)."""
    r = render_stack(stack_copy(tmp_path, "dev", enable("kubeflow")))
    urns = [res.urn for res in r.run.resources]
    assert len(urns) == len(set(urns))
    assert len([o for o in objects(r, "PodDefault")]) == len(r.env.components.kubeflow.teams) == 2


def test_kubeflow_namespace_is_meshed_and_restricted_like_upstream(rendered: dict[str, Rendered]) -> None:
    namespace = next(n for n in objects(rendered["dev"], "Namespace") if n["metadata"]["name"] == "kubeflow")
    found = namespace["metadata"]["labels"]
    assert found["istio-injection"] == "enabled" and found["control-plane"] == "kubeflow"
    assert found["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kubeflow_admits_its_gateways_and_teams_only(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    clients = allowances(r, "kubeflow")["kubeflow-clients"]
    assert clients["direction"] == "ingress"
    admitted = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in clients["rule"]["from"]
    }
    assert admitted == {"istio-system", "istio-ingress", *(team.name for team in r.env.components.kubeflow.teams)}


def test_ml_apps_pass_checkov(tmp_path: Path) -> None:
    from infra.offline.checkov import CHECKOV_BIN, run_checkov

    if not CHECKOV_BIN.is_file():
        pytest.skip(f"no checkov at {CHECKOV_BIN}; set MLOPS_CHECKOV")
    dirs: dict[str, Path] = {}
    for app in ML_APPS:
        for env in SERVING_OVERLAYS if app == "model-serving" else OVERLAYS:
            directory = tmp_path / app / env
            directory.mkdir(parents=True)
            for index, doc in enumerate(kustomize(APPS / app / "overlays" / env)):
                (directory / f"{index}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc))
            dirs[f"{app}/{env}"] = directory
    findings = run_checkov(dirs, REPO / "policies" / "checkov" / "config.yaml")
    assert {where: items for where, items in findings.items() if items} == {}


def test_kubeflow_dashboard_is_served_over_https_under_the_domain(rendered: dict[str, Rendered]) -> None:
    for env in ("dev", "prod"):
        r = rendered[env]
        host = f"kubeflow.{r.env.domain}"
        patches = application(r, "kubeflow-istio-resources")["spec"]["source"]["kustomize"]["patches"]
        (gateway,) = [p for p in patches if p["target"] == {"kind": "Gateway", "name": "kubeflow-gateway"}]
        servers = json.loads(gateway["patch"])[0]["value"]
        https = next(s for s in servers if s["port"]["protocol"] == "HTTPS")
        assert https["hosts"] == [host] and https["tls"]["credentialName"] == "kubeflow-tls"
        assert all(s["hosts"] == [host] for s in servers), "no longer open to any host"
        certificate = next(c for c in objects(r, "Certificate") if c["metadata"]["name"] == "kubeflow")
        assert certificate["metadata"]["namespace"] == "istio-system"
        assert certificate["spec"]["dnsNames"] == [host] and certificate["spec"]["secretName"] == "kubeflow-tls"
    # dev answers ACME HTTP-01 challenges on port 80, so only prod (DNS-01) redirects plain HTTP.
    assert [
        s["port"]["number"]
        for s in json.loads(
            next(
                p
                for p in application(rendered["prod"], "kubeflow-istio-resources")["spec"]["source"]["kustomize"][
                    "patches"
                ]
            )["patch"]
        )[0]["value"]
    ] == [443, 80]
