"""Ray: the KubeRay operator, and a RayCluster in the namespace of each team that opts in, sized from the team's
settings and within its quota, GPU workers on the GPU pools, object store access as the team's pipeline steps have
it, its dashboard behind the platform's sign-in for the team only, scraped and alerted on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.components import kubeflow, kuberay
from infra.expand import pod_security
from infra.expand.platform import Platform
from infra.offline.render import Rendered
from infra.platform import sign_in
from tests.stack_copies import violations

from .conftest import allowances

TEAM = "team-vision"
BASE = "mlops-platform:platform.components"


def own(r: Rendered, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [
        m.object
        for m in r.manifests
        if m.object["kind"] == kind and namespace in (None, m.object["metadata"].get("namespace"))
    ]


def ray_cluster(r: Rendered) -> dict[str, Any]:
    [cluster] = own(r, "RayCluster", TEAM)
    return cluster


def team_ray(settings: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in settings["components"]["kubeflow"]["teams"] if t["name"] == TEAM)["ray"]


def test_only_teams_that_opt_in_get_a_cluster(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    teams = {t.name: t.ray is not None for t in r.env.components.kubeflow.teams}
    assert teams == {TEAM: True, "team-nlp": False}
    assert {c["metadata"]["namespace"] for c in own(r, "RayCluster")} == {TEAM}
    assert "kuberay-operator" in {a["metadata"]["name"] for a in own(r, "Application")}


def test_the_cluster_is_sized_from_the_teams_settings(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    settings = next(t for t in r.env.components.kubeflow.teams if t.name == TEAM).ray
    assert settings is not None
    spec = ray_cluster(r)["spec"]
    assert spec["rayVersion"] == r.env.components.kuberay.ray_version
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == settings.idle_timeout_seconds
    [head] = spec["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["resources"]["requests"] == {"cpu": settings.head.cpu, "memory": settings.head.memory}
    assert head["resources"]["limits"] == head["resources"]["requests"]
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {g.name for g in settings.worker_groups}
    for group in settings.worker_groups:
        rendered_group = groups[group.name]
        assert (rendered_group["minReplicas"], rendered_group["maxReplicas"]) == (
            group.min_replicas,
            group.max_replicas,
        )
        [worker] = rendered_group["template"]["spec"]["containers"]
        assert worker["resources"]["requests"]["cpu"] == group.cpu
        assert worker["resources"]["requests"]["memory"] == group.memory


def test_gpu_workers_run_the_gpu_image_on_the_gpu_pools(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    groups = {g["groupName"]: g["template"]["spec"] for g in ray_cluster(r)["spec"]["workerGroupSpecs"]}
    gpu, cpu = groups["gpu"], groups["cpu"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["containers"][0]["image"] == r.env.components.kuberay.gpu_image
    assert gpu["nodeSelector"] == {"mlops.io/pool-role": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    assert cpu["containers"][0]["image"] == r.env.components.kuberay.image
    assert "nodeSelector" not in cpu and "tolerations" not in cpu


def test_ray_pods_reach_the_object_store_as_the_teams_pipeline_steps_do(rendered: dict[str, Rendered]) -> None:
    """The pipeline steps' identity (the Profile's default-editor, with Workload Identity on GKE) and the team's
    object store PodDefault (the label its selector matches)."""
    r = rendered["dev"]
    [pod_default] = own(r, "PodDefault", TEAM)
    selector = pod_default["spec"]["selector"]["matchLabels"]
    assert kuberay.OBJECT_STORE_LABEL == kubeflow.OBJECT_STORE_LABEL
    spec = ray_cluster(r)["spec"]
    templates = [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]
    for template in templates:
        assert selector.items() <= template["metadata"]["labels"].items()
        assert template["spec"]["serviceAccountName"] == "default-editor"
        # Outside the mesh (Ray's ports and pod addresses), so no sidecar is injected.
        assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_ray_pods_pass_the_restricted_pod_security_level(rendered: dict[str, Rendered]) -> None:
    """Team namespaces enforce baseline and warn at restricted (kubeflow.TEAM_POD_SECURITY): no warnings either."""
    r = rendered["dev"]
    spec = ray_cluster(r)["spec"]
    version = int(r.env.kubernetes_version.split(".")[1])
    templates = [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]
    for template in templates:
        assert pod_security.violations(template, pod_security.RESTRICTED, version) == []
    autoscaler = {"spec": {"containers": [{"name": "autoscaler", **spec["autoscalerOptions"]}]}}
    autoscaler["spec"]["containers"][0].pop("resources")
    assert (
        pod_security.violations(
            {"spec": {**templates[0]["spec"], "containers": autoscaler["spec"]["containers"]}},
            pod_security.RESTRICTED,
            version,
        )
        == []
    )


def test_the_dashboard_is_behind_sign_in_for_the_team_only(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    auth = r.env.components.kubeflow.auth
    assert auth is not None
    team = next(t for t in r.env.components.kubeflow.teams if t.name == TEAM)
    [route] = own(r, "VirtualService", TEAM)
    host = sign_in.host(r.env)
    assert route["spec"]["hosts"] == [host] and route["spec"]["gateways"] == [sign_in.KUBEFLOW_GATEWAY]
    [redirect, proxy] = route["spec"]["http"]
    assert redirect["redirect"] == {"uri": f"/ray/{TEAM}/"}
    assert proxy["match"] == [{"uri": {"prefix": f"/ray/{TEAM}/"}}] and proxy["rewrite"] == {"uri": "/"}
    destination = proxy["route"][0]["destination"]
    assert destination == {"host": f"ray-head-svc.{TEAM}.svc.cluster.local", "port": {"number": 8265}}
    [deny] = [
        p for p in own(r, "AuthorizationPolicy", "istio-system") if p["metadata"]["name"] == f"ray-dashboard-{TEAM}"
    ]
    assert deny["spec"]["action"] == "DENY"
    [rule] = deny["spec"]["rules"]
    assert rule["to"][0]["operation"]["paths"] == [f"/ray/{TEAM}", f"/ray/{TEAM}/*"]
    assert rule["when"] == [
        {"key": f"request.auth.claims[{auth.email_claim}]", "notValues": [team.owner, *team.members]}
    ]
    # The sign-in policies cover every path of the host but oauth2-proxy's own.
    [sign_in_policy] = [
        p for p in own(r, "AuthorizationPolicy", "istio-system") if p["metadata"]["name"] == "kubeflow-sign-in"
    ]
    assert sign_in_policy["spec"]["rules"][0]["to"][0]["operation"]["hosts"][0] == host


def test_only_the_team_the_gateway_prometheus_and_the_operator_reach_ray(rendered: dict[str, Rendered]) -> None:
    declared = allowances(rendered["dev"], TEAM)
    assert set(declared) == {"ray-team-pods", "ray-dashboard", "ray-operator", "ray-metrics"}
    for allowance in declared.values():
        assert allowance["direction"] == "ingress"
        assert allowance["podSelector"] == {"matchLabels": {"ray.io/cluster": "ray"}}
    assert declared["ray-metrics"]["rule"]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert declared["ray-dashboard"]["rule"]["ports"] == [{"port": 8265, "protocol": "TCP"}]


def test_ray_is_scraped_where_its_pods_serve_metrics(platforms: dict[str, Platform]) -> None:
    r = platforms["dev"].rendered
    [monitor] = own(r, "PodMonitor", TEAM)
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    spec = ray_cluster(r)["spec"]
    templates = [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]
    for template in templates:
        ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert endpoint["port"] in ports


def test_ray_settings_are_checked(tmp_path: Path) -> None:
    teams = f"{BASE}.kubeflow.teams[0].ray"

    def too_big(settings: dict[str, Any]) -> None:
        team_ray(settings)["workerGroups"][0]["maxReplicas"] = 10

    # dev's team-vision: head 2 CPU / 8Gi, autoscaler 500m / 512Mi, 10 CPU workers of 4 / 16Gi, a GPU worker of 3 / 12Gi
    cpu = 2 + 0.5 + 10 * 4 + 3
    memory = (8 + 0.5 + 10 * 16 + 12) * 2**30
    assert violations(tmp_path, "dev", too_big) == [
        f"{teams}: requests up to {memory:.0f} bytes of memory at its largest (head, autoscaler, every worker group "
        "at maxReplicas), above the team's quota.memory of 68719476736",
        f"{teams}: requests up to {cpu} CPU cores at its largest (head, autoscaler, every worker group at "
        "maxReplicas), above the team's quota.cpu of 16",
    ]

    def without_operator(settings: dict[str, Any]) -> None:
        settings["components"]["kuberay"]["enabled"] = False

    assert violations(tmp_path, "dev", without_operator) == [
        f"{teams}: needs components.kuberay.enabled: the KubeRay operator makes the cluster"
    ]

    def twice(settings: dict[str, Any]) -> None:
        groups = team_ray(settings)["workerGroups"]
        groups[1]["name"] = groups[0]["name"]
        groups[1]["minReplicas"], groups[1]["maxReplicas"] = 2, 1

    assert violations(tmp_path, "dev", twice) == [
        f"{teams}.workerGroups[1].minReplicas: is 2, above maxReplicas 1",
        f"{teams}.workerGroups[1].name: 'cpu' is used twice (also at [0])",
    ]

    def bigger_than_a_node(settings: dict[str, Any]) -> None:
        team_ray(settings)["workerGroups"][1]["gpu"] = 2
        next(t for t in settings["components"]["kubeflow"]["teams"] if t["name"] == TEAM)["quota"]["gpu"] = 2

    assert violations(tmp_path, "dev", bigger_than_a_node) == [
        f"{teams}.workerGroups[1].gpu: is 2 GPUs per worker, but the nodes have at most 1"
    ]
