"""Render stacks offline: manifests (one file per Kubernetes object) and an inventory of every resource."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.config import Environment, load_stack_file, read_stack_file
from infra.config.loader import pulumi_config_values
from infra.offline.disk_writer import DiskWriter, put_on_disk
from infra.offline.engine import Recorded, Run, run_program
from infra.offline.serialize import dump_yaml, plain
from infra.offline.speedups import collector_paused
from infra.program import main as program_main

if TYPE_CHECKING:  # the expansion imports this module
    from infra.expand.expansion import Expansion


class RenderError(Exception):
    pass


@dataclass(frozen=True)
class Manifest:
    path: str
    """Relative to the environment's manifests/ directory."""
    object: dict[str, Any]
    resource: Recorded

    @property
    def ref(self) -> str:
        meta = self.object["metadata"]
        where = f"{meta['namespace']}/" if "namespace" in meta else ""
        return f"{self.object['apiVersion']} {self.object['kind']} {where}{meta['name']}"


@dataclass(frozen=True)
class Rendered:
    stack: str
    env: Environment
    run: Run
    manifests: tuple[Manifest, ...]

    def inventory(self) -> dict[str, Any]:
        manifest_of = {m.resource.urn: m.path for m in self.manifests}
        entries = []
        for resource in sorted(self.run.resources, key=lambda r: (r.type, r.name, r.urn)):
            entry: dict[str, Any] = {
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "provider": resource.provider,
                "dependencies": list(resource.dependencies),
                "protect": resource.protect,
            }
            if resource.retain_on_delete:
                entry["retainOnDelete"] = True
            if resource.urn in manifest_of:
                entry["manifest"] = manifest_of[resource.urn]
            elif resource.custom:
                entry["inputs"] = plain(resource.inputs)
            entries.append(entry)
        return {"stack": self.stack, "tier": self.env.tier, "target": self.env.target, "resources": entries}


def stack_files(environments_dir: Path, names: list[str] | None = None) -> list[Path]:
    if not names:
        return sorted(environments_dir.glob("Pulumi.*.yaml"))
    files = [environments_dir / f"Pulumi.{name}.yaml" for name in names]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise RenderError(f"no stack file: {', '.join(missing)}")
    return files


def render_stack(stack_file: Path) -> Rendered:
    """Validate the stack file (InvalidEnvironment if bad), then run the program under mocks."""
    with collector_paused():
        env = load_stack_file(stack_file)
        config = pulumi_config_values(read_stack_file(stack_file))
        run = run_program(env.name, config, program_main)
        return Rendered(env.name, env, run, _manifests(run))


def write(
    rendered: Rendered, out_dir: Path, writer: DiskWriter | None = None, expansion: Expansion | None = None
) -> Path:
    """The stack's manifests and inventory (and, with `expansion`, what its Applications apply, under expanded/)
    under `out_dir/<stack>/`, replacing what was there: here, or by `writer` (a writer process, so that the next
    stack renders meanwhile)."""
    target = out_dir / rendered.stack
    with collector_paused():
        inventory = inventory_of(rendered, expansion) if expansion is not None else None
        files = files_of(rendered, inventory)
        if writer is None:
            put_on_disk(target, [*files, *(expansion_files(expansion) if expansion is not None else [])])
        else:
            # The writer process makes the expanded objects' text, beside the next stack's render.
            writer.write(target, files, expansion_objects(expansion) if expansion is not None else [])
    return target


def files_of(rendered: Rendered, inventory: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The stack's manifests, and its inventory (`inventory`, else the stack's own)."""
    files = [(f"manifests/{manifest.path}", dump_yaml(manifest.object)) for manifest in rendered.manifests]
    files.append(("inventory.yaml", dump_yaml(inventory if inventory is not None else rendered.inventory())))
    return files


def inventory_of(rendered: Rendered, expansion: Expansion) -> dict[str, Any]:
    from infra.expand.output import inventory_section

    return {**rendered.inventory(), "expanded": inventory_section(expansion)}


def expansion_files(expansion: Expansion) -> list[tuple[str, str]]:
    from infra.expand.output import expanded_files

    return expanded_files(expansion)


def expansion_objects(expansion: Expansion) -> list[tuple[str, Mapping[str, Any]]]:
    from infra.expand.output import expanded_objects

    return expanded_objects(expansion)


def summary(rendered: Rendered) -> str:
    kinds = Counter(m.object["kind"] for m in rendered.manifests)
    providers = Counter(_provider_package(r) for r in rendered.run.resources)
    lines = [
        f"{rendered.stack}: tier {rendered.env.tier}, target {rendered.env.target}, "
        f"Kubernetes {rendered.env.kubernetes_version}: {len(rendered.manifests)} Kubernetes objects, "
        f"{len(rendered.run.resources)} Pulumi resources",
        "  objects by kind:      " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())),
        "  resources by provider: " + ", ".join(f"{name} {n}" for name, n in sorted(providers.items())),
    ]
    return "\n".join(lines)


def _provider_package(resource: Recorded) -> str:
    if resource.type.startswith("pulumi:providers:"):
        return "providers"
    return resource.type.split(":", 1)[0]


def _manifests(run: Run) -> tuple[Manifest, ...]:
    manifests = []
    for resource in run.resources:
        if not resource.is_kubernetes_object:
            continue
        obj = plain(resource.inputs)
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            # Auto-named objects get a random suffix at `pulumi up`; GitOps needs names known in advance.
            raise RenderError(f"{resource.type} {resource.name}: metadata.name must be set explicitly")
        folder = meta.get("namespace", "_cluster")
        manifests.append(Manifest(f"{folder}/{obj['kind'].lower()}-{meta['name']}.yaml", obj, resource))
    duplicates = [path for path, n in Counter(m.path for m in manifests).items() if n > 1]
    if duplicates:
        raise RenderError(f"two objects with the same kind, namespace and name: {', '.join(sorted(duplicates))}")
    return tuple(sorted(manifests, key=lambda m: m.path))
