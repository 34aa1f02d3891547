"""The rendered diff as markdown: the complete diff (a workflow artifact), and the pull-request comment, which stays
under GitHub's 65,536 characters: a summary table per environment, then the changes in full (images, CRDs, RBAC and
capacity of every environment first, then the objects) until a budget, then a link to the complete diff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from infra.gitops.changes import ObjectChange, text_diff
from infra.gitops.diff import CapacityChange, EnvironmentDiff, SectionDiff, capacity_moved

COMMENT_MARKER = "<!-- mlops-platform:rendered-diff -->"
COMMENT_LIMIT = 65_536
COMMENT_BUDGET = 60_000
"""What the comment's changes may take: GitHub's limit, less room for the summary, the link and a margin."""
MAX_VALUE = 80
MAX_FIELDS = 25
TEXT_DIFF_LINES = (12, 400)
"""Lines of a multi-line value's diff: in the comment, in the complete diff."""
FULL_VALUE = 2_000


@dataclass(frozen=True)
class _Style:
    """How much of each change is written: the comment keeps values short, the complete diff does not."""

    max_value: int
    max_fields: int | None
    text_lines: int
    added_text: bool


COMMENT = _Style(MAX_VALUE, MAX_FIELDS, TEXT_DIFF_LINES[0], False)
COMPLETE = _Style(FULL_VALUE, None, TEXT_DIFF_LINES[1], True)


def markdown(diffs: Sequence[EnvironmentDiff], base: str, errors: Mapping[str, str] | None = None) -> str:
    """The complete diff."""
    blocks = [block for env in diffs for block in _environment_blocks(env, COMPLETE)]
    lines = _header(diffs, base, errors)
    for env in diffs:
        lines += [line for b in blocks if b.stack == env.stack for line in b.lines]
    return "\n".join(lines).rstrip() + "\n"


def comment(
    diffs: Sequence[EnvironmentDiff],
    base: str,
    errors: Mapping[str, str] | None = None,
    artifact_url: str | None = None,
    budget: int = COMMENT_BUDGET,
    complete: str | None = None,
) -> str:
    """The pull-request comment: the summary of every environment, then the changes in full (images, CRDs, RBAC
    and capacity of every environment first, then the objects) until `budget` characters, then where the rest is:
    `artifact_url`, or the file `complete`."""
    header = _header(diffs, base, errors)
    left = budget - len("\n".join(header))
    blocks = [block for env in diffs for block in _environment_blocks(env, COMMENT)]
    chosen: list[_Block] = []
    omitted = 0
    for tier in (0, 1):
        for block in (b for b in blocks if b.tier == tier):
            size = len("\n".join(block.lines)) + 1
            if omitted or size > left:
                cut = _cut(block, left) if not omitted else None
                if cut is not None:
                    chosen.append(cut)
                    left -= len("\n".join(cut.lines)) + 1
                omitted += 1
                continue
            chosen.append(block)
            left -= size
    lines = list(header)
    for env in diffs:
        for tier in (0, 1):
            lines += [line for b in chosen if b.stack == env.stack and b.tier == tier for line in b.lines]
    if artifact_url:
        where = f"[the complete diff]({artifact_url})"
    else:
        where = f"the complete diff ({complete})" if complete else "the complete diff (written by `--output FILE`)"
    if omitted:
        lines += ["", f"---\nThis comment stops here to stay within GitHub's limit; {where} has every change."]
    elif artifact_url:
        lines += ["", f"---\nEverything is above; {where} is also kept as a workflow artifact."]
    text = "\n".join(lines).rstrip() + "\n"
    assert len(text) < COMMENT_LIMIT, "the comment budget leaves room for the summary"
    return text


@dataclass(frozen=True)
class _Block:
    stack: str
    tier: int
    """0: images, CRDs, RBAC and capacity; 1: the objects."""
    lines: tuple[str, ...]


def _cut(block: _Block, room: int) -> _Block | None:
    """The first lines of `block` that fit in `room` characters, and a line saying it was cut; None if too small."""
    kept: list[str] = []
    used = 0
    for line in block.lines:
        if used + len(line) + 1 > room - 80:
            break
        kept.append(line)
        used += len(line) + 1
    if len(kept) < 3:
        return None
    if sum(line.count("```") for line in kept) % 2:
        kept.append("```")
    if sum(line.count("<details>") - line.count("</details>") for line in kept) > 0:
        kept.append("</details>")
    return _Block(block.stack, block.tier, (*kept, "", "_… cut here: the rest is in the complete diff._", ""))


def _header(diffs: Sequence[EnvironmentDiff], base: str, errors: Mapping[str, str] | None) -> list[str]:
    lines = [COMMENT_MARKER, f"## Rendered changes against `{base}`", ""]
    if errors and "base" in errors:
        lines += [f"The base `{base}` did not render, so everything below counts as added:", "", "```"]
        lines += [errors["base"], "```", ""]
    if not diffs:
        lines.append("No environment rendered.")
        return lines
    lines += [
        "| Environment | Stack objects | Applied by Applications | Images | CRDs | RBAC widened | CPU requested "
        "| Memory requested |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env in diffs:
        applied = _counts(env.expanded) if not env.expanded_note else "not compared"
        cpu, memory = _capacity_cells(env.capacity)
        title = f"`{env.stack}`" + (f" ({env.note})" if env.note else "")
        own = _section_counts(env.kubernetes)
        if not env.resources.empty:
            own += f"; other resources: {_section_counts(env.resources)}"
        lines.append(
            f"| {title} | {own} | {applied} | {len(env.highlights.images) or ''} "
            f"| {len(env.highlights.crds) or ''} | {len(env.highlights.rbac) or ''} | {cpu} | {memory} |"
        )
    return [*lines, ""]


def _section_counts(section: SectionDiff) -> str:
    parts = [(len(section.added), "added"), (len(section.removed), "removed"), (len(section.changed), "changed")]
    return ", ".join(f"{n} {word}" for n, word in parts if n) or "no change"


def _counts(changes: Iterable[ObjectChange]) -> str:
    counted: dict[str, int] = {}
    for change in changes:
        counted[change.status] = counted.get(change.status, 0) + 1
    return ", ".join(f"{counted[s]} {s}" for s in ("added", "removed", "changed") if s in counted) or "no change"


def _environment_blocks(env: EnvironmentDiff, style: _Style) -> list[_Block]:
    title = f"### `{env.stack}`" + (f" ({env.note})" if env.note else "")
    if env.empty:
        return [_Block(env.stack, 0, (title, "", "No change.", ""))]
    blocks = [_Block(env.stack, 0, (title, ""))]
    for lines in (_images(env), _crds(env), _rbac(env), _capacity_lines(env)):
        if lines:
            blocks.append(_Block(env.stack, 0, tuple(lines)))
    if env.expanded_note:
        blocks.append(_Block(env.stack, 0, (f"_What the Applications apply: {env.expanded_note}._", "")))
    for title, section in (
        ("Stack objects", env.kubernetes),
        ("Other Pulumi resources (cloud, Helm releases, providers)", env.resources),
    ):
        if not section.empty:
            blocks.append(_Block(env.stack, 1, tuple(_section(title, section, style))))
    by_owner: dict[str, list[ObjectChange]] = {}
    for change in env.expanded:
        by_owner.setdefault(change.owner, []).append(change)
    if by_owner:
        blocks.append(_Block(env.stack, 1, (f"#### Applied by Applications: {_counts(env.expanded)}", "")))
    for owner, changes in by_owner.items():
        blocks.append(_Block(env.stack, 1, tuple(_owner_changes(owner, changes, style))))
    return blocks


def _images(env: EnvironmentDiff) -> list[str]:
    if not env.highlights.images:
        return []
    lines = ["#### Images", "", "| Application | Object | Container | Before | After |", "|---|---|---|---|---|"]
    for change in env.highlights.images:
        lines.append(
            f"| {change.owner} | `{change.ref}` | `{change.container}` | {_code(change.before)} "
            f"| {_code(change.after)} |"
        )
    return [*lines, ""]


def _crds(env: EnvironmentDiff) -> list[str]:
    if not env.highlights.crds:
        return []
    lines = ["#### CustomResourceDefinitions", ""]
    for change in env.highlights.crds:
        lines.append(f"- {change.owner}: `{change.name}`: " + "; ".join(change.what))
    return [*lines, ""]


def _rbac(env: EnvironmentDiff) -> list[str]:
    if not env.highlights.rbac:
        return []
    lines = ["#### RBAC that widens", ""]
    for widening in env.highlights.rbac:
        lines.append(f"- {widening.owner}: `{widening.ref}`")
        lines += [f"  - {grant}" for grant in widening.grants]
    return [*lines, ""]


CAPACITY_ROWS = (
    ("requests", "Requested"),
    ("limits", "Limits"),
    ("allocatable", "Allocatable"),
    ("headroom", "Headroom"),
)


def _capacity_lines(env: EnvironmentDiff) -> list[str]:
    change = env.capacity
    if change is None or not (capacity_moved(change) or change.note):
        return []
    lines = ["#### Capacity (nodes at their largest)", ""]
    notes = [change.note] if change.note else []
    for side, summary in (("base", change.before), ("change", change.after)):
        if summary is not None and summary.get("nodes") is None:
            notes.append(f"the {side} states no node capacity: its DaemonSets (counted per node) are left out")
    lines += [f"_{'; '.join(notes)}._", ""] if notes else []
    summaries = [s for s in (change.before, change.after) if s]
    attributes = ["cpu", "memory"]
    if any(Decimal((s.get(k) or {}).get("gpu", "0")) for s in summaries for k in ("requests", "allocatable")):
        attributes.append("gpu")
    lines += ["| | " + " | ".join(a.upper() if a != "memory" else "Memory" for a in attributes) + " |"]
    lines += ["|---" * (len(attributes) + 1) + "|"]
    for key, title in CAPACITY_ROWS:
        old = (change.before or {}).get(key)
        new = (change.after or {}).get(key)
        if old is None and new is None:
            continue
        lines.append(f"| {title} | " + " | ".join(_moved(old, new, a) for a in attributes) + " |")
    errors = (change.after or {}).get("errors")
    if errors:
        check = f"python -m infra.cli check --env {env.stack}"
        lines += ["", f"**{errors} capacity error(s) with this change**: `{check}` names them."]
    return [*lines, ""]


def _capacity_cells(change: CapacityChange | None) -> tuple[str, str]:
    if change is None:
        return "", ""
    old = (change.before or {}).get("requests")
    new = (change.after or {}).get("requests")
    return _moved(old, new, "cpu"), _moved(old, new, "memory")


def _amount(attribute: str, value: Decimal) -> str:
    if attribute == "memory":
        return f"{value / 2**30:.1f} GiB"
    if attribute == "cpu":
        return f"{value:.2f}"
    return f"{value:.0f}"


def _moved(old: Mapping[str, str] | None, new: Mapping[str, str] | None, attribute: str) -> str:
    before = Decimal(old[attribute]) if old else None
    after = Decimal(new[attribute]) if new else None
    if before is None and after is None:
        return ""
    if before is None:
        return f"{_amount(attribute, after)} (new)"  # type: ignore[arg-type]
    if after is None:
        return f"{_amount(attribute, before)} (gone)"
    if before == after:
        return _amount(attribute, after)
    sign = "+" if after > before else "−"
    return (
        f"{_amount(attribute, before)} → {_amount(attribute, after)} ({sign}{_amount(attribute, abs(after - before))})"
    )


def _section(title: str, section: SectionDiff, style: _Style = COMMENT) -> list[str]:
    if section.empty:
        return []
    lines = [f"#### {title}: {_section_counts(section)}", ""]
    lines += [f"- :heavy_plus_sign: added `{ref}`" for ref in section.added]
    lines += [f"- :heavy_minus_sign: removed `{ref}`" for ref in section.removed]
    for change in section.changed:
        lines.append(f"- :pencil2: changed `{change.ref}`")
        lines += _fields(change.fields, style)
    return [*lines, ""]


def _owner_changes(owner: str, changes: Sequence[ObjectChange], style: _Style) -> list[str]:
    """One Application's changes; folded in the comment, where there may be many, and there objects whose only
    change is the same relabelling (a chart's version labels, on every object of a bump) are one line."""
    folded = style is COMMENT
    title = f"<b>{owner}</b>: {_counts(changes)}"
    lines = ["<details>", f"<summary>{title}</summary>", ""] if folded else [f"**{owner}**: {_counts(changes)}", ""]
    relabelled = _relabelled(changes) if folded else {}
    for fields, refs in relabelled.items():
        kinds: dict[str, int] = {}
        for ref in refs:
            kind = ref.split(" ")[1] if ref.count(" ") >= 2 else ref
            kinds[kind] = kinds.get(kind, 0) + 1
        counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
        lines.append(f"- :label: {len(refs)} objects ({counted}) change only their labels:")
        lines += _fields(fields, style)
    shown = {ref for refs in relabelled.values() for ref in refs}
    for change in changes:
        if change.ref in shown:
            continue
        if change.status == "added":
            lines.append(f"- :heavy_plus_sign: added `{change.ref}`")
            if style.added_text:
                lines += ["", "  ```yaml", *(f"  {line}" for line in change.text.rstrip().splitlines()), "  ```"]
        elif change.status == "removed":
            lines.append(f"- :heavy_minus_sign: removed `{change.ref}`")
        else:
            lines.append(f"- :pencil2: changed `{change.ref}`")
            lines += _fields(change.fields, style)
    return [*lines, "", *(["</details>", ""] if folded else [])]


RELABELLED_AT_LEAST = 3


def _relabelled(changes: Sequence[ObjectChange]) -> dict[tuple[tuple[str, Any, Any], ...], list[str]]:
    """Changed objects whose changes are the same label changes and nothing else, when at least a few share them."""
    groups: dict[tuple[tuple[str, Any, Any], ...], list[str]] = {}
    for change in changes:
        if change.status == "changed" and all(path.startswith("metadata.labels.") for path, _, _ in change.fields):
            key = tuple((path, _hashable(old), _hashable(new)) for path, old, new in change.fields)
            groups.setdefault(key, []).append(change.ref)
    return {key: refs for key, refs in groups.items() if len(refs) >= RELABELLED_AT_LEAST}


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _fields(fields: Sequence[tuple[str, Any, Any]], style: _Style) -> list[str]:
    lines = []
    shown = fields if style.max_fields is None else fields[: style.max_fields]
    for path, old, new in shown:
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            diff = text_diff(old, new, style.text_lines)
            lines += [f"  - `{path}`:", "", "    ```diff", *(f"    {line}" for line in diff), "    ```", ""]
        else:
            lines.append(f"  - `{path}`: {_show(old, style.max_value)} → {_show(new, style.max_value)}")
    if len(shown) < len(fields):
        lines.append(f"  - … and {len(fields) - len(shown)} more fields (in the complete diff)")
    return lines


def _code(value: str | None) -> str:
    return "(none)" if value is None else f"`{value}`"


def _show(value: Any, limit: int = MAX_VALUE) -> str:
    if value is None:
        return "(none)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "`" + text.replace("`", "'") + "`"
