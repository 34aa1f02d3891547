"""A CRD's CEL validation rules (`x-kubernetes-validations`), judged on a custom resource the way the API server
judges them when the resource is created.

Each rule sits on a schema node; it is evaluated once for every value that node describes and the resource holds
(after defaulting), with `self` bound to that value: the whole object at the root (of its metadata only `name` and
`generateName`), a field's value below it, each item of a list under `items`, each value of a map under
`additionalProperties`. A rule that yields false fails with its `message`, its `messageExpression` or
`failed rule: <rule>`, at its node's path (plus its `fieldPath`).

Transition rules (those reading `oldSelf`) are evaluated only on update, so never here. A rule that cannot be
evaluated on the resource (a key it reads without `has()`, a type it does not expect) fails, as the API server
refuses such a resource. Kubernetes' CEL libraries are partly provided (the string, list, regex, URL and IP/CIDR
functions below); a rule that calls another (quantity, authorizer, format), or that this evaluator cannot parse, is
not judged and is reported as such (`Unjudged`), never counted as passing. Every rule of every CRD the platform
installs uses only what is provided (tests/test_cel.py holds that).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import celpy
from celpy import celtypes, evaluation

_OLD_SELF = re.compile(r"\boldSelf\b")
_UNKNOWN_FUNCTION = "undeclared reference"
_NOT_PROVIDED = "it calls "


@dataclass(frozen=True)
class Failure:
    path: str
    message: str


@dataclass(frozen=True)
class Unjudged:
    rule: str
    reason: str


@dataclass(frozen=True)
class Judgement:
    failures: tuple[Failure, ...]
    unjudged: tuple[Unjudged, ...]


# --- Kubernetes' CEL libraries (k8s.io/apiserver/pkg/cel/library and cel-go's strings extension) -------------------
# Strings, lists, regular expressions, URLs (url, isURL and the URL's getters) and the IP and CIDR checks (isIP,
# isCIDR). Not provided: quantity, the ip() and cidr() objects, semver, format and the authorizer.


def _lower_ascii(text: str) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in text))


def _upper_ascii(text: str) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in text))


def _char_at(text: str, index: int) -> celtypes.StringType:
    if not 0 <= index <= len(text):
        raise ValueError(f"index out of range: {index}")
    return celtypes.StringType(text[index : index + 1])


def _index_of(target: Any, item: Any, start: int = 0) -> celtypes.IntType:
    if isinstance(target, str):
        if not 0 <= start <= len(target):
            raise ValueError(f"index out of range: {start}")
        return celtypes.IntType(target.find(item, start))
    return celtypes.IntType(next((i for i, value in enumerate(target) if value == item), -1))


def _last_index_of(target: Any, item: Any, end: int | None = None) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(target.rfind(item, 0, None if end is None else end + len(item)))
    return celtypes.IntType(max((i for i, value in enumerate(target) if value == item), default=-1))


def _replace(text: str, old: str, new: str, count: int = -1) -> celtypes.StringType:
    return celtypes.StringType(text.replace(old, new, count))


def _split(text: str, separator: str, limit: int = -1) -> celtypes.ListType:
    if limit == 0:
        return celtypes.ListType([])
    parts = list(text) if separator == "" else text.split(separator, -1 if limit < 0 else limit - 1)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _substring(text: str, start: int, end: int | None = None) -> celtypes.StringType:
    stop = len(text) if end is None else end
    if not 0 <= start <= stop <= len(text):
        raise ValueError(f"substring({start}, {stop}) out of range")
    return celtypes.StringType(text[start:stop])


def _trim(text: str) -> celtypes.StringType:
    return celtypes.StringType(text.strip())


def _join(items: list[Any], separator: str = "") -> celtypes.StringType:
    return celtypes.StringType(separator.join(str(item) for item in items))


def _is_sorted(items: list[Any]) -> celtypes.BoolType:
    return celtypes.BoolType(all(a <= b for a, b in zip(items, items[1:], strict=False)))


def _sum(items: list[Any]) -> Any:
    total: Any = celtypes.IntType(0)
    for item in items:
        total = item if total == 0 and not isinstance(item, celtypes.IntType) else total + item
    return total


def _min(items: list[Any]) -> Any:
    if not items:
        raise ValueError("min of an empty list")
    return min(items)


def _max(items: list[Any]) -> Any:
    if not items:
        raise ValueError("max of an empty list")
    return max(items)


def _find(text: str, pattern: str) -> celtypes.StringType:
    match = re.search(pattern, text)
    return celtypes.StringType(match.group(0) if match else "")


def _find_all(text: str, pattern: str, limit: int = -1) -> celtypes.ListType:
    found = [celtypes.StringType(match.group(0)) for match in re.finditer(pattern, text)]
    return celtypes.ListType(found if limit < 0 else found[:limit])


@dataclass(frozen=True)
class _Url:
    """A URL as Kubernetes' URL library holds it (Go's url.ParseRequestURI)."""

    scheme: str
    host: str
    path: str
    query: str


def _parse_request_uri(text: str) -> _Url | None:
    """Go's url.ParseRequestURI: an absolute URI (with a scheme) or an absolute path, no fragment, no control
    characters or spaces in it; None where Go refuses it."""
    if not text or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return None
    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", text)
    if scheme_match is None:
        if not text.startswith("/"):
            return None
        path, _, query = text.partition("?")
        return _Url("", "", path, query)
    rest = text[scheme_match.end() :]
    host = ""
    if rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        host = authority.rpartition("@")[2]
        if host.startswith("[") and "]" not in host:
            return None
    path, _, query = rest.partition("?")
    return _Url(scheme_match.group(1), host, path, query)


def _url(text: str) -> _Url:
    parsed = _parse_request_uri(text)
    if parsed is None:
        raise ValueError(f"URL parse error during conversion from string: {text}")
    return parsed


def _is_url(text: str) -> celtypes.BoolType:
    return celtypes.BoolType(_parse_request_uri(text) is not None)


def _hostname(url: _Url) -> celtypes.StringType:
    host = url.host
    if host.startswith("["):
        return celtypes.StringType(host[1 : host.index("]")])
    return celtypes.StringType(host.rpartition(":")[0] if ":" in host else host)


def _port(url: _Url) -> celtypes.StringType:
    tail = url.host[url.host.index("]") + 1 :] if url.host.startswith("[") else url.host
    return celtypes.StringType(tail.rpartition(":")[2] if ":" in tail else "")


def _query(url: _Url) -> celtypes.MapType:
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return celpy.json_to_cel(values)


def _is_ip(text: str) -> celtypes.BoolType:
    """Kubernetes' isIP: an IPv4 or IPv6 address, without a zone."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType("%" not in text)


def _is_cidr(text: str) -> celtypes.BoolType:
    """Kubernetes' isCIDR: an address and a prefix length (host bits may be set, as netip.ParsePrefix allows)."""
    if "/" not in text or "%" in text:
        return celtypes.BoolType(False)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "url": _url,
    "isURL": _is_url,
    "getScheme": lambda url: celtypes.StringType(url.scheme),
    "getHost": lambda url: celtypes.StringType(url.host),
    "getHostname": _hostname,
    "getPort": _port,
    "getEscapedPath": lambda url: celtypes.StringType(url.path),
    "getQuery": _query,
    "isIP": _is_ip,
    "isCIDR": _is_cidr,
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": _trim,
    "join": _join,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "find": _find,
    "findAll": _find_all,
}


# --- evaluation -------------------------------------------------------------------------------------------------------


@cache
def _parsed(expression: str) -> tuple[celpy.Environment, Any] | str:
    """The expression's parse tree (with the environment that parsed it), or why it does not parse."""
    environment = celpy.Environment()
    try:
        return environment, environment.compile(expression)
    except celpy.CELParseError as error:
        return f"{_NOT_PROVIDED}for what this evaluator cannot parse: {str(error).splitlines()[0]}"


@cache
def _program(expression: str) -> celpy.Runner | str:
    """The compiled expression, or why it cannot be compiled."""
    parsed = _parsed(expression)
    if isinstance(parsed, str):
        return parsed
    environment, tree = parsed
    return environment.program(tree, functions=KUBERNETES_FUNCTIONS)


MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})


def missing_functions(expression: str) -> set[str]:
    """The functions and methods `expression` calls that neither CEL, its macros nor the libraries here provide
    (what would leave the rule unjudged); {"(parse)"} when it does not parse."""
    parsed = _parsed(expression)
    if isinstance(parsed, str):
        return {"(parse)"}
    called = set()
    _, tree = parsed
    for node in tree.iter_subtrees():
        if node.data in ("ident_arg", "member_dot_arg"):
            names = [child for child in node.children if isinstance(child, str)]  # the name tokens
            called.update(str(name) for name in names)
    known = set(evaluation.base_functions) | set(KUBERNETES_FUNCTIONS) | MACROS
    return called - known


def _evaluate(expression: str, value: Any) -> Any:
    """The expression's result with `self` bound to `value`; celpy.CELEvalError when it cannot be evaluated."""
    program = _program(expression)
    if isinstance(program, str):
        raise celpy.CELEvalError(program)
    return program.evaluate({"self": celpy.json_to_cel(value)})


def _members(node: Mapping[str, Any], value: Any, path: str) -> Iterator[tuple[Mapping[str, Any], Any, str]]:
    """The child schema nodes and the values they describe."""
    if isinstance(value, Mapping):
        properties = node.get("properties") or {}
        additional = node.get("additionalProperties")
        for name, member in value.items():
            schema = properties.get(name, additional if isinstance(additional, Mapping) else None)
            if schema is not None and member is not None:
                yield schema, member, f"{path}.{name}" if path else str(name)
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for index, item in enumerate(value):
            if item is not None:
                yield node["items"], item, f"{path}[{index}]"


def _as_root(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    visible = {key: metadata[key] for key in ("name", "generateName") if key in metadata}
    return {**obj, "metadata": visible} if "metadata" in obj else dict(obj)


def judge(schema: Mapping[str, Any], obj: Mapping[str, Any]) -> Judgement:
    """Every rule of `schema` (a CRD version's openAPIV3Schema) on `obj` (defaults applied)."""
    failures: list[Failure] = []
    unjudged: dict[str, Unjudged] = {}

    def visit(node: Mapping[str, Any], value: Any, path: str) -> None:
        for entry in node.get("x-kubernetes-validations") or ():
            rule = str(entry.get("rule", ""))
            if _OLD_SELF.search(rule):
                continue  # a transition rule: judged on update only
            try:
                result = _evaluate(rule, value)
            except celpy.CELEvalError as error:
                reason = _reason(error)
                if reason.startswith(_NOT_PROVIDED):
                    unjudged.setdefault(rule, Unjudged(rule, reason))
                else:  # the API server refuses a resource a rule cannot be evaluated on (a missing key, a bad type)
                    failures.append(Failure(_where(path, ""), f"the rule {rule!r} cannot be evaluated: {reason}"))
                continue
            if not isinstance(result, celtypes.BoolType):
                unjudged.setdefault(rule, Unjudged(rule, f"it yields {type(result).__name__}, not a bool"))
            elif not result:
                failures.append(Failure(_where(path, str(entry.get("fieldPath", ""))), _message(entry, rule, value)))
        for member_schema, member, member_path in _members(node, value, path):
            visit(member_schema, member, member_path)

    visit(schema, _as_root(obj), "")
    return Judgement(tuple(failures), tuple(unjudged.values()))


def _where(path: str, field_path: str) -> str:
    return ".".join(part for part in (path, field_path.lstrip(".")) if part) or "(root)"


def _message(entry: Mapping[str, Any], rule: str, value: Any) -> str:
    expression = entry.get("messageExpression")
    if expression:
        try:
            text = _evaluate(str(expression), value)
        except celpy.CELEvalError:
            text = None
        if isinstance(text, str) and text.strip():
            return str(text)
    return str(entry.get("message") or f"failed rule: {rule}")


def _reason(error: celpy.CELEvalError) -> str:
    text = str(error.args[0]) if error.args else str(error)
    if text.startswith(_UNKNOWN_FUNCTION):
        name = re.search(r"'([^']+)'", text)
        return f"{_NOT_PROVIDED}{name.group(1) if name else 'a function'}, which is not provided here"
    return text.splitlines()[0]
