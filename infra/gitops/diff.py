"""Rendered diff between a git ref and the working tree, as markdown for a pull-request comment.

Each side is rendered by its own code (`python -m infra.cli render --expand` run inside that tree), so a change to
the program shows up as well as a change to a stack file; both sides share the chart, git and expansion caches, so
the base re-renders only what differs. Compared per environment: the stack's own Kubernetes objects (by apiVersion,
kind, namespace, name), its other Pulumi resources (cloud resources, Helm releases, providers: by type and name),
what its Applications and Helm releases apply (infra/gitops/changes.py: images, CRDs and widened RBAC first, then
every object with the fields that change), and the capacity (the requests of the platform's pods beside what the
nodes allocate, by this tree's capacity model for both sides). Secrets are masked.

A base whose code predates the expansion is rendered without it (and the comparison says so). A chart version or
git tag either side pins must be in the caches (`--pull` fetches both sides' sources); a missing one is an error
naming it. infra/gitops/diff_markdown.py writes the result for people.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from infra.config import Environment, InvalidEnvironment, load_stack_file
from infra.expand.caches import CHART_CACHE_VARIABLE, GIT_CACHE_VARIABLE, PULL_COMMAND, Caches
from infra.expand.expansion import RESULT_CACHE_VARIABLE, Expansion, ResultCache
from infra.expand.output import masked, object_file
from infra.expand.platform import STACK, PlatformObject
from infra.gitops.changes import (
    Highlights,
    Key,
    ObjectChange,
    changed_fields,
    compare,
    highlights,
    object_changes,
)
from infra.offline.serialize import dump_yaml
from infra.offline.validate import object_ref

MISSING_SOURCE = "SourceMissing"


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


@dataclass(frozen=True)
class CapacityChange:
    before: Mapping[str, Any] | None
    """`Capacity.summary()` of the base; None when it could not be computed (`note` says why)."""
    after: Mapping[str, Any] | None
    note: str = ""


@dataclass
class EnvironmentDiff:
    stack: str
    kubernetes: SectionDiff
    resources: SectionDiff
    note: str = ""
    expanded: list[ObjectChange] = field(default_factory=list)
    """What the Applications and Helm releases apply, added, removed and changed."""
    highlights: Highlights = field(default_factory=Highlights)
    capacity: CapacityChange | None = None
    expanded_note: str = ""
    """Why the expansion is not compared (not asked for, or a side without it)."""

    @property
    def empty(self) -> bool:
        return (
            self.kubernetes.empty
            and self.resources.empty
            and not self.note
            and not self.expanded
            and self.highlights.empty
            and not capacity_moved(self.capacity)
        )


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


def shared_caches() -> dict[str, str]:
    """The caches this process uses, for the renders of both trees: the same charts, git sources and expansion
    results (a tree's own `.cache/` would be empty for a freshly extracted ref)."""
    caches = Caches.from_environment()
    results = ResultCache.default().directory
    return {
        CHART_CACHE_VARIABLE: str(caches.charts.resolve()),
        GIT_CACHE_VARIABLE: str(caches.git.resolve()),
        RESULT_CACHE_VARIABLE: str(results.resolve()) if results is not None else "off",
    }


def _present(tree: Path, names: Sequence[str]) -> list[str]:
    environments = tree / "environments"
    return [name for name in names if (environments / f"Pulumi.{name}.yaml").is_file()]


def render_tree(
    tree: Path, names: Sequence[str], out: Path, expand: bool = False, caches: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Render the environments `names` (those that exist in `tree`; all when empty) with `tree`'s own code, and
    with `expand` what their Applications apply. Returns render's exit code and, when it failed, its message,
    instead of raising. Expansion problems (render's exit code 1 with every environment written) are not failures:
    the diff shows what was rendered."""
    present = _present(tree, names)
    if names and not present:
        return 0, ""
    command = [sys.executable, "-m", "infra.cli", "render", "--environments", str(tree / "environments")]
    command += ["--out", str(out), *(["--expand"] if expand else [])]
    for name in present:
        command += ["--env", name]
    environment = {**os.environ, **(caches or {})}
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False, env=environment)
    if result.returncode == 0:
        return 0, ""
    message = (result.stderr or result.stdout).strip()
    if expand and result.returncode == 2 and "unrecognized arguments: --expand" in message:
        return render_tree(tree, names, out, False, caches)  # code from before the expansion
    written = out.is_dir() and all((out / name / "inventory.yaml").is_file() for name in present or _stacks(out))
    if result.returncode == 1 and expand and written and MISSING_SOURCE not in message:
        return 0, ""
    return result.returncode, message[-1500:]


def pull_tree(tree: Path, caches: Mapping[str, str]) -> None:
    """`charts pull` with `tree`'s own code: the chart versions and git tags its environments pin."""
    command = [sys.executable, "-m", "infra.cli", "charts", "pull", "--environments", str(tree / "environments")]
    result = subprocess.run(
        command, cwd=tree, capture_output=True, text=True, check=False, env={**os.environ, **caches}
    )
    if result.returncode != 0:
        raise RenderFailed(f"charts pull in {tree}: {(result.stderr or result.stdout).strip()[-1500:]}")


def diff_against(
    repo: Path, base: str, names: Sequence[str], expand: bool = True, pull: bool = False
) -> tuple[list[EnvironmentDiff], dict[str, str]]:
    """Environment diffs between `base` and the working tree of `repo`, and render errors per side. With `expand`,
    what the Applications apply is compared too; with `pull`, both trees' sources are fetched into the caches first."""
    with tempfile.TemporaryDirectory(prefix="mlops-diff-") as scratch:
        root = Path(scratch)
        base_tree = root / "tree"
        base_tree.mkdir()
        export_ref(repo, base, base_tree)
        caches = shared_caches()
        trees = {"base": base_tree, "head": repo}
        if pull and expand:
            for tree in (repo, base_tree):
                pull_tree(tree, caches)
        with ThreadPoolExecutor(max_workers=2) as renders:
            results = {
                side: renders.submit(render_tree, tree, names, root / side, expand, caches)
                for side, tree in trees.items()
            }
            outcomes = {side: future.result() for side, future in results.items()}
        errors = {}
        for side, (code, error) in outcomes.items():
            if code == 2 and side == "head":
                raise WorkingTreeInvalid(error)
            if MISSING_SOURCE in error:
                which = "the working tree" if side == "head" else f"the base {base}"
                raise RenderFailed(
                    f"{which} needs a source the caches do not hold:\n{error}\n(pass --pull to fetch both sides' "
                    f"sources, or run `{PULL_COMMAND}` in a checkout of {'it' if side == 'head' else base})"
                )
            if code != 0:
                errors[side] = error
        if "head" in errors:
            raise RenderFailed(f"the working tree does not render:\n{errors['head']}")
        environments = {side: tree / "environments" for side, tree in trees.items()}
        return compare_renders(root / "base", root / "head", names, environments, expand), errors


# --- reading what was rendered --------------------------------------------------------------------------------


@dataclass
class RenderedStack:
    """One side of one environment: its objects as the render wrote them."""

    manifests: dict[str, Any]
    """The stack's Kubernetes objects by their ref."""
    resources: dict[str, Any]
    """The stack's other Pulumi resources (`type name`) by their inputs."""
    expanded: dict[Key, Any] = field(default_factory=dict)
    """What the Applications apply, by (Application, file name): the file's text, or the object."""
    capacity: Mapping[str, Any] | None = None
    capacity_note: str = ""
    has_expansion: bool = False


@lru_cache(maxsize=8192)
def _parse(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def expanded_objects(expansion: Expansion) -> dict[Key, Any]:
    """What an expansion made here applies, keyed as a render's `expanded/<Application>/<file>` is."""
    return {(e.deployer, object_file(e.object)): e.object for e in expansion.all_objects()}


def load_object(value: Any) -> Mapping[str, Any]:
    """An expanded object, from its text (parsed once per text: both sides share most of them) or as it is."""
    return value if isinstance(value, Mapping) else _parse(value)


def read_stack(stack_dir: Path, stack_file: Path | None = None) -> RenderedStack:
    """A render's `<out>/<stack>/` folder; with `stack_file`, its capacity too (computed here, by this tree's model)."""
    manifests = {}
    for path in sorted((stack_dir / "manifests").rglob("*.yaml")):
        obj = _parse(path.read_text())
        manifests[object_ref(obj)] = obj
    side = RenderedStack(manifests, _other_resources(stack_dir))
    expanded_dir = stack_dir / "expanded"
    side.has_expansion = expanded_dir.is_dir()
    if side.has_expansion:
        for path in sorted(expanded_dir.rglob("*.yaml")):
            side.expanded[(path.parent.name, path.name)] = path.read_text()
        if stack_file is not None:
            side.capacity, side.capacity_note = _side_capacity(side, stack_file)
    return side


def _side_capacity(side: RenderedStack, stack_file: Path) -> tuple[Mapping[str, Any] | None, str]:
    try:
        env = load_stack_file(stack_file)
    except InvalidEnvironment as error:
        return None, f"its stack file does not load with this tree's settings ({error.violations[0].path})"
    except OSError as error:
        return None, str(error)
    # CRDs make no pods, and they are most of the text: not parsed for this.
    objects = [PlatformObject(STACK, obj, ref) for ref, obj in side.manifests.items()]
    objects += [
        PlatformObject(owner, load_object(text), name)
        for (owner, name), text in side.expanded.items()
        if not name.startswith("customresourcedefinition-")
    ]
    return capacity_summary(env, objects), ""


def capacity_summary(env: Environment, objects: Sequence[PlatformObject]) -> dict[str, Any]:
    from infra.expand.capacity import capacity_of

    return capacity_of(env, objects).summary()


def _stacks(out: Path) -> list[str]:
    return sorted(d.name for d in out.iterdir() if d.is_dir()) if out.is_dir() else []


def _other_resources(stack_dir: Path) -> dict[str, Any]:
    inventory_file = stack_dir / "inventory.yaml"
    if not inventory_file.is_file():
        return {}
    return other_resources(yaml.safe_load(inventory_file.read_text()) or {})


def other_resources(inventory: Mapping[str, Any]) -> dict[str, Any]:
    return {
        f"{entry['type']} {entry['name']}": entry.get("inputs", {})
        for entry in inventory.get("resources", [])
        if "manifest" not in entry and "inputs" in entry
    }


# --- comparing -------------------------------------------------------------------------------------------------


def compare_renders(
    base: Path,
    head: Path,
    names: Sequence[str] = (),
    environments: Mapping[str, Path] | None = None,
    expand: bool = True,
) -> list[EnvironmentDiff]:
    """The diff of every environment rendered into `base` or `head`; `environments` (side -> stack file directory)
    gives the capacity of each side."""
    stacks = sorted({*_stacks(base), *_stacks(head)})
    if names:
        stacks = [stack for stack in stacks if stack in names]
    diffs = []
    for stack in stacks:
        sides: dict[str, RenderedStack | None] = {}
        for side, out in (("base", base), ("head", head)):
            stack_file = (environments or {}).get(side, Path("/nonexistent")) / f"Pulumi.{stack}.yaml"
            folder = out / stack
            sides[side] = read_stack(folder, stack_file if environments else None) if folder.is_dir() else None
        note = "new environment" if sides["base"] is None else "environment removed" if sides["head"] is None else ""
        diffs.append(compare_stacks(stack, sides["base"], sides["head"], note, expand))
    return diffs


def compare_stacks(
    stack: str, old: RenderedStack | None, new: RenderedStack | None, note: str = "", expand: bool = True
) -> EnvironmentDiff:
    """One environment's two sides compared (a missing side: a new or removed environment)."""
    empty = RenderedStack({}, {})
    before, after = old or empty, new or empty
    diff = EnvironmentDiff(
        stack,
        compare_objects(
            {ref: masked(obj) for ref, obj in before.manifests.items()},
            {ref: masked(obj) for ref, obj in after.manifests.items()},
        ),
        compare_objects(before.resources, after.resources),
        note,
    )
    own = list(
        compare(
            {(STACK, ref): obj for ref, obj in before.manifests.items()},
            {(STACK, ref): obj for ref, obj in after.manifests.items()},
        )
    )
    if not expand:
        diff.expanded_note = "not expanded (--no-expand): what the Applications apply is not compared"
        diff.highlights = highlights(own)
        return diff
    if (old is not None and not old.has_expansion) or (new is not None and not new.has_expansion):
        diff.expanded_note = "one side was rendered without its expansion (its code predates it): not compared"
        diff.highlights = highlights(own)
        return diff
    applied = list(compare(before.expanded, after.expanded, load_object))
    diff.expanded = object_changes(applied, dump_yaml)
    diff.highlights = highlights([*own, *applied])
    if old is not None or new is not None:
        sides = (("base", before.capacity_note), ("head", after.capacity_note))
        why = "; ".join(f"capacity of the {side}: {n}" for side, n in sides if n)
        if before.capacity is not None or after.capacity is not None or why:
            diff.capacity = CapacityChange(before.capacity, after.capacity, why)
    return diff


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


def capacity_moved(change: CapacityChange | None) -> bool:
    if change is None:
        return False
    if change.before is None or change.after is None:
        return True
    return any(change.before.get(k) != change.after.get(k) for k in ("requests", "limits", "allocatable", "errors"))
