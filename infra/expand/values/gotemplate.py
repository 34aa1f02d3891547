"""Go's text/template syntax, as far as the value-key check needs it: a chart template parsed into its actions
and control structures (text between them is dropped).

This reads templates, it does not run them: no function is called and nothing is printed. Template text that
Go would refuse is read as far as it goes; a chart with such a template fails to render, which the values stage
reports from Helm itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_OPEN = "{{"
_CLOSE = "}}"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_CHAIN = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_NUMBER = re.compile(r"[-+]?(?:0[xXoObB][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+(?:[eE][-+]?[0-9]+)?)i?")
_CONTROL = frozenset({"if", "with", "range"})
_NO_VALUES = frozenset({"true", "false", "nil"})


class TemplateSyntax(Exception):
    """Text that is not a Go template (an action left open, a string not closed)."""


# --- operands ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A string, number, character, boolean or nil; `text` is a string's value, else None."""

    text: str | None


@dataclass(frozen=True)
class Field:
    """`.a.b` (a chain on the dot); `.` alone has an empty chain."""

    chain: tuple[str, ...]


@dataclass(frozen=True)
class Variable:
    """`$name.a.b`; `$` alone is named "$"."""

    name: str
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Function:
    name: str


@dataclass(frozen=True)
class Group:
    """`(pipeline)`, with the field chain that may follow it: `(index .Values "x").y`."""

    pipeline: Pipeline
    chain: tuple[str, ...] = ()


Operand = Literal | Field | Variable | Function | Group


@dataclass(frozen=True)
class Command:
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    declared: tuple[str, ...] = ()
    """Variables the pipeline declares (`$x :=`) or assigns (`$x =`)."""
    assigns: bool = False


# --- nodes ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """`{{ pipeline }}`: prints its value unless it declares a variable."""

    pipeline: Pipeline


@dataclass(frozen=True)
class Control:
    """`if`, `with` or `range`, with its body and its `else` branch."""

    keyword: str
    pipeline: Pipeline
    body: tuple[Node, ...]
    otherwise: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Call:
    """`{{ template "name" pipeline }}`."""

    name: str
    pipeline: Pipeline | None


Node = Action | Control | Call


@dataclass
class Parsed:
    nodes: tuple[Node, ...]
    defines: dict[str, tuple[Node, ...]] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    """The template's top-level nodes and the named templates it defines (`define` and `block`)."""
    parser = _Parser(_actions(text))
    nodes = parser.nodes(until=())
    return Parsed(nodes, parser.defines)


# --- lexing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str
    """string, number, char, field, variable, ident, open, close, pipe, declare, assign, comma"""
    text: str
    spaced: bool
    """Whitespace comes before it: `(x).a` chains, `(x) .a` passes an argument."""


def _actions(text: str) -> list[list[_Token]]:
    """The tokens of every action, comments dropped."""
    found: list[list[_Token]] = []
    position = 0
    while True:
        start = text.find(_OPEN, position)
        if start < 0:
            return found
        index = start + 2
        if text.startswith("- ", index) or text.startswith("-\t", index) or text.startswith("-\n", index):
            index += 2
        first = index
        while first < len(text) and text[first] in " \t\r\n":
            first += 1
        if text.startswith("/*", first):
            end = text.find("*/", index)
            if end < 0:
                raise TemplateSyntax("unclosed comment")
            close = text.find(_CLOSE, end)
            if close < 0:
                raise TemplateSyntax("unclosed comment action")
            position = close + 2
            continue
        tokens, position = _tokens(text, index)
        found.append(tokens)


def _tokens(text: str, index: int) -> tuple[list[_Token], int]:
    tokens: list[_Token] = []
    spaced = True
    length = len(text)
    while index < length:
        char = text[index]
        if char in " \t\r\n":
            index += 1
            spaced = True
            continue
        if text.startswith(_CLOSE, index):
            return tokens, index + 2
        if char == "-" and text.startswith(_CLOSE, index + 1) and spaced:
            return tokens, index + 3
        if char == '"':
            end = index + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= length:
                raise TemplateSyntax("unterminated quoted string")
            tokens.append(_Token("string", _unquote(text[index + 1 : end]), spaced))
            index = end + 1
        elif char == "`":
            end = text.find("`", index + 1)
            if end < 0:
                raise TemplateSyntax("unterminated raw string")
            tokens.append(_Token("string", text[index + 1 : end], spaced))
            index = end + 1
        elif char == "'":
            end = index + 1
            while end < length and text[end] != "'":
                end += 2 if text[end] == "\\" else 1
            tokens.append(_Token("char", text[index + 1 : end], spaced))
            index = end + 1
        elif char == ":" and text.startswith(":=", index):
            tokens.append(_Token("declare", ":=", spaced))
            index += 2
        elif char in "=|(),":
            kind = {"=": "assign", "|": "pipe", "(": "open", ")": "close", ",": "comma"}[char]
            tokens.append(_Token(kind, char, spaced))
            index += 1
        elif char == "$":
            name = _IDENT.match(text, index + 1)
            end = name.end() if name else index + 1
            chain = _FIELD_CHAIN.match(text, end)
            full = text[index : chain.end() if chain else end]
            tokens.append(_Token("variable", full, spaced))
            index += len(full)
        elif char == ".":
            chain = _FIELD_CHAIN.match(text, index)
            if chain:
                tokens.append(_Token("field", chain.group(0), spaced))
                index = chain.end()
            else:
                number = _NUMBER.match(text, index)
                if number and number.end() > index + 1:
                    tokens.append(_Token("number", number.group(0), spaced))
                    index = number.end()
                else:
                    tokens.append(_Token("field", ".", spaced))
                    index += 1
        elif char.isdigit() or (char in "+-" and index + 1 < length and text[index + 1].isdigit()):
            number = _NUMBER.match(text, index)
            end = number.end() if number and number.end() > index else index + 1
            tokens.append(_Token("number", text[index:end], spaced))
            index = end
        else:
            name = _IDENT.match(text, index)
            if not name:
                index += 1  # a character Go would refuse; keep reading
                continue
            tokens.append(_Token("ident", name.group(0), spaced))
            index = name.end()
        spaced = False
    raise TemplateSyntax("unclosed action")


def _unquote(body: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body)


# --- parsing ----------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, actions: list[list[_Token]]) -> None:
        self.actions = actions
        self.position = 0
        self.defines: dict[str, tuple[Node, ...]] = {}

    def nodes(self, until: tuple[str, ...]) -> tuple[Node, ...]:
        """Nodes up to an action whose first word is in `until` (left for the caller), or to the end."""
        found: list[Node] = []
        while self.position < len(self.actions):
            tokens = self.actions[self.position]
            word = tokens[0].text if tokens and tokens[0].kind == "ident" else ""
            if word in until:
                return tuple(found)
            self.position += 1
            if not tokens or word in ("break", "continue"):
                continue
            if word in _CONTROL:
                found.append(self.control(word, tokens[1:]))
            elif word == "define" and len(tokens) > 1:
                body = self.nodes(until=("end",))
                self.position += 1
                self.defines[tokens[1].text] = body
            elif word == "block" and len(tokens) > 1:
                body = self.nodes(until=("end",))
                self.position += 1
                self.defines[tokens[1].text] = body
                found.append(Call(tokens[1].text, _pipeline(tokens[2:]) if len(tokens) > 2 else None))
            elif word == "template" and len(tokens) > 1:
                found.append(Call(tokens[1].text, _pipeline(tokens[2:]) if len(tokens) > 2 else None))
            elif word in ("end", "else"):
                continue  # unbalanced: Go refuses it; Helm reports the chart
            else:
                found.append(Action(_pipeline(tokens)))
        return tuple(found)

    def control(self, keyword: str, tokens: list[_Token]) -> Control:
        pipeline = _pipeline(tokens)
        body = self.nodes(until=("else", "end"))
        otherwise: tuple[Node, ...] = ()
        if self.position < len(self.actions):
            closing = self.actions[self.position]
            self.position += 1
            if closing[0].text == "else":
                rest = closing[1:]
                if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                    # `else if` / `else with`: a nested control that shares the final `end`.
                    otherwise = (self.control(rest[0].text, rest[1:]),)
                else:
                    otherwise = self.nodes(until=("end",))
                    self.position += 1
        return Control(keyword, pipeline, body, otherwise)


def _pipeline(tokens: list[_Token]) -> Pipeline:
    declared: tuple[str, ...] = ()
    assigns = False
    for index, token in enumerate(tokens):
        if token.kind in ("declare", "assign"):
            names = tokens[:index]
            if names and all(t.kind in ("variable", "comma") for t in names):
                declared = tuple(t.text for t in names if t.kind == "variable")
                assigns = token.kind == "assign"
                tokens = tokens[index + 1 :]
            break
        if token.kind not in ("variable", "comma"):
            break
    commands, _ = _commands(tokens, 0)
    return Pipeline(tuple(commands), declared, assigns)


def _commands(tokens: list[_Token], index: int) -> tuple[list[Command], int]:
    """Commands separated by `|`, up to an unmatched `)` or the end; returns the index after them."""
    commands: list[Command] = []
    operands: list[Operand] = []
    while index < len(tokens):
        token = tokens[index]
        if token.kind == "close":
            break
        if token.kind == "pipe":
            commands.append(Command(tuple(operands)))
            operands = []
            index += 1
            continue
        operand, index = _operand(tokens, index)
        if operand is not None:
            operands.append(operand)
    if operands:
        commands.append(Command(tuple(operands)))
    return commands, index


def _operand(tokens: list[_Token], index: int) -> tuple[Operand | None, int]:
    token = tokens[index]
    if token.kind == "open":
        inner, index = _commands(tokens, index + 1)
        index += 1  # the `)`
        chain: tuple[str, ...] = ()
        if index < len(tokens) and tokens[index].kind == "field" and not tokens[index].spaced:
            chain = _chain(tokens[index].text)
            index += 1
        return Group(Pipeline(tuple(inner)), chain), index
    if token.kind == "string":
        return Literal(token.text), index + 1
    if token.kind in ("number", "char"):
        return Literal(None), index + 1
    if token.kind == "field":
        return Field(_chain(token.text)), index + 1
    if token.kind == "variable":
        name, _, rest = token.text.partition(".")
        return Variable(name, _chain("." + rest) if rest else ()), index + 1
    if token.kind == "ident":
        if token.text in _NO_VALUES:
            return Literal(None), index + 1
        return Function(token.text), index + 1
    return None, index + 1  # a stray `,` `:=` `=`: Go refuses it


def _chain(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(".") if part)
