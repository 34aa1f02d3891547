"""rpc.serialize_property for a plain tree (dicts, lists, tuples and scalars, nothing else), in one synchronous
walk. The SDK's walk awaits a coroutine for every node; most of what a stack serialises is such a tree (a
Kubernetes object's spec, an Argo CD Application's Helm values), and a stack has tens of thousands of nodes.

On a plain tree the SDK only ever copies: lists and tuples become lists, dict keys are translated where the
type information (or, without it, the provider's input transformer) says so, and each child is walked with
the type the SDK would give it. Those decisions are made here with the SDK's own helpers, in the SDK's order.
Anything else anywhere in the tree (an Output, a resource, an asset, an input-type instance, an awaitable, a
mapping that is not a dict, a helper that raises) answers NOT_PLAIN, and the caller hands the value to the
SDK, which has seen none of it. tests/test_speedups.py holds the two to the same answers.
"""

from __future__ import annotations

import typing
from collections import abc
from collections.abc import Callable
from typing import Any, get_args, get_origin

from pulumi import _types as pulumi_types
from pulumi.runtime import rpc

NOT_PLAIN = object()
SCALARS = frozenset({str, int, float, bool, type(None)})
_DICT_TYPES = (dict, typing.Dict, abc.Mapping, typing.Mapping)  # noqa: UP006 (the SDK compares with these)

Translate = Callable[[str], str] | None
TypeOf = Callable[[str], Any]


class _NotPlain(Exception):
    pass


def serialized_plain_tree(value: Any, transformer: Translate, typ: Any) -> Any:
    """What rpc.serialize_property(value, ..., input_transformer=transformer, typ=typ) returns, or NOT_PLAIN."""
    try:
        return _walk(value, transformer, typ)
    except _NotPlain:
        return NOT_PLAIN
    except Exception:  # noqa: BLE001 (the SDK's helper raised: let the SDK raise it, with its own context)
        return NOT_PLAIN


def _walk(value: Any, transformer: Translate, typ: Any) -> Any:
    kind = type(value)
    if kind in SCALARS:
        return value
    typ = pulumi_types.unwrap_type(typ) if typ else typ
    if typ is Any:
        typ = None
    if kind is list or kind is tuple:
        element_type = rpc._get_list_element_type(typ)
        return [_walk(element, transformer, element_type) for element in value]
    if kind is dict:
        translate, type_of = _key_rules(value, transformer, typ)
        result = {}
        for key in value:
            pulumi_key = translate(key) if translate is not None else key
            result[pulumi_key] = _walk(value[key], transformer, type_of(pulumi_key))
        return result
    raise _NotPlain


def _no_type(_key: str) -> Any:
    return None


def _key_rules(value: dict[str, Any], transformer: Translate, typ: Any) -> tuple[Translate, TypeOf]:
    """How the SDK names a dict's keys and types its values, given the dict's type information."""
    if typ is None:
        return transformer, _no_type
    case = pulumi_types.reduce_discriminated_union(typ, value, pulumi_types._py_name_for)
    if case is not None:
        typ = case
    if pulumi_types.is_input_type(typ):
        py_to_pulumi = pulumi_types.input_type_py_to_pulumi_names(typ)
        return (lambda key: py_to_pulumi.get(key) or key), pulumi_types.input_type_types(typ).get
    if typ is dict or get_origin(typ) in _DICT_TYPES:
        arguments = get_args(typ)
        if len(arguments) == 2 and arguments[0] is str:
            value_type = arguments[1]
            return None, lambda _key: value_type
        return transformer, _no_type  # a dict type without str keys: the SDK keeps translating
    return None, _no_type
