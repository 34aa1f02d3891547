"""Bases every settings object shares: the settings base class, where a component's settings sit in the Environment,
a component the cluster already runs, and where a credential comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.config.formats import (
    DataKey,
    ObjectName,
    PinnedVersion,
    PulumiConfigKey,
)


class Settings(BaseModel):
    """Base of every settings object: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


@dataclass(frozen=True)
class ComponentSettings:
    """A component's settings model and its place in the Environment, `components.<key>` (the stack file spells the
    key in camelCase). infra/config/model.py assembles the Components settings from every registered component's."""

    key: str
    model: type[Settings]
    description: str
    """What the component is, as the JSON Schema and docs/environment.md describe `components.<key>`."""


class ExistingComponent(Settings):
    """A component the cluster already runs, installed and upgraded by someone else: the stack installs nothing of
    it and points every dependant at it."""

    version: PinnedVersion
    """Version the cluster runs (see each component for which version). The compatibility matrix is applied to it,
    and `check` judges the platform's custom resources by its CRDs as of that version, read from its chart in the
    chart cache."""
    accept_unvalidated: Annotated[str, Field(min_length=1)] | None = None
    """Why the platform's custom resources of this component may go unvalidated when its chart at `version` is not
    in the chart cache (`check` then reports them as advisories instead of errors). Unset: `check` fails, naming
    each kind it could not validate."""


class SecretSource(Settings):
    """Where a credential comes from. Never the value itself: set exactly one of `existingSecret` and
    `configKey`."""

    existing_secret: ObjectName | None = None
    """Name of a Secret that already exists in the namespace of the consumer (e.g. created by External Secrets)."""
    config_key: PulumiConfigKey | None = None
    """Name of a Pulumi secret config value (`pulumi config set --secret mlops-platform:<configKey> ...`); the
    stack turns it into a Secret, so the value is encrypted in the stack file and masked in every preview."""
    key: DataKey = "value"
    """Key inside the Secret that holds the credential."""
