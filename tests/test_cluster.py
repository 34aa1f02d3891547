"""The cluster layer under mocks: GKE and its Google Cloud services, the on-prem CNI and service replacements."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from infra.catalog import CATALOG
from infra.cluster import ClusterFacts, build_cluster
from infra.cluster.facts import PLATFORM_DATABASES
from infra.cluster.gcp_identity import BUCKET_READER, EVENTING, OBJECT_ADMIN, SQL_ROLES, WORKLOADS
from infra.config import CONFIG_KEY, InvalidEnvironment, load_environment, load_stack_file, read_stack_file
from infra.config.loader import pulumi_config_values
from infra.offline.engine import Recorded, run_program
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import plain

from .conftest import ENV_NAMES, ENVIRONMENTS, allowances

GKE_ENVS = [name for name in ENV_NAMES if load_stack_file(ENVIRONMENTS / f"Pulumi.{name}.yaml").target == "gke"]
RELEASE = "kubernetes:helm.sh/v3:Release"
BUCKET = "gcp:storage/bucket:Bucket"


def of_type(r: Rendered, type_: str) -> list[Recorded]:
    return [res for res in r.run.resources if res.type == type_]


def inputs(res: Recorded) -> dict[str, Any]:
    return plain(res.inputs)


def one(r: Rendered, type_: str) -> dict[str, Any]:
    [res] = of_type(r, type_)
    return inputs(res)


def objects(r: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.object for m in r.manifests if m.object["kind"] == kind]


def app_names(r: Rendered) -> set[str]:
    return {app["metadata"]["name"] for app in objects(r, "Application")}


def render_variant(tmp_path: Path, env: str, change: Callable[[dict[str, Any]], None]) -> Rendered:
    """Render a copy of a real stack file with `change` applied to its platform settings."""
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    settings = copy.deepcopy(document["config"][CONFIG_KEY])
    change(settings)
    document["config"][CONFIG_KEY] = settings
    stack = tmp_path / f"Pulumi.{env}.yaml"
    stack.write_text(yaml.safe_dump(document))
    return render_stack(stack)


# --- GKE --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", GKE_ENVS)
def test_gke_cluster_is_private_with_workload_identity_and_dataplane_v2(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    cluster = one(r, "gcp:container/cluster:Cluster")
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == r.env.gke.network.master_cidr
    authorized = cluster["masterAuthorizedNetworksConfig"]
    assert authorized["cidrBlocks"] and authorized["gcpPublicCidrsAccessEnabled"] is False
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert cluster["workloadIdentityConfig"]["workloadPool"] == f"{r.env.gke.project}.svc.id.goog"
    assert cluster["enableShieldedNodes"] is True
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["releaseChannel"]["channel"] == r.env.gke.release_channel
    assert cluster["maintenancePolicy"]["dailyMaintenanceWindow"]["startTime"]
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    subnet = one(r, "gcp:compute/subnetwork:Subnetwork")
    assert {rng["rangeName"] for rng in subnet["secondaryIpRanges"]} == {"pods", "services"}
    assert subnet["privateIpGoogleAccess"] is True
    assert of_type(r, "gcp:compute/routerNat:RouterNat")


@pytest.mark.parametrize("env", GKE_ENVS)
def test_every_node_pool_is_shielded_and_uses_the_metadata_server(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    pools = {inputs(res)["name"]: inputs(res) for res in of_type(r, "gcp:container/nodePool:NodePool")}
    assert set(pools) == {pool.name for pool in r.env.gke.node_pools}
    for pool in pools.values():
        config = pool["nodeConfig"]
        assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert config["serviceAccount"].endswith("-nodes@" + r.env.gke.project + ".iam.gserviceaccount.com")


@pytest.mark.parametrize("env", GKE_ENVS)
def test_gpu_pools_are_tainted_and_scale_to_zero(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    pools = {inputs(res)["name"]: inputs(res) for res in of_type(r, "gcp:container/nodePool:NodePool")}
    gpu_taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    gpu_pools = [pool for pool in r.env.gke.node_pools if pool.role == "gpu"]
    assert gpu_pools
    for settings in r.env.gke.node_pools:
        pool = pools[settings.name]
        config = pool["nodeConfig"]
        assert config["labels"]["mlops.io/pool-role"] == settings.role
        assert config["spot"] is settings.spot
        if settings.role != "gpu":
            assert gpu_taint not in config["taints"] and not config["guestAccelerators"]
            continue
        assert gpu_taint in config["taints"]
        [accelerator] = config["guestAccelerators"]
        assert accelerator["type"] == settings.gpu.type and accelerator["count"] == settings.gpu.count
        assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
        assert pool["autoscaling"]["minNodeCount"] == 0
        assert pool["autoscaling"]["maxNodeCount"] == settings.max_nodes


@pytest.mark.parametrize("env", GKE_ENVS)
def test_buckets_are_private_versioned_and_protected_in_prod_only(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    buckets = of_type(r, BUCKET)
    prod = r.env.tier == "prod"
    assert {inputs(b)["labels"]["purpose"] for b in buckets} == {
        "artifacts",
        "dvc",
        "backups",
        "log-snapshots",
        "metrics",
    }
    for bucket in buckets:
        settings = inputs(bucket)
        assert settings["uniformBucketLevelAccess"] is True
        assert settings["publicAccessPrevention"] == "enforced"
        purpose = settings["labels"]["purpose"]
        retention = r.env.gke.buckets.retention_days.get(purpose)
        if retention is None:
            assert settings["versioning"] == {"enabled": True}
            assert any("numNewerVersions" in rule["condition"] for rule in settings["lifecycleRules"])
        else:
            assert settings["retentionPolicy"]["retentionPeriod"] == str(retention * 86400)
        assert settings["forceDestroy"] is not prod
        assert bucket.protect is prod


@pytest.mark.parametrize("env", GKE_ENVS)
def test_pipeline_run_artifacts_expire_only_where_the_environment_says(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    days = r.env.gke.buckets.pipeline_runs_days
    expiring = {
        inputs(bucket)["labels"]["purpose"]: rule["condition"]
        for bucket in of_type(r, BUCKET)
        for rule in inputs(bucket)["lifecycleRules"]
        if "matchesPrefixes" in rule["condition"]
    }
    if days is None:
        assert expiring == {}
        return
    # Only the runs' folder of the artifacts bucket: MLflow's artifacts and Feast's registry live there too.
    assert expiring == {"artifacts": {"age": days, "matchesPrefixes": ["pipelines/"]}}


def test_a_retention_policy_replaces_versioning(tmp_path: Path) -> None:
    r = render_variant(tmp_path, "dev", lambda s: s["gke"].update(buckets={"retentionDays": {"backups": 30}}))
    by_purpose = {inputs(b)["labels"]["purpose"]: inputs(b) for b in of_type(r, BUCKET)}
    assert by_purpose["backups"]["retentionPolicy"] == {"retentionPeriod": str(30 * 86400), "isLocked": False}
    assert by_purpose["backups"]["versioning"] == {"enabled": False}
    assert "retentionPolicy" not in by_purpose["artifacts"]


@pytest.mark.parametrize("env", GKE_ENVS)
def test_deletion_protection_is_on_in_prod_only(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    prod = r.env.tier == "prod"
    [cluster] = of_type(r, "gcp:container/cluster:Cluster")
    [sql] = of_type(r, "gcp:sql/databaseInstance:DatabaseInstance")
    [registry] = of_type(r, "gcp:artifactregistry/repository:Repository")
    assert inputs(cluster)["deletionProtection"] is prod and cluster.protect is prod
    assert inputs(sql)["deletionProtection"] is prod and sql.protect is prod
    assert inputs(sql)["settings"]["deletionProtectionEnabled"] is prod
    assert registry.protect is prod and inputs(registry)["format"] == "DOCKER"


@pytest.mark.parametrize("env", GKE_ENVS)
def test_cloud_sql_is_private_backed_up_and_regional_when_highly_available(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    [sql] = of_type(r, "gcp:sql/databaseInstance:DatabaseInstance")
    settings = inputs(sql)["settings"]
    assert settings["ipConfiguration"]["ipv4Enabled"] is False
    assert settings["ipConfiguration"]["privateNetwork"]
    assert settings["backupConfiguration"]["enabled"] is True
    assert settings["backupConfiguration"]["pointInTimeRecoveryEnabled"] is True
    assert settings["availabilityType"] == ("REGIONAL" if r.env.high_availability else "ZONAL")
    assert "gcp:servicenetworking/connection:Connection::mlops-" + env + "-private-services" in sql.dependencies
    assert {inputs(db)["name"] for db in of_type(r, "gcp:sql/database:Database")} == {"mlflow", "mlflow_auth", "metadb"}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_no_service_account_keys_anywhere(rendered: dict[str, Rendered], env: str) -> None:
    types = {res.type for res in rendered[env].run.resources}
    assert not {t for t in types if t.startswith("gcp:serviceaccount/key:") or t.endswith(":Key")}
    users = of_type(rendered[env], "gcp:sql/user:User")
    assert all(inputs(user)["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" and "password" not in inputs(user) for user in users)


@pytest.mark.parametrize("env", GKE_ENVS)
def test_each_workload_identity_is_bound_to_its_kubernetes_service_account(
    rendered: dict[str, Rendered], env: str
) -> None:
    r = rendered[env]
    project = r.env.gke.project
    bindings = {
        res.name: res
        for res in of_type(r, "gcp:serviceaccount/iAMMember:IAMMember")
        if inputs(res)["role"] == "roles/iam.workloadIdentityUser"
    }
    expected = {**WORKLOADS, **({"eventing": EVENTING} if r.env.gke.pubsub_topics else {})}
    assert set(bindings) == {f"{workload}-workload-identity" for workload in expected}
    for workload, spec in expected.items():
        binding = bindings[f"{workload}-workload-identity"]
        member = f"serviceAccount:{project}.svc.id.goog[{spec.namespace}/{spec.service_account}]"
        assert inputs(binding)["member"] == member
        assert f"gcp:serviceaccount/account:Account::{workload}" in binding.dependencies
        assert inputs(binding)["serviceAccountId"].endswith(f"wi-{workload}@{project}.iam.gserviceaccount.com")


@pytest.mark.parametrize("env", GKE_ENVS)
def test_database_users_are_exactly_the_identities_that_log_in(rendered: dict[str, Rendered], env: str) -> None:
    """MLflow and the ML Metadata server log in to Cloud SQL as their own service accounts; pipeline steps, whose
    identity every team namespace gets, are no database users."""
    r = rendered[env]
    project = r.env.gke.project
    users = {inputs(user)["name"]: inputs(user) for user in of_type(r, "gcp:sql/user:User")}
    assert set(users) == {f"wi-mlflow@{project}.iam", f"wi-kubeflow-metadata@{project}.iam"}
    assert all(
        user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" and user["instance"] == f"mlops-{env}" for user in users.values()
    )
    grants = {(inputs(res)["member"], inputs(res)["role"]) for res in of_type(r, "gcp:projects/iAMMember:IAMMember")}
    for workload in ("mlflow", "kubeflow-metadata"):
        member = f"serviceAccount:wi-{workload}@{project}.iam.gserviceaccount.com"
        assert {(member, role) for role in SQL_ROLES} <= grants, workload
    steps = f"serviceAccount:wi-kubeflow-pipelines@{project}.iam.gserviceaccount.com"
    assert not {role for member, role in grants if member == steps and role.startswith("roles/cloudsql.")}
    assert WORKLOADS["kubeflow-metadata"].service_account == "metadata-grpc-server"
    assert WORKLOADS["kubeflow-metadata"].namespace == "kubeflow"


@pytest.mark.parametrize("env", GKE_ENVS)
def test_storage_access_is_granted_per_bucket_not_per_project(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    project_roles = {inputs(res)["role"] for res in of_type(r, "gcp:projects/iAMMember:IAMMember")}
    assert not {
        role for role in project_roles if role.startswith("roles/storage.") or role in ("roles/owner", "roles/editor")
    }
    bucket_grants = of_type(r, "gcp:storage/bucketIAMMember:BucketIAMMember")
    expected = sum(len(spec.bucket_roles()) for spec in WORKLOADS.values())
    assert len(bucket_grants) == expected


@pytest.mark.parametrize("env", GKE_ENVS)
def test_feast_may_touch_only_its_registry_prefix_of_the_artifacts_bucket(
    rendered: dict[str, Rendered], env: str
) -> None:
    """Feast's GCS registry store looks the bucket up (storage.buckets.get), then reads and, where none exists yet,
    writes feast/registry.db: bucket metadata, and object rights under feast/ only."""
    r = rendered[env]
    member = f"serviceAccount:wi-feast@{r.env.gke.project}.iam.gserviceaccount.com"
    grants = {
        inputs(res)["role"]: inputs(res)
        for res in of_type(r, "gcp:storage/bucketIAMMember:BucketIAMMember")
        if inputs(res)["member"] == member
    }
    assert set(grants) == {OBJECT_ADMIN, BUCKET_READER}
    assert {grant["bucket"] for grant in grants.values()} == {f"mlops-{env}-artifacts"}
    condition = grants[OBJECT_ADMIN]["condition"]
    assert condition["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/mlops-{env}-artifacts/objects/feast/")'
    )
    assert "condition" not in grants[BUCKET_READER]  # bucket metadata is no object: a prefix would never match
    project_grants = [res for res in of_type(r, "gcp:projects/iAMMember:IAMMember") if inputs(res)["member"] == member]
    assert project_grants == []


@pytest.mark.parametrize("env", GKE_ENVS)
def test_kubernetes_provider_uses_the_gke_auth_plugin_and_keeps_the_kubeconfig_secret(
    rendered: dict[str, Rendered], env: str
) -> None:
    # The cluster's provider (a hub Argo CD's, in hub mode, reads its own kubeconfig: tests/test_hub.py).
    [provider] = [p for p in of_type(rendered[env], "pulumi:providers:kubernetes") if p.name != "argocd-hub"]
    kubeconfig = provider.inputs["kubeconfig"]
    assert kubeconfig[rpc._special_sig_key] == rpc._special_secret_sig
    config = yaml.safe_load(kubeconfig["value"])
    user = config["users"][0]["user"]
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin" and "token" not in user
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    assert plain(provider.inputs)["kubeconfig"] == "[secret]"
    # Kubernetes objects wait for the cluster and every node pool.
    pools = {res.ref for res in of_type(rendered[env], "gcp:container/nodePool:NodePool")}
    assert pools <= set(provider.dependencies)


@pytest.mark.parametrize("env", GKE_ENVS)
def test_nothing_on_gke_installs_a_cni(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    charts = {inputs(rel)["chart"] for rel in of_type(r, RELEASE)}
    assert charts == (set() if r.env.argocd.mode == "hub" else {"argo-cd"})
    assert not app_names(r) & {"cilium", "tigera-operator", "calico-crds"}
    assert not [m for m in r.manifests if m.object["apiVersion"].split("/")[0] in ("cilium.io", "operator.tigera.io")]
    assert not app_names(r) & {"metallb", "minio", "cloudnative-pg", "harbor", "nats"}


@pytest.mark.parametrize("env", GKE_ENVS)
def test_pubsub_topics_exist_only_when_asked_and_are_granted_per_topic(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    topics = {inputs(t)["name"] for t in of_type(r, "gcp:pubsub/topic:Topic")}
    assert topics == set(r.env.gke.pubsub_topics)
    grants = [inputs(g) for g in of_type(r, "gcp:pubsub/topicIAMMember:TopicIAMMember")]
    assert {(g["topic"], g["role"]) for g in grants} == {
        (topic, role) for topic in topics for role in ("roles/pubsub.publisher", "roles/pubsub.subscriber")
    }
    assert all(g["member"] == f"serviceAccount:wi-eventing@{r.env.gke.project}.iam.gserviceaccount.com" for g in grants)
    project_roles = {inputs(res)["role"] for res in of_type(r, "gcp:projects/iAMMember:IAMMember")}
    assert not {role for role in project_roles if role.startswith("roles/pubsub.")}


def test_private_endpoint_is_a_choice(tmp_path: Path) -> None:
    r = render_variant(tmp_path, "staging", lambda s: s["gke"].update(privateEndpoint=True))
    assert one(r, "gcp:container/cluster:Cluster")["privateClusterConfig"]["enablePrivateEndpoint"] is True


def test_render_inventory_lists_cloud_resources_with_their_inputs(rendered: dict[str, Rendered]) -> None:
    entries = rendered["prod"].inventory()["resources"]
    cluster = next(e for e in entries if e["type"] == "gcp:container/cluster:Cluster")
    assert cluster["inputs"]["datapathProvider"] == "ADVANCED_DATAPATH" and cluster["protect"] is True
    assert sum(e["type"] == BUCKET for e in entries) == 5


# --- on-prem ----------------------------------------------------------------------------------------------


def test_onprem_cni_is_installed_first_and_everything_kubernetes_waits_for_it(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    [cni] = [res for res in of_type(r, RELEASE) if inputs(res)["chart"] == "cilium"]
    assert inputs(cni)["namespace"] == "kube-system"
    assert inputs(cni)["version"] == CATALOG["cilium"].version
    assert cni.parent == "mlops:platform:ClusterNetwork::cni"
    waiting = [res for res in r.run.resources if res.type.startswith("kubernetes:") and res is not cni]
    assert waiting
    for res in waiting:
        assert cni.ref in res.dependencies, f"{res.ref} does not wait for the CNI"


def test_onprem_provider_uses_the_configured_context_and_keeps_the_kubeconfig_secret(
    rendered: dict[str, Rendered],
) -> None:
    r = rendered["onprem"]
    [provider] = of_type(r, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"][rpc._special_sig_key] == rpc._special_secret_sig
    assert inputs(provider)["context"] == r.env.onprem.kubeconfig.context


def test_calico_installs_its_crds_before_the_operator(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem-traefik"]  # the example on Calico
    assert r.env.onprem is not None and r.env.onprem.cni == "calico"
    releases = {inputs(res)["chart"]: res for res in of_type(r, RELEASE)}
    assert set(releases) == {"crd.projectcalico.org.v1", "tigera-operator", "argo-cd"}
    assert releases["crd.projectcalico.org.v1"].ref in releases["tigera-operator"].dependencies
    assert releases["tigera-operator"].ref in releases["argo-cd"].dependencies
    namespace = next(ns for ns in objects(r, "Namespace") if ns["metadata"]["name"] == "tigera-operator")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_onprem_replaces_cloud_services_with_argo_cd_applications(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    assert {"metallb", "minio", "cloudnative-pg", "harbor"} <= app_names(r)
    namespaces = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in objects(r, "Namespace")}
    assert namespaces["metallb-system"]["pod-security.kubernetes.io/enforce"] == "privileged"
    [tenant] = objects(r, "Tenant")
    assert {b["name"] for b in tenant["spec"]["buckets"]} == {
        f"mlops-onprem-{purpose}" for purpose in ("artifacts", "dvc", "backups", "log-snapshots", "metrics")
    }
    assert tenant["spec"]["pools"][0]["volumeClaimTemplate"]["spec"]["storageClassName"] == "longhorn"
    [database] = objects(r, "Cluster")
    backup = database["spec"]["backup"]["barmanObjectStore"]
    assert backup["destinationPath"] == "s3://mlops-onprem-backups/postgres"
    assert backup["endpointURL"] == "http://minio.minio.svc.cluster.local"
    assert database["spec"]["storage"]["storageClass"] == "longhorn-fast"
    # Harbor (the registry here) keeps its data there too.
    assert {db["spec"]["name"] for db in objects(r, "Database")} == {*PLATFORM_DATABASES, "harbor"}
    assert objects(r, "ScheduledBackup")


def test_nats_jetstream_replaces_pubsub_when_asked(tmp_path: Path, rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    assert r.env.onprem.eventing.broker == "nats"
    nats = next(a for a in objects(r, "Application") if a["metadata"]["name"] == "nats")
    values = nats["spec"]["source"]["helm"]["valuesObject"]
    assert values["config"]["jetstream"]["enabled"] is True
    assert values["config"]["jetstream"]["fileStore"]["pvc"]["storageClassName"] == "longhorn"
    assert values["podTemplate"]["merge"]["spec"]["securityContext"]["runAsNonRoot"] is True
    without = render_variant(tmp_path, "onprem", lambda s: s["onprem"].pop("eventing"))
    assert "nats" not in app_names(without)


def test_services_come_before_the_first_component_that_depends_on_them() -> None:
    from infra.components import COMPONENTS
    from infra.components.metallb import MetalLB
    from infra.program import with_services

    class Uses(COMPONENTS[0]):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(COMPONENTS[0].spec, name="uses-metallb", depends_on=("metallb",))

    assert with_services((*COMPONENTS, Uses), (MetalLB,)) == [*COMPONENTS, MetalLB, Uses]
    assert with_services((Uses, *COMPONENTS), (MetalLB,)) == [MetalLB, Uses, *COMPONENTS]
    assert with_services(COMPONENTS, ()) == list(COMPONENTS)


def test_metallb_pools_equal_the_config(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    [pool] = objects(r, "IPAddressPool")
    assert pool["spec"]["addresses"] == list(r.env.onprem.load_balancer.addresses)
    [l2] = objects(r, "L2Advertisement")
    assert l2["spec"]["ipAddressPools"] == [pool["metadata"]["name"]]
    assert not objects(r, "BGPPeer")


def test_metallb_bgp_mode_peers_with_the_configured_routers(tmp_path: Path) -> None:
    peers = [{"address": "192.168.50.1", "asn": 64512, "myAsn": 64513}]
    r = render_variant(
        tmp_path,
        "onprem",
        lambda s: s["onprem"]["loadBalancer"].update(mode="bgp", peers=peers),
    )
    [peer] = objects(r, "BGPPeer")
    assert (peer["spec"]["peerAddress"], peer["spec"]["peerASN"], peer["spec"]["myASN"]) == (
        "192.168.50.1",
        64512,
        64513,
    )
    assert objects(r, "BGPAdvertisement") and not objects(r, "L2Advertisement")
    metallb = next(a for a in objects(r, "Application") if a["metadata"]["name"] == "metallb")
    assert metallb["spec"]["source"]["helm"]["valuesObject"]["frrk8s"]["enabled"] is True


def test_existing_s3_and_registry_replace_minio_and_harbor(tmp_path: Path) -> None:
    def use_existing(s: dict[str, Any]) -> None:
        s["objectStore"] = {"provider": "s3", "endpoint": "https://s3.corp.example.net"}
        s["onprem"]["registry"] = {"provider": "existing", "url": "registry.corp.example.net/mlops"}

    r = render_variant(tmp_path, "onprem", use_existing)
    assert not app_names(r) & {"minio", "harbor"}
    assert {"metallb", "cloudnative-pg"} <= app_names(r)
    [database] = objects(r, "Cluster")
    assert database["spec"]["backup"]["barmanObjectStore"]["endpointURL"] == "https://s3.corp.example.net"


def onprem_settings() -> dict[str, Any]:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.onprem.yaml").read_text())
    return copy.deepcopy(document["config"][CONFIG_KEY])


def onprem_violations(change: Callable[[dict[str, Any]], None]) -> list[str]:
    raw = onprem_settings()
    change(raw)
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, "onprem")
    return [str(v) for v in caught.value.violations]


def test_onprem_rules_name_the_setting_to_fix() -> None:
    bgp = onprem_violations(lambda s: s["onprem"]["loadBalancer"].update(mode="bgp"))
    assert bgp == ["mlops-platform:platform.onprem.loadBalancer.peers: is required with mode bgp, and only with it"]
    registry = onprem_violations(lambda s: s["onprem"]["registry"].update(provider="existing"))
    assert registry == [
        "mlops-platform:platform.onprem.registry.url: is required with provider existing, and only with it"
    ]

    def highly_available(s: dict[str, Any]) -> None:
        s["highAvailability"] = True
        s["components"]["monitoring"] = {"prometheus": {"replicas": 2}, "alertmanager": {"replicas": 2}}
        s["components"]["logging"]["elasticsearch"]["count"] = 3
        s["components"]["mlflow"]["replicas"] = 2

    ha = onprem_violations(highly_available)
    assert [v.split(":")[1] for v in ha] == [
        "platform.onprem.database.instances",
        "platform.onprem.minio.servers",
    ]


def test_metallb_addresses_are_required_on_prem() -> None:
    problems = onprem_violations(lambda s: s["onprem"].pop("loadBalancer"))
    assert problems and all("onprem.loadBalancer" in p for p in problems)


# --- the ClusterFacts contract --------------------------------------------------------------------------------


def cluster_facts(env: str) -> ClusterFacts:
    """Run only the cluster layer of a real stack under the mock engine and return its facts."""
    from infra.program import environment_from_stack_config

    path = ENVIRONMENTS / f"Pulumi.{env}.yaml"
    captured: list[ClusterFacts] = []
    run_program(
        env,
        pulumi_config_values(read_stack_file(path)),
        lambda: captured.append(build_cluster(environment_from_stack_config())),
    )
    return captured[0]


def test_gke_facts_name_every_workload_identity_and_iam_database_login() -> None:
    facts = cluster_facts("dev")
    assert set(facts.identity.service_accounts) == {*WORKLOADS, "eventing"}
    assert "iam.gke.io/gcp-service-account" in facts.identity.annotations("mlflow")
    assert facts.identity.annotations("not-a-workload") == {}
    assert facts.database is not None and facts.database.kind == "cloudsql" and facts.database.iam_authentication
    assert facts.database.databases == PLATFORM_DATABASES and facts.database.connection_name is not None
    assert facts.event_broker is not None and set(facts.event_broker.topics) == {"model-events"}
    assert facts.services == () and facts.cni == "dataplane-v2" and facts.object_store.kind == "gcs"


def test_onprem_facts_point_at_the_replacements() -> None:
    from infra.components.cloudnative_pg import CloudNativePG
    from infra.components.metallb import MetalLB
    from infra.components.minio import MinIO

    facts = cluster_facts("onprem")
    assert {MetalLB, MinIO, CloudNativePG} <= set(facts.services)
    assert facts.storage.default == "longhorn" and facts.storage.shared == "longhorn-rwx"
    assert facts.database is not None and facts.database.host == "platform-db-rw.cnpg-system.svc.cluster.local"
    assert facts.event_broker is not None and facts.event_broker.kind == "nats-jetstream"
    assert facts.registry == f"harbor.{load_stack_file(ENVIRONMENTS / 'Pulumi.onprem.yaml').domain}"
    assert not facts.identity.service_accounts


def test_overlapping_gke_ranges_are_named() -> None:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    raw = copy.deepcopy(document["config"][CONFIG_KEY])
    raw["gke"]["network"] = {"podsCidr": "10.10.0.0/16", "servicesCidr": "10.20.0.0/20"}
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, "dev")
    assert [str(v) for v in caught.value.violations] == [
        "mlops-platform:platform.gke.network.podsCidr: 10.10.0.0/16 overlaps subnetCidr 10.10.0.0/20",
    ]


def test_a_gke_range_with_host_bits_is_refused_at_load() -> None:
    """GCP takes a range by its network address; a range that is no network never reaches the overlap rule."""
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    raw = copy.deepcopy(document["config"][CONFIG_KEY])
    raw["gke"]["network"] = {"servicesCidr": "10.24.0.1/20"}
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, "dev")
    assert [str(v) for v in caught.value.violations] == [
        "mlops-platform:platform.gke.network.servicesCidr: '10.24.0.1/20' is not an IPv4 subnet range such as "
        "10.10.0.0/20: 10.24.0.1/20 has host bits set",
    ]


@pytest.mark.parametrize("env", ["dev", "staging", "prod", "onprem"])
def test_every_gke_namespace_reaches_the_metadata_server_for_workload_identity(
    rendered: dict[str, Rendered], env: str
) -> None:
    """Dataplane V2 serves Workload Identity tokens at 169.254.169.254 (80, 8080); default deny would block it."""
    r = rendered[env]
    for namespace in (ns["metadata"]["name"] for ns in objects(r, "Namespace")):
        metadata = allowances(r, namespace).get("gke-metadata-server")
        if r.env.target != "gke":
            assert metadata is None, namespace
            continue
        assert metadata is not None, namespace
        assert metadata["direction"] == "egress" and metadata["podSelector"] == {}
        assert metadata["rule"] == {
            "to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}],
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 8080, "protocol": "TCP"}],
        }
