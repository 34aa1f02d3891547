"""Schema validation of rendered Kubernetes objects, without a cluster.

Built-in kinds are checked against kubernetes-validate's bundled "-strict" schemas (unknown fields are errors);
custom resources against CRD JSON schemas in the datreeio CRDs-catalog layout (infra/expand/schemas.py judges them
by the CRDs the platform installs instead). Compiled validators are cached at module level: kubernetes-validate
re-reads a 1.4 MB definitions file on every call, and several environments are checked in one process. So are the
results, by the object's content and what judged it: the environments of a fleet share most objects (a large CRD
takes 50 ms to validate).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema.protocols import Validator
from referencing import Registry, Resource

DEFAULT_CRD_SCHEMA_LOCATION = (
    "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json"
)

_K8S_SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
_CR_TOP_LEVEL_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_CR_UNKNOWN_KEY = "unknown top-level field (custom resources allow " + ", ".join(sorted(_CR_TOP_LEVEL_KEYS)) + ")"
_MAX_MESSAGE = 240
_FETCH_TIMEOUT_S = 15


@dataclass(frozen=True)
class Finding:
    stage: str  # "kubernetes" | "crd" | "checkov" | "policy"
    object_ref: str  # "apps/v1 Deployment monitoring/grafana", or a file path
    message: str  # one line; starts with the field path inside the object where there is one
    severity: str = "error"  # "error" | "advisory"


@dataclass(frozen=True)
class _SchemaUnavailable:
    """A CRD schema location that could not be read for a reason other than "it does not exist"."""

    reason: str


# Module-level caches, shared by all ManifestValidator instances. A value of None records "no such schema".
_json_cache: dict[Path, Any] = {}
_core_registries: dict[str, Registry] = {}
_core_validators: dict[tuple[str, str, str], Validator | None] = {}
_core_groups: dict[str, frozenset[str]] = {}
_crd_validators: dict[str, Validator | _SchemaUnavailable | None] = {}
_schema_digests: dict[tuple[str, str], str] = {}
_results: dict[tuple[str, ...], tuple[str, ...]] = {}
"""Messages of a validation, by what judged it and the digest of the object judged."""


def clear_caches() -> None:
    for cache in (
        _json_cache,
        _core_registries,
        _core_validators,
        _core_groups,
        _crd_validators,
        _schema_digests,
        _results,
    ):
        cache.clear()


def content_digest(obj: Any) -> str:
    """A digest of an object's content. Equal objects built alike (the same keys in the same order) share it; one
    built otherwise only misses the cache."""
    return hashlib.blake2b(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), digest_size=20).hexdigest()


def memoized(key: tuple[str, ...], judge: Callable[[], list[str]]) -> list[str]:
    """The messages `judge` gives, computed once per `key` (what judges, and the digest of what is judged)."""
    if key not in _results:
        _results[key] = tuple(judge())
    return list(_results[key])


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _load_json(path: Path) -> Any:
    if path not in _json_cache:
        _json_cache[path] = _read_json(path)
    return _json_cache[path]


def _version_tuple(version: str) -> tuple[int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"Kubernetes version {version!r} is not of the form MAJOR.MINOR")
    return int(match.group(1)), int(match.group(2))


def bundled_schema_dir(kubernetes_version: str) -> str:
    """The strict schema directory kubernetes-validate would use: the newest bundled version not newer than asked."""
    wanted = _version_tuple(kubernetes_version)
    available = sorted(
        (_version_tuple(d.name), d.name)
        for d in _K8S_SCHEMAS.iterdir()
        if d.is_dir() and d.name.endswith("-local-strict")
    )
    if not available or wanted > available[-1][0]:
        newest = f"{available[-1][0][0]}.{available[-1][0][1]}" if available else "none"
        raise ValueError(
            f"kubernetes-validate {kubernetes_validate.version.__version__} has no schemas for Kubernetes "
            f"{kubernetes_version} (newest bundled: {newest}); upgrade kubernetes-validate"
        )
    candidates = [name for version, name in available if version <= wanted]
    if not candidates:
        raise ValueError(f"kubernetes-validate has no schemas as old as Kubernetes {kubernetes_version}")
    return candidates[-1]


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _mangled_group(group: str) -> str:
    # kubernetes-validate's file naming: "rbac.authorization.k8s.io" -> "rbac", "" (core) -> no group part.
    return group.split(".", 1)[0]


def _builtin_groups(schema_dir: str) -> frozenset[str]:
    """Mangled group names that have bundled schemas, read from the file names (cheap: no file is opened)."""
    if schema_dir not in _core_groups:
        pattern = re.compile(r"^[a-z0-9]+-([a-z0-9]+)-v\d+(?:(?:alpha|beta)\d+)?\.json$")
        names = (pattern.match(p.name) for p in (_K8S_SCHEMAS / schema_dir).iterdir())
        _core_groups[schema_dir] = frozenset(m.group(1) for m in names if m)
    return _core_groups[schema_dir]


def _looks_builtin(group: str, schema_dir: str) -> bool:
    if "." not in group:
        return True  # "" (core), apps, batch, policy, autoscaling...
    return group.endswith(".k8s.io") and _mangled_group(group) in _builtin_groups(schema_dir)


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: _without_descriptions(v) for k, v in schema.items() if not (k == "description" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_without_descriptions(v) for v in schema]
    return schema


def _closure_digest(schema_dir: str, schema: Mapping[str, Any], name: str) -> str:
    """A digest of `schema` and every definition of `schema_dir` it reaches, descriptions left out: two Kubernetes
    versions whose schemas of a kind agree judge its objects alike, so they share validation results."""
    key = (schema_dir, name)
    if key not in _schema_digests:
        definitions = _load_json(_K8S_SCHEMAS / schema_dir / "_definitions.json")["$defs"]
        reached: dict[str, Any] = {}
        pending = [schema]
        while pending:
            text = json.dumps(pending.pop())
            for ref in re.findall(r'"\$ref": "[^"]*#/\$defs/([^"]+)"', text):
                if ref not in reached:
                    reached[ref] = definitions.get(ref)
                    pending.append(reached[ref])
        content = [_without_descriptions(schema), sorted((k, _without_descriptions(v)) for k, v in reached.items())]
        _schema_digests[key] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return _schema_digests[key]


def definition_digest(schema_dir: str, definition: str) -> str:
    """The digest of a definition of `schema_dir` (e.g. ObjectMeta) with all it reaches (see _closure_digest)."""
    return _closure_digest(schema_dir, {"$ref": f"#/$defs/{definition}"}, f"#/$defs/{definition}")


def core_registry(schema_dir: str) -> Registry:
    """The definitions of kubernetes-validate's `schema_dir` (ObjectMeta and the rest), for `$ref`s into them."""
    if schema_dir not in _core_registries:
        definitions = Resource.from_contents(_load_json(_K8S_SCHEMAS / schema_dir / "_definitions.json"))
        _core_registries[schema_dir] = definitions @ Registry()
    return _core_registries[schema_dir]


def _core_schema_path(schema_dir: str, kind: str, api_version: str) -> Path:
    group, version = _split_api_version(api_version)
    stem = "-".join(part for part in (kind.lower(), _mangled_group(group), version) if part)
    return _K8S_SCHEMAS / schema_dir / f"{stem}.json"


def _core_validator(schema_dir: str, kind: str, api_version: str) -> Validator | None:
    key = (schema_dir, kind, api_version)
    if key not in _core_validators:
        group, version = _split_api_version(api_version)
        path = _core_schema_path(schema_dir, kind, api_version)
        validator: Validator | None = None
        if path.is_file():
            schema = _load_json(path)
            # File names drop the group's domain, so make sure the file really is this group's kind.
            gvks = schema.get("x-kubernetes-group-version-kind", [])
            if {"group": group, "kind": kind, "version": version} in gvks:
                resource = Resource.from_contents(schema)
                validator = jsonschema.Draft202012Validator(schema, registry=resource @ core_registry(schema_dir))
        _core_validators[key] = validator
    return _core_validators[key]


def _fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as response:  # noqa: S310 (https template)
        return json.load(response)


def _crd_validator(location: str) -> Validator | _SchemaUnavailable | None:
    if location not in _crd_validators:
        schema: Any = None
        try:
            if re.match(r"^https?://", location):
                schema = _fetch_json(location)
            elif Path(location).is_file():
                schema = _load_json(Path(location))
        except urllib.error.HTTPError as e:
            if e.code != 404:
                _crd_validators[location] = _SchemaUnavailable(f"HTTP {e.code}")
                return _crd_validators[location]
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            _crd_validators[location] = _SchemaUnavailable(str(getattr(e, "reason", e)))
            return _crd_validators[location]
        except json.JSONDecodeError as e:
            _crd_validators[location] = _SchemaUnavailable(f"not valid JSON: {e}")
            return _crd_validators[location]
        _crd_validators[location] = None if schema is None else jsonschema.Draft202012Validator(schema)
    return _crd_validators[location]


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def one_line(text: str) -> str:
    """A message on one line, cut to a length a report can show."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _schema_errors(validator: Validator, obj: Mapping[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(obj), key=lambda e: (_json_path(e.absolute_path), e.message))
    return [one_line(f"{_json_path(e.absolute_path) or '(root)'}: {e.message}") for e in errors]


def object_ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = str(metadata.get("name") or "<unnamed>")
    namespace = metadata.get("namespace")
    return f"{obj.get('apiVersion', '?')} {obj.get('kind', '?')} {f'{namespace}/{name}' if namespace else name}"


class ManifestValidator:
    def __init__(self, kubernetes_version: str, crd_schema_location: str, crd_allowlist: Mapping[str, str]) -> None:
        self.kubernetes_version = kubernetes_version
        self.crd_schema_location = crd_schema_location
        self.crd_allowlist = dict(crd_allowlist)
        self.allowlist_used: set[str] = set()
        """The allow-list entries that let a custom resource through (an entry nothing needs is stale)."""
        self._schema_dir = bundled_schema_dir(kubernetes_version)

    def validate(self, obj: Mapping[str, Any]) -> list[Finding]:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        ref = object_ref(obj)
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            return [Finding("kubernetes", ref, "(root): apiVersion and kind must be non-empty strings")]
        group, _ = _split_api_version(api_version)
        if _looks_builtin(group, self._schema_dir):
            validator = _core_validator(self._schema_dir, kind, api_version)
            if validator is None:
                return [
                    Finding(
                        "kubernetes",
                        ref,
                        f"apiVersion: {api_version} {kind} is not served by Kubernetes {self.kubernetes_version} "
                        f"(removed or unknown API; no schema in {self._schema_dir})",
                    )
                ]
            key = ("kubernetes", self._core_digest(kind, api_version), content_digest(obj))
            messages = memoized(key, lambda: _schema_errors(validator, obj))
            return [Finding("kubernetes", ref, message) for message in messages]
        return self._validate_custom_resource(obj, ref, group, kind, api_version)

    def _core_digest(self, kind: str, api_version: str) -> str:
        key = (self._schema_dir, f"{api_version} {kind}")
        if key not in _schema_digests:
            path = _core_schema_path(self._schema_dir, kind, api_version)
            _schema_digests[key] = _closure_digest(self._schema_dir, _load_json(path), path.name)
        return _schema_digests[key]

    def is_built_in(self, api_version: str) -> bool:
        """Whether objects of `api_version` are judged as built-in kinds (else as custom resources)."""
        return _looks_builtin(_split_api_version(api_version)[0], self._schema_dir)

    @property
    def schema_dir(self) -> str:
        """kubernetes-validate's schema directory for this Kubernetes version."""
        return self._schema_dir

    def _schema_location(self, group: str, kind: str, version: str) -> str:
        if "{" in self.crd_schema_location:
            return self.crd_schema_location.format(group=group, kind=kind.lower(), version=version)
        return str(Path(self.crd_schema_location) / group / f"{kind.lower()}_{version}.json")

    def _validate_custom_resource(
        self, obj: Mapping[str, Any], ref: str, group: str, kind: str, api_version: str
    ) -> list[Finding]:
        findings = [Finding("crd", ref, f"{key}: {_CR_UNKNOWN_KEY}") for key in sorted(set(obj) - _CR_TOP_LEVEL_KEYS)]
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
            findings.append(Finding("crd", ref, "metadata.name: required, must be a non-empty string"))
        if f"{group}/{kind}" in self.crd_allowlist:
            self.allowlist_used.add(f"{group}/{kind}")
            return findings
        _, version = _split_api_version(api_version)
        location = self._schema_location(group, kind, version)
        validator = _crd_validator(location)
        if validator is None:
            findings.append(
                Finding(
                    "crd",
                    ref,
                    f"no schema for {group}/{kind} {version} (looked for {location}); "
                    "add a schema or allow-list it with a reason",
                )
            )
        elif isinstance(validator, _SchemaUnavailable):
            findings.append(
                Finding(
                    "crd",
                    ref,
                    f"could not fetch schema {location}: {validator.reason}; "
                    "use --crd-schemas DIR to validate against a local copy",
                )
            )
        else:
            messages = memoized(("catalog", location, content_digest(obj)), lambda: _schema_errors(validator, obj))
            findings.extend(Finding("crd", ref, message) for message in messages)
        return findings
