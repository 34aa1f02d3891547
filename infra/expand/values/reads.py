"""What a chart's templates read of their values, found by reading the templates (not running them).

Each template is walked with symbolic values: `.` at the top of a template is the chart's context, `.Values.a.b`
is the value path `a.b` (of a subchart: under the subchart's key; `global` is shared), and what flows through
variables, `with`, `range`, `index`/`get`/`dig`, `dict`/`set`, `default`/`merge`, and named templates
(`include`/`template`, walked with the argument they are given) keeps its path. The result:

- `read`: every value path a template reads (`*` where the key is not fixed: a `range` over a map, an `index` with
  a variable key);
- `whole`: value paths a template passes through as a whole, so any key under them reaches the output: serialised
  (`toYaml`, `toJson`, ...) and printed or handed to `tpl`/`include`, or given to `tpl` itself;
- `printed`: value paths printed as they are (whole, unless the chart's default there is a map);
- `rebased`: a chart that moves a block of its defaults onto its values at render time (Istio's
  `_internal_defaults_do_not_set`, merged by its `zzz_profile.yaml` with `set $ "Values" ...`);
- `aliased`: a block of the given values a chart merges onto its values (istio-cni's `zzy_descope_legacy.yaml`:
  `mustMergeOverwrite $.Values (index $.Values "cni")`), so a key under it is the chart's key of that name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.expand.helm import ChartFiles
from infra.expand.values.gotemplate import (
    Action,
    Call,
    Control,
    Field,
    Function,
    Group,
    Literal,
    Node,
    Operand,
    Pipeline,
    TemplateSyntax,
    Variable,
    parse,
)

WILDCARD = "*"
# Reads kept on disk are keyed on the code that finds them, so a change here never reads a stale result.
CODE_DIGEST = hashlib.sha256(
    b"".join((Path(__file__).parent / name).read_bytes() for name in ("reads.py", "gotemplate.py"))
).hexdigest()
ValuePath = tuple[str, ...]
# Functions whose result is the text of a whole value: what reaches the output if that text is printed.
SERIALIZERS = frozenset(
    {
        "toYaml",
        "toYamlPretty",
        "mustToYaml",
        "toJson",
        "mustToJson",
        "toPrettyJson",
        "mustToPrettyJson",
        "toRawJson",
        "mustToRawJson",
        "toToml",
        "toString",
    }
)
# ... and those that turn such a text into a value that reaches nothing (a checksum annotation).
DIGESTS = frozenset({"sha256sum", "sha1sum", "sha512sum", "md5sum", "adler32sum"})
PARSERS = frozenset({"fromYaml", "fromJson", "mustFromJson", "fromYamlArray", "fromJsonArray", "mustFromYaml"})
# Functions that return one of their arguments (or a merge of them): the result keeps the arguments' paths.
PASS_ANY = frozenset(
    {
        "default",
        "coalesce",
        "and",
        "or",
        "merge",
        "mergeOverwrite",
        "mustMerge",
        "mustMergeOverwrite",
        "deepCopy",
        "mustDeepCopy",
        "omit",
    }
)
MERGES = frozenset({"merge", "mergeOverwrite", "mustMerge", "mustMergeOverwrite"})
ELEMENT_OF = frozenset({"first", "last", "mustFirst", "mustLast", "initial", "rest", "reverse", "uniq", "compact"})
_MAX_DEPTH = 60


# --- symbolic values --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """The data a chart's template starts with (`.` at the top, `$`): `.Values` is the chart's values."""

    chart: ValuePath


@dataclass(frozen=True)
class At:
    """A value of the chart's values, by its path from the top-level values."""

    path: ValuePath


class MadeMap:
    """A map made in the template (`dict`), whose entries may hold values (mutable: `set` adds to it)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Symbol, ...]] = {}


@dataclass(frozen=True)
class ListOf:
    items: tuple[Symbol, ...]


@dataclass(frozen=True)
class Text:
    """The serialised text of values (`toYaml .Values.x`)."""

    of: tuple[Symbol, ...]


Symbol = Context | At | MadeMap | ListOf | Text
Value = tuple[Symbol, ...]
"""The alternatives a template expression may be; () when it is none of the chart's values."""


@dataclass
class ChartReads:
    read: set[ValuePath] = field(default_factory=set)
    whole: set[ValuePath] = field(default_factory=set)
    printed: set[ValuePath] = field(default_factory=set)
    """Printed as they are (`{{ .Values.x }}`): a whole value only where it is not a map (Go prints a map as
    `map[...]`, which no chart means: such a line serves the value's string form, e.g. a legacy spelling)."""
    rebased: dict[ValuePath, ValuePath] = field(default_factory=dict)
    """Chart key path -> the path of the defaults block moved onto that chart's values."""
    aliased: dict[ValuePath, ValuePath] = field(default_factory=dict)
    """Path of a block of the values -> the chart key path it is merged onto."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Template path -> why it could not be read (Helm reports such a chart when rendering it)."""


def to_json(reads: ChartReads) -> dict[str, Any]:
    return {
        "read": sorted(map(list, reads.read)),
        "whole": sorted(map(list, reads.whole)),
        "printed": sorted(map(list, reads.printed)),
        "rebased": sorted([list(chart), list(moved)] for chart, moved in reads.rebased.items()),
        "aliased": sorted([list(block), list(chart)] for block, chart in reads.aliased.items()),
        "unreadable": dict(reads.unreadable),
    }


def from_json(data: Mapping[str, Any]) -> ChartReads:
    return ChartReads(
        read={tuple(path) for path in data["read"]},
        whole={tuple(path) for path in data["whole"]},
        printed={tuple(path) for path in data["printed"]},
        rebased={tuple(chart): tuple(moved) for chart, moved in data["rebased"]},
        aliased={tuple(block): tuple(chart) for block, chart in data.get("aliased", [])},
        unreadable=dict(data["unreadable"]),
    )


def chart_reads(files: ChartFiles) -> ChartReads:
    """Every value path the chart's templates (and its subcharts') read, and those they pass through whole."""
    return _Reader(files).run()


def all_charts(files: ChartFiles) -> Iterator[ChartFiles]:
    yield files
    for sub in files.subcharts:
        yield from all_charts(sub)


def _union(values: Iterable[Value]) -> Value:
    seen: dict[object, Symbol] = {}
    for value in values:
        for symbol in value:
            seen.setdefault(_identity(symbol), symbol)
    return tuple(seen.values())


def _identity(symbol: Symbol) -> object:
    return id(symbol) if isinstance(symbol, MadeMap) else symbol


def _signature(value: Value, depth: int = 0) -> object:
    """What a named template's walk depends on: the argument's paths (maps by content, to a bounded depth)."""
    if depth > 3:
        return "..."
    parts: list[object] = []
    for symbol in value:
        if isinstance(symbol, MadeMap):
            parts.append(tuple(sorted((k, _signature(v, depth + 1)) for k, v in symbol.entries.items())))
        elif isinstance(symbol, ListOf):
            parts.append(("list", _signature(symbol.items, depth + 1)))
        elif isinstance(symbol, Text):
            parts.append(("text", _signature(symbol.of, depth + 1)))
        else:
            parts.append(symbol)
    return tuple(parts)


class _Reader:
    def __init__(self, files: ChartFiles) -> None:
        self.result = ChartReads()
        self.roots = {chart.key_path for chart in all_charts(files)}
        self.templates: list[tuple[ValuePath, str, tuple[Node, ...]]] = []
        self.defines: dict[str, list[tuple[ValuePath, tuple[Node, ...]]]] = {}
        for chart in all_charts(files):
            for path, text in sorted(chart.templates.items()):
                if path.endswith("NOTES.txt"):
                    continue  # printed to whoever installs, never applied: a key only NOTES reads changes nothing
                try:
                    parsed = parse(text)
                except TemplateSyntax as error:
                    self.result.unreadable["/".join((*chart.key_path, path))] = str(error)
                    continue
                self.templates.append((chart.key_path, path, parsed.nodes))
                for name, body in parsed.defines.items():
                    self.defines.setdefault(name, []).append((chart.key_path, body))
        # Entries `set` adds to a map of values (`set $services "default" .Values.service`).
        self.added: dict[ValuePath, dict[str, Value]] = {}
        self.walked: set[tuple[str, object]] = set()
        self.reached: set[str] = set()
        self.depth = 0

    def run(self) -> ChartReads:
        for chart, _, nodes in self.templates:
            context: Value = (Context(chart),)
            self.walk(nodes, context, [{"$": context}])
        # Named templates no template calls by a literal name (called through `tpl` of a value, or by a computed
        # name) still read values: walk them with their own chart's context.
        for name in sorted(set(self.defines) - self.reached):
            for chart, body in self.defines[name]:
                context = (Context(chart),)
                self.walk(body, context, [{"$": context}])
        return self.result

    # --- nodes --------------------------------------------------------------------------------------------------

    def walk(self, nodes: Sequence[Node], dot: Value, scopes: list[dict[str, Value]]) -> None:
        for node in nodes:
            if isinstance(node, Action):
                value = self.pipeline(node.pipeline, dot, scopes)
                if not node.pipeline.declared:
                    self.printed(value)
            elif isinstance(node, Control):
                self.control(node, dot, scopes)
            elif isinstance(node, Call):
                argument = self.pipeline(node.pipeline, dot, scopes) if node.pipeline else ()
                self.include(node.name, argument)

    def control(self, node: Control, dot: Value, scopes: list[dict[str, Value]]) -> None:
        inner = [*scopes, {}]
        if node.keyword == "range":
            collection = self.pipeline(node.pipeline, dot, inner, bind=False)
            items = self.elements(collection)
            names = node.pipeline.declared
            if len(names) == 2:
                inner[-1][names[0]] = ()
                inner[-1][names[1]] = items
            elif len(names) == 1:
                inner[-1][names[0]] = items
            self.walk(node.body, items, inner)
        else:
            value = self.pipeline(node.pipeline, dot, inner)
            self.walk(node.body, value if node.keyword == "with" else dot, inner)
        self.walk(node.otherwise, dot, [*scopes, {}])

    def include(self, name: str, argument: Value) -> None:
        bodies = self.defines.get(name)
        if not bodies or self.depth > _MAX_DEPTH:
            return
        key = (name, _signature(argument))
        if key in self.walked:
            return
        self.walked.add(key)
        self.reached.add(name)
        self.depth += 1
        try:
            for _, body in bodies:
                self.walk(body, argument, [{"$": argument}])
        finally:
            self.depth -= 1

    # --- expressions --------------------------------------------------------------------------------------------

    def pipeline(self, pipeline: Pipeline, dot: Value, scopes: list[dict[str, Value]], bind: bool = True) -> Value:
        value: Value | None = None
        for command in pipeline.commands:
            value = self.command(command.operands, dot, scopes, value)
        result = value or ()
        if bind:
            for name in pipeline.declared:
                if pipeline.assigns:
                    holder = next((scope for scope in reversed(scopes) if name in scope), scopes[-1])
                    holder[name] = _union([holder.get(name, ()), result])
                else:
                    scopes[-1][name] = result
        return result

    def command(
        self, operands: Sequence[Operand], dot: Value, scopes: list[dict[str, Value]], piped: Value | None
    ) -> Value:
        if not operands:
            return piped or ()
        first, rest = operands[0], operands[1:]
        if isinstance(first, Function):
            arguments = [self.operand(operand, dot, scopes) for operand in rest]
            if piped is not None:
                arguments.append((piped, None))
            return self.call(first.name, arguments)
        value, _ = self.operand(first, dot, scopes)
        for operand in rest:  # a method's arguments (.Files.Get "x", .Capabilities.APIVersions.Has "y")
            self.operand(operand, dot, scopes)
        return value if not rest else ()

    def operand(self, operand: Operand, dot: Value, scopes: list[dict[str, Value]]) -> tuple[Value, str | None]:
        if isinstance(operand, Literal):
            return (), operand.text
        if isinstance(operand, Field):
            return self.chain(dot, operand.chain), None
        if isinstance(operand, Variable):
            found = next((scope[operand.name] for scope in reversed(scopes) if operand.name in scope), ())
            return self.chain(found, operand.chain), None
        if isinstance(operand, Group):
            return self.chain(self.pipeline(operand.pipeline, dot, scopes), operand.chain), None
        return self.call(operand.name, []), None

    def chain(self, value: Value, names: Iterable[str]) -> Value:
        for name in names:
            value = self.member(value, name)
        return value

    def member(self, value: Value, name: str) -> Value:
        found: list[Symbol] = []
        for symbol in value:
            if isinstance(symbol, Context):
                if name == "Values":
                    found.append(At(symbol.chart))
            elif isinstance(symbol, At):
                path = ("global",) if symbol.path in self.roots and name == "global" else (*symbol.path, name)
                self.result.read.add(path)
                found.append(At(path))
                added = self.added.get(symbol.path, {})
                found += added.get(name, ()) if name != WILDCARD else _union(added.values())
            elif isinstance(symbol, MadeMap):
                found += symbol.entries.get(name, ())
        return _union([tuple(found)])

    def elements(self, value: Value) -> Value:
        """What `range` gives for each entry: any key of a map of values, the items of a list made here."""
        found: list[Value] = []
        for symbol in value:
            if isinstance(symbol, At) and symbol.path in self.roots:
                continue  # a walk over a chart's entire values (nats' tplYaml) is generic: it gives no key a meaning
            if isinstance(symbol, At):
                found.append(self.member((symbol,), WILDCARD))
            elif isinstance(symbol, ListOf):
                found.append(symbol.items)
            elif isinstance(symbol, MadeMap):
                found += symbol.entries.values()
        return _union(found)

    def call(self, name: str, arguments: list[tuple[Value, str | None]]) -> Value:
        values = [value for value, _ in arguments]
        texts = [text for _, text in arguments]
        if name in ("include", "template"):
            if texts and texts[0] is not None:
                self.include(texts[0], values[1] if len(values) > 1 else ())
            return ()
        if name == "tpl":
            for value in values:
                self.whole(value)
            return ()
        if name in SERIALIZERS:
            return (Text(_union(values)),) if any(values) else ()
        if name in DIGESTS:
            return ()
        if name in PARSERS:
            return _union(symbol.of for value in values for symbol in value if isinstance(symbol, Text))
        if name in PASS_ANY:
            if name in MERGES and values:
                self.note_aliases(values[0], values[1:])
            return _union(values)
        if name == "required":
            return values[-1] if values else ()
        if name == "ternary":
            return _union(values[:2])
        if name in ELEMENT_OF:
            return _union(self.elements(value) for value in values)
        if name in ("index", "get", "hasKey", "pluck", "dig", "pick", "keys", "values"):
            return self.lookup(name, values, texts)
        if name == "dict":
            made = MadeMap()
            for key, value in zip(texts[0::2], values[1::2], strict=False):
                if key is not None:
                    made.entries[key] = value
            return (made,)
        if name in ("list", "tuple", "append", "mustAppend", "prepend", "mustPrepend", "concat"):
            return (ListOf(_union([*values, *(self.elements(v) for v in values)])),)
        if name in ("set", "unset"):
            return self.assign(name, values, texts)
        # Anything else makes a new value (a string, a number); text of values it is given still carries them
        # (`toYaml .Values.x | nindent 4`).
        return _union(tuple(s for s in value if isinstance(s, Text)) for value in values)

    def lookup(self, name: str, values: list[Value], texts: list[str | None]) -> Value:
        def key(text: str | None) -> str:
            return text if text is not None else WILDCARD

        if not values:
            return ()
        if name == "index":
            return self.chain(values[0], [key(text) for text in texts[1:]])
        if name == "get":
            return self.chain(values[0], [key(texts[1]) if len(texts) > 1 else WILDCARD])
        if name == "hasKey":
            self.chain(values[0], [key(texts[1]) if len(texts) > 1 else WILDCARD])
            return ()
        if name == "pluck":
            return _union(self.chain(value, [key(texts[0])]) for value in values[1:])
        if name == "dig":  # dig "a" "b" default map
            found = self.chain(values[-1], [key(text) for text in texts[:-2]])
            return _union([found, values[-2]] if len(values) > 1 else [found])
        if name == "pick":
            made = MadeMap()
            for text in texts[1:]:
                made.entries[key(text)] = self.chain(values[0], [key(text)])
            return (made,)
        if name == "keys":
            for value in values:
                self.chain(value, [WILDCARD])
            return ()
        return _union(self.elements(value) for value in values)  # values

    def note_aliases(self, target: Value, sources: list[Value]) -> None:
        """A merge onto a chart's values (`$.Values`) of a block of those values: the block's keys are the chart's."""
        for symbol in target:
            if isinstance(symbol, At) and symbol.path in self.roots:
                for source in sources:
                    for block in source:
                        if isinstance(block, At) and block.path[: len(symbol.path)] == symbol.path != block.path:
                            self.result.aliased[block.path] = symbol.path

    def assign(self, name: str, values: list[Value], texts: list[str | None]) -> Value:
        if name == "set" and len(values) >= 3 and texts[1] is not None:
            for symbol in values[0]:
                if isinstance(symbol, MadeMap):
                    symbol.entries[texts[1]] = _union([symbol.entries.get(texts[1], ()), values[2]])
                elif isinstance(symbol, At):
                    entries = self.added.setdefault(symbol.path, {})
                    entries[texts[1]] = _union([entries.get(texts[1], ()), values[2]])
                elif isinstance(symbol, Context) and texts[1] == "Values":
                    for moved in values[2]:
                        if isinstance(moved, At) and moved.path != symbol.chart:
                            self.result.rebased[symbol.chart] = moved.path
        return values[0] if values else ()

    # --- what reaches the output --------------------------------------------------------------------------------

    def printed(self, value: Value) -> None:
        for symbol in value:
            if isinstance(symbol, At):
                self.result.printed.add(symbol.path)
            elif isinstance(symbol, Text):
                self.whole(symbol.of)

    def passed_whole(self, path: ValuePath) -> None:
        # A chart's entire values passed through is a dump (istiod's `values` ConfigMap, "for debugging ...
        # modifying these values has no effect"), not a map the chart acts on: it makes no key meaningful.
        if path not in self.roots:
            self.result.whole.add(path)

    def whole(self, value: Value, depth: int = 0) -> None:
        if depth > 8:
            return
        for symbol in value:
            if isinstance(symbol, At):
                self.passed_whole(symbol.path)
            elif isinstance(symbol, Text):
                self.whole(symbol.of, depth + 1)
            elif isinstance(symbol, ListOf):
                self.whole(symbol.items, depth + 1)
            elif isinstance(symbol, MadeMap):
                for entry in symbol.entries.values():
                    self.whole(entry, depth + 1)
