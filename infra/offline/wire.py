"""The recording monitor's reading of a resource's inputs off the wire: what
`rpc.deserialize_properties(struct, keep_unknowns=True)` returns, by a direct walk of the protobuf values.

Why: the SDK's walk goes through protobuf's Python mapping helpers and a dozen checks per value, and the monitor
reads every input of every resource (some 10,000 values a stack). Special values (secrets, assets, archives,
resource references, output values) are few: each is handed to the SDK's own reader, so their meaning cannot
drift. tests/test_speedups.py holds the two to the same results.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc


def read_inputs(struct: struct_pb2.Struct) -> Any:
    if rpc._special_sig_key in struct.fields:
        return rpc.deserialize_properties(struct, keep_unknowns=True)
    return _fields(struct)


def _fields(struct: struct_pb2.Struct) -> dict[str, Any]:
    read: dict[str, Any] = {}
    for key, value in struct.fields.items():
        item = _value(value)
        if item is not None:  # as the SDK: a null input is an absent one
            read[key] = item
    return read


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        return Unknown() if text == rpc.UNKNOWN else text
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        struct = value.struct_value
        if rpc._special_sig_key in struct.fields:
            return rpc.deserialize_property(struct, True)
        fields = _fields(struct)
        # As the SDK: a secret inside a mapping or a list makes the whole of it secret.
        if any(rpc.is_rpc_secret(item) for item in fields.values()):
            return rpc.wrap_rpc_secret({key: rpc.unwrap_rpc_secret(item) for key, item in fields.items()})
        return fields
    if kind == "list_value":
        items = [_value(item) for item in value.list_value.values]
        if any(rpc.is_rpc_secret(item) for item in items):
            return rpc.wrap_rpc_secret([rpc.unwrap_rpc_secret(item) for item in items])
        return items
    return None
