"""What the offline engine changes about the Pulumi SDK's run, for speed only.

Under `pulumi up` none of this applies (the program never imports infra.offline). Each change leaves what a
program declares untouched: the rendered output is byte-identical with and without them, and the one replaced
SDK function answers as the original (both in tests/test_speedups.py). Measured with `make bench`: together
they cut a stack's render time by more than half.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any

from pulumi.runtime import known_types, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop


@contextlib.contextmanager
def offline_speedups() -> Iterator[None]:
    with without_source_positions(), acyclic_unknowns_check(), collector_paused(), monitor_calls_inline():
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
def without_source_positions() -> Iterator[None]:
    """The SDK walks the Python stack at every resource (reading source lines) to tell the engine where it was
    declared; nothing offline reads those positions."""
    original = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


def contains_unknowns(value: Any) -> bool:
    """rpc.contains_unknowns without its inner closure: the SDK defines a recursive function on every call (tens
    of thousands per stack), and each one is a reference cycle only the garbage collector frees; that was half
    of a stack's garbage."""
    return _contains_unknowns(value, set())


def _contains_unknowns(value: Any, seen: set[int]) -> bool:
    if known_types.is_unknown(value):
        return True
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        return any(_contains_unknowns(value[key], seen) for key in value)
    if isinstance(value, list):
        return any(_contains_unknowns(item, seen) for item in value)
    return False


@contextlib.contextmanager
def acyclic_unknowns_check() -> Iterator[None]:
    original = rpc.contains_unknowns
    rpc.contains_unknowns = contains_unknowns
    try:
        yield
    finally:
        rpc.contains_unknowns = original


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
