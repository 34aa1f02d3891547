"""Stack file or Pulumi config -> validated Environment, or InvalidEnvironment naming every bad path."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from infra.config.errors import CONFIG_KEY, PROJECT, InvalidEnvironment, PathPart, Violation, config_path
from infra.config.formats import FORMAT_ERROR
from infra.config.model import Environment
from infra.config.rules import check_rules, secret_sources

SECRET_PLACEHOLDER = "[secret]"
NAME_FROM_FILE = "is taken from the stack file name (Pulumi.<name>.yaml); remove it"


def load_environment(raw: Any, name: str, source: str | None = None) -> Environment:
    """Validate the value of `mlops-platform:platform` for the stack `name`."""
    source = source or f"stack {name}"
    if not isinstance(raw, dict):
        raise InvalidEnvironment(source, [Violation(CONFIG_KEY, _missing_platform_message(raw))])
    if "name" in raw:
        raise InvalidEnvironment(source, [Violation(config_path(["name"]), NAME_FROM_FILE)])
    try:
        env = Environment.model_validate({**raw, "name": name})
    except ValidationError as error:
        details = error.errors()
        violations = [_violation(detail) for detail in details if not _echo_of_a_bad_item(detail, details)]
        raise InvalidEnvironment(source, violations) from None
    violations = check_rules(env)
    if violations:
        raise InvalidEnvironment(source, violations)
    return env


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a stack file, `secure:` values replaced by a placeholder (no key here)."""
    try:
        # libyaml's parser when PyYAML has it: a render reads each stack file several times.
        document = yaml.load(path.read_text(), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as error:
        raise InvalidEnvironment(str(path), [Violation("(file)", f"not valid YAML: {error}")]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise InvalidEnvironment(str(path), [Violation("config", "a stack file needs a `config:` mapping")])
    return {key: _without_secrets(value) for key, value in config.items()}


def load_stack_file(path: Path) -> Environment:
    """The Environment of `environments/Pulumi.<name>.yaml`."""
    name = stack_name(path)
    config = read_stack_file(path)
    stray = [
        Violation(key, "only `platform` and secret (`secure:`) values belong under the project namespace")
        for key, value in config.items()
        if key.startswith(f"{PROJECT}:") and key != CONFIG_KEY and value != SECRET_PLACEHOLDER
    ]
    if stray:
        raise InvalidEnvironment(str(path), stray)
    env = load_environment(config.get(CONFIG_KEY), name, source=str(path))
    unset = [
        Violation(config_path(list(where)), f"names {PROJECT}:{source.config_key}, which is not a `secure:` value here")
        for where, source in secret_sources(env)
        if source.config_key is not None and config.get(f"{PROJECT}:{source.config_key}") != SECRET_PLACEHOLDER
    ]
    if unset:
        raise InvalidEnvironment(str(path), unset)
    return env


def pulumi_config_values(config: dict[str, Any]) -> dict[str, str]:
    """Config as the Pulumi engine hands it to a program: strings, objects JSON-encoded."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {key: _without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def _missing_platform_message(raw: Any) -> str:
    if raw is None:
        return "is required: every stack file describes its environment under this key"
    return f"must be a mapping of settings, got {type(raw).__name__}"


def _violation(detail: ErrorDetails) -> Violation:
    loc: list[PathPart] = [part for part in detail["loc"] if part != "[key]"]
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1])) or "nothing"
        message = f"unknown setting; allowed here: {allowed}"
    elif kind == "literal_error":
        key_note = " (as a key)" if "[key]" in detail["loc"] else ""
        message = f"{value!r}{key_note} is not allowed; allowed: {_plain_choices(ctx.get('expected', ''))}"
    elif kind == FORMAT_ERROR:
        message = detail["msg"]  # infra/config/formats.py words it: the value, what it should be, and why not
    elif kind == "model_type" or kind == "dict_type":
        message = f"must be a mapping of settings, got {type(value).__name__}"
    else:
        message = f"{detail['msg']} (got {value!r})"
    return Violation(config_path(loc), message)


def _echo_of_a_bad_item(detail: ErrorDetails, details: list[ErrorDetails]) -> bool:
    """pydantic drops a refused item from a list and then finds the list too short: the item's own error is
    the one to fix, so the list's is not reported."""
    loc = detail["loc"]
    return detail["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in details
    )


def _plain_choices(expected: str) -> str:
    return expected.replace("' or '", ", ").replace("', '", ", ").strip("'")


def _allowed_keys(loc: list[PathPart]) -> list[str]:
    model: Any = Environment
    for part in loc:
        model = _child_type(model, part)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(field.alias or name for name, field in model.model_fields.items())
    return []


def _child_type(model: Any, part: PathPart) -> Any:
    model = _unwrap(model)
    if isinstance(part, int):
        args = typing.get_args(model)
        return _unwrap(args[0]) if args else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return _unwrap(field.annotation)
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the walk reaches the settings class itself."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = options[0]
        else:
            return annotation
