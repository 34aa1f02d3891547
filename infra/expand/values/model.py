"""A chart as the value-key check sees it: the keys it declares (its defaults, its subcharts' under their keys,
`global` shared) and the keys its templates read or pass through whole.

A value key is known to the chart when
- it is declared: the path exists in the defaults;
- it is read: a template reads it, or reads something under it (then it is a map the chart looks into);
- it falls under a value a template passes through whole (`toYaml .Values.podAnnotations`), or under a
  `range` over a map (`*`);
- it falls in a free-form slot: its deepest ancestor in the defaults is an empty map or null (not a chart's
  top level), and no template reads a particular key under that ancestor (a slot the templates read key by key
  is not free-form).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.expand.helm import ChartFiles
from infra.expand.values.reads import WILDCARD, ChartReads, ValuePath, all_charts, chart_reads

MISSING: Any = object()


@dataclass
class _Trie:
    children: dict[str, _Trie] = field(default_factory=dict)
    whole: bool = False

    def add(self, path: ValuePath, whole: bool = False) -> None:
        node = self
        for key in path:
            node = node.children.setdefault(key, _Trie())
        node.whole = node.whole or whole

    def nodes(self, path: ValuePath) -> list[tuple[int, _Trie]]:
        """Every node that `path`'s first keys reach (a `*` reaches any key), with how many keys it took."""
        found = [(0, self)]
        frontier = [self]
        for depth, key in enumerate(path, start=1):
            frontier = [
                child for node in frontier for child in (node.children.get(key), node.children.get(WILDCARD)) if child
            ]
            found += [(depth, node) for node in frontier]
            if not frontier:
                break
        return found


class ChartModel:
    def __init__(self, files: ChartFiles, reads: ChartReads | None = None) -> None:
        self.files = files
        self.reads = reads if reads is not None else chart_reads(files)
        self.defaults = effective_defaults(files, self.reads.rebased)
        self.chart_roots = {chart.key_path for chart in all_charts(files)}
        self._trie = _Trie()
        for path in self.reads.read:
            self._trie.add(path)
        for path in self.reads.whole:
            self._trie.add(path, whole=True)
        for path in self.reads.printed:
            default = self.default(path)
            self._trie.add(path, whole=not (isinstance(default, Mapping) and default))
        for path in condition_paths(files):
            self._trie.add(path)

    def default(self, path: ValuePath) -> Any:
        """The chart's default at `path`, or MISSING."""
        return lookup(self.defaults, path)

    def knows(self, path: ValuePath) -> bool:
        for block, chart in self.reads.aliased.items():
            if path[: len(block)] == block and len(path) > len(block) and self.knows((*chart, *path[len(block) :])):
                return True
        if self.default(path) is not MISSING:
            return True
        reached = self._trie.nodes(path)
        if any(depth == len(path) for depth, _ in reached):
            return True  # read, or an ancestor of something read
        if any(node.whole for _, node in reached):
            return True
        return self.free_form(path)

    def accepts_any_key_under(self, path: ValuePath) -> bool:
        """Every key under `path` is known: it is passed through whole, or it is a free-form slot."""
        probe = (*path, "\0any key\0")
        reached = self._trie.nodes(probe)
        return any(node.whole for _, node in reached) or (
            self.default(probe) is MISSING and not any(d == len(probe) for d, _ in reached) and self.free_form(probe)
        )

    def free_form(self, path: ValuePath) -> bool:
        for depth in range(len(path) - 1, -1, -1):
            ancestor = path[:depth]
            value = self.default(ancestor)
            if value is MISSING:
                continue
            if ancestor in self.chart_roots:
                return False  # a chart without defaults takes no key it does not read
            if value is not None and value != {}:
                return False
            # A slot whose keys the templates read one by one is not free-form.
            return not any(node.children for d, node in self._trie.nodes(ancestor) if d == depth)
        return False


def lookup(tree: Any, path: ValuePath) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return MISSING
        tree = tree[key]
    return tree


def merged(base: Any, override: Any) -> Any:
    """Helm's coalescing of two value trees: maps merge key by key, anything else in `override` wins."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = merged(base[key], value) if key in base else value
        return out
    return override


def effective_defaults(files: ChartFiles, rebased: Mapping[ValuePath, ValuePath]) -> dict[str, Any]:
    """The chart's defaults with its subcharts' under their keys (the parent's setting wins) and every chart's
    `global` block shared, after any block a chart moves onto its values at render time. The charts' own
    defaults are never changed: maps are copied where something is placed into them."""
    tree: dict[str, Any] = {}
    for chart in all_charts(files):
        own = dict(chart.defaults)
        moved = rebased.get(chart.key_path)
        if moved is not None:
            block = lookup(own, moved[len(chart.key_path) :])
            if isinstance(block, Mapping):
                own = merged(own, block)
        shared = own.pop("global", None)
        if chart.key_path:
            given = lookup(tree, chart.key_path)
            tree = _placed(tree, chart.key_path, merged(own, given) if isinstance(given, Mapping) else own)
        else:
            tree = own
        if isinstance(shared, Mapping):
            tree["global"] = merged(shared, tree.get("global") or {}) if chart.key_path else dict(shared)
    return tree


def _placed(tree: Mapping[str, Any], path: ValuePath, value: Any) -> dict[str, Any]:
    """`tree` with `value` at `path`, copying the maps on the way."""
    copied = dict(tree)
    if len(path) == 1:
        copied[path[0]] = value
    else:
        below = copied.get(path[0])
        copied[path[0]] = _placed(below if isinstance(below, Mapping) else {}, path[1:], value)
    return copied


def condition_paths(files: ChartFiles) -> set[ValuePath]:
    """The values Helm itself reads: each dependency's `condition` paths and `tags`."""
    found: set[ValuePath] = set()
    for chart in all_charts(files):
        for dependency in chart.dependencies:
            for condition in str(dependency.get("condition") or "").split(","):
                if condition.strip():
                    found.add((*chart.key_path, *condition.strip().split(".")))
            for tag in dependency.get("tags") or ():
                found.add(("tags", str(tag)))
    return found
