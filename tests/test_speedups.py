"""The offline engine's speed-ups change how fast a stack renders, never what it renders."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi import _types as pulumi_types
from pulumi.output import UNKNOWN
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from infra.offline import engine, speedups
from infra.offline.render import render_stack, write
from infra.offline.serialize import COMPUTED, plain

from .conftest import ENVIRONMENTS
from .test_render import tree

ORIGINAL_CONTAINS_UNKNOWNS = rpc.contains_unknowns
ORIGINAL_UNWRAP_TYPE = pulumi_types.unwrap_type

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.just(UNKNOWN),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


@given(values)
def test_the_acyclic_unknowns_check_answers_as_the_sdks(value: Any) -> None:
    assert speedups.contains_unknowns(value) == ORIGINAL_CONTAINS_UNKNOWNS(value)


def test_the_unknowns_check_sees_an_unknown_anywhere_and_survives_shared_values() -> None:
    shared = {"a": [1, 2]}
    assert speedups.contains_unknowns({"x": [shared, shared], "y": {"z": [UNKNOWN]}})
    assert not speedups.contains_unknowns({"x": [shared, shared]})


HINTS = [
    pulumi.Input[str],
    Optional[pulumi.Input[Sequence[pulumi.Input[str]]]],  # noqa: UP045 (the spelling the SDK's types use)
    pulumi.Input[Mapping[str, pulumi.Input[str]]],
    Optional[pulumi.Input[ObjectMetaArgs]],  # noqa: UP045
    pulumi.Input["ObjectMetaArgs"],
    pulumi.Output[int],
    dict,
    None,
]


@pytest.mark.parametrize("hint", HINTS, ids=str)
def test_the_remembered_type_unwrapping_answers_as_the_sdks(hint: Any) -> None:
    assert speedups.unwrap_type(hint) == ORIGINAL_UNWRAP_TYPE(hint)
    assert speedups.unwrap_type(hint) == ORIGINAL_UNWRAP_TYPE(hint)  # from memory


def test_an_unhashable_hint_is_unwrapped_by_the_sdk() -> None:
    assert speedups.unwrap_type([int]) == ORIGINAL_UNWRAP_TYPE([int])


@pytest.mark.parametrize("stack", ["dev", "onprem"])
def test_rendering_without_the_speedups_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    write(render_stack(ENVIRONMENTS / f"Pulumi.{stack}.yaml"), tmp_path / "fast")
    monkeypatch.setattr(engine, "offline_speedups", contextlib.nullcontext)
    write(render_stack(ENVIRONMENTS / f"Pulumi.{stack}.yaml"), tmp_path / "plain")
    assert tree(tmp_path / "fast") == tree(tmp_path / "plain")


def test_a_kubernetes_output_beyond_its_identity_is_unknown_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the identity-only answers cost a program that reads more of an object: `[computed]` where the value
    should be, which test_render.py refuses in every environment. Without the speed-ups the value comes through."""

    def program() -> None:
        source = k8s.core.v1.ConfigMap("source", metadata={"name": "a", "namespace": "n"}, data={"k": "v"})
        k8s.core.v1.ConfigMap("copy", metadata={"name": source.metadata.name, "namespace": "n"}, data=source.data)

    def copied() -> dict[str, Any]:
        run = engine.run_program("outputs", {}, program)
        return next(plain(res.inputs) for res in run.resources if res.name == "copy")

    assert copied() == copied() | {"metadata": {"name": "a", "namespace": "n"}, "data": COMPUTED}
    monkeypatch.setattr(engine, "offline_speedups", contextlib.nullcontext)
    assert copied()["data"] == {"k": "v"}


def test_the_sdk_is_restored_after_a_render() -> None:
    get_stack_trace = sdk_resource._get_stack_trace  # noqa: SLF001
    render_stack(ENVIRONMENTS / "Pulumi.onprem.yaml")
    assert rpc.contains_unknowns is ORIGINAL_CONTAINS_UNKNOWNS
    assert pulumi_types.unwrap_type is ORIGINAL_UNWRAP_TYPE
    assert sdk_resource._get_stack_trace is get_stack_trace  # noqa: SLF001
    assert gc.isenabled()


def test_a_monitor_call_made_during_another_runs_on_a_thread() -> None:
    executor = speedups.InlineExecutor()
    try:
        outer = executor.submit(lambda: executor.submit(lambda: 2).result() + 1)
        assert outer.result() == 3
        failing = executor.submit(lambda: 1 / 0)
        assert isinstance(failing.exception(), ZeroDivisionError)
    finally:
        executor.shutdown()
