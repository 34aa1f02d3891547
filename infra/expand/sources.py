"""What the stack hands to something that installs it later: each Argo CD Application's source, and each Pulumi
Helm release (Argo CD itself, the on-prem CNI), read off the rendered stack."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from infra.offline.render import Rendered
from infra.offline.serialize import plain

APPLICATION_API = "argoproj.io/v1alpha1"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


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


def deployers(rendered: Rendered) -> list[Deployer]:
    found = [application(m.object) for m in rendered.manifests if _is_application(m.object)]
    found += [release(plain(r.inputs)) for r in rendered.run.resources if r.type == RELEASE_TYPE]
    return sorted(found, key=lambda d: d.name)


def _is_application(obj: Mapping[str, Any]) -> bool:
    return obj.get("apiVersion") == APPLICATION_API and obj.get("kind") == "Application"


def application(obj: Mapping[str, Any]) -> Deployer:
    spec = obj["spec"]
    name = obj["metadata"]["name"]
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
    source = Source(
        "chart",
        inputs["repositoryOpts"]["repo"],
        str(inputs["version"]),
        chart=inputs["chart"],
        values_json=canonical(inputs.get("values") or {}),
        release=inputs["name"],
    )
    return Deployer(inputs["name"], "Release", inputs.get("namespace", "default"), (source,))
