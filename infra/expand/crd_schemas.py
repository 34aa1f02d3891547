"""Custom resources judged against the CRDs that install them, the way the API server judges them.

A served version's `openAPIV3Schema` (a structural schema) becomes a JSON Schema, compiled once per schema content
and Kubernetes minor version. What the API server does with a custom resource it receives, and how it is done here:

1. Unknown fields: a field an object's schema does not declare is pruned, unless the schema says
   `x-kubernetes-preserve-unknown-fields: true`; an object with `additionalProperties` is a map. Argo CD applies with
   field validation Strict (gitops-engine, unless an object says `Validate=false`), so the API server refuses such a
   field instead of pruning it. Here it is an error either way: a pruned field does nothing (the Pulumi Helm
   releases do not ask for Strict; their unknown fields would be dropped with a warning).
2. `apiVersion`, `kind` and `metadata` are implicit at the root and in `x-kubernetes-embedded-resource` objects;
   `metadata` is ObjectMeta (strictly, as kubernetes-validate describes it), plus what the schema says of its name;
   embedded resources need `apiVersion` and `kind`.
3. A `null` member whose schema is not `nullable` is dropped (or defaulted when it has a default); `nullable: true`
   keeps it. A `null` list item is kept and judged.
4. Defaults are applied before validation (a required field with a default is never missing).
5. Value validations: types (`x-kubernetes-int-or-string` is integer or string), enum, pattern, bounds, lengths,
   `allOf`/`anyOf`/`oneOf`/`not`; `format` only where the API server checks it at that Kubernetes version (strings
   only; numeric formats are not checked); `x-kubernetes-list-type` set and map uniqueness.

6. CEL rules (`x-kubernetes-validations`), on a resource the schema accepts: infra/expand/cel.py, which says which
   of Kubernetes' CEL libraries are provided; a rule it cannot judge is reported, never taken as passing.

Not checked: the syntax of label keys, annotation sizes and names.
A schema keyword this module does not know, a format the API server checks and this module does not, or a pattern
Python cannot read is an UnsupportedSchema naming where it is, never ignored.
"""

from __future__ import annotations

import copy
import datetime
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.protocols import Validator
from referencing import Registry

from infra.expand import cel

OBJECT_META_DEFINITION = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
OBJECT_META = f"https://kubernetes.io/api/_definitions.json#/$defs/{OBJECT_META_DEFINITION}"
"""ObjectMeta in kubernetes-validate's definitions (infra/offline/validate.py core_registry)."""
UNKNOWN_FIELD = "unknown field"
_OBJECT_META_FIELDS = frozenset({"name", "namespace", "labels", "annotations", "ownerReferences"})

# Value validations copied as they are (OpenAPI v3.0 and JSON Schema agree on them).
_VALUE_KEYWORDS = frozenset(
    {
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "required",
    }
)
# Keywords that only document, or that this module handles itself.
_HANDLED_KEYWORDS = frozenset(
    {
        "type",
        "nullable",
        "format",
        "default",
        "properties",
        "additionalProperties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "description",
        "title",
        "example",
        "externalDocs",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",  # CEL: infra/expand/cel.py
    }
)


class UnsupportedSchema(ValueError):
    """A CRD schema uses something this module cannot judge as the API server does."""


# --- formats ------------------------------------------------------------------------------------------------------
# The string formats the API server checks (apiextensions-apiserver pkg/apiserver/validation/formats.go), by name
# without dashes as go-openapi normalises them, each checked as kube-openapi's strfmt checks it.

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_OF_DAY = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_SCALA_DURATION = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS = (
    ("ns", "nano"),
    ("us", "µs", "micro"),
    ("ms", "milli"),
    ("s", "sec"),
    ("m", "min"),
    ("h", "hr", "hour"),
    ("d", "day"),
    ("w", "wk", "week"),
)
_UUIDS = {
    "uuid": r"[0-9a-f]{4}-?[0-9a-f]{4}",
    "uuid3": r"3[0-9a-f]{3}-?[0-9a-f]{4}",
    "uuid4": r"4[0-9a-f]{3}-?[89ab][0-9a-f]{3}",
    "uuid5": r"5[0-9a-f]{3}-?[89ab][0-9a-f]{3}",
}
_K8S_SHORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_LONG_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _is_date(value: str) -> bool:
    if not _FULL_DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    parts = value.lower().split("t")
    if len(value) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME_OF_DAY.match(parts[1])
    return bool(match) and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_duration(value: str) -> bool:
    if value == "0" or _GO_DURATION.match(value):
        return True
    for _, unit in _SCALA_DURATION.findall(value):  # go-openapi also reads Scala durations ("3 days")
        unit = unit.lower()
        for variants in _DURATION_UNITS:
            if unit in variants or unit.startswith(variants[-1]):
                return True
    return False


def _sloppy_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP as Go's net.ParseIP reads it, leading zeros of IPv4 octets tolerated (k8s.io/utils ParseIPSloppy)."""
    if re.match(r"^\d{1,3}(\.\d{1,3}){3}$", value):
        value = ".".join(str(int(part)) for part in value.split("."))
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_cidr(value: str) -> bool:
    address, slash, bits = value.partition("/")
    ip = _sloppy_ip(address)
    return bool(slash) and ip is not None and bits.isdigit() and int(bits) <= ip.max_prefixlen


_FORMATS: dict[str, Callable[[str], bool]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "duration": _is_duration,
    "byte": lambda v: bool(_BASE64.match(v)),
    "password": lambda v: True,
    "bsonobjectid": lambda v: bool(re.fullmatch(r"[0-9a-fA-F]{24}", v)),
    "ipv4": lambda v: "." in v and _sloppy_ip(v) is not None,
    "ipv6": lambda v: ":" in v and _sloppy_ip(v) is not None,
    "cidr": _is_cidr,
    "hexcolor": lambda v: bool(re.fullmatch(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", v)),
    **{
        name: (lambda middle: lambda v: bool(re.fullmatch(f"(?i)[0-9a-f]{{8}}-?{middle}-?[0-9a-f]{{12}}", v)))(m)
        for name, m in _UUIDS.items()
    },
}
_FORMATS_SINCE_1_34 = {
    "k8sshortname": lambda v: len(v) <= 63 and bool(_K8S_SHORT_NAME.match(v)),
    "k8slongname": lambda v: len(v) <= 253 and bool(_K8S_LONG_NAME.match(v)),
}
# Checked by the API server but not here: a CRD using one fails the check rather than being half-judged.
_UNJUDGED_FORMATS = frozenset(
    {"uri", "email", "hostname", "mac", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "rgbcolor"}
)


def _formats_at(minor: tuple[int, int]) -> dict[str, Callable[[str], bool]]:
    return {**_FORMATS, **(_FORMATS_SINCE_1_34 if minor >= (1, 34) else {})}


@functools.cache
def _format_checker(minor: tuple[int, int]) -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, check in _formats_at(minor).items():
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    return checker


# --- patterns -----------------------------------------------------------------------------------------------------

_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z-]+)\)")


@functools.cache
def python_pattern(pattern: str) -> str:
    """An RE2 pattern (the API server's) as Python's `re` reads it alike. In RE2 an inline flag group `(?i)` sets
    the flag for the rest of its group, which Python allows only at the start of a pattern: each alternative after
    it becomes a scoped group `(?i:...)`. `$` is the end of the text in RE2, not also before a final newline.
    ValueError for what RE2 and Python read differently and is not translated here."""
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: the flags scoped since it opened, each a group to close
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if pattern[index + 1 : index + 2] in ("z", "Q", "C", "p", "P"):
                raise ValueError(f"escape \\{pattern[index + 1]} is RE2's")
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if pattern.startswith("[:", index):
                raise ValueError("POSIX character classes ([[:alpha:]]) are RE2's")
            in_class = char != "]"
            out.append(char)
            index += 1
            continue
        flags = _INLINE_FLAGS.match(pattern, index)
        if flags:
            if set(flags[1]) - set("is-"):
                raise ValueError(f"inline flags {flags[0]}: only i and s are translated")
            out.append(f"(?{flags[1]}:")
            scoped[-1].append(flags[1])
            index = flags.end()
            continue
        if char == "[":
            in_class = True
            start = "[^" if pattern.startswith("[^", index) else "["
            if pattern.startswith("]", index + len(start)):
                start += "]"  # a ] first in a class is one of its characters
            out.append(start)
            index += len(start)
            continue
        if char == "(":
            scoped.append([])
        elif char == ")":
            out.append(")" * len(scoped.pop() if len(scoped) > 1 else []))
        elif char == "|":
            out.append(")" * len(scoped[-1]))
            out.append("|" + "".join(f"(?{flags}:" for flags in scoped[-1]))
            index += 1
            continue
        out.append("\\Z" if char == "$" else char)
        index += 1
    out.append(")" * len(scoped[0]))
    translated = "".join(out)
    re.compile(translated)
    return translated


def _python_pattern(pattern: str, path: tuple[str, ...]) -> str:
    try:
        return python_pattern(pattern)
    except (ValueError, re.error) as error:
        raise UnsupportedSchema(f"{_json_path(path)}: pattern {pattern!r}: {error}") from error


# --- conversion ---------------------------------------------------------------------------------------------------


def _json_path(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(root)"


def _types(node: Mapping[str, Any]) -> list[str]:
    if node.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif isinstance(node.get("type"), str) and node["type"]:
        types = [node["type"]]
    else:
        types = []
    if types and node.get("nullable"):
        types.append("null")
    return types


def _bound(node: Mapping[str, Any], out: dict[str, Any], bound: str, exclusive: str) -> None:
    """OpenAPI v3.0's boolean exclusiveMinimum/Maximum as JSON Schema's numeric ones."""
    if bound in node:
        out[exclusive if node.get(exclusive) is True else bound] = node[bound]


class _Converter:
    """Converts a structural schema. Every format checked at some version is kept: the format checker of the
    Kubernetes version judged ignores those it does not check, so one conversion serves every version."""

    def root(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        return self.structural(schema, (), root=True)

    def structural(
        self, node: Mapping[str, Any], path: tuple[str, ...], root: bool = False, preserving: bool = False
    ) -> dict[str, Any]:
        """`preserving`: under a list whose schema preserves unknown fields. The API server's pruning does not
        prune its items either (nor their items), only what is under their declared properties."""
        if not isinstance(node, Mapping):
            raise UnsupportedSchema(f"{_json_path(path)}: a schema must be an object, not {type(node).__name__}")
        out = self._values(node, path)
        types = _types(node)
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        if node.get("nullable") and "enum" in out:
            out["enum"] = [*out["enum"], None]
        properties = {name: self.structural(sub, (*path, name)) for name, sub in (node.get("properties") or {}).items()}
        embedded = root or bool(node.get("x-kubernetes-embedded-resource"))
        if embedded:
            properties.update(self._implicit(node, path))
            if not root:  # at the root, the validator itself requires apiVersion and kind (a clearer message)
                out["required"] = sorted({*out.get("required", []), "apiVersion", "kind"})
        if properties:
            out["properties"] = properties
        preserving = preserving or bool(node.get("x-kubernetes-preserve-unknown-fields"))
        if "items" in node:
            out["items"] = self.structural(node["items"], (*path, "items"), preserving=preserving)
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            out["additionalProperties"] = self.structural(additional, (*path, "additionalProperties"))
        elif additional is True:
            # A map whose values have no schema: the API server prunes every field of an object value.
            out["additionalProperties"] = {"additionalProperties": False}
        elif not preserving and node.get("type") in ("object", None):  # other types refuse an object anyway
            out["additionalProperties"] = False
        if node.get("x-kubernetes-list-type") in ("set", "map"):
            out["x-kubernetes-list-type"] = node["x-kubernetes-list-type"]
            out["x-kubernetes-list-map-keys"] = list(node.get("x-kubernetes-list-map-keys") or [])
            out["x-list-map-key-defaults"] = {
                key: sub["default"]
                for key, sub in ((node.get("items") or {}).get("properties") or {}).items()
                if "default" in sub
            }
        return out

    def _implicit(self, node: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        """apiVersion, kind and metadata, which a resource has whatever its schema says."""
        declared = node.get("properties") or {}
        metadata: dict[str, Any] = {"$ref": OBJECT_META}
        names = dict((declared.get("metadata") or {}).get("properties") or {})
        if names:  # the only restrictions a CRD may put on metadata: of name and generateName
            metadata["properties"] = {k: self.structural(v, (*path, "metadata", k)) for k, v in names.items()}
        implicit: dict[str, Any] = {"metadata": metadata}
        for field in ("apiVersion", "kind"):
            implicit[field] = (
                self.structural(declared[field], (*path, field)) if field in declared else {"type": "string"}
            )
            implicit[field] = {"allOf": [implicit[field], {"type": "string", "minLength": 1}]}
        return implicit

    def _values(self, node: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        """The value validations of a node (those that do not shape the object)."""
        unknown = sorted(set(node) - _VALUE_KEYWORDS - _HANDLED_KEYWORDS)
        if unknown:
            raise UnsupportedSchema(f"{_json_path(path)}: schema keyword(s) not judged here: {', '.join(unknown)}")
        out = {key: node[key] for key in _VALUE_KEYWORDS if key in node}
        if "pattern" in out:
            out["pattern"] = _python_pattern(str(out["pattern"]), path)
        _bound(node, out, "minimum", "exclusiveMinimum")
        _bound(node, out, "maximum", "exclusiveMaximum")
        self._format(node, out, path)
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in node:
                out[keyword] = [self.value_only(sub, (*path, keyword)) for sub in node[keyword]]
        if "not" in node:
            out["not"] = self.value_only(node["not"], (*path, "not"))
        return out

    def value_only(self, node: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        """A branch of allOf/anyOf/oneOf/not: value validations only, which never prune or default."""
        if not isinstance(node, Mapping):
            raise UnsupportedSchema(f"{_json_path(path)}: a schema must be an object, not {type(node).__name__}")
        out = self._values(node, path)
        if isinstance(node.get("type"), str):  # only the int-or-string pattern may type a branch
            out["type"] = node["type"]
        if "properties" in node:
            out["properties"] = {k: self.value_only(v, (*path, k)) for k, v in node["properties"].items()}
        if "items" in node:
            out["items"] = self.value_only(node["items"], (*path, "items"))
        return out

    def _format(self, node: Mapping[str, Any], out: dict[str, Any], path: tuple[str, ...]) -> None:
        fmt = node.get("format")
        if not fmt or node.get("type", "string") != "string":
            return  # numeric formats (int32, double...) are not checked by the API server
        name = str(fmt).replace("-", "")
        if name in _FORMATS or name in _FORMATS_SINCE_1_34:
            out["format"] = name
        elif name in _UNJUDGED_FORMATS:
            raise UnsupportedSchema(f"{_json_path(path)}: format {fmt} is checked by the API server, not here")


# --- list types ---------------------------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _duplicates(keys: list[Any]) -> Iterator[int]:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        text = _canonical(key)
        if text in seen:
            yield index
        seen.add(text)


def _list_type(validator: Validator, list_type: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not isinstance(instance, list):
        return
    if list_type == "set":
        for index in _duplicates(instance):
            yield jsonschema.ValidationError(f"[{index}]: duplicate item {instance[index]!r} of a list-type set")
        return
    if any(item is not None and not isinstance(item, dict) for item in instance):
        yield jsonschema.ValidationError("must hold only objects (x-kubernetes-list-type: map)")
        return
    names = schema.get("x-kubernetes-list-map-keys") or []
    defaults = schema.get("x-list-map-key-defaults") or {}
    keys = [
        {name: (item or {}).get(name, defaults.get(name)) for name in names if name in (item or {}) or name in defaults}
        for item in instance
    ]
    for index in _duplicates(keys):
        yield jsonschema.ValidationError(f"[{index}]: duplicate entry {keys[index]} of a list-type map")


_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"x-kubernetes-list-type": _list_type},
)


# --- nulls and defaults -------------------------------------------------------------------------------------------


def _member_schema(node: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    if node is None:
        return None
    properties = node.get("properties") or {}
    if name in properties:
        return properties[name]
    additional = node.get("additionalProperties")
    return additional if isinstance(additional, Mapping) else None


def as_received(value: Any, node: Mapping[str, Any] | None) -> Any:
    """The object as the API server validates it: non-nullable null members dropped or defaulted, defaults applied
    (a new value; the given one is not changed)."""
    if node is None:
        return value
    if isinstance(value, dict):
        out = {}
        for name, member in value.items():
            schema = _member_schema(node, name)
            if member is None and schema is not None and not schema.get("nullable"):
                if "default" in schema:
                    out[name] = copy.deepcopy(schema["default"])
                continue
            out[name] = as_received(member, schema)
        for name, schema in (node.get("properties") or {}).items():
            if name not in out and "default" in schema and name not in value:
                out[name] = as_received(copy.deepcopy(schema["default"]), schema)
        return out
    if isinstance(value, list):
        items = node.get("items")
        return [
            copy.deepcopy(items["default"])
            if item is None and items is not None and not items.get("nullable") and "default" in items
            else as_received(item, items)
            for item in value
        ]
    return value


# --- compiled schemas ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledVersion:
    """One served version of a CRD, ready to judge custom resources."""

    crd: str
    version: str
    structural: Mapping[str, Any]
    validator: Validator

    def errors(self, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(field path, message) of everything the API server would refuse in `obj`, sorted."""
        received = as_received(obj, self.structural)
        found: list[tuple[str, str]] = []
        for error in self.validator.iter_errors(received):
            path = [str(p) if not isinstance(p, int) else p for p in error.absolute_path]
            if error.validator == "additionalProperties" and error.validator_value is False:
                declared = set(error.schema.get("properties") or {})
                owner = "ObjectMeta" if _OBJECT_META_FIELDS <= declared else f"the CRD {self.crd} ({self.version})"
                for field in sorted(set(error.instance) - declared):
                    found.append((_dotted([*path, field]), f"{UNKNOWN_FIELD}: {owner} declares no such field"))
                continue
            found.append((_dotted(path), error.message))
        if not found:
            found += [(failure.path, failure.message) for failure in cel.judge(self.structural, received).failures]
        return sorted(found)

    def unjudged_rules(self, obj: Mapping[str, Any]) -> list[cel.Unjudged]:
        """The CEL rules that apply to `obj` and cannot be judged here (an empty list when the schema refuses it)."""
        received = as_received(obj, self.structural)
        if next(iter(self.validator.iter_errors(received)), None) is not None:
            return []
        return list(cel.judge(self.structural, received).unjudged)


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


_converted: dict[tuple[str, str, str], dict[str, Any] | UnsupportedSchema] = {}
_compiled: dict[tuple[str, ...], CompiledVersion] = {}


def formats_key(minor: tuple[int, int]) -> str:
    """What the formats checked at Kubernetes `minor` are: equal keys check formats alike."""
    return ",".join(sorted(_formats_at(minor)))


def compile_version(
    crd: str,
    version: str,
    schema: Mapping[str, Any],
    digest: str,
    minor: tuple[int, int],
    registry: Registry,
    registry_digest: str,
) -> CompiledVersion:
    """The validator of version `version` of the CRD named `crd`, whose openAPIV3Schema is `schema`, at Kubernetes
    `minor` (whose ObjectMeta `registry` holds). Converted once per schema content (`digest`), compiled once per
    that, ObjectMeta (`registry_digest`) and formats checked. UnsupportedSchema when the schema uses what this
    module cannot judge."""
    key = (crd, version, digest, registry_digest, formats_key(minor))
    if key not in _compiled:
        if (crd, version, digest) not in _converted:
            try:
                _converted[(crd, version, digest)] = _Converter().root(schema)
            except UnsupportedSchema as error:
                _converted[(crd, version, digest)] = error
        converted = _converted[(crd, version, digest)]
        if isinstance(converted, UnsupportedSchema):
            raise converted
        validator = _CrdValidator(converted, registry=registry, format_checker=_format_checker(minor))
        _compiled[key] = CompiledVersion(crd, version, schema, validator)
    return _compiled[key]


def minor_of(version: str) -> tuple[int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"Kubernetes version {version!r} is not of the form MAJOR.MINOR")
    return int(match.group(1)), int(match.group(2))


def clear_cache() -> None:
    _converted.clear()
    _compiled.clear()
