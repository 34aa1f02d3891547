"""docs/environments/<env>.md: what an environment contains, generated from its render and expansion (a test fails
when a page is stale): its components with their dependencies and sync waves, what each installs at which
version, the URLs it serves, and the Secrets the adopter creates before the first sync."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.expand.platform import STACK, Platform
from infra.expand.wiring.secrets import secrets_to_create
from infra.platform.labels import SYNC_WAVE

PAGES = Path(__file__).resolve().parents[2] / "docs" / "environments"
COMPONENT_LABEL = "mlops.dev/component"
LAYER_LABEL = "mlops.dev/layer"
DEPENDS_ON = "mlops.dev/depends-on"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
TRAEFIK_HOST = re.compile(r"Host\(`([^`]+)`\)")


@dataclass(frozen=True)
class Installed:
    """One Application (or Pulumi Helm release) of a component: what it installs, where, at which wave."""

    component: str
    layer: str
    application: str
    namespace: str
    source: str
    version: str
    wave: str
    depends_on: tuple[str, ...]


def installed(platform: Platform) -> list[Installed]:
    found = []
    for manifest in platform.rendered.manifests:
        obj = manifest.object
        if obj.get("kind") != "Application" or not str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
            continue
        metadata = obj.get("metadata") or {}
        labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
        spec = obj.get("spec") or {}
        sources = spec.get("sources") or [spec.get("source") or {}]
        found.append(
            Installed(
                component=str(labels.get(COMPONENT_LABEL, metadata.get("name"))),
                layer=str(labels.get(LAYER_LABEL, "")),
                application=str(metadata.get("name")),
                namespace=str((spec.get("destination") or {}).get("namespace") or ""),
                source=", ".join(_source_name(source) for source in sources),
                version=", ".join(sorted({str(source.get("targetRevision", "")) for source in sources})),
                wave=str(annotations.get(SYNC_WAVE, "0")),
                depends_on=tuple(d for d in str(annotations.get(DEPENDS_ON, "")).split(",") if d),
            )
        )
    for resource in platform.rendered.run.resources:
        if resource.type == RELEASE_TYPE:
            inputs = resource.inputs
            found.append(
                Installed(
                    component=str(inputs.get("name")),
                    layer="cluster" if inputs.get("namespace") == "kube-system" else "delivery",
                    application=str(inputs.get("name")),
                    namespace=str(inputs.get("namespace")),
                    source=f"{(inputs.get('repositoryOpts') or {}).get('repo', '')} {inputs.get('chart')}".strip(),
                    version=str(inputs.get("version")),
                    wave="pulumi up",
                    depends_on=(),
                )
            )
    return sorted(found, key=lambda i: (_wave_order(i.wave), i.component, i.application))


def _source_name(source: Mapping[str, Any]) -> str:
    repo = str(source.get("repoURL", ""))
    if source.get("chart"):
        return f"{repo} {source['chart']}"
    return f"{repo}/{source.get('path', '')}".rstrip("/")


def _wave_order(wave: str) -> int:
    return int(wave) if wave.lstrip("-").isdigit() else -1000


def ml_applications(platform: Platform, rows: Sequence[Installed]) -> list[str]:
    """The Applications the ApplicationSet generates from `apps/*/overlays/<env>` (not in the stack's objects)."""
    listed = {row.application for row in rows}
    generated = [d for d in platform.deployers if d.kind == "Application" and d.name not in listed]
    if not generated:
        return ["No ML applications from `apps/` are synced here."]
    names = ", ".join(f"`{d.name}` (namespace `{d.namespace}`)" for d in generated)
    return [f"The ApplicationSet `ml-apps` syncs the ML applications of `apps/` after the platform: {names}."]


def served_urls(platform: Platform) -> list[tuple[str, str]]:
    """(URL, backend) of every host the stack routes from the ingress (VirtualServices on a Gateway, Traefik
    IngressRoutes)."""
    urls = set()
    for item in platform.owned_by(STACK):
        spec = item.object.get("spec") or {}
        if item.kind == "VirtualService" and spec.get("gateways"):
            for host in spec.get("hosts") or []:
                if "." in str(host) and "*" not in str(host):
                    urls.add((f"https://{host}", _virtual_service_backend(spec, item.namespace)))
        elif item.kind == "IngressRoute":
            for route in spec.get("routes") or []:
                for host in TRAEFIK_HOST.findall(str(route.get("match", ""))):
                    services = route.get("services") or [{}]
                    backend = f"{item.namespace}/{services[0].get('name', '')}:{services[0].get('port', '')}"
                    urls.add((f"https://{host}", backend))
    return sorted(urls)


def _virtual_service_backend(spec: Mapping[str, Any], namespace: str) -> str:
    for route in spec.get("http") or []:
        for target in route.get("route") or []:
            destination = target.get("destination") or {}
            port = (destination.get("port") or {}).get("number", "")
            return f"{destination.get('host', '')}:{port}"
    return namespace


def _node(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def component_graph(rows: Sequence[Installed]) -> list[str]:
    """A mermaid graph: one node per component (with its first wave), an edge from each dependency."""
    waves: dict[str, str] = {}
    depends: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        waves.setdefault(row.component, row.wave)
        depends[row.component].update(row.depends_on)
    lines = ["```mermaid", "graph LR"]
    for component, wave in waves.items():
        label = f"{component}<br/>{'wave ' + wave if wave != 'pulumi up' else 'pulumi up'}"
        lines.append(f'  {_node(component)}["{label}"]')
    for component in waves:
        for dependency in sorted(depends[component]):
            if dependency in waves:
                lines.append(f"  {_node(dependency)} --> {_node(component)}")
    lines.append("```")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def secrets_section(platform: Platform) -> list[str]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for secret, namespaces, reads in secrets_to_create(platform):
        entry = merged.setdefault(
            (secret.namespace, secret.name), {"keys": [], "purposes": [], "namespaces": set(), "readers": set()}
        )
        entry["keys"] += [key for key in secret.keys if key not in entry["keys"]]
        if secret.purpose not in entry["purposes"]:
            entry["purposes"].append(secret.purpose)
        entry["namespaces"].update(namespaces)
        entry["readers"].update(f"{r.reader.owner}: {r.reader.kind} {r.reader.name}" for r in reads)
    if not merged:
        return ["Nothing: every Secret the platform reads is made by the platform."]
    rows = [
        (
            f"`{name}`",
            ", ".join(f"`{n}`" for n in sorted(entry["namespaces"])) or f"`{namespace}`",
            ", ".join(f"`{key}`" for key in entry["keys"]),
            "; ".join(entry["purposes"]),
            "<br>".join(sorted(entry["readers"])),
        )
        for (namespace, name), entry in sorted(merged.items(), key=lambda item: (item[0][1], item[0][0]))
    ]
    return [
        "Create these before the first sync (by hand, with External Secrets or Sealed Secrets; never in git). The",
        "list comes from the components that read them (`secrets_to_create` in `infra/components/<component>.py`),",
        "and `check` fails when a workload reads a Secret that is neither made by the platform nor listed here.",
        "",
        *_table(("Secret", "Namespaces", "Keys", "What it holds", "Read by"), rows),
    ]


def environment_page(platform: Platform) -> str:
    env = platform.env
    rows = installed(platform)
    lines = [
        f"# Environment `{platform.stack}`",
        "",
        f"<!-- Generated by `python -m infra.cli docs` from environments/Pulumi.{platform.stack}.yaml as the "
        "program renders and expands it; do not edit. -->",
        "",
        f"Tier `{env.tier}`, target `{env.target}`, Kubernetes {env.kubernetes_version}, domain `{env.domain}`, "
        f"ingress `{env.ingress.provider}`. {len(platform.objects)} objects reach the cluster: "
        f"{sum(1 for o in platform.objects if o.owner == STACK)} from the stack, the others from "
        f"{len(rows)} Applications and Helm releases.",
        "",
        "## Components, dependencies and sync waves",
        "",
        "Argo CD syncs lower waves first; an arrow points from a component to one that waits for it. Argo CD itself",
        "and the CNI are Pulumi Helm releases, installed by `pulumi up` before any Application.",
        "",
        *component_graph(rows),
        "",
        *_table(
            ("Component", "Application", "Wave", "Namespace", "Source", "Version"),
            ((r.component, r.application, r.wave, f"`{r.namespace}`", r.source, f"`{r.version}`") for r in rows),
        ),
        "",
        *ml_applications(platform, rows),
        "",
        "## URLs",
        "",
    ]
    urls = served_urls(platform)
    lines += _table(("URL", "Backend"), ((url, f"`{backend}`") for url, backend in urls)) if urls else ["None."]
    lines += ["", "## Secrets to create", "", *secrets_section(platform)]
    return "\n".join(lines) + "\n"


def page_path(stack: str) -> Path:
    return PAGES / f"{stack}.md"


def write_environment_pages(platforms: Iterable[Platform]) -> list[Path]:
    PAGES.mkdir(parents=True, exist_ok=True)
    written = []
    for platform in platforms:
        path = page_path(platform.stack)
        path.write_text(environment_page(platform))
        written.append(path)
    return written
