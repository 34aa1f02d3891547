"""On-prem, the CloudNativePG login Secret reaches the namespaces of MLflow, ML Metadata and Harbor through External
Secrets (infra/platform/login_copy.py, the login store of infra/components/cloudnative_pg.py); without External
Secrets the hand copy is stated on the Applications. On GKE (IAM login) nothing is copied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.cli.commands import load_crd_allowlist, preinstalled_crds
from infra.cluster import Database
from infra.offline.render import Rendered, render_stack
from infra.offline.validate import ManifestValidator
from infra.platform import labels
from infra.platform.login_copy import copy_database_login
from infra.platform.ordering import ordering_problems

from .conftest import onprem_facts
from .test_ml import application, enable, mlflow_values, objects, stack_copy

SOURCE = "platform-db-app"
STORE = "platform-db-login"
READER = "platform-db-login-reader"


def named(r: Rendered, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    return next(
        o for o in objects(r, kind) if o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    )


def copies(r: Rendered) -> dict[str, dict[str, Any]]:
    """The ExternalSecrets that copy the database login, by namespace."""
    found = [o for o in objects(r, "ExternalSecret") if o["spec"]["secretStoreRef"]["name"] == STORE]
    return {o["metadata"]["namespace"]: o for o in found}


def advisory(r: Rendered, app: str) -> str:
    return application(r, app)["metadata"]["annotations"].get(labels.ADVISORY, "")


def dependencies(r: Rendered, kind: str, name: str, namespace: str) -> list[str]:
    path = f"{namespace}/{kind.lower()}-{name}.yaml"
    return next(m.resource.dependencies for m in r.manifests if m.path == path)


def with_kubeflow(tmp_path: Path, external_secrets: bool = True) -> Rendered:
    def edit(platform: dict[str, Any]) -> None:
        enable("kubeflow", "mlflow")(platform)
        platform["components"].setdefault("externalSecrets", {})["enabled"] = external_secrets

    return render_stack(stack_copy(tmp_path, "onprem", edit))


def test_mlflow_gets_the_login_it_reads_through_a_store_of_that_one_secret(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    # Harbor, the registry of this environment, and Kubeflow's ML Metadata log in too (tests/test_expanded_defects.py).
    assert set(copies(r)) == {"harbor", "kubeflow", "mlflow"}
    copy = copies(r)["mlflow"]
    # The copy is the Secret the chart reads, with only the keys a login needs, from CloudNativePG's Secret.
    assert copy["spec"]["target"]["name"] == mlflow_values(r)["backendStore"]["existingDatabaseSecret"]["name"]
    assert copy["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": STORE}
    assert [(d["secretKey"], d["remoteRef"]) for d in copy["spec"]["data"]] == [
        ("username", {"key": SOURCE, "property": "username"}),
        ("password", {"key": SOURCE, "property": "password"}),
    ]
    store = named(r, "ClusterSecretStore", STORE)["spec"]
    kubernetes = store["provider"]["kubernetes"]
    assert kubernetes["remoteNamespace"] == "cnpg-system"
    assert kubernetes["auth"] == {"serviceAccount": {"name": READER, "namespace": "cnpg-system"}}
    # Only the namespaces of enabled users may copy it: without Harbor (an existing registry) and Kubeflow, as in the
    # small on-prem example, MLflow's alone.
    assert store["conditions"] == [{"namespaces": ["harbor", "kubeflow", "mlflow"]}]
    small = named(rendered["onprem-traefik"], "ClusterSecretStore", STORE)["spec"]
    assert small["conditions"] == [{"namespaces": ["mlflow"]}]
    # The reader may get that one Secret, nothing else.
    role = named(r, "Role", READER, "cnpg-system")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SOURCE], "verbs": ["get"]}]
    binding = named(r, "RoleBinding", READER, "cnpg-system")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": READER, "namespace": "cnpg-system"}]
    assert named(r, "ServiceAccount", READER, "cnpg-system")["automountServiceAccountToken"] is False
    assert "by hand" not in advisory(r, "mlflow")


def test_the_copy_waits_for_its_crd_but_not_for_the_application_that_needs_it(rendered: dict[str, Rendered]) -> None:
    r = rendered["onprem"]
    needs = dependencies(r, "ExternalSecret", SOURCE, "mlflow")
    assert "kubernetes:argoproj.io/v1alpha1:Application::external-secrets-application" in needs
    # Pulumi waits for the MLflow Application to be healthy, which it cannot be without the Secret.
    assert "kubernetes:argoproj.io/v1alpha1:Application::mlflow-application" not in needs
    wave = {
        o["metadata"]["name"]: int(o["metadata"]["annotations"][labels.SYNC_WAVE]) for o in objects(r, "Application")
    }
    store_wave = int(named(r, "ClusterSecretStore", STORE)["metadata"]["annotations"][labels.SYNC_WAVE])
    assert wave["external-secrets"] < store_wave < wave["mlflow"]
    assert wave["cloudnative-pg"] < wave["mlflow"]
    assert ordering_problems([m.object for m in r.manifests], preinstalled_crds(r.env)) == []


def test_ml_metadata_gets_its_copy_too(rendered: dict[str, Rendered], crd_schemas: str) -> None:
    r = rendered["onprem"]
    assert set(copies(r)) == {"harbor", "kubeflow", "mlflow"}
    validator = ManifestValidator(r.env.kubernetes_version, crd_schemas, load_crd_allowlist())
    for found in (*copies(r).values(), named(r, "ClusterSecretStore", STORE)):
        assert validator.validate(found) == [], found["metadata"]["name"]
    assert named(r, "ClusterSecretStore", STORE)["spec"]["conditions"] == [
        {"namespaces": ["harbor", "kubeflow", "mlflow"]}
    ]
    assert "by hand" not in advisory(r, "kubeflow-pipelines")


def test_without_external_secrets_the_hand_copy_is_shown_to_reviewers(tmp_path: Path) -> None:
    r = with_kubeflow(tmp_path, external_secrets=False)
    assert not objects(r, "ExternalSecret") and not objects(r, "ClusterSecretStore")
    assert not [o for o in objects(r, "Role") if o["metadata"]["name"] == READER]
    step = f"copy the Secret cnpg-system/{SOURCE} (keys username, password) into {{}} by hand"
    assert step.format("mlflow") in advisory(r, "mlflow")
    assert f"ML Metadata: External Secrets is off: {step.format('kubeflow')}" in advisory(r, "kubeflow-pipelines")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_gke_logs_in_as_iam_users_and_copies_nothing(rendered: dict[str, Rendered], env: str) -> None:
    r = rendered[env]
    assert not copies(r)
    assert [o["metadata"]["name"] for o in objects(r, "ClusterSecretStore")] == ["platform"]


def test_a_namespace_the_cluster_layer_does_not_allow_is_refused() -> None:
    database = Database(
        kind="cloudnativepg",
        host="db",
        credentials_secret=SOURCE,
        credentials_namespace="cnpg-system",
        credentials_store=STORE,
        credentials_readers=("mlflow",),
    )
    facts = onprem_facts(database)
    declared: list[tuple[Any, ...]] = []
    with pytest.raises(ValueError, match="namespace team-a may not copy the database login platform-db-app"):
        copy_database_login(facts, "team-a", lambda *args, **kwargs: declared.append(args))
    assert copy_database_login(facts, "mlflow", lambda *args, **kwargs: declared.append(args)) == []
    assert [args[1:3] for args in declared] == [("ExternalSecret", SOURCE)]
    # In the Secret's own namespace there is nothing to copy.
    assert copy_database_login(facts, "cnpg-system", lambda *a, **k: declared.append(a)) == []
    assert len(declared) == 1
