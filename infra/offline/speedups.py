"""What the offline engine changes about the Pulumi SDK's run, for speed only.

Under `pulumi up` none of this applies (the program never imports infra.offline). Each change leaves what a
program declares untouched: the rendered output is byte-identical with and without them, and each replaced SDK
function answers as the original (all in tests/test_speedups.py). Measured with `make bench`: together
they cut a stack's render time by more than half.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi.runtime import known_types, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop


@contextlib.contextmanager
def offline_speedups() -> Iterator[None]:
    with (
        without_source_positions(),
        acyclic_unknowns_check(),
        remembered_type_unwrapping(),
        collector_paused(),
        monitor_calls_inline(),
        identity_outputs_only(),
    ):
        yield


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """A stack allocates half a million short-lived objects, and the cyclic garbage collector would walk the
    ever larger heap (earlier stacks' results included) many times over: letting it run between stacks only
    nearly halves a fleet's render time. Nested uses leave it to the outermost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def replaced(owner: Any, attribute: str, replacement: Any) -> Iterator[None]:
    """`owner.attribute` is `replacement` for the duration, and the SDK's own again afterwards."""
    original = getattr(owner, attribute)
    setattr(owner, attribute, replacement)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


def without_source_positions() -> contextlib.AbstractContextManager[None]:
    """The SDK walks the Python stack at every resource (reading source lines) to tell the engine where it was
    declared; nothing offline reads those positions."""
    return replaced(sdk_resource, "_get_stack_trace", source_pb2.StackTrace)


def contains_unknowns(value: Any) -> bool:
    """rpc.contains_unknowns without its inner closure: the SDK defines a recursive function on every call (tens
    of thousands per stack), and each one is a reference cycle only the garbage collector frees; that was half
    of a stack's garbage."""
    return _contains_unknowns(value, set())


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _contains_unknowns(value: Any, seen: set[int]) -> bool:
    # Nearly every value checked is a plain scalar: answered before any call.
    if type(value) in _SCALARS:
        return False
    if known_types.is_unknown(value):
        return True
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    for item in value:
        if _contains_unknowns(item, seen):
            return True
    return False


def acyclic_unknowns_check() -> contextlib.AbstractContextManager[None]:
    return replaced(rpc, "contains_unknowns", contains_unknowns)


_sdk_unwrap_type = pulumi_types.unwrap_type


@functools.cache
def _unwrap_type_cached(hint: Any) -> Any:
    return _sdk_unwrap_type(hint)


def unwrap_type(hint: Any) -> Any:
    """The SDK's unwrap_type, remembered per type hint: it answers from the hint alone, and serialising a stack
    asks it some 5,000 times about a few hundred hints (a tenth of a stack's render time, measured)."""
    try:
        return _unwrap_type_cached(hint)
    except TypeError:  # an unhashable hint
        return _sdk_unwrap_type(hint)


def remembered_type_unwrapping() -> contextlib.AbstractContextManager[None]:
    return replaced(pulumi_types, "unwrap_type", unwrap_type)


KUBERNETES_IDENTITY = ("apiVersion", "kind", "metadata")
_identity_only: list[bool] = []


def answered_outputs(resource_type: str, state: struct_pb2.Struct) -> struct_pb2.Struct:
    """What the recording monitor hands back as a resource's outputs. Under the speed-ups, a Kubernetes object's
    are its identity only: the SDK deserialises every output it is given into typed values, about a tenth of a
    stack's render, and of the objects it declares the program reads at most their names and namespaces.
    The run is a preview, so an output not answered is unknown there: a program that read one would render
    `[computed]`, which tests/test_render.py refuses in every environment."""
    if not _identity_only or not resource_type.startswith("kubernetes:") or "metadata" not in state.fields:
        return state
    identity = struct_pb2.Struct()
    for key in KUBERNETES_IDENTITY:
        if key in state.fields:
            identity.fields[key].CopyFrom(state.fields[key])
    return identity


@contextlib.contextmanager
def identity_outputs_only() -> Iterator[None]:
    _identity_only.append(True)
    try:
        yield
    finally:
        _identity_only.pop()


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on the calling thread. Against a real engine they are blocking gRPC calls,
    hence the SDK's thread pool; the recording monitor answers at once, and a thread hop per resource cost more
    than the answer. A call made while another one runs (a mock that waits on the event loop) takes a thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="mlops-offline-monitor")
        self._inline = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if self._inline:
            return super().submit(fn, *args, **kwargs)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._inline = True
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 (handed to the awaiting coroutine, as a thread would)
            future.set_exception(error)
        finally:
            self._inline = False
        return future


@contextlib.contextmanager
def monitor_calls_inline() -> Iterator[None]:
    loop = _ensure_event_loop()
    executor = InlineExecutor()
    loop.set_default_executor(executor)
    try:
        yield
    finally:
        # The SDK's event loop outlives the run: the next run (or anything else on the loop) gets its own executor.
        loop._default_executor = None  # type: ignore[attr-defined]
        executor.shutdown(wait=True)
