"""Plain data written as block YAML in pure Python, byte for byte as libyaml writes it with the settings of
`serialize.dump_yaml`, for the data a render holds: mappings with string keys, lists, ASCII strings, ints,
floats, bools and nulls.

Why: libyaml asks Python twice per scalar how it would resolve (and needs a node object per value); that was a
fifth of a stack's instructions. Here each scalar's style follows libyaml's own rules (emitter.c: analyze_scalar,
select_scalar_style, write_plain and write_single_quoted, including where a long line breaks), and anything
else (a non-ASCII character, a tab, a string libyaml would double-quote) raises `Unsupported` so that the caller
hands the whole document to libyaml. tests/test_yaml_emitter.py holds the two to the same bytes.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import yaml

WIDTH = 120
_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# Printable ASCII, neither starting nor ending with a space.
_PRINTABLE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_MULTI_LINE_PRINTABLE = re.compile(r"[\x20-\x7e\n]+")
_LEADING_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_INDICATORS_BEFORE_A_SPACE = frozenset("?:-")
_SIMPLE_KEY_LIMIT = 128
_RUNS = re.compile(r" +|[^ ]+")
_RESOLVER = yaml.resolver.Resolver()


class Unsupported(Exception):
    """A value this emitter leaves to libyaml."""


def dump(data: dict[str, Any]) -> str:
    if type(data) is not dict or not data:
        raise Unsupported("a document that is not a non-empty mapping")
    lines: list[str] = []
    _mapping(data, 0, "", lines)
    lines.append("")
    return "\n".join(lines)


def _mapping(mapping: dict[str, Any], indent: int, lead: str, lines: list[str]) -> None:
    """`lead` is what comes before the first key on its line (a list item's dash); the keys are at `indent`."""
    spaces = " " * indent
    for key in sorted(mapping):
        head = f"{lead or spaces}{_key(key)}:"
        lead = ""
        value = mapping[key]
        kind = type(value)
        if kind is dict:
            if value:
                lines.append(head)
                _mapping(value, indent + 2, "", lines)
            else:
                lines.append(f"{head} {{}}")
        elif kind is list:
            if value:
                lines.append(head)
                _sequence(value, indent, "", lines)  # libyaml does not indent a list under a key
            else:
                lines.append(f"{head} []")
        else:
            lines.append(f"{head} {_scalar(value, len(head) + 1, indent + 2)}")


def _sequence(items: list[Any], indent: int, lead: str, lines: list[str]) -> None:
    spaces = " " * indent
    for item in items:
        dash = f"{lead or spaces}- "
        lead = ""
        kind = type(item)
        if kind is dict:
            if item:
                _mapping(item, indent + 2, dash, lines)
            else:
                lines.append(f"{dash}{{}}")
        elif kind is list:
            if item:
                _sequence(item, indent + 2, dash, lines)
            else:
                lines.append(f"{dash}[]")
        else:
            lines.append(dash + _scalar(item, len(dash), indent + 2))


def _key(key: Any) -> str:
    if type(key) is not str or len(key) > _SIMPLE_KEY_LIMIT:
        raise Unsupported("a key libyaml would not write as a simple key")
    return _one_line(key)[0]


def _scalar(value: Any, column: int, indent: int) -> str:
    """`value` as libyaml writes it from `column`, continuing on lines indented by `indent` if it breaks."""
    kind = type(value)
    if kind is str:
        if "\n" in value:
            return _literal(value, indent)
        written, quoted = _one_line(value)
        if column + len(written) <= WIDTH or " " not in value:
            return written
        return _broken(value, column, indent, quoted)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is float:
        return _float(value)
    raise Unsupported(f"a {kind.__name__}")


def _float(value: float) -> str:
    """PyYAML's SafeRepresenter spelling (.nan, .inf, and an exponent always after a fraction)."""
    if value != value:
        text = ".nan"
    elif value in (math.inf, -math.inf):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
    if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _FLOAT_TAG:
        raise Unsupported(f"a float libyaml would tag: {text}")
    return text


def _literal(text: str, indent: int) -> str:
    """A multi-line string as a `|` block (what yaml_text._node asks of libyaml): an indentation hint when it
    starts with a space or a line break, `-` when it does not end with a line break. A trailing space on a line
    or at the end, or a character outside printable ASCII, makes libyaml write it double-quoted instead, and
    several line breaks at the end make it open-ended: those are libyaml's."""
    if not _MULTI_LINE_PRINTABLE.fullmatch(text) or " \n" in text or text.endswith((" ", "\n\n")) or text == "\n":
        raise Unsupported("a multi-line string libyaml would not write as a plain | block")
    hints = "2" if text[0] in " \n" else ""
    if text.endswith("\n"):
        text = text[:-1]
    else:
        hints += "-"
    spaces = " " * indent
    body = "\n".join(f"{spaces}{line}" if line else "" for line in text.split("\n"))
    return f"|{hints}\n{body}"


@functools.lru_cache(maxsize=1 << 16)
def _one_line(text: str) -> tuple[str, bool]:
    """The string as a scalar on one line, and whether that is quoted. Remembered: a stack writes the same keys
    and values thousands of times (some 40,000 strings, a few thousand of them distinct)."""
    if _plain_allowed(text):
        return text, False
    return "'" + text.replace("'", "''") + "'", True


def _plain_allowed(text: str) -> bool:
    """libyaml's test for a plain scalar in block context, for a single line of printable ASCII, and the
    resolver's: a plain scalar must read back as a string."""
    if not _PRINTABLE.fullmatch(text):
        if text and ("\t" in text or "\n" in text or not text.isascii() or not text.isprintable()):
            raise Unsupported("a string with a tab, a line break or a non-ASCII character")
        return False  # empty, or a space at either end: quoted
    first = text[0]
    if first in _LEADING_INDICATORS or text.startswith(("---", "...")):
        return False
    if first in _INDICATORS_BEFORE_A_SPACE and (len(text) == 1 or text[1] == " "):
        return False
    if ": " in text or text.endswith(":") or " #" in text:
        return False
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG


def _broken(text: str, column: int, indent: int, quoted: bool) -> str:
    """The scalar written from `column` with libyaml's line breaks: a single space (for a quoted scalar, not
    its first or last character) becomes a line break once the line is past WIDTH. A run of spaces never breaks,
    so the text is walked a run at a time."""
    out: list[str] = []
    if quoted:
        out.append("'")
        column += 1
    last = len(text) - 1
    for run in _RUNS.finditer(text):
        piece = run.group()
        if piece[0] != " ":
            if quoted:
                piece = piece.replace("'", "''")
            out.append(piece)
            column += len(piece)
        elif len(piece) == 1 and column > WIDTH and (not quoted or 0 < run.start() < last):
            out.append("\n" + " " * indent)
            column = indent
        else:
            out.append(piece)
            column += len(piece)
    if quoted:
        out.append("'")
    return "".join(out)
