"""The `values` stage: what each Application (and Pulumi Helm release) hands its chart or kustomize path must be
something the chart or path acts on.

For every chart source:
- the chart's own verdict: values its values.schema.json refuses, and templates that fail with these values (found
  by the expansion, which renders them), each named by the value path Helm names;
- every value key the stack sets, walked down to each leaf, must be one the chart knows (infra/expand/values/
  model.py: declared in its defaults, read by a template, under a map passed through whole, or in a free-form
  slot) or one policies/values-allowlist.yaml lists; else Helm ignores it without a word;
- a value must have the shape of the chart's default where one is a map and the other is not: Helm cannot merge
  them and only warns, and the chart's templates are written for the default's shape.
For every git source: each of the Application's kustomize patches must select an object the path builds.

Results are memoized by chart digest and values: environments share most of them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.expand import helm
from infra.expand.expansion import EXPANSION, TEMPLATE, VALUES_SCHEMA, Expander, Problem, ResultCache
from infra.expand.kustomize import KUSTOMIZATION_FILES
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.sources import Deployer, Source
from infra.expand.values import patches, reads
from infra.expand.values.allowlist import AllowedKey, ValuesAllowlist, load_allowlist
from infra.expand.values.model import MISSING, ChartModel
from infra.expand.values.paths import joined
from infra.expand.values.reads import ValuePath, all_charts
from infra.offline.validate import Finding

STAGE = "values"
_SCHEMA_ERROR = re.compile(r"(?:([\w.-]+):\s+)?-\s+at\s+'([^']*)':\s+(.*?)(?=\s+(?:[\w.-]+:\s+)?-\s+at\s+'|$)")
_TEMPLATE_VALUE = re.compile(r"at <\$?\.Values((?:\.[A-Za-z_][\w-]*)*)>")
_TEMPLATE_FILE = re.compile(r"([\w.-]+(?:/charts/[\w.-]+)*)/templates/")


@dataclass(frozen=True)
class _ValueProblem:
    path: ValuePath
    message: str


@dataclass(frozen=True)
class _Checked:
    problems: tuple[_ValueProblem, ...]
    leaves: int
    used: tuple[AllowedKey, ...]


_lock = threading.Lock()
_models: dict[str, ChartModel] = {}
_results: dict[tuple[str, str, str], _Checked] = {}
_default_allowlist: list[ValuesAllowlist] = []
_default_expander: list[Expander] = []


def chart_model(chart: helm.Chart, results: ResultCache | None = None) -> ChartModel:
    """The chart's keys and reads, made once per chart archive (by digest) in a process; what its templates read
    is kept in `results` (the expansion's result cache) across processes."""
    with _lock:
        if chart.digest in _models:
            return _models[chart.digest]
    key = hashlib.sha256(f"values-reads {reads.CODE_DIGEST} {chart.digest}".encode()).hexdigest()
    stored = results.get(key) if results is not None else None
    found = reads.from_json(stored) if stored is not None else reads.chart_reads(chart.files)
    if stored is None and results is not None:
        results.put(key, reads.to_json(found))
    model = ChartModel(chart.files, found)
    with _lock:
        return _models.setdefault(chart.digest, model)


def values_findings(
    platform: Platform, expander: Expander | None = None, allowlist: ValuesAllowlist | None = None
) -> tuple[list[Finding], int]:
    """Findings of every Deployer's sources, and how many value leaf paths and patches were checked."""
    expander = expander or _expander()
    allowlist = allowlist if allowlist is not None else default_allowlist()
    applications = {
        str(m.object["metadata"]["name"]): m.object
        for m in platform.rendered.manifests
        if m.object.get("kind") == "Application" and str(m.object.get("apiVersion", "")).startswith("argoproj.io/")
    }
    findings: list[Finding] = []
    checked = 0
    deployed: dict[str, list[ChartModel]] = {}
    for deployer in platform.deployers:
        application = applications.get(deployer.name)
        ref = _ref(deployer, application)
        for index, source in enumerate(deployer.sources):
            field = _field(deployer, application, index, source)
            if source.kind == "chart":
                chart = expander.chart(source)
                model = chart_model(chart, expander.results)
                deployed.setdefault(source.chart, []).append(model)
                result = _check_chart(chart.digest, model, source, allowlist)
                allowlist.used.update(result.used)
                checked += result.leaves
                findings += [Finding(STAGE, ref, f"{joined(field, p.path)}: {p.message}") for p in result.problems]
            elif not _failed(platform, deployer, source):
                # (A path that does not build is the expand stage's error; its patches cannot be compared.)
                objects = [
                    o.object for o in platform.expansion.objects.get(deployer.name, []) if o.origin == source.path
                ]
                options = source.values.get("patches") or []
                affixes = _name_affixes(expander, source)
                checked += len(options)
                findings += [
                    Finding(STAGE, ref, f"{field}[{i}]: {why} ({source.label})")
                    for i, why in patches.unmatched(options, objects, affixes)
                ]
    findings += refusal_findings(platform, expander, applications)
    findings += redundant_entries(allowlist, deployed)
    return findings, checked


def _failed(platform: Platform, deployer: Deployer, source: Source) -> bool:
    return any(
        p.deployer == deployer.name and p.subject == source.label and p.kind == EXPANSION
        for p in platform.expansion.problems
    )


def default_allowlist() -> ValuesAllowlist:
    """policies/values-allowlist.yaml, read once per process (its `used` entries gather over the environments)."""
    with _lock:
        if not _default_allowlist:
            _default_allowlist.append(load_allowlist())
        return _default_allowlist[0]


def unused_entries(allowlist: ValuesAllowlist) -> list[Finding]:
    """Entries no value key of the environments checked so far needed: they would let a future key through
    unseen. Meaningful once every environment has been checked."""
    return [
        Finding(
            STAGE,
            allowlist.source,
            f"{entry.label}: no value key of any environment needs this entry any more; remove it",
        )
        for entry in allowlist.unused()
    ]


def redundant_entries(allowlist: ValuesAllowlist, deployed: Mapping[str, Sequence[ChartModel]]) -> list[Finding]:
    """Entries for a chart of this environment that accepts every key under the entry's key on its own."""
    findings = []
    for entry in allowlist.for_charts(deployed):
        if all(model.accepts_any_key_under(entry.key) for model in deployed[entry.chart]):
            findings.append(
                Finding(
                    STAGE,
                    allowlist.source,
                    f"{entry.label}: the chart now accepts every key under it on its own (it passes the map through "
                    "or leaves it free-form); remove the entry",
                )
            )
    return findings


# --- keys and shapes -----------------------------------------------------------------------------------------------


def _check_chart(digest: str, model: ChartModel, source: Source, allowlist: ValuesAllowlist) -> _Checked:
    key = (digest, source.values_json, allowlist.digest)
    with _lock:
        if key in _results:
            return _results[key]
    result = check_values(model, source.values, f"chart {source.chart} {source.version}", source.chart, allowlist)
    with _lock:
        _results[key] = result
    return result


def check_values(
    model: ChartModel, values: Mapping[str, Any], label: str, chart: str, allowlist: ValuesAllowlist
) -> _Checked:
    problems: list[_ValueProblem] = []
    used: set[AllowedKey] = set()
    leaves = 0

    def walk(node: Mapping[str, Any], path: ValuePath) -> None:
        nonlocal leaves
        for key, value in node.items():
            here = (*path, str(key))
            shape = shape_problem(value, model.default(here), label)
            if shape:
                problems.append(_ValueProblem(here, shape))
                leaves += leaf_count(value)
                continue
            if not model.knows(here):
                entry = allowlist.covering(chart, here)
                if entry is None:
                    problems.append(_ValueProblem(here, f"{label} neither declares nor reads this key"))
                else:
                    used.add(entry)
                leaves += leaf_count(value)
                continue
            if isinstance(value, Mapping) and value:
                walk(value, here)
            else:
                leaves += 1

    walk(values, ())
    return _Checked(tuple(problems), leaves, tuple(sorted(used, key=lambda e: (e.chart, e.key))))


def leaf_count(value: Any) -> int:
    if isinstance(value, Mapping) and value:
        return sum(leaf_count(v) for v in value.values())
    return 1


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map"
    return "list" if isinstance(value, list) else "scalar"


def shape_problem(value: Any, default: Any, label: str) -> str | None:
    """Why `value` cannot stand where the chart's default is `default`: one is a map and the other is not.

    Helm cannot merge the two: it keeps the given value and warns on every render ("cannot overwrite table with
    non table", "destination ... is a table"), and the chart's templates are written for the default's shape."""
    if default is MISSING or default is None:
        return None
    given, expected = _shape(value), _shape(default)
    if given == expected or "map" not in (given, expected):
        return None
    return (
        f"a {given} where {label} has a {expected} (default {_brief(default)}): Helm cannot merge them, keeps the "
        f"{given} with a warning on every render, and the chart's templates are written for a {expected}; "
        f"give a {expected}"
    )


def _brief(value: Any) -> str:
    text = repr(value) if not isinstance(value, (Mapping, list)) or len(str(value)) <= 40 else f"{_shape(value)} ..."
    return text if len(text) <= 60 else text[:57] + "..."


# --- the chart's own verdict -----------------------------------------------------------------------------------


def refusal_findings(
    platform: Platform, expander: Expander, applications: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    """Values the chart's schema refuses and templates that fail with them, as the expansion found them."""
    deployers = {d.name: d for d in platform.deployers}
    findings: list[Finding] = []
    for problem in platform.expansion.problems:
        if problem.kind not in (VALUES_SCHEMA, TEMPLATE) or problem.deployer not in deployers:
            continue
        deployer = deployers[problem.deployer]
        application = applications.get(deployer.name)
        index, source = next(
            ((i, s) for i, s in enumerate(deployer.sources) if s.label == problem.subject), (0, deployer.sources[0])
        )
        field = _field(deployer, application, index, source)
        files = expander.chart(source).files
        for path, message in refusals(problem, files, f"chart {source.chart} {source.version}"):
            findings.append(Finding(STAGE, _ref(deployer, application), f"{joined(field, path)}: {message}"))
    return findings


def refusals(problem: Problem, files: helm.ChartFiles, label: str) -> list[tuple[ValuePath, str]]:
    """(value path, message) for each value a schema refuses, or the one a failing template names."""
    if problem.kind == VALUES_SCHEMA:
        found: list[tuple[ValuePath, str]] = []
        chart_name = files.name
        for match in _SCHEMA_ERROR.finditer(problem.message):
            chart_name = match.group(1) or chart_name
            pointer = [part.replace("~1", "/").replace("~0", "~") for part in match.group(2).split("/") if part]
            where = _key_path_of(files, chart_name)
            found.append(
                (
                    (*where, *pointer),
                    f"{label}'s values.schema.json refuses this value: {match.group(3).strip()}",
                )
            )
        return found or [((), f"{label}'s values.schema.json refuses the values: {problem.message}")]
    reference = _TEMPLATE_VALUE.search(problem.message)
    path: ValuePath = ()
    if reference:
        template = _TEMPLATE_FILE.search(problem.message)
        prefix = _subchart_key_path(files, template.group(1)) if template else ()
        path = (*prefix, *filter(None, reference.group(1).split(".")))
        if len(path) > len(prefix) and path[len(prefix)] == "global":
            path = path[len(prefix) :]
    return [(path, f"{label} fails to render with these values: {problem.message}")]


def _key_path_of(files: helm.ChartFiles, chart_name: str) -> ValuePath:
    return next((chart.key_path for chart in all_charts(files) if chart.name == chart_name), ())


def _subchart_key_path(files: helm.ChartFiles, template_root: str) -> ValuePath:
    """`kube-prometheus-stack/charts/grafana` -> the key path of that subchart."""
    chart = files
    for name in template_root.split("/")[2::2]:
        chart = next((sub for sub in chart.subcharts if name in (sub.name, sub.key_path[-1])), chart)
    return chart.key_path


# --- where a source's settings are -----------------------------------------------------------------------------


def _ref(deployer: Deployer, application: Mapping[str, Any] | None) -> str:
    if application is not None:
        return PlatformObject(STACK, application, "").ref
    return f"{STACK}: Helm release (Pulumi kubernetes:helm.sh/v3:Release) {deployer.namespace}/{deployer.name}"


def _field(deployer: Deployer, application: Mapping[str, Any] | None, index: int, source: Source) -> str:
    if application is None:
        return "values"
    spec = application.get("spec") or {}
    base = f"spec.sources[{index}]" if "sources" in spec else "spec.source"
    return f"{base}.helm.valuesObject" if source.kind == "chart" else f"{base}.kustomize.patches"


def _name_affixes(expander: Expander, source: Source) -> tuple[str, str]:
    """The top-level kustomization's namePrefix and nameSuffix, which apply after its patches."""
    return _affixes(expander.git_tree(source) / source.path)


@cache
def _affixes(directory: Path) -> tuple[str, str]:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            data = yaml.safe_load((directory / name).read_text(encoding="utf-8")) or {}
            return str(data.get("namePrefix") or ""), str(data.get("nameSuffix") or "")
    return "", ""


def _expander() -> Expander:
    with _lock:
        if not _default_expander:
            _default_expander.append(Expander(results=ResultCache(None)))
        return _default_expander[0]
