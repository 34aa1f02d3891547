"""Hub mode (argocd.mode hub): no Argo CD in the cluster; the cluster is registered in the hub's Argo CD, and the
platform's AppProjects, Applications and ApplicationSet are written there, targeting the cluster by name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.config import InvalidEnvironment, load_environment
from infra.expand.existing import OWNER_PREFIX
from infra.expand.platform import Platform
from infra.offline.render import Manifest, Rendered
from infra.platform.argocd_app import IN_CLUSTER
from infra.platform.hub import argocd_target

from .test_existing import EXAMPLE, stack_config

HUB_KINDS = ("Application", "AppProject", "ApplicationSet")


def hub_objects(r: Rendered) -> list[Manifest]:
    return [m for m in r.manifests if "argocd-hub" in m.resource.provider]


def of_kind(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def test_no_argo_cd_is_installed_in_the_cluster(rendered: dict[str, Rendered]) -> None:
    example = rendered[EXAMPLE]
    assert not [r for r in example.run.resources if r.type == "kubernetes:helm.sh/v3:Release"]
    assert "argocd" not in {n["metadata"]["name"] for n in of_kind(example, "Namespace")}
    monitors = of_kind(example, "ServiceMonitor")
    assert not [m for m in monitors if m["metadata"]["name"] == "argo-cd"]
    assert not [r for r in of_kind(example, "PrometheusRule") if r["metadata"]["name"] == "argo-cd-alerts"]
    # The in-cluster environments keep theirs.
    assert [r for r in rendered["dev"].run.resources if r.type == "kubernetes:helm.sh/v3:Release"]


def test_argo_cd_objects_are_written_into_the_hub_targeting_the_cluster(rendered: dict[str, Rendered]) -> None:
    example = rendered[EXAMPLE]
    on_hub = hub_objects(example)
    assert {m.object["kind"] for m in on_hub} == {*HUB_KINDS, "Secret"}
    # Every Argo CD object is on the hub, none in the cluster.
    assert not [m for m in example.manifests if m.object["kind"] in HUB_KINDS and m not in on_hub]
    for manifest in on_hub:
        meta = manifest.object["metadata"]
        assert meta["namespace"] == "argocd" and meta["name"].startswith(f"{EXAMPLE}-"), meta
        assert meta["labels"]["mlops.dev/environment"] == EXAMPLE
    for app in of_kind(example, "Application"):
        spec = app["spec"]
        assert spec["destination"]["name"] == EXAMPLE and "server" not in spec["destination"]
        assert spec["project"] == f"{EXAMPLE}-platform"
        key = app["metadata"]["annotations"]["mlops.dev/application"]
        assert app["metadata"]["name"] == f"{EXAMPLE}-{key}"
        # The release keeps the catalog key: a prefix would rename what the chart makes.
        assert spec["source"]["helm"]["releaseName"] == key
    [appset] = of_kind(example, "ApplicationSet")
    template = appset["spec"]["template"]
    assert template["metadata"]["name"].startswith(f"{EXAMPLE}-")
    assert template["spec"]["destination"]["name"] == EXAMPLE
    assert template["spec"]["project"] == f"{EXAMPLE}-ml-apps"
    for project in of_kind(example, "AppProject"):
        assert {d["name"] for d in project["spec"]["destinations"]} == {EXAMPLE}
    # In-cluster environments are untouched.
    for app in of_kind(rendered["dev"], "Application"):
        assert app["spec"]["destination"]["server"] == IN_CLUSTER and not app["metadata"]["name"].startswith("dev-")


def test_the_cluster_secret_carries_the_cluster_facts(rendered: dict[str, Rendered]) -> None:
    example = rendered[EXAMPLE]
    [secret] = [
        m for m in hub_objects(example) if m.object["kind"] == "Secret" and "cluster" in m.object["metadata"]["name"]
    ]
    meta = secret.object["metadata"]
    labels, annotations = meta["labels"], meta["annotations"]
    assert labels["argocd.argoproj.io/secret-type"] == "cluster"
    assert labels["mlops.dev/target"] == "gke" and labels["mlops.dev/kubernetes-version"] == "1.34"
    installed = {key.removeprefix("mlops.dev/enable-") for key in labels if key.startswith("mlops.dev/enable-")}
    assert {"knative", "kserve", "kube-prometheus-stack", "mlflow"} <= installed
    assert not installed & {"istio", "cert-manager", "argo-cd"}  # the existing ones, and the hub itself
    assert annotations["mlops.dev/cluster-issuer"] == "corp-acme"
    assert annotations["mlops.dev/storage-class-default"] == "standard-rwo"
    assert annotations["mlops.dev/domain"] == "hub-example.ml.example.com"
    assert json.loads(annotations["mlops.dev/buckets"])["artifacts"] == "mlops-hub-example-artifacts"
    # Its credentials are never a literal: the whole of its data is masked in the render.
    assert set(secret.object["stringData"]) == {"name", "server", "config"}
    assert set(secret.object["stringData"].values()) == {"[secret]"}
    # The hub authenticates as its Google service account, bound to cluster-admin here.
    [binding] = [b for b in of_kind(example, "ClusterRoleBinding") if b["metadata"]["name"] == "argocd-hub-manager"]
    assert binding["subjects"][0]["name"] == "argocd@corp-platform.iam.gserviceaccount.com"
    members = [r.inputs for r in example.run.resources if r.type == "gcp:projects/iAMMember:IAMMember"]
    assert {"role": "roles/container.clusterViewer"}.items() <= next(
        m for m in members if "argocd@corp-platform" in m["member"]
    ).items()


def test_sync_windows_and_rbac_apply_to_the_environments_projects(rendered: dict[str, Rendered]) -> None:
    projects = {p["metadata"]["name"]: p["spec"] for p in of_kind(rendered[EXAMPLE], "AppProject")}
    [window] = projects[f"{EXAMPLE}-platform"]["syncWindows"]
    assert window["kind"] == "deny" and window["applications"] == [f"{EXAMPLE}-*"]
    assert projects[f"{EXAMPLE}-ml-apps"]["syncWindows"] == []
    [role] = projects[f"{EXAMPLE}-ml-apps"]["roles"]
    assert role["name"] == "ml-deployer" and role["groups"] == ["ml-team@example.com"]
    assert f"p, proj:{EXAMPLE}-ml-apps:ml-deployer, applications, sync, {EXAMPLE}-ml-apps/*, allow" in role["policies"]
    assert projects[f"{EXAMPLE}-platform"]["roles"] == []


def test_checks_know_hub_applications_by_their_catalog_key(platforms: dict[str, Platform]) -> None:
    example = platforms[EXAMPLE]
    names = {d.name for d in example.deployers}
    assert {"knative", "kserve", "model-serving"} <= names
    assert not [name for name in names if name.startswith(f"{EXAMPLE}-")]
    # The Applications are judged by the CRDs of the hub's Argo CD, read from its chart.
    owners = {crd.owner for crd in example.crds if crd.object["spec"]["group"] == "argoproj.io"}
    assert owners == {f"{OWNER_PREFIX}argo-cd 10.1.1"}


def test_the_drift_workflow_finds_the_environments_applications() -> None:
    hub = load_environment(stack_config(EXAMPLE), EXAMPLE)
    assert argocd_target(hub) == (
        "gke_corp-platform_europe-west4_gitops-hub",
        "argocd",
        "mlops.dev/environment=hub-example",
    )
    dev = load_environment(copy.deepcopy(stack_config("dev")), "dev")
    assert argocd_target(dev) == ("-", "argocd", "-")


def violations(platform: dict[str, Any]) -> str:
    with pytest.raises(InvalidEnvironment) as error:
        load_environment(platform, EXAMPLE)
    return error.value.report()


def test_hub_settings_belong_to_hub_mode() -> None:
    platform = copy.deepcopy(stack_config(EXAMPLE))
    del platform["argocd"]["hub"]
    assert "argocd.hub: is required with mode hub" in violations(platform)
    platform = copy.deepcopy(stack_config("dev"))
    platform["argocd"] = {"hub": stack_config(EXAMPLE)["argocd"]["hub"]}
    assert "argocd.hub: is required with mode hub, and only with it" in violations(platform)


def test_the_hubs_own_settings_are_refused_in_hub_mode() -> None:
    platform = copy.deepcopy(stack_config(EXAMPLE))
    platform["argocd"]["sso"] = {
        "issuer": "https://idp.example.com",
        "clientId": "argocd",
        "clientSecret": {"name": "argocd-oidc", "key": "secret"},
    }
    platform["argocd"]["rbac"]["defaultRole"] = "readonly"
    report = violations(platform)
    assert "argocd.sso: is the hub's own setting" in report
    assert "argocd.rbac.defaultRole: is the hub's own setting" in report


def test_hub_mode_is_refused_on_prem() -> None:
    platform = copy.deepcopy(stack_config("onprem"))
    platform["argocd"] = {**platform.get("argocd", {}), "mode": "hub", "hub": stack_config(EXAMPLE)["argocd"]["hub"]}
    assert "argocd.mode: hub is supported on GKE only so far" in violations(platform)
