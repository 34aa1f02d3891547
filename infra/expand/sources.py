"""What the stack hands to something that installs it later: each Argo CD Application's source, and each Pulumi
Helm release (Argo CD itself, the on-prem CNI), read off the rendered stack."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infra.offline.render import Rendered
from infra.offline.serialize import plain
from infra.platform.argocd_app import SOURCE_KEY, mirrored_url

APPLICATION_API = "argoproj.io/v1alpha1"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
REPO = Path(__file__).resolve().parents[2]
# The template expressions of an ApplicationSet's git directories generator that the expansion evaluates.
_PATH_EXPRESSION = re.compile(r"\{\{\s*(index \.path\.segments (\d+)|\.path\.path|\.path\.basename)\s*\}\}")


@dataclass(frozen=True)
class Source:
    kind: Literal["chart", "git"]
    repo_url: str
    version: str
    """Chart version, or the git revision (tag)."""
    chart: str = ""
    path: str = ""
    values_json: str = "{}"
    """Helm values (a chart), or Argo CD's kustomize options (a git path), as canonical JSON."""
    release: str = ""
    tree: str = ""
    """A directory that holds the revision already: the platform's own repository, for the ML applications."""

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    @property
    def label(self) -> str:
        if self.kind == "chart":
            return f"chart {self.chart} {self.version} ({self.repo_url})"
        return f"{self.repo_url} {self.path} at {self.version}"


@dataclass(frozen=True)
class Deployer:
    """An Argo CD Application or a Pulumi Helm release, and what it installs."""

    name: str
    kind: Literal["Application", "Release"]
    namespace: str
    """Destination namespace: where objects without a namespace of their own go."""
    sources: tuple[Source, ...]


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def deployers(rendered: Rendered, repository: Path = REPO) -> list[Deployer]:
    """The stack's Applications, its Helm releases, and the Applications its ApplicationSets generate from this
    repository (`repository`: the checkout at the revision they name)."""
    found = [application(m.object) for m in rendered.manifests if _is_application(m.object)]
    found += [release(plain(r.inputs)) for r in rendered.run.resources if r.type == RELEASE_TYPE]
    # The ApplicationSets read this repository, under the name Argo CD reaches it by (its mirror, if any).
    own_url = mirrored_url(rendered.env.gitops.repo_url, rendered.env.mirrors.git)
    for manifest in rendered.manifests:
        if manifest.object.get("apiVersion") == APPLICATION_API and manifest.object.get("kind") == "ApplicationSet":
            found += application_set(manifest.object, own_url, repository)
    return sorted(found, key=lambda d: d.name)


def application_set(obj: Mapping[str, Any], own_repo_url: str, repository: Path) -> list[Deployer]:
    """The Applications a git directories generator over this repository makes, as Argo CD would template them."""
    spec = obj["spec"]
    made: list[Deployer] = []
    for generator in spec.get("generators") or []:
        git = generator.get("git")
        if set(generator) != {"git"} or not git or git.get("repoURL") != own_repo_url or "files" in git:
            raise ValueError(
                f"ApplicationSet {obj['metadata']['name']}: only git directories generators over this repository "
                f"({own_repo_url}) are expanded offline; extend infra/expand/sources.py"
            )
        for pattern in git.get("directories") or []:
            for directory in sorted(p for p in repository.glob(pattern["path"]) if p.is_dir()):
                path = str(directory.relative_to(repository))
                generated = _templated(spec["template"], path)
                deployer = application({"metadata": generated["metadata"], "spec": generated["spec"]})
                local = tuple(Source(**{**vars(s), "tree": str(repository)}) for s in deployer.sources)
                made.append(Deployer(deployer.name, deployer.kind, deployer.namespace, local))
    return made


def _templated(template: Any, path: str) -> Any:
    if isinstance(template, Mapping):
        return {key: _templated(value, path) for key, value in template.items()}
    if isinstance(template, list):
        return [_templated(item, path) for item in template]
    if not isinstance(template, str) or "{{" not in template:
        return template

    def value(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return path.split("/")[int(match.group(2))]
        return path if match.group(1) == ".path.path" else path.rsplit("/", 1)[-1]

    result = _PATH_EXPRESSION.sub(value, template)
    if "{{" in result:
        raise ValueError(f"ApplicationSet template {template!r}: an expression the offline expansion does not evaluate")
    return result


def _is_application(obj: Mapping[str, Any]) -> bool:
    return obj.get("apiVersion") == APPLICATION_API and obj.get("kind") == "Application"


def application(obj: Mapping[str, Any]) -> Deployer:
    spec = obj["spec"]
    # An Application in a hub is known by its name without the environment prefix.
    name = (obj["metadata"].get("annotations") or {}).get(SOURCE_KEY) or obj["metadata"]["name"]
    sources = spec.get("sources") or [spec["source"]]
    namespace = spec["destination"].get("namespace", "")
    return Deployer(name, "Application", namespace, tuple(_source(s, name) for s in sources))


def _source(source: Mapping[str, Any], application_name: str) -> Source:
    if source.get("chart"):
        helm = source.get("helm") or {}
        unsupported = sorted(set(helm) - {"releaseName", "valuesObject"})
        if unsupported:
            raise ValueError(
                f"Application {application_name}: helm option(s) {', '.join(unsupported)} are not applied by the "
                "offline expansion; extend infra/expand/sources.py"
            )
        return Source(
            "chart",
            source["repoURL"],
            str(source["targetRevision"]),
            chart=source["chart"],
            values_json=canonical(helm.get("valuesObject") or {}),
            release=helm.get("releaseName") or application_name,
        )
    return Source(
        "git",
        source["repoURL"],
        str(source["targetRevision"]),
        path=source.get("path", ""),
        values_json=canonical(source.get("kustomize") or {}),
    )


def release(inputs: Mapping[str, Any]) -> Deployer:
    chart, repo = str(inputs["chart"]), (inputs.get("repositoryOpts") or {}).get("repo")
    if repo is None and chart.startswith("oci://"):  # a chart from an OCI registry (the chart mirror)
        repo, _, chart = chart.removeprefix("oci://").rpartition("/")
    if repo is None:
        raise ValueError(f"Helm release {inputs.get('name')}: chart {chart!r} has no repository")
    source = Source(
        "chart",
        repo,
        str(inputs["version"]),
        chart=chart,
        values_json=canonical(inputs.get("values") or {}),
        release=inputs["name"],
    )
    return Deployer(inputs["name"], "Release", inputs.get("namespace", "default"), (source,))
