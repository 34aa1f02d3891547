"""The offline engine's speed-ups change how fast a stack renders, never what it renders."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import UNKNOWN
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc

from infra.offline import engine, speedups
from infra.offline.render import render_stack, write

from .conftest import ENVIRONMENTS
from .test_render import tree

ORIGINAL_CONTAINS_UNKNOWNS = rpc.contains_unknowns

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


@pytest.mark.parametrize("stack", ["dev", "onprem"])
def test_rendering_without_the_speedups_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    write(render_stack(ENVIRONMENTS / f"Pulumi.{stack}.yaml"), tmp_path / "fast")
    monkeypatch.setattr(engine, "offline_speedups", contextlib.nullcontext)
    write(render_stack(ENVIRONMENTS / f"Pulumi.{stack}.yaml"), tmp_path / "plain")
    assert tree(tmp_path / "fast") == tree(tmp_path / "plain")


def test_the_sdk_is_restored_after_a_render() -> None:
    get_stack_trace = sdk_resource._get_stack_trace  # noqa: SLF001
    render_stack(ENVIRONMENTS / "Pulumi.onprem.yaml")
    assert rpc.contains_unknowns is ORIGINAL_CONTAINS_UNKNOWNS
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
