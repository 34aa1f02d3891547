"""Kubeflow on-prem (issue #17, item 2): the on-prem example runs the whole platform, Kubeflow and KServe on the Istio
ingress with MinIO, CloudNativePG and Longhorn behind them; the smaller on-prem example keeps Traefik rendered and
checked, so both ingress providers stay in `check` and in these tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.components import cloudnative_pg
from infra.components.kubeflow import PARTS
from infra.config import load_stack_file
from infra.expand.capacity import capacity_of
from infra.expand.platform import STACK, Platform
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import plain

from .conftest import ENV_NAMES, ENVIRONMENTS
from .test_wiring import about, changed, errors

ONPREM_SERVICES = {"metallb", "minio", "cloudnative-pg", "longhorn"}
ISTIO_APPS = {"istio-base", "istio-cni", "istiod", "istio-gateway"}
ML_APPS = {*(part.key for part in PARTS), "kserve-crd", "kserve", "oauth2-proxy", "mlflow"}
ISTIOD_INJECTOR = "istiod: admissionregistration.k8s.io/v1 MutatingWebhookConfiguration istio-sidecar-injector"
PODDEFAULTS_WEBHOOK = (
    "kubeflow-poddefaults: admissionregistration.k8s.io/v1 MutatingWebhookConfiguration "
    "admission-webhook-mutating-webhook-configuration"
)


def applications(r: Rendered) -> set[str]:
    return {m.object["metadata"]["name"] for m in r.manifests if m.object["kind"] == "Application"}


def named(r: Rendered, kind: str, name: str, namespace: str | None = None) -> Mapping[str, Any]:
    (found,) = [
        m.object
        for m in r.manifests
        if m.object["kind"] == kind
        and m.object["metadata"]["name"] == name
        and namespace in (None, m.object["metadata"].get("namespace"))
    ]
    return found


def expanded(platform: Platform, owner: str, kind: str, name: str) -> Mapping[str, Any]:
    (found,) = [o.object for o in platform.owned_by(owner) if o.kind == kind and o.name == name]
    return found


def onprem_examples() -> dict[str, list[str]]:
    """Every on-prem example environment, by its ingress provider."""
    found: dict[str, list[str]] = {}
    for name in ENV_NAMES:
        env = load_stack_file(ENVIRONMENTS / f"Pulumi.{name}.yaml")
        if env.target == "onprem":
            found.setdefault(env.ingress.provider, []).append(name)
    return found


# --- the two on-prem examples --------------------------------------------------------------------------------------


def test_the_on_prem_examples_exercise_both_ingress_providers() -> None:
    # airgap (the install without internet) runs Traefik too.
    assert onprem_examples() == {"istio": ["onprem"], "traefik": ["airgap", "onprem-traefik"]}


def test_the_full_on_prem_example_runs_kubeflow_on_istio_over_the_cluster_services(
    rendered: dict[str, Rendered],
) -> None:
    r = rendered["onprem"]
    assert r.env.ingress.provider == "istio" and r.env.components.kubeflow.enabled and r.env.components.kserve.enabled
    assert r.env.components.kubeflow.teams and r.env.components.kubeflow.auth is not None
    apps = applications(r)
    assert ONPREM_SERVICES | ISTIO_APPS | ML_APPS <= apps
    assert "traefik" not in apps
    # The store, the database and the block storage Kubeflow uses are the cluster's own: the teams' runs write to
    # MinIO, ML Metadata's database is a database of the CloudNativePG cluster, on Longhorn.
    for team in r.env.components.kubeflow.teams:
        launcher = named(r, "ConfigMap", "kfp-launcher", team.name)["data"]
        assert launcher["defaultPipelineRoot"].startswith(f"s3://{r.env.object_store.bucket_prefix}-onprem-artifacts/")
        assert "minio.minio.svc.cluster.local" in launcher["providers"]
    assert named(r, "Database", "metadb")["spec"]["cluster"] == {"name": cloudnative_pg.CLUSTER}
    assert named(r, "Cluster", cloudnative_pg.CLUSTER)["spec"]["storage"]["storageClass"].startswith("longhorn")


def test_the_traefik_example_runs_the_platform_without_the_mesh(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem-traefik"]
    apps = applications(r)
    assert r.env.ingress.provider == "traefik"
    assert {"traefik", "mlflow", *ONPREM_SERVICES - {"minio"}, "minio"} <= apps
    assert not apps & (ISTIO_APPS | {part.key for part in PARTS} | {"kserve"})
    assert r.env.onprem is not None and r.env.onprem.cni == "calico"


# --- what on-prem Kubeflow reads -----------------------------------------------------------------------------------


def test_ml_metadata_runs_on_cloudnative_pg_with_the_copied_login(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    deployment = expanded(platform, "kubeflow-pipelines", "Deployment", "metadata-grpc-deployment")
    (server,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "container"]
    assert "--metadata_source_config_type=postgresql" in server["args"]
    env = {e["name"]: e for e in server["env"]}
    assert env["POSTGRES_HOST"]["value"] == cloudnative_pg.HOST
    login = env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
    # The Secret it reads is the copy External Secrets keeps in `kubeflow`.
    (copy,) = [
        o.object
        for o in platform.owned_by(STACK)
        if o.kind == "ExternalSecret" and o.namespace == "kubeflow" and o.name == login
    ]
    assert copy["spec"]["secretStoreRef"]["name"] == cloudnative_pg.LOGIN_STORE


def test_the_pipelines_ui_and_the_teams_read_minio_with_the_store_keys(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    secret = "object-store-credentials"
    ui = expanded(platform, "kubeflow-pipelines", "Deployment", "ml-pipeline-ui")
    (container,) = [c for c in ui["spec"]["template"]["spec"]["containers"] if c["name"] == "ml-pipeline-ui"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_S3_ENDPOINT"]["value"] == "minio.minio.svc.cluster.local"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == secret
    defaults = {o.namespace: o.object for o in platform.owned_by(STACK) if o.kind == "PodDefault"}
    assert set(defaults) == {team.name for team in platform.env.components.kubeflow.teams}
    for access in defaults.values():
        assert access["spec"]["envFrom"] == [{"secretRef": {"name": secret}}]


# --- what Istio on Cilium needs ------------------------------------------------------------------------------------


def cilium_values(r: Rendered) -> dict[str, Any]:
    (cilium,) = [res for res in r.run.resources if res.name == "cilium"]
    return plain(cilium.inputs)["values"]


def test_cilium_leaves_istios_cni_plugin_in_place_only_where_istio_runs(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    assert cilium_values(rendered["onprem"])["cni"] == {"exclusive": False}
    # The Traefik example on Cilium: no other CNI plugin to leave alone, Cilium's default (exclusive) stays.
    text = (ENVIRONMENTS / "Pulumi.onprem-traefik.yaml").read_text()
    assert "      cni: calico\n" in text
    stack = tmp_path / "Pulumi.onprem-traefik.yaml"
    stack.write_text(text.replace("      cni: calico\n", "      cni: cilium\n"))
    assert "cni" not in cilium_values(render_stack(stack))


def test_the_api_server_reaches_the_mesh_and_kubeflow_webhooks_through_cilium(platforms: dict[str, Platform]) -> None:
    """The API server is no address a NetworkPolicy's ipBlock matches under Cilium: istiod's injection webhook
    (15017) and the PodDefaults webhook (4443) are allowed by entity. Without that rule, `check` fails both (seen
    before the fix: every sidecar injection and every pod of a team namespace refused)."""
    platform = platforms["onprem"]
    assert about(errors(platform), ISTIOD_INJECTOR) == [] and about(errors(platform), PODDEFAULTS_WEBHOOK) == []
    for namespace, port in (("istio-system", "15017"), ("kubeflow", "4443")):
        (entities,) = [
            o.object
            for o in platform.owned_by(STACK)
            if o.kind == "CiliumNetworkPolicy" and o.namespace == namespace and o.name == "allow-cluster-entities"
        ]
        ports = {p["port"] for rule in entities["spec"]["ingress"] for to in rule["toPorts"] for p in to["ports"]}
        assert port in ports, namespace
        cut = changed(platform, "CiliumNetworkPolicy", namespace, "allow-cluster-entities", None)
        webhook = ISTIOD_INJECTOR if namespace == "istio-system" else PODDEFAULTS_WEBHOOK
        assert any("admit none from the API server" in message for message in about(errors(cut), webhook))


# --- capacity ------------------------------------------------------------------------------------------------------


def test_the_nodes_state_the_architecture_kubeflows_controllers_select(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    assert platform.env.onprem is not None
    fits = capacity_of(platform.env, platform.objects)
    assert [f.message for f in fits.findings if f.severity == "error"] == []
    nodes = tuple(n.model_copy(update={"labels": {}}) for n in platform.env.onprem.nodes)
    unlabelled = platform.env.model_copy(update={"onprem": platform.env.onprem.model_copy(update={"nodes": nodes})})
    stuck = [f for f in capacity_of(unlabelled, platform.objects).findings if f.severity == "error"]
    assert any("pvcviewer-controller-manager" in f.object_ref and "no node group" in f.message for f in stuck)
