"""Helm, and only here: loading, reading and rendering chart archives, and pulling them from repositories.

Rendering uses Helm 4's own engine through `helm-python-sdk` (the Go SDK in a shared library, no binary), the way
Argo CD's repo server runs `helm template`: release name, namespace, Kubernetes version and the API versions the
cluster serves. Swapping in a `helm` binary means replacing this module only.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

ENGINE = f"helm-python-sdk {helm_python.__version__} (Helm {helm_python.EXPECTED_HELM_SDK_VERSION})"


class ChartError(Exception):
    """A chart that cannot be rendered with the values it was given: what Argo CD would report as a sync error."""


class ValuesRefused(ChartError):
    """The values do not meet the chart's values.schema.json."""


@dataclass(frozen=True)
class Template:
    """One rendered template file of a chart: its path inside the archive and its text (possibly several
    YAML documents)."""

    path: str
    text: str


@dataclass(frozen=True)
class ChartFiles:
    """One chart of an archive (the chart itself or a subchart at any depth), as text: what the value-key check
    reads. `key` is where its values sit in the parent's values (its alias, else its name); `condition` and `tags`
    are its Chart.yaml dependency entry in the parent."""

    name: str
    key_path: tuple[str, ...]
    """Keys from the top-level values to this chart's values (empty for the chart itself)."""
    defaults: Mapping[str, Any]
    templates: Mapping[str, str]
    crds: Mapping[str, str]
    dependencies: tuple[Mapping[str, Any], ...] = ()
    subcharts: tuple[ChartFiles, ...] = field(default=())


def kube_version(kubernetes_version: str) -> str:
    """`1.34` -> `v1.34.0`, the form `helm template --kube-version` takes."""
    parts = kubernetes_version.removeprefix("v").split(".")
    return "v" + ".".join((parts + ["0", "0"])[:3])


class Chart:
    """A chart archive from the chart cache."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self._data = archive.read_bytes()

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self._data).hexdigest()

    def _load(self) -> helm_python.Chart:
        """A chart loaded afresh: Helm drops disabled subcharts from the chart it renders (in place), so a loaded
        chart serves one render only."""
        try:
            return helm_python.Chart.load_archive(self._data)
        except helm_python.HelmError as error:
            raise ChartError(f"{self.archive}: not a readable chart archive: {error}") from error

    @cached_property
    def metadata(self) -> dict[str, Any]:
        with self._load() as chart:
            return chart.metadata

    def render(
        self,
        values: Mapping[str, Any],
        *,
        release: str,
        namespace: str,
        kubernetes_version: str,
        api_versions: Sequence[str],
        include_crds: bool = True,
    ) -> list[Template]:
        """`helm template --include-crds` as Argo CD runs it: CRDs of `crds/` folders (of the enabled charts) first,
        then every template that renders to something; NOTES.txt and partials are not manifests."""
        options = {
            "name": release,
            "namespace": namespace,
            "kube_version": kube_version(kubernetes_version),
            "api_versions": list(api_versions),
            "is_install": True,
        }
        try:
            with self._load() as chart:
                rendered = json.loads(
                    _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
                )
        except helm_python.HelmValuesError as error:
            raise ValuesRefused(_one_paragraph(str(error))) from error
        except helm_python.HelmError as error:
            raise ChartError(_one_paragraph(str(error))) from error
        templates = [
            Template(path, text)
            for path, text in sorted(rendered.items())
            if not path.endswith("NOTES.txt") and text.strip()
        ]
        if not include_crds:
            return templates
        return [*self.enabled_crds(values), *templates]

    def enabled_crds(self, values: Mapping[str, Any]) -> list[Template]:
        """The `crds/` files Helm installs: the chart's own, and those of subcharts whose condition and tags hold."""
        with self._load() as chart:
            merged = chart.merge_values(dict(values))
        wanted: list[Template] = []

        def visit(chart: ChartFiles, scope: Mapping[str, Any]) -> None:
            for path, text in sorted(chart.crds.items()):
                wanted.append(Template(path, text))
            for sub in chart.subcharts:
                entry = next((d for d in chart.dependencies if _dependency_key(d) == sub.key_path[-1]), {})
                if dependency_enabled(entry, scope):
                    child = scope.get(sub.key_path[-1])
                    visit(sub, child if isinstance(child, Mapping) else {})

        visit(self.files, merged)
        return wanted

    @cached_property
    def files(self) -> ChartFiles:
        """The chart and its subcharts as text, read from the archive (nested archives included)."""
        with tarfile.open(fileobj=io.BytesIO(self._data), mode="r:gz") as archive:
            members = {
                member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
                for member in archive.getmembers()
                if member.isfile()
            }
        root = min((name.split("/", 1)[0] for name in members), key=len)
        return _chart_files(members, root, ())


def _dependency_key(dependency: Mapping[str, Any]) -> str:
    return str(dependency.get("alias") or dependency.get("name") or "")


def dependency_enabled(dependency: Mapping[str, Any], parent_values: Mapping[str, Any]) -> bool:
    """Helm's rule: the first `condition` path that resolves to a boolean decides; else any `tags` entry set true
    or false decides; else the dependency is enabled."""
    for condition in str(dependency.get("condition") or "").split(","):
        value = _lookup(parent_values, condition.strip())
        if isinstance(value, bool):
            return value
    tags = parent_values.get("tags") if isinstance(parent_values.get("tags"), Mapping) else {}
    settings = [tags.get(tag) for tag in dependency.get("tags") or [] if isinstance(tags.get(tag), bool)]
    if settings:
        return any(settings)
    return True


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    current: Any = values
    for key in filter(None, dotted.split(".")):
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def _chart_files(members: Mapping[str, bytes], root: str, key_path: tuple[str, ...]) -> ChartFiles:
    def text(name: str) -> str:
        return members[name].decode("utf-8", errors="replace")

    metadata = yaml.safe_load(text(f"{root}/Chart.yaml")) or {}
    defaults_file = f"{root}/values.yaml"
    defaults = (yaml.safe_load(text(defaults_file)) or {}) if defaults_file in members else {}
    prefix = f"{root}/"
    templates = {name[len(root) + 1 :]: text(name) for name in members if name.startswith(f"{prefix}templates/")}
    crds = {
        name[len(root) + 1 :]: text(name)
        for name in members
        if name.startswith(f"{prefix}crds/") and name.endswith((".yaml", ".yml", ".json"))
    }
    dependencies = tuple(metadata.get("dependencies") or ())
    subcharts: list[ChartFiles] = []
    # A subchart is a folder charts/<name>/ or an archive charts/<name>-<version>.tgz.
    folders = sorted(
        {
            name[len(prefix) :].split("/")[1]
            for name in members
            if name.startswith(f"{prefix}charts/") and name[len(prefix) :].count("/") >= 2
        }
    )
    for folder in folders:
        sub = _chart_files(members, f"{prefix}charts/{folder}", ())
        subcharts.append(_keyed(sub, key_path, dependencies))
    for name in sorted(members):
        if name.startswith(f"{prefix}charts/") and name.endswith(".tgz") and name[len(prefix) :].count("/") == 1:
            with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:gz") as nested:
                inner = {m.name: nested.extractfile(m).read() for m in nested.getmembers() if m.isfile()}  # type: ignore[union-attr]
            inner_root = min((n.split("/", 1)[0] for n in inner), key=len)
            subcharts.append(_keyed(_chart_files(inner, inner_root, ()), key_path, dependencies))
    return ChartFiles(
        name=str(metadata.get("name") or root),
        key_path=key_path,
        defaults=defaults if isinstance(defaults, Mapping) else {},
        templates=templates,
        crds=crds,
        dependencies=dependencies,
        subcharts=tuple(subcharts),
    )


def _keyed(sub: ChartFiles, parent_path: tuple[str, ...], dependencies: Sequence[Mapping[str, Any]]) -> ChartFiles:
    """A subchart placed where its values live: under its alias when the parent's Chart.yaml gives one."""
    entry = next((d for d in dependencies if d.get("name") == sub.name), {})
    return _placed_under(sub, (*parent_path, _dependency_key(entry) or sub.name))


def _placed_under(chart: ChartFiles, path: tuple[str, ...]) -> ChartFiles:
    """`chart` with its values at `path`, its own subcharts under it."""
    children = tuple(_placed_under(child, (*path, child.key_path[-1])) for child in chart.subcharts)
    return replace(chart, key_path=path, subcharts=children)


def pull(chart: str, repo_url: str, version: str, destination: Path) -> Path:
    """Download a chart into `destination` as `helm pull` does (HTTP repository, or an OCI registry given as
    `host/path` or `oci://host/path`); returns the archive's path."""
    destination.mkdir(parents=True, exist_ok=True)
    before = set(destination.glob("*.tgz"))
    try:
        if "://" not in repo_url or repo_url.startswith("oci://"):
            reference = f"oci://{repo_url.removeprefix('oci://').rstrip('/')}/{chart}"
            helm_python.pull(reference, version=version, destination=destination)
        else:
            helm_python.pull(chart, repo_url=repo_url, version=version, destination=destination)
    except helm_python.HelmError as error:
        reason = _one_paragraph(str(error))
        raise ChartError(f"could not pull chart {chart} {version} from {repo_url}: {reason}") from error
    added = sorted(set(destination.glob("*.tgz")) - before)
    candidates = added or sorted(destination.glob(f"{chart}-*{version.removeprefix('v')}.tgz"))
    if not candidates:
        raise ChartError(f"pulling chart {chart} {version} from {repo_url} wrote no archive into {destination}")
    return candidates[0]


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())
