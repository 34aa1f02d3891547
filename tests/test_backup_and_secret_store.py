"""Velero (backups to the object store, schedules from config) and External Secrets (one ClusterSecretStore)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import InvalidEnvironment, load_stack_file
from infra.offline.render import Rendered, render_stack

from .conftest import ENVIRONMENTS, allowances
from .test_program import application, objects


def one(r: Rendered, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects(r, kind) if o["metadata"]["name"] == name)


def stack_with(tmp_path: Path, env: str, components: dict[str, Any]) -> Path:
    stack = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    stack["config"]["mlops-platform:platform"].setdefault("components", {}).update(components)
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(stack))
    return path


def test_backups_go_to_the_backups_bucket_of_the_object_store(rendered: dict[str, Rendered]) -> None:
    gke = one(rendered["prod"], "BackupStorageLocation", "default")["spec"]
    assert gke["provider"] == "velero.io/gcp" and gke["objectStorage"]["bucket"] == "mlops-prod-backups"
    assert "credential" not in gke  # Workload Identity, no key
    assert one(rendered["prod"], "VolumeSnapshotLocation", "default")["spec"]["config"] == {
        "snapshotLocation": "us-central1"
    }
    onprem = one(rendered["onprem"], "BackupStorageLocation", "default")["spec"]
    assert onprem["provider"] == "aws" and onprem["objectStorage"]["bucket"] == "mlops-onprem-backups"
    assert onprem["config"]["s3Url"].startswith("http") and onprem["credential"]["name"]
    assert not objects(rendered["onprem"], "VolumeSnapshotLocation")


def test_schedules_come_from_the_stack_file(rendered: dict[str, Rendered]) -> None:
    prod = {s["metadata"]["name"]: s["spec"] for s in objects(rendered["prod"], "Schedule")}
    assert set(prod) == {"daily", "weekly"}
    assert prod["weekly"]["schedule"] == "0 4 * * 0" and prod["weekly"]["template"]["ttl"] == "8760h0m0s"
    assert prod["daily"]["template"]["includedNamespaces"] == ["*"]
    for env, r in rendered.items():
        assert len(objects(r, "Schedule")) == len(r.env.components.velero.schedules), env


def test_velero_runs_as_the_service_account_bound_to_its_cloud_identity(rendered: dict[str, Rendered]) -> None:
    values = application(rendered["prod"], "velero")["spec"]["source"]["helm"]["valuesObject"]
    # infra/cluster binds the Google service account of workload "velero" to velero/velero.
    assert values["serviceAccount"]["server"]["name"] == "velero"
    assert values["credentials"]["useSecret"] is False
    assert values["configuration"]["backupStorageLocation"] == []  # declared as reviewed custom resources


def test_the_secret_store_follows_the_target(rendered: dict[str, Rendered]) -> None:
    gke = one(rendered["prod"], "ClusterSecretStore", "platform")["spec"]["provider"]
    assert gke == {"gcpsm": {"projectID": "mlops-prod-345678"}}
    values = application(rendered["prod"], "external-secrets")["spec"]["source"]["helm"]["valuesObject"]
    assert values["serviceAccount"]["name"] == "external-secrets"
    onprem = one(rendered["onprem"], "ClusterSecretStore", "platform")["spec"]["provider"]["kubernetes"]
    assert onprem["remoteNamespace"] == "external-secrets"
    reader = one(rendered["onprem"], "Role", onprem["auth"]["serviceAccount"]["name"])
    assert reader["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]


def test_an_onprem_vault_store(tmp_path: Path) -> None:
    vault = {"onpremStore": "vault", "vault": {"server": "https://vault.corp.internal:8200", "role": "eso"}}
    r = render_stack(stack_with(tmp_path, "onprem", {"externalSecrets": vault}))
    provider = one(r, "ClusterSecretStore", "platform")["spec"]["provider"]["vault"]
    assert provider["server"] == "https://vault.corp.internal:8200"
    assert provider["auth"]["kubernetes"]["role"] == "eso"
    vault_out = allowances(r, "external-secrets")["vault"]
    assert vault_out["direction"] == "egress" and vault_out["rule"]["ports"] == [{"port": 8200, "protocol": "TCP"}]
    # The Kubernetes provider's reader is not needed (CloudNativePG's login store keeps its own, in cnpg-system).
    assert not [role for role in objects(r, "Role") if role["metadata"]["namespace"] == "external-secrets"]


@pytest.mark.parametrize(
    ("env", "components", "where"),
    [
        ("onprem", {"externalSecrets": {"onpremStore": "vault"}}, "components.externalSecrets.vault"),
        ("prod", {"externalSecrets": {"vault": {"server": "https://v:8200"}}}, "components.externalSecrets.vault"),
        (
            "dev",
            {"velero": {"schedules": [{"name": "a"}, {"name": "a"}]}},
            "components.velero.schedules[1].name",
        ),
        ("dev", {"velero": {"schedules": []}}, "components.velero.schedules"),
        ("dev", {"velero": {"schedules": [{"name": "a", "schedule": "every day"}]}}, "velero.schedules[0].schedule"),
    ],
)
def test_bad_backup_and_secret_settings_name_their_path(
    tmp_path: Path, env: str, components: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidEnvironment) as error:
        load_stack_file(stack_with(tmp_path, env, components))
    assert any(v.path.endswith(where) for v in error.value.violations), error.value.report()
