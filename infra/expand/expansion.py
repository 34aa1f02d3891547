"""What Argo CD (and Helm, for the Pulumi releases) would apply for a rendered stack: every source expanded offline.

Charts are rendered as Argo CD's repo server renders them: the pinned version from the chart cache, the
Application's `valuesObject`, its release name and destination namespace, the environment's Kubernetes version, and
the API versions the cluster serves once the platform is installed (the built-in ones and those of every CRD the
platform installs; a chart that branches on them is rendered again once they are known). Git sources are built by
kustomize from the git cache with the Application's kustomize options. Helm hooks are kept where Argo CD applies
them; test hooks are not. Objects without a namespace get the destination namespace, as Argo CD gives them.

Each source is rendered twice: a chart that renders differently each time (random secrets, generated certificates)
would make Argo CD see drift on every refresh and rotate them on every sync, so it is a problem naming the object.
Results are cached by everything that determines them, in memory and on disk (`.cache/expanded/`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.cluster import cni_of
from infra.cluster.facts import cluster_api_versions
from infra.config import Environment
from infra.expand import helm, kustomize
from infra.expand.caches import Caches
from infra.expand.documents import DocumentError, parse_objects
from infra.expand.existing import CrdsUnreadable, ExistingCrds, crds_of, existing_sources
from infra.expand.randomness import random_value_keys
from infra.expand.scope import Scopes, group_of, is_crd
from infra.expand.sources import Deployer, Source, canonical, deployers
from infra.offline.render import Rendered
from infra.offline.validate import object_ref

# Cached results are keyed on the code that makes them too, so a change here never reads a stale result.
CODE_DIGEST = hashlib.sha256(
    b"".join(
        (Path(__file__).parent / name).read_bytes()
        for name in ("expansion.py", "helm.py", "kustomize.py", "documents.py", "randomness.py")
    )
).hexdigest()
DEFAULT_RESULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "expanded"
RESULT_CACHE_VARIABLE = "MLOPS_EXPANSION_CACHE"
HELM_HOOK = "helm.sh/hook"
ARGOCD_HOOK = "argocd.argoproj.io/hook"
# Helm hooks Argo CD maps to its own phases (pre-* to PreSync, post-* to PostSync, post-delete to PostDelete); it
# skips manifests whose only hooks are others (the test hooks, rollback hooks).
APPLIED_HELM_HOOKS = frozenset(
    {"pre-install", "pre-upgrade", "post-install", "post-upgrade", "pre-delete", "post-delete"}
)
WORKERS = max(2, min(4, (os.cpu_count() or 2) * 2))


@dataclass(frozen=True)
class ExpandedObject:
    deployer: str
    """The Application (or Pulumi Helm release) that applies it."""
    object: dict[str, Any]
    origin: str
    """The template file of the chart, or the kustomize path, it came from."""

    @property
    def ref(self) -> str:
        return object_ref(self.object)


# What kind of problem: the chart refuses the values (its values.schema.json) or a template fails with them (both
# shown by the `values` stage, which names the value path), or anything else that keeps a source from expanding.
EXPANSION = "expansion"
VALUES_SCHEMA = "values-schema"
TEMPLATE = "template"


@dataclass(frozen=True)
class Problem:
    """Something that keeps a source from expanding as Argo CD needs: it fails to render, or renders differently
    each time."""

    deployer: str
    subject: str
    message: str
    severity: str = "error"
    """`advisory` for a sync hook that renders differently: Argo CD does not compare hooks, it replaces them."""
    kind: str = EXPANSION
    """EXPANSION, VALUES_SCHEMA or TEMPLATE."""


@dataclass
class Expansion:
    stack: str
    deployers: list[Deployer]
    objects: dict[str, list[ExpandedObject]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    api_versions: tuple[str, ...] = ()
    existing: ExistingCrds = field(default_factory=ExistingCrds)
    """The CRDs of the components the cluster already runs (components.*.existing), and those it could not read."""

    def all_objects(self) -> list[ExpandedObject]:
        return [obj for name in sorted(self.objects) for obj in self.objects[name]]

    def counts(self) -> dict[str, int]:
        return {name: len(self.objects.get(name, [])) for name in sorted(d.name for d in self.deployers)}


@dataclass(frozen=True)
class _Job:
    source: Source
    namespace: str
    kubernetes_version: str
    api_versions: tuple[str, ...]


class ResultCache:
    """Rendered sources by a digest of everything that determines them: in memory, and in a directory when given."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, dict[str, Any]] = {}
        self._objects: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> ResultCache:
        configured = os.environ.get(RESULT_CACHE_VARIABLE)
        if configured == "off":
            return cls(None)
        return cls(Path(configured) if configured else DEFAULT_RESULT_CACHE)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self.directory is None:
            return None
        path = self.directory / f"{key}.json"
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with self._lock:
            if isinstance(result.get("objects"), list):
                result["objects"] = [(origin, self._interned(obj)) for origin, obj in result["objects"]]
            self._memory[key] = result
        return result

    def _interned(self, obj: dict[str, Any]) -> dict[str, Any]:
        """One object for equal objects of different results (a kustomize path built for each environment mostly
        renders the same CRDs): what is derived from an object (its file text, its checks) is then made once."""
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return self._objects.setdefault(text, obj)

    def put(self, key: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._memory[key] = result
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{key}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(json.dumps(result, separators=(",", ":")), encoding="utf-8")
        temporary.replace(self.directory / f"{key}.json")


class Expander:
    """Expands rendered stacks; one per process, so charts, trees and results are loaded once for a fleet."""

    def __init__(self, caches: Caches | None = None, results: ResultCache | None = None) -> None:
        self.caches = caches or Caches.from_environment()
        self.results = results if results is not None else ResultCache.default()
        self._charts: dict[Path, helm.Chart] = {}
        self._trees: dict[Path, str] = {}
        self._placed: dict[tuple[int, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def expand(self, rendered: Rendered, repository: Path | None = None) -> Expansion:
        """What `rendered` applies; its ApplicationSets read `repository` (default: this checkout)."""
        kubernetes_version = rendered.env.kubernetes_version
        existing = self.existing_crds(rendered.env)
        stack_crds = [m.object for m in rendered.manifests if is_crd(m.object)]
        # What the cluster runs already serves its APIs before the platform: charts that ask see them.
        base_api = (*cluster_api_versions(cni_of(rendered.env)), *sorted(crd_api_versions(existing.all())))
        found = deployers(rendered) if repository is None else deployers(rendered, repository)
        expansion = self.expand_deployers(
            rendered.stack, found, kubernetes_version, base_api, [*stack_crds, *existing.all()]
        )
        expansion.existing = existing
        return expansion

    def existing_crds(self, env: Environment) -> ExistingCrds:
        """The CRDs of the components `env` says the cluster runs, from their charts at the declared versions."""

        def read(source: Source, namespace: str) -> list[dict[str, Any]]:
            # Rendered whole, as the chart's own Application would be: some make their CRDs in templates.
            result = self._result(_Job(source, namespace, env.kubernetes_version, ()))
            errors = [p["message"] for p in result["problems"] if p.get("severity", "error") == "error"]
            if errors:
                raise CrdsUnreadable(f"{source.label} does not render: {errors[0]}")
            return [obj for _, obj in result["objects"]]

        return crds_of(existing_sources(env), read)

    def expand_deployers(
        self,
        stack: str,
        found: Sequence[Deployer],
        kubernetes_version: str,
        base_api: Sequence[str] = (),
        stack_crds: Sequence[Mapping[str, Any]] = (),
    ) -> Expansion:
        """What `found` apply on a cluster of `kubernetes_version` that serves `base_api` before the platform, and
        whose stack creates `stack_crds`."""
        expansion = Expansion(stack, list(found))
        sources = {(d.name, i): (d, s) for d in found for i, s in enumerate(d.sources)}
        waiting = {key for key, (_, s) in sources.items() if s.kind == "chart" and self._reads_api_versions(s)}
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:

            def job(key: tuple[str, int], api: Sequence[str]) -> _Job:
                deployer, source = sources[key]
                return _Job(source, deployer.namespace, kubernetes_version, tuple(api))

            # A chart that reads .Capabilities.APIVersions is rendered once the platform's APIs are known: first
            # the CRDs every source installs are collected (for it, without rendering it where it can be helped).
            settled = {key: pool.submit(self._result, job(key, base_api)) for key in sources if key not in waiting}
            early = {key: pool.submit(self._crds_before_apis, job(key, base_api)) for key in waiting}
            results = {key: future.result() for key, future in settled.items()}
            crds = [obj for result in results.values() for _, obj in result["objects"] if is_crd(obj)]
            crds += [crd for future in early.values() for crd in future.result()]
            api_versions = tuple(sorted({*base_api, *crd_api_versions(crds)}))
            later = {key: pool.submit(self._result, job(key, api_versions)) for key in waiting}
            results.update({key: future.result() for key, future in later.items()})
        expansion.api_versions = api_versions
        scopes = Scopes([*crds, *stack_crds])
        for deployer in found:
            objects: list[ExpandedObject] = []
            for index, _ in enumerate(deployer.sources):
                result = results[(deployer.name, index)]
                expansion.problems += [
                    Problem(
                        deployer.name, p["subject"], p["message"], p.get("severity", "error"), p.get("kind", EXPANSION)
                    )
                    for p in result["problems"]
                ]
                for origin, obj in result["objects"]:
                    objects.append(ExpandedObject(deployer.name, self._place(obj, deployer.namespace, scopes), origin))
            expansion.objects[deployer.name] = objects
            expansion.problems += _duplicates(deployer.name, objects)
        return expansion

    def _crds_before_apis(self, job: _Job) -> list[dict[str, Any]]:
        """The CRDs a chart installs, before the cluster's APIs are known: those of its `crds/` folders, unless its
        templates make some too (then it is rendered as the cluster serves only the built-in APIs)."""
        chart = self.chart(job.source)
        if _templates_mention(chart.files, "kind: CustomResourceDefinition"):
            return [obj for _, obj in self._result(job)["objects"] if is_crd(obj)]
        # Kept with the rendered sources (Helm loads the chart afresh to merge the values): a fleet renders again
        # what it rendered before, and then only reads it.
        key = f"crds-{self._key(job)}"
        cached = self.results.get(key)
        if cached is not None:
            return list(cached["crds"])
        try:
            texts = chart.enabled_crds(job.source.values)
            crds = [obj for t in texts for obj in parse_objects(t.text, t.path) if is_crd(obj)]
        except (helm.ChartError, DocumentError):
            return []  # the final render reports it
        self.results.put(key, {"crds": crds})
        return crds

    def _place(self, obj: dict[str, Any], namespace: str, scopes: Scopes) -> dict[str, Any]:
        """`_placed`, once per object and namespace: environments that share a rendered source share its objects
        (and so what is derived from them, such as their file text)."""
        key = (id(obj), namespace)
        if key not in self._placed:
            self._placed[key] = (obj, _placed(obj, namespace, scopes))  # the source object is kept: ids stay unique
        return self._placed[key][1]

    # --- one source -------------------------------------------------------------------------------------------

    def _result(self, job: _Job) -> dict[str, Any]:
        key = self._key(job)
        cached = self.results.get(key)
        if cached is not None:
            return cached
        try:
            result = self._chart_result(job) if job.source.kind == "chart" else self._git_result(job)
        except helm.ValuesRefused as error:
            result = _failed(job.source, error, VALUES_SCHEMA)
        except helm.ChartError as error:
            result = _failed(job.source, error, TEMPLATE)
        except (kustomize.BuildFailed, DocumentError) as error:
            result = _failed(job.source, error, EXPANSION)
        self.results.put(key, result)
        return result

    def _key(self, job: _Job) -> str:
        source = job.source
        if source.kind == "chart":
            identity = ["chart", helm.ENGINE, self.chart(source).digest, source.release]
            api_versions: Sequence[str] = job.api_versions if self._reads_api_versions(source) else ()
        else:
            tree = self.git_tree(source)
            identity = ["git", kustomize.kustomize_version(), source.path]
            if source.tree:  # this repository: its folder that holds the path (apps/), not the whole checkout
                identity.append(self._tree_digest(tree / source.path.split("/")[0]))
            else:
                identity += [self._tree_digest(tree), self._tree_digest(self.caches.vendor_root(source.repo_url))]
            api_versions = ()
        parts = [CODE_DIGEST, *identity, source.values_json, job.namespace, job.kubernetes_version, list(api_versions)]
        return hashlib.sha256(canonical(parts).encode()).hexdigest()

    def chart(self, source: Source) -> helm.Chart:
        """The chart archive of a chart source, loaded once."""
        archive = self.caches.chart_archive(source.chart, source.version)
        with self._lock:
            if archive not in self._charts:
                self._charts[archive] = helm.Chart(archive)
            return self._charts[archive]

    def _reads_api_versions(self, source: Source) -> bool:
        return _templates_mention(self.chart(source).files, "APIVersions")

    def _tree_digest(self, tree: Path) -> str:
        with self._lock:
            if tree in self._trees:
                return self._trees[tree]
        digest = hashlib.sha256()
        if tree.is_dir():
            for path in sorted(p for p in tree.rglob("*") if p.is_file() and ".git" not in p.parts):
                digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes() + b"\0")
        with self._lock:
            self._trees[tree] = digest.hexdigest()
        return self._trees[tree]

    def _chart_result(self, job: _Job) -> dict[str, Any]:
        source = job.source
        chart = self.chart(source)

        def render() -> list[helm.Template]:
            return chart.render(
                source.values,
                release=source.release,
                namespace=job.namespace,
                kubernetes_version=job.kubernetes_version,
                api_versions=job.api_versions,
            )

        first, second = render(), render()
        objects = [(t.path, obj) for t in first for obj in parse_objects(t.text, t.path) if _applied(obj)]
        problems = [] if first == second else _unstable(first, second, chart.files)
        return {"objects": objects, "problems": problems}

    def git_tree(self, source: Source) -> Path:
        """Where a git source's revision is: this checkout for the ML applications, else the git cache."""
        return Path(source.tree) if source.tree else self.caches.git_tree(source.repo_url, source.version)

    def _git_result(self, job: _Job) -> dict[str, Any]:
        source = job.source
        tree = self.git_tree(source)
        text = kustomize.build(tree, source.path, source.values, self.caches.vendor_root(source.repo_url))
        return {"objects": [(source.path, obj) for obj in parse_objects(text, source.path)], "problems": []}


def _failed(source: Source, error: Exception, kind: str) -> dict[str, Any]:
    return {"objects": [], "problems": [{"subject": source.label, "message": str(error), "kind": kind}]}


_mentions: dict[tuple[int, str], tuple[helm.ChartFiles, bool]] = {}


def _templates_mention(files: helm.ChartFiles, text: str) -> bool:
    """Whether any template of the chart or its subcharts holds `text` (asked once per chart and text)."""
    key = (id(files), text)
    if key not in _mentions:
        found = any(text in template for template in files.templates.values()) or any(
            _templates_mention(sub, text) for sub in files.subcharts
        )
        _mentions[key] = (files, found)  # the chart is kept: ids stay unique
    return _mentions[key][1]


def crd_api_versions(crds: Iterable[Mapping[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` of every served version, as Argo CD passes a cluster's APIs."""
    found = set()
    for crd in crds:
        spec = crd.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if version.get("served", True):
                found |= {f"{spec['group']}/{version['name']}", f"{spec['group']}/{version['name']}/{kind}"}
    return found


def _applied(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if ARGOCD_HOOK in annotations or HELM_HOOK not in annotations:
        return True
    hooks = {hook.strip() for hook in str(annotations[HELM_HOOK]).split(",")}
    return bool(hooks & APPLIED_HELM_HOOKS)


def _applied_as_resource(obj: Mapping[str, Any]) -> bool:
    """Not a hook: a resource Argo CD keeps in sync (and so compares with what it renders)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return HELM_HOOK not in annotations and ARGOCD_HOOK not in annotations


def _placed(obj: dict[str, Any], namespace: str, scopes: Scopes) -> dict[str, Any]:
    """The object as applied: namespaced objects without a namespace get the destination namespace, and a
    cluster-scoped object's namespace is ignored by the API server (dropped here too)."""
    metadata = obj.get("metadata") or {}
    cluster = scopes.cluster_scoped(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if cluster and "namespace" in metadata:
        return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "namespace"}}
    if cluster is False and not metadata.get("namespace") and namespace:
        return {**obj, "metadata": {**metadata, "namespace": namespace}}
    return obj


def identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return (
        group_of(str(obj.get("apiVersion", ""))),
        str(obj.get("kind")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name")),
    )


def _duplicates(deployer: str, objects: Sequence[ExpandedObject]) -> list[Problem]:
    counts = Counter(identity(o.object) for o in objects)
    return [
        Problem(
            deployer,
            f"{kind} {namespace + '/' if namespace else ''}{name}",
            f"rendered {count} times; Argo CD refuses an Application with duplicate objects",
        )
        for (_, kind, namespace, name), count in sorted(counts.items())
        if count > 1
    ]


def _unstable(first: Sequence[helm.Template], second: Sequence[helm.Template], files: helm.ChartFiles) -> list[dict]:
    """Problems naming each object that differs between two renders, the fields that differ, and the values read
    where its template draws random data (the values that pin it)."""
    before = {identity(obj): (t.path, obj) for t in first for obj in parse_objects(t.text, t.path)}
    after = {identity(obj): obj for t in second for obj in parse_objects(t.text, t.path)}
    problems = []
    for key, (path, obj) in sorted(before.items()):
        if after.get(key) == obj:
            continue
        fields = sorted(differing_fields(obj, after.get(key) or {}))
        pins = random_value_keys(files, path)
        hint = (
            f"pin it with the values read where its template draws at random: {', '.join(pins)}"
            if pins
            else "it is derived from data the chart draws at random (a checksum of another template, or a helper)"
        )
        _, kind, namespace, name = key
        hook = not _applied_as_resource(obj)
        consequence = (
            "a sync hook, so Argo CD replaces it with a new value at every sync"
            if hook
            else "Argo CD would see drift on every refresh and change it on every sync"
        )
        problems.append(
            {
                "subject": f"{kind} {namespace + '/' if namespace else ''}{name} ({path})",
                "message": f"renders differently each time at {', '.join(fields[:6])}"
                + (" ..." if len(fields) > 6 else "")
                + f": {consequence}; {hint}",
                "severity": "advisory" if hook else "error",
            }
        )
    return problems


def differing_fields(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            out += differing_fields(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [f for i, (x, y) in enumerate(zip(a, b, strict=True)) for f in differing_fields(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "(root)"]


def expand(rendered: Rendered, expander: Expander | None = None) -> Expansion:
    return (expander or Expander()).expand(rendered)
