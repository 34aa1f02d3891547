"""The pure-Python YAML emitter writes what libyaml writes, or leaves the document to it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.offline import yaml_emitter
from infra.offline.render import Rendered
from infra.offline.serialize import dump_yaml, libyaml_dump

from .conftest import ENV_NAMES

# What makes libyaml quote or break a scalar: indicators, ": " and " #", quotes, spaces (a run of them, or at
# either end), line breaks, words the resolver reads as another type, document markers.
TRICKY = ["-", "?", ":", "#", "'", '"', ",", "[", "}", "&", "*", "!", "|", ">", "%", "@", "`", "=", "~", "<<"]
WORDS = ["a", "name", "x-1", "true", "no", "null", "1.5", "0755", "2024-01-01", "---", "...", "1e3", ".inf"]
SPACING = [" ", "  ", "\n", "\n\n"]
pieces = st.sampled_from([*SPACING, *TRICKY, *WORDS]) | st.text(alphabet="abz09_./", min_size=1, max_size=12)
strings = st.lists(pieces, max_size=30).map("".join)
keys = st.lists(pieces, max_size=4).map("".join)
scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | strings
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=25,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_a_document_is_written_as_libyaml_writes_it(document: dict[str, Any]) -> None:
    try:
        ours = yaml_emitter.dump(document)
    except yaml_emitter.Unsupported:
        return
    assert ours == libyaml_dump(document)


@settings(max_examples=300, deadline=None)
@given(strings, st.integers(0, 6))
def test_a_long_string_breaks_where_libyaml_breaks_it(text: str, depth: int) -> None:
    document: Any = text * 4
    for level in range(depth):
        document = {f"key{level}": document} if level % 2 else [document, "next"]
    document = {"root": document}
    try:
        ours = yaml_emitter.dump(document)
    except yaml_emitter.Unsupported:
        return
    assert ours == libyaml_dump(document)
    assert yaml.safe_load(ours) == document


@pytest.mark.parametrize("length", range(100, 130))
@pytest.mark.parametrize("quoted", [False, True])
def test_a_line_breaks_at_the_first_space_past_the_width(length: int, quoted: bool) -> None:
    text = ("'" if quoted else "") + "x" * length + " a b  c " + "y" * 30 + " z"
    for document in ({"key": text}, {"list": [text, {"key": text}]}, {"a": {"b": [[text]]}}):
        assert yaml_emitter.dump(document) == libyaml_dump(document)


@pytest.mark.parametrize(
    "value",
    [
        {"trailing space": "line \nbreak"},
        {"open-ended": "lines\n\n"},
        {"tab": "a\tb"},
        {"name": "café"},
        {"line\nbreak": "in a key"},
        {("a", "b"): 1},
        {"k" * 129: 1},
    ],
)
def test_what_the_emitter_does_not_write_is_left_to_libyaml(value: dict[Any, Any]) -> None:
    with pytest.raises(yaml_emitter.Unsupported):
        yaml_emitter.dump(value)
    if all(type(key) is str for key in value):
        assert dump_yaml(value) == libyaml_dump(value)


@pytest.mark.parametrize("stack", ENV_NAMES)
def test_every_rendered_document_is_written_as_libyaml_writes_it(rendered: dict[str, Rendered], stack: str) -> None:
    documents = [manifest.object for manifest in rendered[stack].manifests] + [rendered[stack].inventory()]
    written_here = 0
    for document in documents:
        assert dump_yaml(document) == libyaml_dump(document)
        try:
            yaml_emitter.dump(document)
            written_here += 1
        except yaml_emitter.Unsupported:
            pass
    assert written_here > 0.9 * len(documents), "the fast emitter should write nearly every rendered document"
