"""detect-secrets' line scan with a gate in front: a line reaches the plugins and filters only when some plugin
could report it. The findings are the same as detect-secrets' own scan (tests/test_secret_gate.py holds it to
that); the time is a fraction of it.

detect-secrets calls each of its 27 plugins on every line through a dependency-injection helper, and that
machinery, not the patterns, costs most of the 0.3 ms a line takes. Yet a plugin reports a line only when one
of its own patterns matches it:
- a regex plugin yields only what its `denylist` patterns find (JWT keeps a subset of those);
- a high-entropy plugin yields only quoted strings its `regex` finds, and keeps those above its entropy limit;
- each of the keyword plugin's patterns requires its keyword list (`DENYLIST_REGEX`): no keyword, no report.
The gate asks exactly those questions, in C, and lets every other line through untouched. A plugin whose
methods are not the ones reasoned about here (a newer detect-secrets, a custom plugin) turns the gate off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from detect_secrets.core import scan as detect_scan
from detect_secrets.plugins import keyword
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.settings import get_plugins
from detect_secrets.util.code_snippet import get_code_snippet

Gate = Callable[[str], bool]

# Case-insensitive even for the one keyword pattern that is not: a gate may let more through, never less.
KEYWORD_GATE = re.compile(keyword.DENYLIST_REGEX, re.IGNORECASE)
_REGEX_ANALYSERS = (RegexBasedDetector.analyze_string, JwtTokenDetector.analyze_string)


def _keyword_patterns() -> list[re.Pattern[str]]:
    tables = [keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, *keyword.REGEX_BY_FILETYPE.values()]
    return [pattern for table in tables for pattern in table]


def _is_regex_plugin(kind: type) -> bool:
    return kind.analyze_line is BasePlugin.analyze_line and kind.analyze_string in _REGEX_ANALYSERS


def _is_entropy_plugin(kind: type) -> bool:
    # The plugin's own entropy (hex discounts numbers) is what the gate asks, so it may differ by plugin.
    return (
        kind.analyze_line is HighEntropyStringsPlugin.analyze_line
        and kind.analyze_string is HighEntropyStringsPlugin.analyze_string
    )


def _is_keyword_plugin(kind: type) -> bool:
    return (
        kind.analyze_line is keyword.KeywordDetector.analyze_line
        and kind.analyze_string is keyword.KeywordDetector.analyze_string
        and all(keyword.DENYLIST_REGEX in pattern.pattern for pattern in _keyword_patterns())
    )


def _entropy_gate(plugin: HighEntropyStringsPlugin) -> Gate:
    def reports(line: str) -> bool:
        entropy, limit = plugin.calculate_shannon_entropy, plugin.entropy_limit
        return any(entropy(found) > limit for found in plugin.analyze_string(line))

    return reports


def line_gate(plugins: Sequence[Any]) -> Gate | None:
    """True for every line one of `plugins` could report; None when some plugin is not one reasoned about."""
    patterns: list[re.Pattern[str]] = []
    entropy_gates: list[Gate] = []
    for plugin in plugins:
        kind = type(plugin)
        if _is_regex_plugin(kind):
            patterns += plugin.denylist
        elif _is_entropy_plugin(kind):
            entropy_gates.append(_entropy_gate(plugin))
        elif _is_keyword_plugin(kind):
            patterns.append(KEYWORD_GATE)
        else:
            return None
    searches = [pattern.search for pattern in dict.fromkeys(patterns)]

    def may_report(line: str) -> bool:
        return any(search(line) for search in searches) or any(gate(line) for gate in entropy_gates)

    return may_report


def _gated_line_scan(gate: Gate) -> Callable[..., Generator[Any, None, None]]:
    """detect-secrets' `_process_line_based_plugins`, run only on the lines the gate lets through (with the
    whole file as their context, as detect-secrets gives it)."""

    def process(lines: list[tuple[int, str]], filename: str) -> Generator[Any, None, None]:
        line_content = [text for _, text in lines]
        for line_number, text in lines:
            line = text.rstrip()
            if not gate(line):
                continue
            context = get_code_snippet(lines=line_content, line_number=line_number)
            if detect_scan._is_filtered_out(
                required_filter_parameters=["line"], filename=filename, line=line, context=context
            ):
                continue
            for plugin in get_plugins():
                for secret in detect_scan._scan_line(
                    plugin=plugin, filename=filename, line=line, line_number=line_number, context=context
                ):
                    if not detect_scan._is_filtered_out(
                        required_filter_parameters=["context"],
                        filename=secret.filename,
                        secret=secret.secret_value,
                        plugin=plugin,
                        line=line,
                        context=context,
                    ):
                        yield secret

    return process


@contextmanager
def gated_scans() -> Iterator[bool]:
    """Within detect-secrets' settings: its file scans go through the gate. Yields whether the gate is on."""
    gate = line_gate(get_plugins())
    if gate is None:
        yield False
        return
    original = detect_scan._process_line_based_plugins
    detect_scan._process_line_based_plugins = _gated_line_scan(gate)
    try:
        yield True
    finally:
        detect_scan._process_line_based_plugins = original
