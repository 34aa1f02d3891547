"""yaml_text writes what yaml.safe_dump writes for a configuration file (a mapping), by libyaml's emitter in place of
PyYAML's pure-Python one."""

from __future__ import annotations

import itertools
import string
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from infra.platform.config_text import yaml_text

TEXT = st.text(alphabet=string.printable.replace("\x0b", "").replace("\x0c", "") + "é✓", max_size=150)
# What a configuration file's keys are: names (an empty key is one place the two emitters part).
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}", fullmatch=True)
DATA = st.recursive(
    st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(NAMES, children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300)
@given(data=st.dictionaries(NAMES, DATA, max_size=5), sort_keys=st.booleans())
@example(data={"A": {"A": "0" * 54 + '"\r\ré✓✓0'}}, sort_keys=False)
def test_yaml_text_is_what_safe_dump_writes(data: dict[str, Any], sort_keys: bool) -> None:
    """Byte for byte, except where the two emitters fold a long double-quoted (escaped) string at different places:
    libyaml counts an escape such as `\\u2713` as the characters it writes, PyYAML's emitter otherwise. Such a
    text still reads back as the same data."""
    ours, theirs = yaml_text(data, sort_keys=sort_keys), yaml.safe_dump(data, sort_keys=sort_keys)
    assert yaml.safe_load(ours) == yaml.safe_load(theirs) == data
    if ours != theirs:
        pairs = itertools.zip_longest(ours.splitlines(), theirs.splitlines(), fillvalue="")
        parted = next(line for line, other in pairs if line != other)
        assert '"' in parted or parted.lstrip().startswith("\\"), (ours, theirs)
