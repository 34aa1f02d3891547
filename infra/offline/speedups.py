"""What the offline engine changes about the Pulumi SDK's run, for speed only.

Under `pulumi up` none of this applies (the program never imports infra.offline). Each change leaves what a
program declares untouched: the rendered output is byte-identical with and without them, and each replaced SDK
function answers as the original (all in tests/test_speedups.py). Measured with `make bench`: together
they cut a stack's render time by more than half.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi import log as pulumi_log
from pulumi import output as pulumi_output
from pulumi.runtime import _depends_on as sdk_depends_on
from pulumi.runtime import known_types, resource_cycle_breaker, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import settings as sdk_settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.sync_await import _ensure_event_loop

from infra.offline import handed_inputs, wire
from infra.offline.plain_trees import NOT_PLAIN, SCALARS, serialized_plain_tree


@contextlib.contextmanager
def offline_speedups() -> Iterator[None]:
    with (
        without_source_positions(),
        without_debug_logs(),
        acyclic_unknowns_check(),
        plain_values_serialized_at_once(),
        iterative_cycle_check(),
        lighter_output_tracking(),
        plain_dependency_lists_read_directly(),
        remembered_type_unwrapping(),
        urns_created_at_once(),
        one_future_per_output_property(),
        kubernetes_inputs_handed_over(),
        collector_paused(),
        monitor_calls_inline(),
        monitor_shortcuts(),
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
            _freeze_the_long_lived_heap_once()


_frozen: list[bool] = []


def _freeze_the_long_lived_heap_once() -> None:
    """After the first stack, what is left (imported modules, loaded schemas, the SDK's caches) lives as long as
    the process. Collected once and then frozen, it is never walked again: in a fleet, each later collection
    would walk those half a million objects (a quarter of a second) for nothing."""
    if not _frozen:
        _frozen.append(True)
        gc.collect()
        gc.freeze()


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


def _no_debug_log(*_args: Any, **_kwargs: Any) -> None:
    return None


def without_debug_logs() -> contextlib.AbstractContextManager[None]:
    """The SDK sends a few debug lines per resource to the engine's log (shown by `pulumi up -v`); the offline
    engine's logger drops everything below errors, after the SDK has built and sent each request."""
    return replaced(pulumi_log, "debug", _no_debug_log)


def contains_unknowns(value: Any) -> bool:
    """rpc.contains_unknowns without its inner closure: the SDK defines a recursive function on every call (tens
    of thousands per stack), and each one is a reference cycle only the garbage collector frees; that was half
    of a stack's garbage."""
    return _contains_unknowns(value, set())


def _contains_unknowns(value: Any, seen: set[int]) -> bool:
    # Nearly every value checked is a plain scalar: answered before any call.
    if type(value) in SCALARS:
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


_sdk_serialize_property = rpc.serialize_property
# serialize_property's positional parameters after value, deps and property_key, up to return_protobuf_value.
_SERIALIZE_OPTIONS_BEFORE_PROTOBUF = 5


async def serialize_property(value: Any, deps: Any, property_key: Any, *options: Any, **named: Any) -> Any:
    """rpc.serialize_property, answering a plain scalar at once (the SDK would return it unchanged after a dozen
    type checks, and a stack serialises tens of thousands of them) and a plain tree in one synchronous walk
    (plain_trees)."""
    if len(options) <= _SERIALIZE_OPTIONS_BEFORE_PROTOBUF and not named.get("return_protobuf_value"):
        kind = type(value)
        if kind in SCALARS:
            return value
        if kind is dict or kind is list or kind is tuple:
            transformer = options[1] if len(options) > 1 else named.get("input_transformer")
            typ = options[2] if len(options) > 2 else named.get("typ")
            plain = serialized_plain_tree(value, transformer, typ)
            if plain is not NOT_PLAIN:
                return plain
    return await _sdk_serialize_property(value, deps, property_key, *options, **named)


def plain_values_serialized_at_once() -> contextlib.AbstractContextManager[None]:
    return replaced(rpc, "serialize_property", serialize_property)


_sdk_add_dependency = resource_cycle_breaker._add_dep
_DEPENDED_ON = "_mlops_offline_depended_on"


def add_dependency(from_resource: Any, to_resource: Any) -> None:
    """resource_cycle_breaker._add_dep, also marking the resource depended on (see `reachable`)."""
    _sdk_add_dependency(from_resource, to_resource)
    setattr(to_resource, _DEPENDED_ON, True)


def reachable(from_resource: Any, to_resource: Any) -> bool:
    """resource_cycle_breaker._reachable as a loop: the SDK's walk is a chain of nested generators, so every
    resource it reaches passes through each generator above it (a stack's dependency checks took some 80,000
    generator steps); this visits each resource once. The SDK asks whether the resource being registered is
    reachable from each of its dependencies, and nothing reaches a resource that nothing depends on yet: that,
    the common answer, needs no walk."""
    if from_resource != to_resource and not getattr(to_resource, _DEPENDED_ON, False):
        return False
    pending = [from_resource]
    visited: set[Any] = set()
    while pending:
        resource = pending.pop()
        if resource in visited:
            continue
        if resource == to_resource:
            return True
        visited.add(resource)
        pending.extend(resource_cycle_breaker._deps(resource))
    return False


@contextlib.contextmanager
def iterative_cycle_check() -> Iterator[None]:
    with (
        replaced(resource_cycle_breaker, "_add_dep", add_dependency),
        replaced(resource_cycle_breaker, "_reachable", reachable),
    ):
        yield


# The run's tracked-output set, read once: each SETTINGS attribute is a context variable behind a descriptor,
# two lookups a read, and a stack tracks some 4,000 outputs.
_tracked_outputs: list[set[Any]] = []


def _tracked() -> set[Any]:
    return _tracked_outputs[-1] if _tracked_outputs else SETTINGS.outputs


def _forget_when_resolved(data: Any) -> None:
    # As the SDK's own: an output that failed or was cancelled stays tracked, for the program's end to report.
    if not data.cancelled() and data.exception() is None:
        _tracked().discard(data)


def track_output(output: Any) -> None:
    """Output._track without a new closure and two settings lookups per output. The SDK takes a lock around the
    tracked set for its thread pool; offline, outputs are created and resolved on the event loop's thread only
    (the monitor calls beside it create none), and a set's add and discard are atomic anyway."""
    _tracked().add(output._data)
    output._data.add_done_callback(_forget_when_resolved)


@contextlib.contextmanager
def lighter_output_tracking() -> Iterator[None]:
    """Within a run (its settings configured): the run's set is the one SETTINGS holds now."""
    _tracked_outputs.append(SETTINGS.outputs)
    try:
        with replaced(pulumi_output.Output, "_track", track_output):
            yield
    finally:
        _tracked_outputs.pop()


_sdk_resolve_depends_on = sdk_depends_on._resolve_depends_on


async def resolve_depends_on(depends_on: Any) -> set[Any]:
    """_depends_on._resolve_depends_on, answering a plain list of resources (what every `depends_on` of this
    program is) with the set of them, as the SDK would after wrapping the list and each resource in an output
    and awaiting each (some 1,300 resources a stack)."""
    if type(depends_on) is list and all(isinstance(item, pulumi.Resource) for item in depends_on):
        return set(depends_on)
    return await _sdk_resolve_depends_on(depends_on)


def plain_dependency_lists_read_directly() -> contextlib.AbstractContextManager[None]:
    return replaced(sdk_depends_on, "_resolve_depends_on", resolve_depends_on)


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


_sdk_create_urn = sdk_resource.create_urn


def create_urn(name: Any, type_: Any, parent: Any = None, project: Any = None, stack: Any = None) -> pulumi.Output[str]:
    """The SDK's create_urn, computed at once from plain strings. Registering a resource asks for its URN so
    (name, type and the parent's URN, all already strings), and the SDK builds it from three Outputs, an
    `all` and two `apply`s: 7% of a stack's time. Anything not a plain string is left to the SDK."""
    plain = (type(name) is str and type(type_) is str) and all(
        part is None or type(part) is str for part in (parent, project, stack)
    )
    if not plain:
        return _sdk_create_urn(name, type_, parent, project, stack)
    if parent is not None:
        prefix = parent[0 : parent.rfind("::")] + "$"
    else:
        stack = sdk_settings.get_stack() if stack is None else stack
        project = sdk_settings.get_project() if project is None else project
        prefix = "urn:pulumi:" + stack + "::" + project + "::"
    return pulumi.Output.from_input(prefix + type_ + "::" + name)


def urns_created_at_once() -> contextlib.AbstractContextManager[None]:
    return replaced(sdk_resource, "create_urn", create_urn)


def transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Callable[..., None]]:
    """rpc.transfer_properties with one future per output property where the SDK makes four (value, known,
    secret, dependencies) and a task that gathers them into the Output's data: here the resolver sets that
    data itself. A stack has thousands of output properties; the task alone was two event-loop turns each."""
    resolvers: dict[str, Callable[..., None]] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue
        data: asyncio.Future[Any] = asyncio.Future()
        resolvers[name] = functools.partial(_resolve_output_data, res, data)
        res.__dict__[name] = pulumi.Output._from_data(data)  # noqa: SLF001
    return resolvers


def _resolve_output_data(
    res: Any, data: asyncio.Future[Any], value: Any, is_known: bool, is_secret: bool, deps: Any, failed: Any
) -> None:
    resources = set(deps) if deps else set()
    resources.add(res)
    if failed is not None:
        data.set_exception(failed)
    else:
        data.set_result(pulumi_output._OutputData(resources, value, is_known, is_secret))  # noqa: SLF001


def one_future_per_output_property() -> contextlib.AbstractContextManager[None]:
    return replaced(rpc, "transfer_properties", transfer_properties)


@contextlib.contextmanager
def kubernetes_inputs_handed_over() -> Iterator[None]:
    try:
        with replaced(rpc, "serialize_properties", handed_inputs.serialize_properties):
            yield
    finally:
        handed_inputs.forget()  # what a failed registration handed over and no monitor took


KUBERNETES_IDENTITY = ("apiVersion", "kind")
KUBERNETES_METADATA_IDENTITY = ("name", "namespace")
_monitor_shortcuts: list[bool] = []


def recorded_inputs(inputs: struct_pb2.Struct) -> Any:
    """How the recording monitor reads a resource's inputs: under the speed-ups by wire.read_inputs, otherwise
    by the SDK's deserialize_properties; the two answer alike."""
    if _monitor_shortcuts:
        return wire.read_inputs(inputs)
    return rpc.deserialize_properties(inputs, keep_unknowns=True)


def answered_outputs(resource_type: str, state: struct_pb2.Struct) -> struct_pb2.Struct:
    """What the recording monitor hands back as a resource's outputs. Under the speed-ups, a Kubernetes object's
    are its identity only (apiVersion, kind, metadata.name and metadata.namespace): the SDK deserialises every
    output it is given into typed values, about a tenth of a stack's render, and of the objects it declares the
    program reads at most their names and namespaces.
    The run is a preview, so an output not answered is unknown there: a program that read one would render
    `[computed]`, which tests/test_render.py refuses in every environment."""
    if not _monitor_shortcuts or not resource_type.startswith("kubernetes:") or "metadata" not in state.fields:
        return state
    identity = struct_pb2.Struct()
    for key in KUBERNETES_IDENTITY:
        if key in state.fields:
            identity.fields[key].CopyFrom(state.fields[key])
    metadata = state.fields["metadata"]
    if metadata.WhichOneof("kind") != "struct_value":  # an unknown or secret metadata: as given
        identity.fields["metadata"].CopyFrom(metadata)
        return identity
    answered = identity.fields["metadata"].struct_value
    for key in KUBERNETES_METADATA_IDENTITY:
        if key in metadata.struct_value.fields:
            answered.fields[key].CopyFrom(metadata.struct_value.fields[key])
    return identity


@contextlib.contextmanager
def monitor_shortcuts() -> Iterator[None]:
    """The recording monitor's own shortcuts: `recorded_inputs` and `answered_outputs`."""
    _monitor_shortcuts.append(True)
    try:
        yield
    finally:
        _monitor_shortcuts.pop()


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
