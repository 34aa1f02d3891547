"""Rendered diff between a git ref and the working tree, as markdown for a pull-request comment.

Each side is rendered by its own code (`python -m infra.cli render` run inside that tree), so a change to the
program shows up as well as a change to a stack file. Kubernetes objects are compared by identity
(apiVersion, kind, namespace, name), other Pulumi resources (cloud resources, Helm releases, providers) by
type and name. Secrets are already masked by render.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.offline.validate import object_ref

COMMENT_MARKER = "<!-- mlops-platform:rendered-diff -->"
MAX_VALUE = 80
MAX_FIELDS = 25


@dataclass(frozen=True)
class Change:
    ref: str
    fields: tuple[tuple[str, Any, Any], ...]
    """(path, old, new) of every changed leaf; a missing side is None."""


@dataclass
class SectionDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class EnvironmentDiff:
    stack: str
    kubernetes: SectionDiff
    resources: SectionDiff
    note: str = ""

    @property
    def empty(self) -> bool:
        return self.kubernetes.empty and self.resources.empty and not self.note


class RenderFailed(Exception):
    pass


class WorkingTreeInvalid(Exception):
    """The working tree's environments do not validate; the message is the loader's path-named report."""


# --- rendering both sides ----------------------------------------------------------------------------------


def export_ref(repo: Path, ref: str, into: Path) -> None:
    """The tree of `ref` (committed files only) extracted into `into`."""
    result = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", ref], capture_output=True, check=False)
    if result.returncode != 0:
        raise RenderFailed(f"git archive {ref}: {result.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(into, filter="data")


def render_tree(tree: Path, names: Sequence[str], out: Path) -> tuple[int, str]:
    """Render the environments `names` (those that exist in `tree`; all when empty) with `tree`'s own code.
    Returns render's exit code and, when it failed, its message, instead of raising."""
    environments = tree / "environments"
    present = [name for name in names if (environments / f"Pulumi.{name}.yaml").is_file()]
    if names and not present:
        return 0, ""
    command = [sys.executable, "-m", "infra.cli", "render", "--environments", str(environments), "--out", str(out)]
    for name in present:
        command += ["--env", name]
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return result.returncode, (result.stderr or result.stdout).strip()[-1500:]
    return 0, ""


def diff_against(repo: Path, base: str, names: Sequence[str]) -> tuple[list[EnvironmentDiff], dict[str, str]]:
    """Environment diffs between `base` and the working tree of `repo`, and render errors per side."""
    with tempfile.TemporaryDirectory(prefix="mlops-diff-") as scratch:
        root = Path(scratch)
        base_tree = root / "tree"
        base_tree.mkdir()
        export_ref(repo, base, base_tree)
        errors = {}
        for side, tree in (("base", base_tree), ("head", repo)):
            code, error = render_tree(tree, names, root / side)
            if code == 2 and side == "head":
                raise WorkingTreeInvalid(error)
            if code != 0:
                errors[side] = error
        if "head" in errors:
            raise RenderFailed(f"the working tree does not render:\n{errors['head']}")
        return compare_renders(root / "base", root / "head", names), errors


# --- comparing two render directories ----------------------------------------------------------------------


def compare_renders(base: Path, head: Path, names: Sequence[str] = ()) -> list[EnvironmentDiff]:
    stacks = sorted({d.name for side in (base, head) if side.is_dir() for d in side.iterdir() if d.is_dir()})
    if names:
        stacks = [stack for stack in stacks if stack in names]
    diffs = []
    for stack in stacks:
        old, new = base / stack, head / stack
        note = "new environment" if not old.exists() else "environment removed" if not new.exists() else ""
        diffs.append(
            EnvironmentDiff(
                stack,
                compare_objects(_kubernetes_objects(old), _kubernetes_objects(new)),
                compare_objects(_other_resources(old), _other_resources(new)),
                note,
            )
        )
    return diffs


def compare_objects(old: Mapping[str, Any], new: Mapping[str, Any]) -> SectionDiff:
    section = SectionDiff(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
    )
    for ref in sorted(set(old) & set(new)):
        fields = tuple(changed_fields(old[ref], new[ref]))
        if fields:
            section.changed.append(Change(ref, fields))
    return section


def changed_fields(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Leaf paths whose values differ, e.g. `spec.source.targetRevision`."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            yield from changed_fields(old.get(key), new.get(key), child)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from changed_fields(a, b, f"{path}[{index}]")
    elif old != new:
        yield path, old, new


def _kubernetes_objects(stack_dir: Path) -> dict[str, Any]:
    objects = {}
    for path in sorted((stack_dir / "manifests").rglob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        objects[object_ref(obj)] = obj
    return objects


def _other_resources(stack_dir: Path) -> dict[str, Any]:
    inventory_file = stack_dir / "inventory.yaml"
    if not inventory_file.is_file():
        return {}
    inventory = yaml.safe_load(inventory_file.read_text()) or {}
    return {
        f"{entry['type']} {entry['name']}": entry.get("inputs", {})
        for entry in inventory.get("resources", [])
        if "manifest" not in entry and "inputs" in entry
    }


# --- markdown ------------------------------------------------------------------------------------------------


def markdown(diffs: Sequence[EnvironmentDiff], base: str, errors: Mapping[str, str] | None = None) -> str:
    lines = [COMMENT_MARKER, f"## Rendered changes against `{base}`", ""]
    if errors and "base" in errors:
        lines += [f"The base `{base}` did not render, so everything below counts as added:", "", "```"]
        lines += [errors["base"], "```", ""]
    if not diffs:
        lines.append("No environment rendered.")
    for env in diffs:
        title = f"### `{env.stack}`" + (f" ({env.note})" if env.note else "")
        if env.empty:
            lines += [title, "", "No change.", ""]
            continue
        lines += [title, ""]
        lines += _section("Kubernetes objects", env.kubernetes)
        lines += _section("Other Pulumi resources (cloud, Helm releases, providers)", env.resources)
    return "\n".join(lines).rstrip() + "\n"


def _section(title: str, section: SectionDiff) -> list[str]:
    if section.empty:
        return []
    counts = f"{len(section.added)} added, {len(section.removed)} removed, {len(section.changed)} changed"
    lines = [f"**{title}**: {counts}", ""]
    lines += [f"- :heavy_plus_sign: added `{ref}`" for ref in section.added]
    lines += [f"- :heavy_minus_sign: removed `{ref}`" for ref in section.removed]
    for change in section.changed:
        lines.append(f"- :pencil2: changed `{change.ref}`")
        for path, old, new in change.fields[:MAX_FIELDS]:
            lines.append(f"  - `{path}`: {_show(old)} → {_show(new)}")
        if len(change.fields) > MAX_FIELDS:
            lines.append(f"  - … and {len(change.fields) - MAX_FIELDS} more fields")
    return [*lines, ""]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return "`" + text.replace("`", "'") + "`"
