"""The ML applications in apps/: build each environment's kustomize overlays and check them offline.

Argo CD builds `apps/<app>/overlays/<env>` with kustomize and syncs it into `ml-<app>` under the `ml-apps`
project. `check` does the same build here (a real kustomize: `kustomize build`, or `kubectl kustomize`,
or the command in MLOPS_KUSTOMIZE) and validates the objects like the rendered platform: strict Kubernetes
schemas, CRD schemas, the rules of the rendered `ml-apps` AppProject, and (in the caller) checkov.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.components.argocd import ML_PROJECT, ml_namespace
from infra.expand.kustomize import kustomize_command
from infra.offline.serialize import dump_yaml
from infra.offline.validate import Finding, ManifestValidator, object_ref

STAGE = "apps"


@dataclass(frozen=True)
class Overlay:
    app: str
    path: Path
    objects: tuple[dict[str, Any], ...] = ()
    error: str = ""

    @property
    def name(self) -> str:
        return f"apps/{self.app}/overlays/{self.path.name}"


def overlays(apps_dir: Path, env: str) -> list[Path]:
    """The overlays Argo CD's git generator finds for `env` (`apps/*/overlays/<env>`)."""
    return sorted(path for path in apps_dir.glob(f"*/overlays/{env}") if path.is_dir())


def build(path: Path) -> Overlay:
    app = path.parents[1].name
    result = subprocess.run([*kustomize_command(), str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return Overlay(app, path, error=result.stderr.strip()[-1000:] or f"exit code {result.returncode}")
    objects = tuple(obj for obj in yaml.safe_load_all(result.stdout) if obj)
    return Overlay(app, path, objects)


def build_overlays(apps_dir: Path, env: str) -> list[Overlay]:
    """Every overlay of `env`, built (KustomizeMissing without a kustomize)."""
    return [build(path) for path in overlays(apps_dir, env)]


def project_problems(overlay: Overlay, project: Mapping[str, Any] | None) -> list[str]:
    """What the `ml-apps` AppProject (as rendered for this environment) would refuse to sync."""
    if project is None:
        return [f"the environment renders no AppProject {ML_PROJECT} to sync {overlay.name}"]
    spec = project.get("spec", {})
    expected = ml_namespace(overlay.app)
    destinations = [d.get("namespace", "") for d in spec.get("destinations", [])]
    problems = []
    if not any(fnmatch.fnmatchcase(expected, pattern) for pattern in destinations):
        problems.append(
            f"namespace {expected} is not a destination of project {ML_PROJECT}: list {overlay.app} under "
            "argocd.apps in the stack file"
        )
    blacklist = [
        (entry.get("group", ""), entry.get("kind", "")) for entry in spec.get("namespaceResourceBlacklist", [])
    ]
    for obj in overlay.objects:
        ref = object_ref(obj)
        namespace = obj.get("metadata", {}).get("namespace")
        if namespace is None:
            problems.append(f"{ref}: cluster-scoped or without namespace; project {ML_PROJECT} allows neither")
        elif namespace != expected:
            problems.append(f"{ref}: namespace {namespace}; objects of app {overlay.app} belong in {expected}")
        group = obj.get("apiVersion", "").rpartition("/")[0]
        if any(fnmatch.fnmatchcase(group, g) and fnmatch.fnmatchcase(obj.get("kind", ""), k) for g, k in blacklist):
            problems.append(f"{ref}: kind {obj.get('kind')} is reserved to the platform in project {ML_PROJECT}")
    return problems


def check_overlays(
    apps_dir: Path,
    env: str,
    rendered: Iterable[Mapping[str, Any]],
    validator: ManifestValidator,
    out_dir: Path,
    built: Sequence[Overlay] | None = None,
) -> tuple[list[Finding], int]:
    """Validate every overlay of `env` (`built` already, or built here); write the built objects under `out_dir`
    for checkov. Returns the findings and the number of objects checked."""
    # In a hub (argocd.mode hub) the project's name carries the environment's prefix.
    names = {ML_PROJECT, f"{env}-{ML_PROJECT}"}
    project = next((o for o in rendered if o.get("kind") == "AppProject" and o["metadata"]["name"] in names), None)
    findings: list[Finding] = []
    checked = 0
    for overlay in build_overlays(apps_dir, env) if built is None else built:
        if overlay.error:
            findings.append(Finding(STAGE, overlay.name, f"kustomize build failed: {overlay.error}"))
            continue
        if not overlay.objects:
            findings.append(Finding(STAGE, overlay.name, "builds to no objects"))
        checked += len(overlay.objects)
        for obj in overlay.objects:
            for finding in validator.validate(obj):
                ref, message = f"{overlay.name}: {finding.object_ref}", f"[{finding.stage}] {finding.message}"
                findings.append(dataclasses.replace(finding, stage=STAGE, object_ref=ref, message=message))
            target = out_dir / overlay.app / f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump_yaml(obj))
        findings += [Finding(STAGE, overlay.name, problem) for problem in project_problems(overlay, project)]
    return findings, checked
