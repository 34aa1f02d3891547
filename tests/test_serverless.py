"""Storage, serverless and autoscaling components (Longhorn, Knative, KEDA) and the Cilium complement of the
namespace policies, rendered under mocks for both targets and both ingress choices."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components import COMPONENTS
from infra.components.knative import Knative
from infra.config import InvalidEnvironment
from infra.offline.render import Rendered, render_stack
from infra.platform import labels
from infra.platform.component import ComponentSpec, PlatformComponent

from .conftest import ENVIRONMENTS, allowances


def objects(r: Rendered, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [
        m.object
        for m in r.manifests
        if m.object["kind"] == kind and (namespace is None or m.object["metadata"].get("namespace") == namespace)
    ]


def one(r: Rendered, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects(r, kind) if o["metadata"]["name"] == name)


def values(r: Rendered, application: str) -> dict[str, Any]:
    return one(r, "Application", application)["spec"]["source"]["helm"]["valuesObject"]


def wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["annotations"][labels.SYNC_WAVE])


def variant(tmp_path: Path, env: str, *edits: tuple[str, str]) -> Path:
    """A copy of a real stack file with text replacements, each of which must apply."""
    text = (ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(text)
    return path


LONGHORN_ON_GKE = ("    components:\n", "    components:\n      longhorn:\n        enabled: true\n")
UBUNTU_NODES = ("          machineType:", "          imageType: UBUNTU_CONTAINERD\n          machineType:")
TRAEFIK = ("      provider: istio", "      provider: traefik")
# Kubeflow and KServe need Istio, so a Traefik variant of a stack turns them off.
WITHOUT_ML = (
    ("      kubeflow:\n        enabled: true", "      kubeflow:\n        enabled: false"),
    ("      kserve:\n        enabled: true", "      kserve:\n        enabled: false"),
)


# --- Longhorn --------------------------------------------------------------------------------------------


def storage_classes(r: Rendered) -> dict[str, dict[str, Any]]:
    return {sc["metadata"]["name"]: sc for sc in objects(r, "StorageClass")}


def test_onprem_gets_the_storage_classes_cluster_facts_name(rendered: dict[str, Rendered]) -> None:
    classes = storage_classes(rendered["onprem"])
    assert set(classes) == {"longhorn", "longhorn-fast", "longhorn-rwx"}
    defaults = [n for n, sc in classes.items() if sc["metadata"]["annotations"][DEFAULT_CLASS] == "true"]
    assert defaults == ["longhorn"]
    assert classes["longhorn-fast"]["parameters"]["dataLocality"] == "best-effort"
    assert "nfsOptions" in classes["longhorn-rwx"]["parameters"]
    assert all(sc["provisioner"] == "driver.longhorn.io" for sc in classes.values())
    # The chart's own class would fight the one declared here.
    assert values(rendered["onprem"], "longhorn")["persistence"]["createStorageClass"] is False


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def test_replica_count_follows_the_tier(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    staging = storage_classes(rendered["onprem"])  # the onprem stack is tier staging
    dev = storage_classes(render_stack(variant(tmp_path, "onprem", ("tier: staging", "tier: dev"))))
    assert {sc["parameters"]["numberOfReplicas"] for sc in staging.values()} == {"3"}
    assert {sc["parameters"]["numberOfReplicas"] for sc in dev.values()} == {"2"}


def test_longhorn_is_off_on_gke_unless_asked(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    for env in ("dev", "staging", "prod"):
        assert not objects(rendered[env], "StorageClass")
        assert "longhorn" not in {a["metadata"]["name"] for a in objects(rendered[env], "Application")}
    r = render_stack(variant(tmp_path, "dev", LONGHORN_ON_GKE, UBUNTU_NODES))
    classes = storage_classes(r)
    assert set(classes) == {"longhorn", "longhorn-fast", "longhorn-rwx"}
    # Persistent Disk stays the default class on GKE.
    assert all(sc["metadata"]["annotations"][DEFAULT_CLASS] == "false" for sc in classes.values())
    # GCS is reached by Workload Identity, which Longhorn cannot use: snapshots only, no backup target.
    assert "defaultBackupStore" not in values(r, "longhorn")
    assert {job["spec"]["task"] for job in objects(r, "RecurringJob")} == {"snapshot"}
    # The pools run the image the stack file asks for (Longhorn needs open-iscsi, which COS lacks).
    pools = [res.inputs for res in r.run.resources if res.type == "gcp:container/nodePool:NodePool"]
    assert pools and {pool["nodeConfig"]["imageType"] for pool in pools} == {"UBUNTU_CONTAINERD"}


def test_longhorn_on_gke_needs_ubuntu_nodes(tmp_path: Path) -> None:
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(variant(tmp_path, "dev", LONGHORN_ON_GKE))
    paths = {v.path for v in error.value.violations}
    assert "mlops-platform:platform.gke.nodePools[0].imageType" in paths
    assert len(paths) == 3  # every pool of the dev cluster


def test_longhorn_cannot_be_turned_off_onprem(tmp_path: Path) -> None:
    stack = variant(tmp_path, "onprem", ("      longhorn:\n", "      longhorn:\n        enabled: false\n"))
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert [v.path for v in error.value.violations] == ["mlops-platform:platform.components.longhorn.enabled"]


def test_backup_target_is_the_object_store(rendered: dict[str, Rendered]) -> None:
    store = values(rendered["onprem"], "longhorn")["defaultBackupStore"]
    assert re.fullmatch(r"s3://mlops-onprem-backups@[a-z0-9-]+/longhorn", store["backupTarget"])
    assert store["backupTargetCredentialSecret"] == "object-store-credentials"


def test_recurring_jobs_come_from_config(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    jobs = {job["spec"]["task"]: job for job in objects(rendered["onprem"], "RecurringJob")}
    assert set(jobs) == {"snapshot", "backup"}
    assert all(job["apiVersion"] == "longhorn.io/v1beta2" for job in jobs.values())
    assert (jobs["backup"]["spec"]["cron"], jobs["backup"]["spec"]["retain"]) == ("30 2 * * *", 14)
    assert all(job["spec"]["groups"] == ["default"] for job in jobs.values())
    longhorn_app = one(rendered["onprem"], "Application", "longhorn")
    assert all(wave(job) > wave(longhorn_app) for job in jobs.values())
    r = render_stack(
        variant(
            tmp_path, "onprem", ('cron: "0 */6 * * *"\n          retain: 8', 'cron: "15 * * * *"\n          retain: 24')
        )
    )
    snapshot = next(job for job in objects(r, "RecurringJob") if job["spec"]["task"] == "snapshot")
    assert (snapshot["spec"]["cron"], snapshot["spec"]["retain"]) == ("15 * * * *", 24)


def test_longhorn_namespace_is_privileged_with_its_webhooks_allowed(rendered: dict[str, Rendered]) -> None:
    namespace = one(rendered["onprem"], "Namespace", "longhorn-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    policies = {p["metadata"]["name"] for p in objects(rendered["onprem"], "NetworkPolicy", "longhorn-system")}
    assert "default-deny" in policies
    assert {"kube-api", "longhorn-webhooks", "object-store"} <= set(allowances(rendered["onprem"], "longhorn-system"))


# --- Knative ---------------------------------------------------------------------------------------------


def serving(r: Rendered) -> dict[str, Any]:
    return one(r, "KnativeServing", "knative-serving")["spec"]


@pytest.mark.parametrize(
    ("env", "edits", "layer", "ingress_class"),
    [
        ("dev", (), "istio", "istio.ingress.networking.knative.dev"),
        ("dev", (TRAEFIK, *WITHOUT_ML), "kourier", "kourier.ingress.networking.knative.dev"),
        ("onprem", (), "istio", "istio.ingress.networking.knative.dev"),
        ("onprem-traefik", (), "kourier", "kourier.ingress.networking.knative.dev"),
    ],
)
def test_knative_networking_matches_the_ingress(
    tmp_path: Path, env: str, edits: tuple[tuple[str, str], ...], layer: str, ingress_class: str
) -> None:
    spec = serving(render_stack(variant(tmp_path, env, *edits)))
    assert [name for name, part in spec["ingress"].items() if part.get("enabled")] == [layer]
    assert spec["config"]["network"]["ingress-class"] == ingress_class
    if layer == "kourier":
        # Traefik routes to Kourier's gateway inside the cluster; it is not a second load balancer.
        assert spec["ingress"]["kourier"]["service-type"] == "ClusterIP"


def test_scale_to_zero_comes_from_config(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    dev = serving(rendered["dev"])["config"]["autoscaler"]
    assert dev["enable-scale-to-zero"] == "true" and dev["scale-to-zero-grace-period"] == "30s"
    assert serving(rendered["prod"])["config"]["autoscaler"]["min-scale"] == "1"
    onprem = serving(rendered["onprem"])["config"]["autoscaler"]
    assert (onprem["scale-to-zero-grace-period"], onprem["max-scale"]) == ("60s", "20")
    off = render_stack(variant(tmp_path, "dev", ("scaleToZero: true", "scaleToZero: false")))
    assert serving(off)["config"]["autoscaler"]["enable-scale-to-zero"] == "false"


def test_knative_namespaces_are_secured_by_the_namespace_helper(rendered: dict[str, Rendered]) -> None:
    r = rendered["dev"]
    for namespace in ("knative-operator", "knative-serving", "knative-eventing"):
        assert one(r, "Namespace", namespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        assert any(p["metadata"]["name"] == "default-deny" for p in objects(r, "NetworkPolicy", namespace))
    assert one(r, "KnativeServing", "knative-serving")["metadata"]["namespace"] == "knative-serving"
    assert one(r, "KnativeEventing", "knative-eventing")["metadata"]["namespace"] == "knative-eventing"


def test_eventing_off_leaves_no_eventing_namespace(tmp_path: Path) -> None:
    r = render_stack(variant(tmp_path, "dev", ("brokerChannel: in-memory ", "enabled: false ")))
    assert not objects(r, "KnativeEventing")
    assert "knative-eventing" not in {ns["metadata"]["name"] for ns in objects(r, "Namespace")}


def broker(r: Rendered) -> tuple[str, str]:
    spec = one(r, "KnativeEventing", "knative-eventing")["spec"]
    return spec["defaultBrokerClass"], spec["config"]["br-defaults"]["default-br-config"]


def channel(r: Rendered) -> dict[str, Any]:
    spec = one(r, "KnativeEventing", "knative-eventing")["spec"]
    return yaml.safe_load(spec["config"]["br-default-channel"]["channel-template-spec"])


def test_broker_uses_the_clusters_event_broker(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    onprem_spec = one(rendered["onprem"], "KnativeEventing", "knative-eventing")["spec"]
    assert rendered["onprem"].env.onprem.eventing.broker == "nats"
    assert channel(rendered["onprem"])["kind"] == "NatsJetStreamChannel"
    assert yaml.safe_load(onprem_spec["config"]["nats"]["eventing-nats"])["url"].startswith("nats://nats.nats.")
    assert onprem_spec["additionalManifests"][0]["URL"].endswith("/eventing-jsm.yaml")
    broker_class, config = broker(rendered["onprem"])
    assert broker_class == "MTChannelBasedBroker" and "config-br-default-channel" in config
    # GKE's Pub/Sub is for applications; Knative's own channel stays in memory there.
    assert channel(rendered["dev"])["kind"] == "InMemoryChannel"
    assert "additionalManifests" not in one(rendered["dev"], "KnativeEventing", "knative-eventing")["spec"]
    in_memory = ("      knative:\n", "      knative:\n        eventing:\n          brokerChannel: in-memory\n")
    forced = render_stack(variant(tmp_path, "onprem", in_memory))
    assert channel(forced)["kind"] == "InMemoryChannel"


class StandInIstio(PlatformComponent):
    """Stands in for the Istio component where it is not part of this checkout: only its place in the graph."""

    spec = ComponentSpec(name="istio", layer="platform", namespace="istio-system")

    def build(self) -> None:
        pass


def test_knative_syncs_after_istio(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "istio" in Knative.spec.depends_on
    if not any(c.spec.name == "istio" for c in COMPONENTS):
        monkeypatch.setattr("infra.program.COMPONENTS", (StandInIstio, *COMPONENTS))
    r = render_stack(ENVIRONMENTS / "Pulumi.dev.yaml")
    knative = one(r, "Application", "knative")
    assert "istio" in knative["metadata"]["annotations"][labels.DEPENDS_ON].split(",")
    istio_waves = [wave(a) for a in objects(r, "Application") if a["metadata"]["labels"][labels.COMPONENT] == "istio"]
    assert wave(knative) > max(istio_waves, default=10)
    for kind in ("KnativeServing", "KnativeEventing"):
        assert all(wave(o) > wave(knative) for o in objects(r, kind))


def test_knative_does_not_wait_for_an_absent_istio(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem-traefik"]  # the example without the mesh
    assert not any(c.spec.name == "istio" and c.enabled(r.env) for c in COMPONENTS)
    knative = one(r, "Application", "knative")
    assert labels.DEPENDS_ON not in knative["metadata"]["annotations"]


# --- KEDA ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_scaled_object_targets_a_hardened_deployment(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    scaled = objects(r, "ScaledObject")
    assert scaled
    keda_app = one(r, "Application", "keda")
    for obj in scaled:
        target = obj["spec"]["scaleTargetRef"]
        namespace = obj["metadata"]["namespace"]
        deployment = next(d for d in objects(r, "Deployment", namespace) if d["metadata"]["name"] == target["name"])
        assert target["kind"] == "Deployment" and wave(obj) > wave(keda_app)
        resource_of = {id(m.object): m.resource for m in r.manifests}
        assert resource_of[id(deployment)].ref in resource_of[id(obj)].dependencies
        assert obj["spec"]["minReplicaCount"] == 0 and obj["spec"]["triggers"][0]["type"] == "redis"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert re.search(r"@sha256:[a-f0-9]{64}$", container["image"])
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert set(container["resources"]) == {"requests", "limits"}
        assert one(r, "Namespace", namespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "restricted"
        )


def test_example_worker_is_opt_in(rendered: dict[str, Rendered]) -> None:
    for env in ("staging", "prod"):
        assert not objects(rendered[env], "ScaledObject") and not objects(rendered[env], "Deployment")
        assert "ml-examples" not in {ns["metadata"]["name"] for ns in objects(rendered[env], "Namespace")}
        assert one(rendered[env], "Application", "keda")


@pytest.mark.parametrize("env", ["dev", "prod", "onprem"])
def test_every_workload_has_requests_and_limits(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    operator = values(r, "knative")["knative_operator"]
    blocks = [operator["knative_operator"]["resources"], operator["operator_webhook"]["resources"]]
    blocks += list(values(r, "keda")["resources"].values())
    if env == "onprem":
        blocks.append(values(r, "longhorn")["longhornManager"]["resources"])
    for kind in ("KnativeServing", "KnativeEventing"):
        blocks += [res for w in objects(r, kind)[0]["spec"]["workloads"] for res in w["resources"]]
    for block in blocks:
        assert {"requests", "limits"} <= set(block), block
        assert set(block["requests"]) == set(block["limits"]) == {"cpu", "memory"}


# --- Cilium ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_no_cilium_objects_on_gke(rendered: dict[str, Rendered], env: str) -> None:
    assert not [m.path for m in rendered[env].manifests if m.object["apiVersion"].startswith("cilium.io/")]


def test_cilium_reaches_the_api_server_by_entity(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    r = rendered["onprem"]
    policies = {p["metadata"]["namespace"]: p for p in objects(r, "CiliumNetworkPolicy")}
    namespaces = {ns["metadata"]["name"] for ns in objects(r, "Namespace")}
    kube_api = {key.split("/")[0] for key in allowances(r) if key.endswith("/kube-api")}
    assert set(policies) == kube_api and kube_api < namespaces  # ml-examples declares no API access
    for policy in policies.values():
        spec = policy["spec"]
        # Additive only: default deny stays with the namespace's Kubernetes NetworkPolicy.
        assert spec["enableDefaultDeny"] == {"ingress": False, "egress": False}
        assert {
            "toEntities": ["kube-apiserver"],
            "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}, {"port": "6443", "protocol": "TCP"}]}],
        } in spec["egress"]
    assert policies["longhorn-system"]["spec"]["ingress"][0]["fromEntities"] == [
        "kube-apiserver",
        "host",
        "remote-node",
    ]
    calico = render_stack(variant(tmp_path, "onprem", ("cni: cilium", "cni: calico")))
    assert not objects(calico, "CiliumNetworkPolicy")


@pytest.mark.parametrize("env", ["dev", "onprem"])
def test_objects_repeated_per_namespace_have_distinct_pulumi_names(rendered: dict[str, Rendered], env: str) -> None:
    urns = [res.urn for res in rendered[env].run.resources]
    assert len(urns) == len(set(urns))
    paths = [m.path for m in rendered[env].manifests]
    assert len(paths) == len(set(paths))


def test_worker_image_must_be_pinned_by_digest(tmp_path: Path) -> None:
    stack = variant(
        tmp_path,
        "dev",
        ("          enabled: true ", "          image: ghcr.io/example/worker:latest\n          enabled: true "),
    )
    with pytest.raises(InvalidEnvironment) as error:
        render_stack(stack)
    assert [v.path for v in error.value.violations] == ["mlops-platform:platform.components.keda.exampleWorker.image"]


def test_traefik_hands_knative_hosts_to_kourier(rendered: dict[str, Rendered]) -> None:
    onprem, dev = rendered["onprem-traefik"], rendered["dev"]
    route = one(onprem, "IngressRoute", "knative-services")
    rule = route["spec"]["routes"][0]
    assert re.fullmatch(rule["match"].split("`")[1], f"scorer-ml-team.{onprem.env.domain}")
    assert not re.fullmatch(rule["match"].split("`")[1], f"a.b.{onprem.env.domain}")
    assert rule["services"] == [{"name": "kourier", "port": 80}] and rule["priority"] == 1
    # The on-prem CA signs the wildcard; the single-label domain template keeps every service under it.
    assert one(onprem, "Certificate", "knative-services")["spec"]["dnsNames"] == [f"*.{onprem.env.domain}"]
    serving = one(onprem, "KnativeServing", "knative-serving")["spec"]["config"]["network"]
    assert serving["domain-template"] == "{{.Name}}-{{.Namespace}}.{{.Domain}}"
    assert not objects(dev, "IngressRoute")  # Istio routes Knative itself (net-istio)
