"""Credentials named in the Environment, turned into Secret references that charts and custom resources take.

A credential is either an existing Secret (created outside the stack, e.g. by External Secrets) or a Pulumi
secret config value: Pulumi keeps that encrypted in the stack file and masked in previews, and this module
writes it into a Secret so that no manifest or chart value ever holds it in plain text.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import PROJECT
from infra.config.model import SecretSource
from infra.platform.labels import PART_OF


def secret_key_ref(source: SecretSource, *, name: str, namespace: str, opts: pulumi.ResourceOptions) -> dict[str, str]:
    """`{name, key}` of the Secret that holds the credential, creating it from config when needed."""
    if source.existing_secret is not None:
        return {"name": source.existing_secret, "key": source.key}
    assert source.config_key is not None  # guaranteed by rules.secrets_name_one_source
    k8s.core.v1.Secret(
        f"{namespace}-{name}",
        metadata={"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}},
        type="Opaque",
        string_data={source.key: pulumi.Config(PROJECT).require_secret(source.config_key)},
        opts=opts,
    )
    return {"name": name, "key": source.key}
