"""Every Secret the platform reads is made by the platform or declared by the component that reads it as one the
adopter creates; the generated environment pages list the declared ones."""

from __future__ import annotations

import pytest

from infra.components.mlflow import Mlflow
from infra.expand.platform import Platform
from infra.expand.wiring.secrets import RUNTIME_SECRETS, secret_reads, secrets_findings, secrets_to_create
from infra.platform.secrets import SecretToCreate
from tests.test_integrity import with_objects


def reader(namespace: str, secret: str, *, optional: bool = False) -> dict:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token", "optional": optional}}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "reader", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "x:1", "env": env}]}}},
    }


def test_every_environment_reads_only_made_or_declared_secrets(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        findings, reads = secrets_findings(platform)
        assert findings == [], env
        assert reads > 15, env


def test_a_read_secret_nothing_makes_is_refused(platforms: dict[str, Platform]) -> None:
    platform = with_objects(platforms["dev"], "keda", reader("keda", "nobody-makes-this"))
    findings, _ = secrets_findings(platform)
    assert [f.object_ref for f in findings] == ["keda: apps/v1 Deployment keda/reader"]
    assert "reads Secret keda/nobody-makes-this (key token), which nothing in the platform makes" in findings[0].message
    # Optional references are no need, and a Secret the platform applies satisfies the read.
    assert secrets_findings(with_objects(platforms["dev"], "keda", reader("keda", "x", optional=True)))[0] == []
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "made", "namespace": "keda"}}
    assert secrets_findings(with_objects(platforms["dev"], "keda", reader("keda", "made"), secret))[0] == []


def test_a_secret_a_service_account_lists_is_a_read(platforms: dict[str, Platform]) -> None:
    """KServe's storage initializer takes its S3 keys from the Secrets the predictor's service account lists."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "model-reader", "namespace": "keda"},
        "secrets": [{"name": "nobody-makes-this"}],
    }
    findings, _ = secrets_findings(with_objects(platforms["dev"], "keda", account))
    assert [f.object_ref for f in findings] == ["keda: v1 ServiceAccount keda/model-reader"]
    assert findings[0].message.startswith("secrets[0]: reads Secret keda/nobody-makes-this,")


def test_an_undeclared_adopter_secret_is_refused(
    platforms: dict[str, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Mlflow, "secrets_to_create", classmethod(lambda cls, env: ()))
    findings, _ = secrets_findings(platforms["dev"])
    assert findings and all("Secret mlflow/mlflow-admin" in f.message for f in findings)
    assert {f.object_ref.split(":")[0] for f in findings} == {"mlflow"}


def test_a_declaration_nothing_reads_is_refused(
    platforms: dict[str, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = SecretToCreate("mlflow", "mlflow-unused", ("k",), "nothing")
    original = Mlflow.secrets_to_create.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Mlflow, "secrets_to_create", classmethod(lambda cls, env: (*original(cls, env), stale)))
    findings, _ = secrets_findings(platforms["dev"])
    assert [f.object_ref for f in findings] == ["dev: Secret mlflow/mlflow-unused"]
    assert "component mlflow declares it" in findings[0].message


def test_runtime_made_secrets_are_each_read_somewhere(platforms: dict[str, Platform]) -> None:
    read = {r.name for platform in platforms.values() for r in secret_reads(platform.objects)}
    assert [runtime.name for runtime in RUNTIME_SECRETS if runtime.name not in read] == []


def test_the_object_store_keys_are_asked_for_in_each_namespace_that_reads_them(platforms: dict[str, Platform]) -> None:
    rows = {secret.name: namespaces for secret, namespaces, _ in secrets_to_create(platforms["onprem"])}
    assert {"mlflow", "velero", "cnpg-system", "ml-model-serving"} <= set(rows["object-store-credentials"])
    assert rows["minio-root-config"] == ("minio",)
    assert "object-store-credentials" not in {s.name for s, _, _ in secrets_to_create(platforms["dev"])}
