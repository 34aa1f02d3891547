"""policies/values-allowlist.yaml: value keys the `values` stage accepts although it cannot see the chart read
them (a map the chart passes through in a way its templates do not show), each with a reason a reviewer can check.

An entry names a chart and a key path; it covers that key and everything under it. An entry must keep earning
its place: one the chart now accepts on its own, or one no environment's values reach any more, is an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.expand.values.paths import BadPath, format_path, parse_path
from infra.expand.values.reads import ValuePath

REPO = Path(__file__).resolve().parents[3]
VALUES_ALLOWLIST = REPO / "policies" / "values-allowlist.yaml"
FIELDS = ("chart", "key", "reason")


class AllowlistInvalid(Exception):
    """The allow-list file is not a list of entries with a chart, a key path and a reason."""


@dataclass(frozen=True)
class AllowedKey:
    chart: str
    key: ValuePath
    reason: str

    def covers(self, chart: str, path: ValuePath) -> bool:
        return chart == self.chart and path[: len(self.key)] == self.key

    @property
    def label(self) -> str:
        return f"chart {self.chart}, key {format_path(self.key)}"


@dataclass
class ValuesAllowlist:
    entries: tuple[AllowedKey, ...] = ()
    source: str = "policies/values-allowlist.yaml"
    used: set[AllowedKey] = field(default_factory=set)
    """Entries some checked value key needed, over every environment checked with this allow-list."""

    @property
    def digest(self) -> str:
        text = json.dumps([(e.chart, e.key, e.reason) for e in self.entries])
        return hashlib.sha256(text.encode()).hexdigest()

    def covering(self, chart: str, path: ValuePath) -> AllowedKey | None:
        return next((entry for entry in self.entries if entry.covers(chart, path)), None)

    def for_charts(self, charts: Iterable[str]) -> list[AllowedKey]:
        wanted = set(charts)
        return [entry for entry in self.entries if entry.chart in wanted]

    def unused(self) -> list[AllowedKey]:
        return [entry for entry in self.entries if entry not in self.used]


def load_allowlist(path: Path = VALUES_ALLOWLIST) -> ValuesAllowlist:
    """The allow-list at `path`; AllowlistInvalid naming the file and the entry when one is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise AllowlistInvalid(f"{path}: cannot read the values allow-list: {error}") from error
    return parse_allowlist(data, str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path))


def parse_allowlist(data: object, source: str) -> ValuesAllowlist:
    if data is None:
        return ValuesAllowlist((), source)
    if not isinstance(data, list):
        raise AllowlistInvalid(f"{source}: expected a list of entries (chart, key, reason), got {type(data).__name__}")
    entries = []
    for index, item in enumerate(data):
        where = f"{source}: entry {index + 1}"
        if not isinstance(item, dict):
            raise AllowlistInvalid(f"{where}: expected a mapping with {', '.join(FIELDS)}")
        unknown = sorted(set(map(str, item)) - set(FIELDS))
        missing = [name for name in FIELDS if not isinstance(item.get(name), str) or not item[name].strip()]
        if unknown or missing:
            problems = [f"unknown field(s) {', '.join(unknown)}"] if unknown else []
            problems += [f"{', '.join(missing)} must be non-empty text"] if missing else []
            raise AllowlistInvalid(f"{where}: {'; '.join(problems)}")
        try:
            key = parse_path(item["key"])
        except BadPath as error:
            raise AllowlistInvalid(f"{where}: key: {error}") from error
        entries.append(AllowedKey(item["chart"].strip(), key, " ".join(item["reason"].split())))
    duplicates = sorted({e.label for e in entries if sum(o.chart == e.chart and o.key == e.key for o in entries) > 1})
    if duplicates:
        raise AllowlistInvalid(f"{source}: listed more than once: {'; '.join(duplicates)}")
    return ValuesAllowlist(tuple(entries), source)
