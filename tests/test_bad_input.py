"""Property-based: invalid environments, made by mutating the real stack files, fail with path-named errors.

Each example takes one node of a real stack file and breaks it the way an adopter might: a wrong type, an
unknown key, a value outside an enum, a number out of range, a string that misses its pattern. Where to break
and how comes from the generated JSON Schema, so new settings are covered as they are added.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.cli.__main__ import main
from infra.config import InvalidEnvironment, load_environment
from infra.config.errors import CONFIG_KEY, config_path

from .conftest import ENV_NAMES, ENVIRONMENTS

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "infra/config/environment.schema.json").read_text())
STACKS = {name: yaml.safe_load((ENVIRONMENTS / f"Pulumi.{name}.yaml").read_text()) for name in ENV_NAMES}
BOUNDED = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path_ = tuple[str | int, ...]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref, and pick the non-null branch of an Optional."""
    while True:
        if "$ref" in schema:
            schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            options = [option for option in schema["anyOf"] if option.get("type") != "null"]
            if len(options) != 1:
                return schema
            schema = options[0]
        else:
            return schema


def nodes(value: Any, schema: dict[str, Any], path: Path_ = ()) -> Iterator[tuple[Path_, Any, dict[str, Any]]]:
    """Every node of a real config with the schema it must satisfy."""
    schema = resolve(schema)
    yield path, value, schema
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                yield from nodes(item, schema["properties"][key], (*path, key))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from nodes(item, schema["items"], (*path, index))


NODES = [
    (name, path, value, schema)
    for name, stack in STACKS.items()
    for path, value, schema in nodes(stack["config"][CONFIG_KEY], SCHEMA)
]


@st.composite
def broken(draw: st.DrawFn, schema: dict[str, Any], value: Any) -> tuple[str, Any, str | None]:
    """(how, replacement, added key): a value this schema rejects."""
    kinds = ["type"]
    if schema.get("type") == "object":
        kinds.append("unknown-key")
    if "enum" in schema:
        kinds.append("enum")
    if schema.get("type") == "integer" and ("minimum" in schema or "maximum" in schema):
        kinds.append("range")
    if schema.get("type") == "string" and "pattern" in schema:
        kinds.append("pattern")
    how = draw(st.sampled_from(kinds))
    if how == "unknown-key":
        key = "zz" + draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
        return how, {**value, key: draw(st.integers())}, key
    if how == "enum":
        return how, draw(st.text(min_size=1, max_size=12).filter(lambda text: text not in schema["enum"])), None
    if how == "range":
        above = st.integers(schema["maximum"] + 1, schema["maximum"] + 10_000) if "maximum" in schema else st.nothing()
        below = st.integers(schema["minimum"] - 10_000, schema["minimum"] - 1) if "minimum" in schema else st.nothing()
        return how, draw(st.one_of(above, below)), None
    if how == "pattern":
        pattern = re.compile(schema["pattern"])
        return how, draw(st.text(max_size=20).filter(lambda text: not pattern.search(text))), None
    wrong: dict[str, st.SearchStrategy[Any]] = {
        "string": st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.just("k"), st.integers())),
        "integer": st.sampled_from(["many", "ten", [1], {"n": 1}]),
        "boolean": st.sampled_from(["maybe", "sometimes", [True], {"on": True}]),
        "object": st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2)),
        "array": st.one_of(st.integers(), st.just({"not": "a list"})),
    }
    return how, draw(wrong.get(schema.get("type"), st.just([["not", "valid"]]))), None


def mutate(stack: dict[str, Any], path: Path_, replacement: Any) -> dict[str, Any]:
    changed = copy.deepcopy(stack)
    if not path:
        changed["config"][CONFIG_KEY] = replacement
        return changed
    node = changed["config"][CONFIG_KEY]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = replacement
    return changed


@st.composite
def invalid_stacks(draw: st.DrawFn) -> tuple[str, Path_, str, dict[str, Any]]:
    name, path, value, schema = draw(st.sampled_from(NODES))
    how, replacement, key = draw(broken(schema, value))
    named = (*path, key) if key is not None else path
    return name, named, how, mutate(STACKS[name], path, replacement)


@BOUNDED
@given(invalid_stacks())
def test_an_invalid_environment_names_the_path_to_fix(case: tuple[str, Path_, str, dict[str, Any]]) -> None:
    name, path, how, stack = case
    try:
        load_environment(stack["config"][CONFIG_KEY], name)
    except InvalidEnvironment as error:
        paths = [violation.path for violation in error.violations]
        assert paths and all(p.startswith(CONFIG_KEY) for p in paths), paths
        where = config_path(path)
        assert any(p.startswith(where) or where.startswith(p) for p in paths), (how, where, paths)
        assert "Traceback" not in error.report()
    else:
        raise AssertionError(f"{how} at {config_path(path)} was accepted")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_stacks())
def test_the_cli_exits_2_with_the_path_and_renders_nothing(case: tuple[str, Path_, str, dict[str, Any]]) -> None:
    name, path, _, stack = case
    with tempfile.TemporaryDirectory() as tmp:
        environments, out = Path(tmp) / "environments", Path(tmp) / "out"
        environments.mkdir()
        (environments / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(["render", "--environments", str(environments), "--out", str(out)])
        assert code == 2, stderr.getvalue()
        assert CONFIG_KEY in stderr.getvalue() and "Traceback" not in stderr.getvalue()
        assert not out.exists()
