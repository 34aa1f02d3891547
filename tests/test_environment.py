"""The environment model: real stack files load; bad input gets path-named errors, all at once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from infra.config import CONFIG_KEY, InvalidEnvironment, load_environment, load_stack_file
from infra.config.docs import DOCS_FILE, SCHEMA_FILE, docs_text, json_schema, schema_text

from .conftest import ENV_NAMES, ENVIRONMENTS


def base() -> dict[str, Any]:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    return copy.deepcopy(document["config"][CONFIG_KEY])


def onprem_base() -> dict[str, Any]:
    document = yaml.safe_load((ENVIRONMENTS / "Pulumi.onprem.yaml").read_text())
    return copy.deepcopy(document["config"][CONFIG_KEY])


def violations(raw: Any, name: str = "dev") -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, name)
    return [str(v) for v in caught.value.violations]


def test_every_stack_file_loads() -> None:
    assert set(ENV_NAMES) == {"dev", "staging", "prod", "onprem", "onprem-traefik", "airgap", "hub-example"}
    for name in ENV_NAMES:
        env = load_stack_file(ENVIRONMENTS / f"Pulumi.{name}.yaml")
        assert env.name == name
    assert load_stack_file(ENVIRONMENTS / "Pulumi.prod.yaml").high_availability
    assert load_stack_file(ENVIRONMENTS / "Pulumi.onprem.yaml").target == "onprem"
    assert load_stack_file(ENVIRONMENTS / "Pulumi.onprem-traefik.yaml").target == "onprem"
    assert load_stack_file(ENVIRONMENTS / "Pulumi.airgap.yaml").mirrors.enabled  # the example without internet


def test_gke_environments_use_distinct_projects_and_regions() -> None:
    envs = [load_stack_file(ENVIRONMENTS / f"Pulumi.{n}.yaml") for n in ("dev", "staging", "prod")]
    assert len({e.gke.project for e in envs}) == 3
    assert len({e.gke.region for e in envs}) == 3


def test_environment_is_immutable() -> None:
    env = load_environment(base(), "dev")
    with pytest.raises(ValidationError):
        env.tier = "prod"
    assert isinstance(env.gke.node_pools, tuple)


def mutate(path: str, value: Any, start: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = start if start is not None else base()
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return raw


DELETE = object()

BAD_INPUTS = [
    ("tier", "qa", "platform.tier: 'qa' is not allowed; allowed: dev, staging, prod"),
    ("target", "aws", "platform.target: 'aws' is not allowed; allowed: gke, onprem"),
    ("target", DELETE, "platform.target: is required"),
    ("kubernetesVersion", "1.20", "platform.kubernetesVersion: '1.20' is not allowed"),
    ("domain", "Not A Domain", "platform.domain: 'Not A Domain' is not a lowercase DNS domain"),
    ("ingress.provider", "nginx", "platform.ingress.provider: 'nginx' is not allowed; allowed: istio, traefik"),
    ("ingress.tls", True, "platform.ingress.tls: unknown setting; allowed here: forwardAuthUrl, provider, rateLimit"),
    ("colour", "blue", "platform.colour: unknown setting; allowed here:"),
    ("gke.nodePools.0.maxNodes", "many", "platform.gke.nodePools[0].maxNodes: Input should be a valid integer"),
    ("gke.nodePools.1.minNodes", 9, "platform.gke.nodePools[1].minNodes: is 9, above maxNodes 4"),
    ("gke.nodePools.2.gpu", None, "platform.gke.nodePools[2].gpu: is required for role gpu"),
    ("gke.nodePools.2.gpu.type", "tpu", "platform.gke.nodePools[2].gpu.type: 'tpu' is not allowed; allowed: nvidia-l4"),
    ("gke.nodePools.1.name", "system", "platform.gke.nodePools[1].name: 'system' is used twice (also at [0])"),
    ("gke.nodePools.0.role", "general", "platform.gke.nodePools: needs exactly one pool with role system, found 0"),
    ("gke.project", "X", "platform.gke.project: 'X' is not a GCP project id"),
    ("gke", DELETE, "platform.gke: is required when target is gke"),
    ("objectStore.provider", "minio", "platform.objectStore.provider: 'minio' is not available on target gke"),
    ("objectStore.endpoint", "http://s3", "platform.objectStore.endpoint: is required with provider s3, and only"),
    ("versions.cert-manager", "latest", "platform.versions.cert-manager: 'latest' is not an exact version"),
    ("versions.not-a-chart", "1.0.0", "platform.versions.not-a-chart: 'not-a-chart' (as a key) is not allowed"),
    ("components.monitoring.prometheus.retention", "forever", "prometheus.retention: 'forever' is not a duration"),
    ("components.monitoring.prometheus.storageSize", "50GB", "storageSize: '50GB' is not a quantity of bytes"),
    (
        "components.certManager.acmeEmail",
        None,
        "platform.components.certManager.acmeEmail: is required with issuer acme",
    ),
    ("components.monitoring", "yes", "platform.components.monitoring: must be a mapping of settings, got str"),
    ("tier", "prod", "platform.highAvailability: must be true for tier prod"),
    ("name", "other", "platform.name: is taken from the stack file name"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_its_path(path: str, value: Any, expected: str) -> None:
    found = violations(mutate(path, value))
    assert any(expected in message for message in found), found
    assert all(message.startswith(f"{CONFIG_KEY}") for message in found)


def test_onprem_rules() -> None:
    found = violations(mutate("objectStore.provider", "gcs", onprem_base()))
    assert any("objectStore.provider: 'gcs' is not available on target onprem; allowed: minio, s3" in m for m in found)
    found = violations(mutate("onprem.cni", "flannel", onprem_base()))
    assert any("platform.onprem.cni: 'flannel' is not allowed; allowed: cilium, calico" in m for m in found)


def test_all_violations_reported_at_once() -> None:
    raw = base()
    raw["ingress"]["provider"] = "nginx"
    raw["tier"] = "qa"
    raw["gke"]["nodePools"][0]["minNodes"] = "x"
    assert len(violations(raw)) == 3
    rules = base()
    rules["tier"] = "prod"
    rules["gke"]["nodePools"][1]["minNodes"] = 99
    rules["components"]["certManager"]["acmeEmail"] = None
    assert len(violations(rules)) == 3


def test_missing_platform_key(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  gcp:project: foo\n")
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(stack)
    assert str(caught.value.violations[0]).startswith(f"{CONFIG_KEY}: is required")


def test_generated_schema_and_docs_are_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run `python -m infra.cli docs`"
    assert DOCS_FILE.read_text() == docs_text(), "run `python -m infra.cli docs`"


def test_schema_is_strict_and_documented() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    objects = [schema, *schema["$defs"].values()]
    for obj in objects:
        assert obj.get("additionalProperties") is False, obj.get("title")
        for key, prop in obj["properties"].items():
            assert prop.get("description"), f"{obj.get('title')}.{key} has no description"
            assert "default" in prop or key in obj.get("required", []), f"{obj.get('title')}.{key}"
    assert "name" not in schema["properties"]


def test_schema_accepts_every_stack_file() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    for name in ENV_NAMES:
        raw = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{name}.yaml").read_text())["config"][CONFIG_KEY]
        assert not list(validator.iter_errors(raw)), name
