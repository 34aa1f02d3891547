"""The offline engine's speed-ups change how fast a stack renders, never what it renders."""

from __future__ import annotations

import contextlib
import enum
import gc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import pulumi
import pulumi_kubernetes as k8s
import pytest
from google.protobuf import struct_pb2
from hypothesis import example, given
from hypothesis import strategies as st
from pulumi import _types as pulumi_types
from pulumi import log as pulumi_log
from pulumi.output import UNKNOWN, Unknown
from pulumi.runtime import _depends_on as sdk_depends_on
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import resource_cycle_breaker, rpc
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.sync_await import _sync_await
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from infra.offline import engine, handed_inputs, plain_trees, speedups, wire
from infra.offline.render import render_stack, write
from infra.offline.serialize import COMPUTED, plain

from .conftest import ENVIRONMENTS
from .test_render import tree

ORIGINAL_CONTAINS_UNKNOWNS = rpc.contains_unknowns
ORIGINAL_UNWRAP_TYPE = pulumi_types.unwrap_type
ORIGINAL_SERIALIZE_PROPERTY = rpc.serialize_property
ORIGINAL_REACHABLE = resource_cycle_breaker._reachable  # noqa: SLF001
ORIGINAL_ADD_DEP = resource_cycle_breaker._add_dep  # noqa: SLF001
ORIGINAL_TRACK = pulumi.Output._track  # noqa: SLF001
ORIGINAL_DEBUG = pulumi_log.debug
ORIGINAL_CREATE_URN = sdk_resource.create_urn
ORIGINAL_TRANSFER_PROPERTIES = rpc.transfer_properties
ORIGINAL_RESOLVE_DEPENDS_ON = sdk_depends_on._resolve_depends_on  # noqa: SLF001

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


def secret(value: Any) -> dict[str, Any]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}  # noqa: SLF001


wire_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=4) | st.just(rpc.UNKNOWN),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=3), children, max_size=4)
        | children.map(secret)
    ),
    max_leaves=20,
)


def comparable(value: Any) -> Any:
    if isinstance(value, pulumi.output.Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


@given(st.dictionaries(st.text(max_size=3), wire_values, max_size=5) | wire_values.map(secret))
def test_the_monitor_reads_inputs_as_the_sdk_reads_them(inputs: dict[str, Any]) -> None:
    struct = struct_pb2.Struct()
    struct.update(inputs)
    ours = wire.read_inputs(struct)
    assert comparable(ours) == comparable(rpc.deserialize_properties(struct, keep_unknowns=True))


def test_a_dependency_list_resolves_as_the_sdk_resolves_it() -> None:
    created: list[pulumi.Resource] = []

    def program() -> None:
        first = k8s.core.v1.ConfigMap("first", metadata={"name": "first", "namespace": "n"})
        created.extend([first, k8s.core.v1.ConfigMap("second", metadata={"name": "second", "namespace": "n"})])
        created.append(pulumi.ComponentResource("test:index:Group", "group", None, pulumi.ResourceOptions()))

    engine.run_program("dependencies", {}, program)
    first, second, group = created
    for depends_on in ([first, second], [group, first], [], [pulumi.Output.from_input(first)], [first, first]):
        ours = _sync_await(speedups.resolve_depends_on(depends_on))
        assert ours == _sync_await(ORIGINAL_RESOLVE_DEPENDS_ON(depends_on))


class Colour(str, enum.Enum):  # noqa: UP042 (how the providers' generated enums are declared)
    RED = "red"


SCALARS = ["text", "", UNKNOWN, 0, 7, -3, 1.5, 2.0, True, False, None, Colour.RED]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_a_scalar_serializes_as_the_sdk_serializes_it(value: Any) -> None:
    for hint in (None, str, pulumi.Input[str], Optional[int]):  # noqa: UP045
        ours = _sync_await(speedups.serialize_property(value, [], "key", None, None, hint))
        sdks = _sync_await(ORIGINAL_SERIALIZE_PROPERTY(value, [], "key", None, None, hint))
        assert ours == sdks and type(ours) is type(sdks)
    as_protobuf = _sync_await(speedups.serialize_property(value, [], "key", return_protobuf_value=True))
    assert as_protobuf == _sync_await(ORIGINAL_SERIALIZE_PROPERTY(value, [], "key", return_protobuf_value=True))


KEYS = ["api_version", "match_labels", "metadata", "name", "namespace", "spec", "containers", "image", "x-y", "a"]
TRANSLATIONS = {"api_version": "apiVersion", "match_labels": "matchLabels"}
TREES = st.recursive(
    st.sampled_from(SCALARS),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=12,
)
TREE_HINTS: list[Any] = [
    None, Any, dict, list, str, dict[str, str], Mapping[str, Any], Sequence[Any], list[str], ObjectMetaArgs,
    *pulumi_types.input_type_types(k8s.apps.v1.DeploymentSpecArgs).values(),
    *pulumi_types.input_type_types(k8s.core.v1.PodSpecArgs).values(),
]  # fmt: skip


def _serialized(serialize: Any, value: Any, transformer: Any, hint: Any) -> str:
    try:
        return repr(_sync_await(serialize(value, [], "key", None, transformer, hint)))
    except Exception as error:  # noqa: BLE001 (the error itself is the answer compared)
        return f"raised {type(error).__name__}"


@given(tree=TREES, hint=st.sampled_from(TREE_HINTS), translating=st.booleans())
def test_a_plain_tree_serializes_as_the_sdk_serializes_it(tree: Any, hint: Any, translating: bool) -> None:
    """Same value, same container types (tuples become lists), same keys translated, same errors."""
    transformer = (lambda key: TRANSLATIONS.get(key, key)) if translating else None
    ours = _serialized(speedups.serialize_property, tree, transformer, hint)
    assert ours == _serialized(ORIGINAL_SERIALIZE_PROPERTY, tree, transformer, hint)


# Every key rule the SDK has: input types name keys by their metadata (at each depth), dict[str, X] keeps them,
# no type information (or Any, or a dict type without str keys) lets the transformer translate them.
RULE_TREES = [
    {"api_version": 1, "match_labels": {"api_version": ("x", 2.0)}, "selector": {"match_labels": {"a_b": "c"}}},
    {"min_ready_seconds": 3, "template": {"metadata": {"owner_references": [{"api_version": "v1"}]}}},
    [{"api_version": None, "revision_history_limit": True}, ("match_labels",)],
    {"match_labels": {"a_b": "c"}, "match_expressions": [{"key": "k", "operator": "In", "values": ("v",)}]},
]
RULE_HINTS = [
    *TREE_HINTS, k8s.apps.v1.DeploymentSpecArgs, list[k8s.meta.v1.OwnerReferenceArgs], dict[int, str],
    Union[k8s.meta.v1.LabelSelectorArgs, k8s.apps.v1.RollingUpdateDeploymentArgs],  # noqa: UP007 (as the SDKs write it)
]  # fmt: skip


@pytest.mark.parametrize("tree", RULE_TREES, ids=["selector", "template", "list", "label-selector"])
@pytest.mark.parametrize("hint", RULE_HINTS, ids=repr)
def test_each_key_rule_of_the_sdk_holds_for_a_plain_tree(tree: Any, hint: Any) -> None:
    for transformer in (None, lambda key: TRANSLATIONS.get(key, key) + "_t"):
        ours = _serialized(speedups.serialize_property, tree, transformer, hint)
        assert ours == _serialized(ORIGINAL_SERIALIZE_PROPERTY, tree, transformer, hint)


def test_a_tree_holding_an_output_is_left_to_the_sdk() -> None:
    tree = {"metadata": {"name": pulumi.Output.from_input("n"), "labels": ("a", "b")}, "spec": [1]}
    assert _serialized(speedups.serialize_property, tree, None, None) == repr(
        {"metadata": {"name": "n", "labels": ["a", "b"]}, "spec": [1]}
    )
    assert plain_trees.serialized_plain_tree(tree, None, None) is plain_trees.NOT_PLAIN


def test_return_protobuf_value_is_left_to_the_sdk_when_passed_by_position() -> None:
    value = {"a": [1, "b"]}
    ours = _sync_await(speedups.serialize_property(value, [], "key", None, None, None, False, False, True))
    assert ours == _sync_await(ORIGINAL_SERIALIZE_PROPERTY(value, [], "key", None, None, None, False, False, True))
    assert isinstance(ours, struct_pb2.Value)


async def _urn_of(create: Any, *arguments: Any) -> tuple[Any, ...]:
    output = create(*arguments)
    data = await output._data  # noqa: SLF001
    return data.value, data.is_known, data.is_secret, data.resources


URN_PARENTS = [None, "urn:pulumi:dev::mlops-platform::mlops:platform:Istio::istio", "", "no-separator", "a::b::c"]


@pytest.mark.parametrize("parent", URN_PARENTS)
def test_a_urn_from_plain_strings_is_the_sdks(parent: str | None) -> None:
    answers = []

    def program() -> None:
        for project, stack in ((None, None), ("other", "prod")):
            arguments = ("cert-manager", "kubernetes:core/v1:Namespace", parent, project, stack)
            ours = _sync_await(_urn_of(speedups.create_urn, *arguments))
            answers.append((ours, _sync_await(_urn_of(ORIGINAL_CREATE_URN, *arguments))))

    engine.run_program("urns", {}, program)
    assert len(answers) == 2 and all(ours == sdks for ours, sdks in answers), answers


def test_a_urn_from_a_parent_resource_or_an_output_is_left_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    handed_over: list[tuple[Any, ...]] = []
    monkeypatch.setattr(speedups, "_sdk_create_urn", lambda *arguments: handed_over.append(arguments))
    name, parent = pulumi.Output.from_input("n"), object.__new__(pulumi.ComponentResource)
    speedups.create_urn(name, "t:m:T")
    speedups.create_urn("n", "t:m:T", parent)
    speedups.create_urn("n", "t:m:T", None, pulumi.Output.from_input("p"))
    assert [arguments[:3] for arguments in handed_over] == [
        (name, "t:m:T", None),
        ("n", "t:m:T", parent),
        ("n", "t:m:T", None),
    ]


class Holder:
    """Stands in for a resource: transfer_properties only sets attributes on it and names it a dependency."""


RESOLUTIONS = [
    ("value", True, False, None, None),
    ({"nested": [1, UNKNOWN]}, True, False, {"dependency"}, None),
    (None, False, True, set(), None),
    ("ignored", True, False, None, ValueError("the engine failed")),
]


@pytest.mark.parametrize("custom", [True, False])
def test_an_output_property_resolves_as_the_sdks_does(custom: bool) -> None:
    """Same properties (urn, and id of a custom resource, left out), same data or same error once resolved."""

    async def settle(transfer: Any) -> dict[str, Any]:
        holder = Holder()
        names = ["urn", "id", *(f"p{index}" for index in range(len(RESOLUTIONS)))]
        resolvers = transfer(holder, dict.fromkeys(names), custom)
        assert list(resolvers) == [name for name in names if name != "urn" and not (custom and name == "id")]
        for name, arguments in zip(names[2:], RESOLUTIONS, strict=True):
            resolvers[name](*arguments)
        settled: dict[str, Any] = {}
        for name in names[2:]:
            try:
                data = await getattr(holder, name)._data  # noqa: SLF001
                others = {type(r).__name__ if r is holder else r for r in data.resources}
                settled[name] = (data.value, data.is_known, data.is_secret, others)
            except ValueError as error:
                settled[name] = f"raised {error}"
        return settled

    assert _sync_await(settle(speedups.transfer_properties)) == _sync_await(settle(ORIGINAL_TRANSFER_PROPERTIES))


class Node:
    """Stands in for a Resource in the SDK's cycle breaker, which reads only the dependencies it recorded."""

    def __init__(self, name: int) -> None:
        self.name = name


graphs = st.integers(min_value=1, max_value=8).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=16),
        st.integers(0, n - 1),
        st.integers(0, n - 1),
    )
)


@given(graphs)
def test_the_iterative_cycle_check_answers_as_the_sdks(graph: tuple[int, list[tuple[int, int]], int, int]) -> None:
    size, edges, start, goal = graph
    ours, sdks = [Node(index) for index in range(size)], [Node(index) for index in range(size)]
    for source, target in edges:
        speedups.add_dependency(ours[source], ours[target])
        ORIGINAL_ADD_DEP(sdks[source], sdks[target])
    assert speedups.reachable(ours[start], ours[goal]) == ORIGINAL_REACHABLE(sdks[start], sdks[goal])


def test_the_lighter_tracking_forgets_a_resolved_output_and_keeps_a_failed_one() -> None:
    async def fails() -> Any:
        raise ValueError("an apply that failed")

    async def create_and_settle() -> tuple[Any, Any]:
        with speedups.lighter_output_tracking():
            resolved = pulumi.Output.from_input(1).apply(lambda n: n + 1)
            failed = pulumi.Output._from_data(fails())  # noqa: SLF001
        for output in (resolved, failed):
            with contextlib.suppress(ValueError):
                await output._data  # noqa: SLF001
        return resolved, failed

    resolved, failed = _sync_await(create_and_settle())
    try:
        assert resolved._data not in SETTINGS.outputs  # noqa: SLF001
        assert failed._data in SETTINGS.outputs  # noqa: SLF001
    finally:
        SETTINGS.outputs.discard(failed._data)  # noqa: SLF001


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
    assert rpc.serialize_property is ORIGINAL_SERIALIZE_PROPERTY
    assert resource_cycle_breaker._reachable is ORIGINAL_REACHABLE  # noqa: SLF001
    assert resource_cycle_breaker._add_dep is ORIGINAL_ADD_DEP  # noqa: SLF001
    assert pulumi.Output._track is ORIGINAL_TRACK  # noqa: SLF001
    assert pulumi_log.debug is ORIGINAL_DEBUG
    assert sdk_depends_on._resolve_depends_on is ORIGINAL_RESOLVE_DEPENDS_ON  # noqa: SLF001
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


def test_the_long_lived_heap_is_collected_and_frozen_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(speedups, "_frozen", [])
    monkeypatch.setattr(gc, "collect", lambda *_: calls.append("collect"))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    for _ in range(3):
        with speedups.collector_paused(), speedups.collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
    assert calls == ["collect", "freeze"]


WIRE_VALUES = st.recursive(
    st.one_of(
        st.sampled_from(["text", "", rpc.UNKNOWN, True, False, None, 0, 7, -3, 2**53, -(2**53), 1.5, 2.0]),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "name"]), children, max_size=3),
    ),
    max_leaves=10,
)


def _comparable(value: Any) -> Any:
    """Unknown has no equality of its own: compare it by what it is."""
    if isinstance(value, Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return (type(value).__name__, value)


def _handed_reading(serialized: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ((k, handed_inputs._read(v)) for k, v in serialized.items()) if v is not None}  # noqa: SLF001


@example(serialized={"spec": {"a": None, "b": [None, rpc.UNKNOWN, 3]}, "kind": None})
@given(serialized=st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec"]), WIRE_VALUES))
def test_inputs_handed_over_read_as_the_packed_ones(serialized: dict[str, Any]) -> None:
    """What the monitor gets handed is what it would have read off the Struct the SDK packs."""
    packed = handed_inputs._packed(serialized)  # noqa: SLF001
    assert _comparable(_handed_reading(serialized)) == _comparable(wire.read_inputs(packed))


@pytest.mark.parametrize(
    "value",
    [{rpc._special_sig_key: rpc._special_secret_sig, "value": "v"}, 2**53 + 1, {1: "a"}, b"bytes", Colour.RED],  # noqa: SLF001
    ids=["secret", "inexact-integer", "integer-key", "bytes", "enum"],
)
def test_what_protobuf_would_refuse_round_or_read_specially_is_not_handed_over(value: Any) -> None:
    with pytest.raises(handed_inputs._NotHandable):  # noqa: SLF001
        handed_inputs._read({"spec": [value]})  # noqa: SLF001


def test_a_kubernetes_object_is_handed_over_and_anything_else_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ConfigMap's inputs reach the monitor handed over; a Secret's (a secret value) and a component's are packed
    as the SDK packs them. Each is recorded as it would be without the hand-over."""
    handed: dict[str, bool] = {}
    register = engine._RecordingMonitor.RegisterResource  # noqa: SLF001

    def recording(self: Any, request: Any) -> Any:
        handed[request.name] = handed_inputs.MARKER in request.object.fields
        return register(self, request)

    def program() -> None:
        k8s.core.v1.ConfigMap("config", metadata={"name": "c", "namespace": "n"}, data={"k": "v", "n": 1})
        k8s.core.v1.Secret(
            "secret", metadata={"name": "s", "namespace": "n"}, string_data={"k": pulumi.Output.secret("v")}
        )
        pulumi.ComponentResource("mlops:test:Group", "group")

    monkeypatch.setattr(engine._RecordingMonitor, "RegisterResource", recording)  # noqa: SLF001
    fast = {r.name: plain(r.inputs) for r in engine.run_program("handed", {}, program).resources}
    monkeypatch.setattr(engine, "offline_speedups", contextlib.nullcontext)
    handed_with_speedups = dict(handed)
    slow = {r.name: plain(r.inputs) for r in engine.run_program("handed", {}, program).resources}
    assert handed_with_speedups == {"mlops-platform-handed": False, "config": True, "secret": False, "group": False}
    assert not any(handed.values())
    assert fast == slow and fast["config"]["data"] == {"k": "v", "n": 1}
    assert not handed_inputs._handed  # noqa: SLF001


def test_outside_a_preview_nothing_is_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Holder()
    resource._type = "kubernetes:core/v1:ConfigMap"  # noqa: SLF001
    monkeypatch.setattr(handed_inputs.sdk_settings, "is_dry_run", lambda: False)
    assert not handed_inputs._handable(resource, False, False)  # noqa: SLF001
    monkeypatch.setattr(handed_inputs.sdk_settings, "is_dry_run", lambda: True)
    assert handed_inputs._handable(resource, False, False)  # noqa: SLF001
    assert not handed_inputs._handable(resource, True, False)  # noqa: SLF001
    monkeypatch.setattr(handed_inputs.sdk_settings, "is_legacy_apply_enabled", lambda: True)
    assert not handed_inputs._handable(resource, False, False)  # noqa: SLF001


def test_inputs_handed_over_but_never_taken_are_forgotten_after_the_run() -> None:
    """A registration that fails between serialising and reaching the monitor leaves nothing behind."""

    def program() -> None:
        handed_inputs._handed["stale"] = ({}, struct_pb2.Struct())  # noqa: SLF001
        k8s.core.v1.ConfigMap("config", metadata={"name": "c", "namespace": "n"})

    engine.run_program("handed", {}, program)
    assert not handed_inputs._handed  # noqa: SLF001


def test_mock_outputs_for_an_object_handed_over_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mock outputs are computed from the whole state, which a handed-over object does not pass along."""
    monkeypatch.setitem(engine.MOCK_OUTPUTS, "kubernetes:core/v1:ConfigMap", lambda _name, _inputs: {})

    def program() -> None:
        k8s.core.v1.ConfigMap("config", metadata={"name": "c", "namespace": "n"})

    with pytest.raises(Exception, match="only identity was handed over"):
        engine.run_program("handed", {}, program)
