"""Credentials named in the Environment, turned into Secret references that charts and custom resources take.

A credential is either an existing Secret (created outside the stack, e.g. by External Secrets) or a Pulumi
secret config value: Pulumi keeps that encrypted in the stack file and masked in previews, and this module
writes it into a Secret so that no manifest or chart value ever holds it in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config.errors import PROJECT
from infra.config.settings.common import SecretSource
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


ANY_NAMESPACE = "*"


@dataclass(frozen=True)
class SecretToCreate:
    """A Secret a component's workloads read that nothing in the platform makes: the adopter creates it (by hand,
    with External Secrets or Sealed Secrets) before the component's first sync. Declared by the component
    (`PlatformComponent.secrets_to_create`), so the `wiring` stage can prove every read Secret is either made or
    declared, and docs/environments/<env>.md lists them."""

    namespace: str
    """Its namespace, or ANY_NAMESPACE: every namespace whose workloads read it (the page lists those)."""
    name: str
    keys: tuple[str, ...]
    purpose: str
    """What it holds and who reads it, for the person creating it."""


def existing_secret_to_create(source: SecretSource, namespace: str, key_purpose: str) -> tuple[SecretToCreate, ...]:
    """The Secret a credential names with `existingSecret` (nothing to create when it comes from config)."""
    if source.existing_secret is None:
        return ()
    return (SecretToCreate(namespace, source.existing_secret, (source.key,), key_purpose),)
