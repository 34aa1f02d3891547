"""Promotion: copy one environment's effective version pins into the next environment's stack file.

The stack file is edited with a round-trip YAML library, so its comments, key order and layout survive and
only the `versions:` mapping changes. The promotion order lives in environments/promotion.yaml.
"""

from __future__ import annotations

import difflib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from infra.config import CONFIG_KEY, InvalidEnvironment, Violation, load_stack_file

ORDER_FILE = "promotion.yaml"


class PromotionRefused(Exception):
    """A promotion that breaks the configured order; --force overrides it."""


@dataclass(frozen=True)
class Promotion:
    source: str
    target: str
    target_file: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        name = f"environments/{self.target_file.name}"
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True), self.after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
        return "".join(lines)


def promotion_order(environments: Path) -> list[str]:
    path = environments / ORDER_FILE
    if not path.is_file():
        raise InvalidEnvironment(str(path), [Violation("(file)", "is missing; it lists the promotion order")])
    data = yaml.safe_load(path.read_text()) or {}
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order) or len(set(order)) < 2:
        raise InvalidEnvironment(str(path), [Violation("order", "must be a list of at least two environment names")])
    return order


def next_stage(environments: Path, source: str) -> str | None:
    order = promotion_order(environments)
    if source not in order or order.index(source) == len(order) - 1:
        return None
    return order[order.index(source) + 1]


def check_order(order: list[str], source: str, target: str) -> None:
    """Refuse anything but one step forward along the order."""
    if source == target:
        raise PromotionRefused(f"{source} cannot be promoted to itself")
    missing = [name for name in (source, target) if name not in order]
    if missing:
        raise PromotionRefused(f"{', '.join(missing)} not in the promotion order {' -> '.join(order)}")
    step = order.index(target) - order.index(source)
    if step < 0:
        raise PromotionRefused(f"{source} -> {target} goes backwards in the promotion order {' -> '.join(order)}")
    if step > 1:
        skipped = order[order.index(source) + 1 : order.index(target)]
        raise PromotionRefused(f"{source} -> {target} skips {', '.join(skipped)} (order: {' -> '.join(order)})")


def plan(environments: Path, source: str, target: str, force: bool = False) -> Promotion:
    """The target stack file with the source's pins; validated, not written."""
    if not force:
        check_order(promotion_order(environments), source, target)
    source_file, target_file = (environments / f"Pulumi.{name}.yaml" for name in (source, target))
    for path in (source_file, target_file):
        if not path.is_file():
            raise InvalidEnvironment(str(path), [Violation("(file)", "no such stack file")])
    pins = dict(load_stack_file(source_file).versions)
    load_stack_file(target_file)
    before = target_file.read_text()
    after = with_pins(before, pins, str(target_file))
    _validate(after, target_file.name)
    return Promotion(source, target, target_file, before, after)


def apply(promotion: Promotion) -> None:
    promotion.target_file.write_text(promotion.after)


def with_pins(text: str, pins: dict[str, str], source: str) -> str:
    """`text` (a stack file) whose `versions:` equals `pins`, everything else kept byte for byte where possible."""
    yaml_rt = _round_trip()
    document = yaml_rt.load(text)
    platform = document["config"][CONFIG_KEY]
    versions = platform.get("versions")
    if not isinstance(versions, CommentedMap):
        if versions not in (None, {}):
            raise InvalidEnvironment(source, [Violation(f"{CONFIG_KEY}.versions", "must be a mapping")])
        versions = CommentedMap()
        platform["versions"] = versions
    for component in [name for name in versions if name not in pins]:
        del versions[component]
    for component, version in sorted(pins.items()):
        versions[component] = version
    # An empty `{}` written inline would stay inline; entries read better one per line.
    if versions:
        versions.fa.set_block_style()
    else:
        versions.fa.set_flow_style()
    out = io.StringIO()
    yaml_rt.dump(document, out)
    return out.getvalue()


def _round_trip() -> YAML:
    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    return yaml_rt


def _validate(text: str, file_name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / file_name
        path.write_text(text)
        try:
            load_stack_file(path)
        except InvalidEnvironment as error:
            raise InvalidEnvironment(f"{file_name} after promotion", error.violations) from None
