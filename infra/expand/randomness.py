"""Where a chart draws random data, read from its templates with the Go-template parser the values stage uses:
the value keys that pin an object a chart renders differently each time (named in the expansion's problems)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    Pipeline,
    TemplateSyntax,
    Variable,
    parse,
)

# Sprig functions whose result differs at every render (salted hashes included).
RANDOM_FUNCTIONS = frozenset(
    {
        "randAlphaNum",
        "randAlpha",
        "randNumeric",
        "randAscii",
        "randBytes",
        "randInt",
        "uuidv4",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "htpasswd",
        "bcrypt",
        "now",
    }
)


def random_value_keys(files: ChartFiles, template_path: str) -> list[str]:
    """Value keys read where `template_path` (`<chart>/templates/x.yaml`, or `<chart>/charts/<sub>/templates/...`)
    draws random data: in its actions that call a random function or a named template that does, and in those
    named templates; prefixed with the key of the (sub)chart the template belongs to."""
    defines = _all_defines(files)
    random_defines = _drawing_at_random(defines)
    chart, nodes = _template_nodes(files, template_path)
    keys: list[str] = []
    pending: list[str] = []
    for pipeline in _pipelines(nodes):
        called = set(_called(pipeline)) & random_defines
        if called or set(_functions(pipeline)) & RANDOM_FUNCTIONS:
            keys += _values_read(pipeline)
            pending += sorted(called)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for pipeline in _pipelines(defines[name]):
            keys += _values_read(pipeline)
            pending += sorted(set(_called(pipeline)) & random_defines)
    prefix = "".join(f"{key}." for key in chart.key_path)
    return sorted(dict.fromkeys(prefix + key for key in keys))


def _all_defines(files: ChartFiles) -> dict[str, tuple[Node, ...]]:
    found: dict[str, tuple[Node, ...]] = {}
    charts = [files]
    while charts:
        chart = charts.pop()
        charts += chart.subcharts
        for text in chart.templates.values():
            try:
                found.update(parse(text).defines)
            except TemplateSyntax:
                continue  # Helm refuses the chart; the render reports it
    return found


def _drawing_at_random(defines: dict[str, tuple[Node, ...]]) -> set[str]:
    """Named templates that call a random function, directly or through other named templates."""
    drawing = {
        name for name, body in defines.items() if any(set(_functions(p)) & RANDOM_FUNCTIONS for p in _pipelines(body))
    }
    while True:
        more = {
            name
            for name, body in defines.items()
            if name not in drawing and any(set(_called(p)) & drawing for p in _pipelines(body))
        }
        if not more:
            return drawing
        drawing |= more


def _template_nodes(files: ChartFiles, template_path: str) -> tuple[ChartFiles, tuple[Node, ...]]:
    parts = template_path.split("/")[1:]
    chart = files
    while len(parts) > 2 and parts[0] == "charts":
        chart = next((sub for sub in chart.subcharts if parts[1] in (sub.name, sub.key_path[-1])), chart)
        parts = parts[2:]
    try:
        return chart, parse(chart.templates.get("/".join(parts), "")).nodes
    except TemplateSyntax:
        return chart, ()


def _pipelines(nodes: Sequence[Node]) -> Iterator[Pipeline]:
    for node in nodes:
        if isinstance(node, Action):
            yield node.pipeline
        elif isinstance(node, Control):
            yield node.pipeline
            yield from _pipelines(node.body)
            yield from _pipelines(node.otherwise)
        elif isinstance(node, Call) and node.pipeline is not None:
            yield Pipeline((*node.pipeline.commands,))


def _operands(pipeline: Pipeline) -> Iterator[object]:
    for command in pipeline.commands:
        for operand in command.operands:
            yield operand
            if isinstance(operand, Group):
                yield from _operands(operand.pipeline)


def _functions(pipeline: Pipeline) -> Iterator[str]:
    return (operand.name for operand in _operands(pipeline) if isinstance(operand, Function))


def _called(pipeline: Pipeline) -> Iterator[str]:
    """Named templates an `include` or `tpl`-free `template` of the pipeline calls by a literal name."""
    for command in _commands(pipeline):
        operands = command.operands
        if len(operands) > 1 and isinstance(operands[0], Function) and operands[0].name in ("include", "template"):
            if isinstance(operands[1], Literal) and operands[1].text is not None:
                yield operands[1].text


def _commands(pipeline: Pipeline) -> Iterator:
    for command in pipeline.commands:
        yield command
        for operand in command.operands:
            if isinstance(operand, Group):
                yield from _commands(operand.pipeline)


def _values_read(pipeline: Pipeline) -> list[str]:
    keys = []
    for operand in _operands(pipeline):
        chain = operand.chain if isinstance(operand, Field | Variable) else ()
        if isinstance(operand, Variable) and operand.name != "$":
            continue
        if len(chain) > 1 and chain[0] == "Values":
            keys.append(".".join(chain[1:]))
    return keys
