"""A Kubernetes object's inputs handed to the recording monitor as Python values instead of packed into
protobuf and read back.

Against a real engine the SDK must pack a resource's serialised inputs into a protobuf Struct for the gRPC call.
The recording monitor is in the same process, and for a Kubernetes object (two thirds of a stack's resources,
and most of its input values) packing and reading back cost a tenth of a stack's render. So, under the
speed-ups, `serialize_properties` serialises every property exactly as the SDK does (its own loop, names and
dependencies), then turns the result straight into what the monitor would have read off the Struct
(`wire.read_inputs`): numbers as floats, nulls dropped from mappings, the unknown marker as `Unknown`. The
request then carries a one-field Struct naming the entry the monitor takes. The identity the monitor answers
(speedups.answered_outputs) is taken from a Struct of just apiVersion, kind and metadata, packed as the SDK
would have packed them.

Anything else is packed as the SDK packs it: a non-Kubernetes resource, a value protobuf would refuse or round
(an integer beyond 2**53, a key that is not a string, an unknown type), a special value (a secret, an asset, a
resource reference), and every run that is not a preview (then the SDK reads its own packed inputs back).
tests/test_speedups.py holds the two readings to the same result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime import settings as sdk_settings

MARKER = "__mlops_offline_handed_inputs"
_EXACT_INTEGERS = 2**53
_IDENTITY_KEYS = ("apiVersion", "kind", "metadata")
_handed: dict[str, tuple[dict[str, Any], struct_pb2.Struct]] = {}
_tokens = itertools.count()
_sdk_serialize_properties = rpc.serialize_properties


class _NotHandable(Exception):
    pass


async def serialize_properties(
    inputs: Any,
    property_deps: dict[str, list[Any]],
    resource_obj: Any = None,
    input_transformer: Callable[[str], str] | None = None,
    typ: Any = None,
    keep_output_values: bool = False,
    exclude_resource_refs_from_deps: bool = False,
) -> struct_pb2.Struct:
    """rpc.serialize_properties; for a Kubernetes object in a preview, a marker of inputs handed over."""
    if not _handable(resource_obj, keep_output_values, exclude_resource_refs_from_deps):
        return await _sdk_serialize_properties(
            inputs,
            property_deps,
            resource_obj,
            input_transformer,
            typ,
            keep_output_values,
            exclude_resource_refs_from_deps,
        )
    serialized = await _serialized(inputs, property_deps, resource_obj, input_transformer, typ)
    try:
        if rpc._special_sig_key in serialized:
            raise _NotHandable
        read = {key: value for key, value in ((k, _read(v)) for k, v in serialized.items()) if value is not None}
    except _NotHandable:
        return _packed(serialized)
    token = str(next(_tokens))
    _handed[token] = (read, _packed({k: serialized[k] for k in _IDENTITY_KEYS if k in serialized}))
    marker = struct_pb2.Struct()
    marker.fields[MARKER].string_value = token
    return marker


def take(struct: struct_pb2.Struct) -> tuple[dict[str, Any], struct_pb2.Struct] | None:
    """The handed-over inputs (as read) and identity state a request's marker names, or None without one."""
    if len(struct.fields) != 1 or MARKER not in struct.fields:
        return None
    return _handed.pop(struct.fields[MARKER].string_value)


def forget() -> None:
    _handed.clear()


def _handable(resource_obj: Any, keep_output_values: bool, exclude_resource_refs: bool) -> bool:
    kind = getattr(resource_obj, "_type", None)
    return (
        isinstance(kind, str)
        and kind.startswith("kubernetes:")
        and not keep_output_values
        and not exclude_resource_refs
        and sdk_settings.is_dry_run()
        and not sdk_settings.is_legacy_apply_enabled()
    )


async def _serialized(
    inputs: Any, property_deps: dict[str, list[Any]], resource_obj: Any, input_transformer: Any, typ: Any
) -> dict[str, Any]:
    """The SDK's serialize_properties loop, into a dict where the SDK fills a Struct."""
    translate = input_transformer
    get_type: Callable[[str], Any] = lambda _key: None  # noqa: E731 (as the SDK spells its default)
    if typ is not None:
        py_to_pulumi = pulumi_types.input_type_py_to_pulumi_names(typ)
        types = pulumi_types.input_type_types(typ)
        translate = lambda key: py_to_pulumi.get(key) or key  # noqa: E731
        get_type = lambda key: types.get(translate(key))  # noqa: E731
    serialized: dict[str, Any] = {}
    for key in inputs:
        value = inputs[key]
        deps: list[Any] = []
        try:
            result = await rpc.serialize_property(
                value, deps, key, resource_obj, input_transformer, get_type(key), False, False
            )
        except ValueError as error:
            raise ValueError(f"{_processing(key, value)}ValueError has risen: {error}") from error
        except AssertionError as error:
            raise AssertionError(f"{_processing(key, value)}AssertionError has risen: {error}") from error
        if result is not None:
            name = translate(key) if translate is not None else key
            serialized[name] = result
            property_deps[name] = deps
    return serialized


def _processing(key: Any, value: Any) -> str:
    return f"While processing input: {key!r}, type {type(key)}, value {value!r}\n"


def _packed(serialized: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, value in serialized.items():
        struct[key] = value
    return struct


def _read(value: Any) -> Any:
    """What wire.read_inputs reads back from the Value protobuf packs `value` into."""
    kind = type(value)
    if kind is str:
        return Unknown() if value == rpc.UNKNOWN else value
    if kind is bool or value is None:
        return value
    if kind is int:
        if abs(value) > _EXACT_INTEGERS:
            raise _NotHandable
        return float(value)
    if kind is float:
        return value
    if kind is dict:
        if rpc._special_sig_key in value:
            raise _NotHandable
        read = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotHandable
            item = _read(item)
            if item is not None:
                read[key] = item
        return read
    if kind is list or kind is tuple:
        return [_read(item) for item in value]
    raise _NotHandable
