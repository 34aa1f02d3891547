"""Capacity: the platform's requests beside what the node pools allocate at their largest (the `capacity` stage)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from infra.cli import commands
from infra.cli.__main__ import main
from infra.config import Environment, load_stack_file
from infra.expand.capacity import STAGE, ZONES, capacity_findings, capacity_of, may_run_on, node_groups, report
from infra.expand.expansion import Expander
from infra.expand.machines import GIB, MIB, gke_allocatable_cpu, gke_allocatable_memory, machine
from infra.expand.platform import Platform, PlatformObject
from infra.expand.pods import Resources, platform_pods, pod_requests
from infra.offline.render import render_stack

from .conftest import ENVIRONMENTS

DEV = ENVIRONMENTS / "Pulumi.dev.yaml"


def dev_env(**pool_changes: Any) -> Environment:
    """dev with every node pool changed by `pool_changes` (e.g. a machine type)."""
    env = load_stack_file(DEV)
    assert env.gke is not None
    pools = tuple(pool.model_copy(update=pool_changes) for pool in env.gke.node_pools)
    return env.model_copy(update={"gke": env.gke.model_copy(update={"node_pools": pools})})


def deployment(name: str, spec: dict[str, Any], replicas: int = 1, namespace: str = "apps") -> PlatformObject:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "template": {"metadata": {}, "spec": spec}},
    }
    return PlatformObject("demo", obj, "demo/templates/x.yaml")


def container(cpu: str = "1", memory: str = "1Gi", **extra: Any) -> dict[str, Any]:
    return {"name": extra.pop("name", "main"), "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


# --- what a node allocates -----------------------------------------------------------------------------------


def test_gke_allocatable_follows_the_documented_reservations() -> None:
    # GKE's sizing page shows an e2-standard-4 node with 3920m allocatable CPU.
    assert gke_allocatable_cpu(4) == Decimal("3.92")
    # 16 GiB: 25% of 4 + 20% of 4 + 10% of 8 = 2.6 GiB reserved, and 100 MiB for eviction.
    assert gke_allocatable_memory(Decimal(16)) == int((Decimal(16) - Decimal("2.6")) * GIB - 100 * MIB)
    # Above 4 cores, 0.25% of each: 16 cores keep 0.06 + 0.01 + 0.01 + 12 * 0.0025.
    assert gke_allocatable_cpu(16) == Decimal(16) - Decimal("0.11")
    assert gke_allocatable_memory(Decimal("0.5")) == GIB / 2 - 255 * MIB - 100 * MIB


def test_machine_shapes_from_the_table_the_family_and_custom_names() -> None:
    assert machine("g2-standard-8") == machine("g2-standard-8") and machine("g2-standard-8").gpus == 1  # type: ignore[union-attr]
    assert machine("a2-highgpu-1g").memory_gib == 85  # type: ignore[union-attr]
    assert machine("n2-standard-16").vcpus == 16 and machine("n2-standard-16").memory_gib == 64  # type: ignore[union-attr]
    assert machine("n1-highmem-8").memory_gib == Decimal("52.0")  # type: ignore[union-attr]
    assert machine("n2-custom-6-24576").memory_gib == 24  # type: ignore[union-attr]
    assert machine("e2-standard-3") is None and machine("z9-mega-4") is None


def test_every_machine_type_of_the_example_environments_is_known() -> None:
    for path in sorted(ENVIRONMENTS.glob("Pulumi.*.yaml")):
        env = load_stack_file(path)
        for pool in env.gke.node_pools if env.gke else ():
            assert machine(pool.machine_type) is not None, f"{path.name}: {pool.machine_type}"


def test_an_unknown_machine_type_is_an_error_naming_the_setting() -> None:
    groups, findings = node_groups(dev_env(machine_type="z9-mega-4"))
    assert all(group.allocatable is None for group in groups)
    assert findings[0].stage == STAGE
    assert findings[0].message.startswith("gke.nodePools[0].machineType: z9-mega-4 is not in the machine table")


def test_pools_count_their_zones_carry_their_labels_and_gpu_pools_their_taint() -> None:
    groups, _ = node_groups(load_stack_file(DEV))
    by_name = {group.name: group for group in groups}
    assert by_name["general"].nodes == 4 * ZONES
    assert by_name["general"].labels["mlops.io/pool-role"] == "general"
    assert by_name["general"].labels["cloud.google.com/gke-spot"] == "true"
    gpu = by_name["gpu-l4"]
    assert gpu.allocatable is not None and gpu.allocatable.gpu == 1
    assert [(t.key, t.effect) for t in gpu.taints] == [("nvidia.com/gpu", "NoSchedule")]


# --- what a pod requests and where it may run ------------------------------------------------------------


def test_a_pod_requests_its_containers_or_its_largest_init_container() -> None:
    spec = {
        "containers": [container("500m", "256Mi"), {"name": "limited", "resources": {"limits": {"cpu": "250m"}}}],
        "initContainers": [
            {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
        ],
    }
    requests, limits = pod_requests(spec, "spec")
    # containers 0.75 (a limit alone is the request) + the sidecar 0.1, against the init container's 2: 2.
    assert requests.cpu == Decimal(2)
    assert requests.memory == 256 * MIB
    assert limits.cpu == Decimal("0.25")


def test_a_quantity_kubernetes_refuses_is_a_problem_naming_the_field() -> None:
    bad = deployment("bad", {"containers": [container(cpu="lots")]})
    counted = platform_pods([bad], "1.34")
    assert counted.problems == [
        (
            bad.ref,
            "spec.template.spec.containers[main].resources.requests.cpu: 'lots' "
            "needs a number and a Kubernetes unit: Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E",
        )
    ]


def test_scheduling_reads_node_selectors_affinity_tolerations_and_gpus() -> None:
    groups, _ = node_groups(load_stack_file(DEV))
    by_name = {group.name: group for group in groups}
    plain = Resources(cpu=Decimal(1))
    gpu = Resources(cpu=Decimal(1), gpu=Decimal(1))
    assert [g.name for g in groups if may_run_on({}, plain, g)] == ["system", "general"]
    tolerant = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}
    assert may_run_on(tolerant, gpu, by_name["gpu-l4"]) and not may_run_on(tolerant, gpu, by_name["general"])
    assert may_run_on({"tolerations": [{"operator": "Exists"}]}, plain, by_name["gpu-l4"])
    assert not may_run_on({"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}, plain, by_name["gpu-l4"])
    selector = {"nodeSelector": {"mlops.io/pool-role": "system"}}
    assert [g.name for g in groups if may_run_on(selector, plain, g)] == ["system"]
    affinity = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "cloud.google.com/gke-spot", "operator": "DoesNotExist"}]}
                    ]
                }
            }
        }
    }
    assert [g.name for g in groups if may_run_on(affinity, plain, g)] == ["system"]


# --- the whole environment -----------------------------------------------------------------------------------


def test_replicas_daemonsets_and_autoscalers_are_counted() -> None:
    env = load_stack_file(DEV)
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "apps"},
        "spec": {"template": {"spec": {"containers": [container("100m", "100Mi")]}}},
    }
    scaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 9},
    }
    objects = [
        deployment("api", {"containers": [container("1", "1Gi")]}, replicas=3),
        deployment("web", {"containers": [container("1", "1Gi")]}, replicas=5),
        PlatformObject("demo", daemon, "x"),
        PlatformObject("demo", scaler, "x"),
    ]
    capacity = capacity_of(env, objects)
    by_ref = {pods.ref.split("/")[-1]: pods for pods in capacity.pods}
    assert by_ref["web"].count == 2 and "HorizontalPodAutoscaler web scales it 2..9" in by_ref["web"].notes
    # The DaemonSet tolerates nothing: the system and general nodes at their largest, not the GPU ones.
    assert capacity.counted(by_ref["agent"]) == (2 + 4) * ZONES
    assert capacity.requests().cpu == 3 + 2 + Decimal("0.1") * 18
    assert not [f for f in capacity.findings if f.severity == "error"]


def test_operator_resources_with_known_requests_are_counted_and_the_rest_listed() -> None:
    elasticsearch = {
        "apiVersion": "elasticsearch.k8s.elastic.co/v1",
        "kind": "Elasticsearch",
        "metadata": {"name": "logs", "namespace": "logging"},
        "spec": {
            "nodeSets": [
                {"name": "hot", "count": 3, "podTemplate": {"spec": {"containers": [container("2", "8Gi")]}}},
            ]
        },
    }
    serving = {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "namespace": "knative-serving"},
        "spec": {},
    }
    capacity = capacity_of(
        load_stack_file(DEV), [PlatformObject("stack", elasticsearch, "x"), PlatformObject("stack", serving, "y")]
    )
    assert capacity.requests().cpu == 6 and capacity.requests().memory == 24 * GIB
    assert [(kind, why) for _, kind, why in capacity.not_counted] == [
        ("KnativeServing", "the Knative operator's Serving deployments")
    ]


def test_a_pod_no_pool_accepts_and_a_pod_no_node_holds_are_errors() -> None:
    env = load_stack_file(DEV)
    pinned = deployment("pinned", {"nodeSelector": {"mlops.io/pool-role": "database"}, "containers": [container()]})
    huge = deployment("huge", {"containers": [container("2", "64Gi")]})
    findings = capacity_of(env, [pinned, huge]).findings
    messages = {f.object_ref: f.message for f in findings}
    assert messages["demo: apps/v1 Deployment apps/pinned"].startswith(
        "spec.template.spec: no node group lets its pods run there"
    )
    assert "each pod requests 64.0 GiB, more than a node it may run on has free" in messages[huge.ref]
    assert "(system, e2-standard-4: 13.3 GiB; general, e2-standard-8: 28.3 GiB)" in messages[huge.ref]
    assert "it can never be scheduled" in messages[huge.ref]


def test_daemonsets_that_fill_a_node_are_an_error_naming_them() -> None:
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "greedy", "namespace": "apps"},
        "spec": {"template": {"spec": {"containers": [container("5", "1Gi")]}}},
    }
    findings = capacity_of(load_stack_file(DEV), [PlatformObject("demo", daemon, "x")]).findings
    (finding,) = [f for f in findings if f.object_ref == "node pool system"]
    assert finding.message.startswith("gke.nodePools[0]: the DaemonSets that run on each e2-standard-4 node request")
    assert "5.00 CPU of the 3.92 CPU it allocates" in finding.message and "greedy" in finding.message


def test_team_quotas_beyond_the_headroom_are_advisory() -> None:
    env = load_stack_file(DEV)
    assert env.components.kubeflow is not None
    teams = tuple(
        team.model_copy(update={"quota": team.quota.model_copy(update={"cpu": "500"})})
        for team in env.components.kubeflow.teams
    )
    kubeflow = env.components.kubeflow.model_copy(update={"teams": teams})
    env = env.model_copy(update={"components": env.components.model_copy(update={"kubeflow": kubeflow})})
    (finding,) = [f for f in capacity_of(env, []).findings]
    assert finding.severity == "advisory"
    assert finding.message.startswith("components.kubeflow.teams[*].quota: the teams may request 1000.00 CPU")


def test_onprem_capacity_is_unknown_without_nodes_and_judged_with_them() -> None:
    env = load_stack_file(ENVIRONMENTS / "Pulumi.onprem.yaml")
    assert env.onprem is not None and env.onprem.nodes, "the example states its nodes"
    objects = [deployment("db", {"containers": [container("4", "8Gi")]}, replicas=10)]
    known = capacity_of(env, objects)
    (short,) = [f for f in known.findings if f.message.startswith("onprem.nodes[0].count")]
    assert "request 40.00 CPU" in short.message and "short by" in short.message
    unknown = capacity_of(env.model_copy(update={"onprem": env.onprem.model_copy(update={"nodes": ()})}), objects)
    assert unknown.unknown and [f.severity for f in unknown.findings] == ["advisory"]
    assert "nodes: unknown (onprem.nodes is not set)" in report(unknown)


# --- the real environments -----------------------------------------------------------------------------------


def test_the_example_environments_fit_and_render_prints_their_headroom(platforms: dict[str, Platform]) -> None:
    for name, platform in platforms.items():
        findings, counted = capacity_findings(platform)
        assert counted > (15 if name == "hub-example" else 20), name  # the example runs no Argo CD
        assert [f for f in findings if f.severity == "error"] == [], name
        text = report(capacity_of(platform.env, platform.objects))
        assert "headroom: " in text and "requests: " in text, name


def test_istio_proxies_are_added_where_injected_but_not_to_gateways(platforms: dict[str, Platform]) -> None:
    capacity = capacity_of(platforms["dev"].env, platforms["dev"].objects)
    by_ref = {pods.ref: pods for pods in capacity.pods}
    dashboard = by_ref["kubeflow-central-dashboard: apps/v1 Deployment kubeflow/centraldashboard"]
    assert "with Istio's proxy" in dashboard.notes
    gateway = by_ref["istio-gateway: apps/v1 Deployment istio-system/istio-ingressgateway"]
    assert "with Istio's proxy" not in gateway.notes


def test_an_environment_whose_pools_cannot_hold_the_platform_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environments = tmp_path / "environments"
    environments.mkdir()
    # dev on the smallest nodes: 2 GiB machines, one per zone (the GPU pool stays, tainted for GPU work only).
    text = DEV.read_text()
    for machine_type in ("e2-standard-4", "e2-standard-8"):
        text = text.replace(f"machineType: {machine_type}", "machineType: e2-highcpu-2")
    text = text.replace("maxNodes: 4", "maxNodes: 1").replace("maxNodes: 2", "maxNodes: 1")
    (environments / "Pulumi.dev.yaml").write_text(text)
    rendered = render_stack(environments / "Pulumi.dev.yaml")
    platform = Platform(rendered, Expander().expand(rendered))
    errors = [f for f in capacity_findings(platform)[0] if f.severity == "error"]
    memory = next(f for f in errors if f.object_ref.startswith("node pools"))
    assert memory.message.startswith("gke.nodePools[0].maxNodes, gke.nodePools[1].maxNodes")
    assert "short by" in memory.message and "largest consumers: " in memory.message
    prometheus = next(f for f in errors if "Prometheus monitoring/kube-prometheus-stack-prometheus" in f.object_ref)
    assert "each pod requests 2.0 GiB" in prometheus.message
    # The same through `check`: the stage fails the environment, with the numbers.
    code = main(
        ["check", "--env", "dev", "--environments", str(environments), "--skip-checkov", "--out", str(tmp_path / "out")]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "[capacity/error] node pools" in out and "short by" in out
    assert "capacity" in commands.STAGES


def test_ephemeral_storage_is_judged_only_where_the_nodes_state_it() -> None:
    env = load_stack_file(ENVIRONMENTS / "Pulumi.onprem.yaml")
    assert env.onprem is not None
    scratch = {"name": "main", "resources": {"requests": {"cpu": "100m", "ephemeral-storage": "50Gi"}}}
    objects = [deployment("scratch", {"containers": [scratch]})]
    assert not [f for f in capacity_of(env, objects).findings if f.severity == "error"]
    nodes = tuple(n.model_copy(update={"ephemeral_storage": "20Gi"}) for n in env.onprem.nodes)
    stated = env.model_copy(update={"onprem": env.onprem.model_copy(update={"nodes": nodes})})
    (finding,) = [f for f in capacity_of(stated, objects).findings if f.severity == "error"]
    assert "each pod requests 50.0 GiB" in finding.message and "workers, 7800m CPU, 30Gi: 20.0 GiB" in finding.message
