"""Promotion: copy one environment's effective version pins into the next environment.

Three kinds of pins travel: the chart versions under `versions:` in the stack file, the builds of the platform's
default images under `defaultImages.tags:` (images/ in this repository; where they are, `defaultImages.registry`,
stays the target's), and the image tags and digests under `images:` of each app's kustomize overlay
(`apps/<app>/overlays/<env>/kustomization.yaml`).
Files are edited with a round-trip YAML library, so comments, key order and layout survive and only the pins
change. The promotion order lives in environments/promotion.yaml. `impact` shows what a promotion does in the target's
cluster: its expansion before and after, compared as `diff` compares two refs.
"""

from __future__ import annotations

import difflib
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from infra.config import CONFIG_KEY, InvalidEnvironment, Violation, load_stack_file
from infra.expand.expansion import Expander
from infra.expand.platform import Platform
from infra.gitops.diff import (
    EnvironmentDiff,
    RenderedStack,
    capacity_summary,
    compare_stacks,
    expanded_objects,
    other_resources,
)
from infra.offline.render import Rendered, render_stack
from infra.offline.validate import object_ref

ORDER_FILE = "promotion.yaml"


class PromotionRefused(Exception):
    """A promotion that breaks the configured order; --force overrides it."""


# What an image is stays per environment (each has its own registry); which build of it runs is promoted.
IMAGE_PINS = ("newTag", "digest")


@dataclass(frozen=True)
class FileChange:
    path: Path
    name: str
    """Repository-relative name shown in the diff."""
    before: str
    after: str


@dataclass(frozen=True)
class Promotion:
    source: str
    target: str
    files: tuple[FileChange, ...]

    @property
    def target_file(self) -> Path:
        return self.files[0].path

    @property
    def changed(self) -> bool:
        return any(change.before != change.after for change in self.files)

    def diff(self) -> str:
        return "".join(
            "".join(
                difflib.unified_diff(
                    change.before.splitlines(keepends=True),
                    change.after.splitlines(keepends=True),
                    f"a/{change.name}",
                    f"b/{change.name}",
                )
            )
            for change in self.files
        )


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


def plan(environments: Path, source: str, target: str, force: bool = False, apps_dir: Path | None = None) -> Promotion:
    """The target's files with the source's pins; validated, not written. `apps_dir` defaults to the
    `apps/` directory beside `environments`."""
    if not force:
        check_order(promotion_order(environments), source, target)
    source_file, target_file = (environments / f"Pulumi.{name}.yaml" for name in (source, target))
    for path in (source_file, target_file):
        if not path.is_file():
            raise InvalidEnvironment(str(path), [Violation("(file)", "no such stack file")])
    source_env = load_stack_file(source_file)
    load_stack_file(target_file)
    before = target_file.read_text()
    after = with_pins(before, dict(source_env.versions), str(target_file))
    after = with_default_image_tags(after, dict(source_env.default_images.tags), str(target_file))
    _validate(after, target_file.name)
    stack = FileChange(target_file, f"environments/{target_file.name}", before, after)
    apps_dir = apps_dir if apps_dir is not None else environments.parent / "apps"
    return Promotion(source, target, (stack, *image_changes(apps_dir, source, target)))


def apply(promotion: Promotion) -> None:
    for change in promotion.files:
        if change.before != change.after:
            change.path.write_text(change.after)


def image_changes(apps_dir: Path, source: str, target: str) -> list[FileChange]:
    """Each app overlay of `target` with the image pins of the same app's `source` overlay."""
    changes = []
    for source_file in sorted(apps_dir.glob(f"*/overlays/{source}/kustomization.yaml")):
        target_file = source_file.parents[1] / target / "kustomization.yaml"
        if not target_file.is_file():
            continue
        pins = _image_pins(source_file)
        before = target_file.read_text()
        after = with_image_pins(before, pins, str(target_file))
        changes.append(
            FileChange(
                target_file, f"apps/{source_file.parents[2].name}/overlays/{target}/kustomization.yaml", before, after
            )
        )
    return changes


def _image_pins(kustomization: Path) -> dict[str, dict[str, str]]:
    document = _load_mapping(kustomization.read_text(), str(kustomization))
    return {
        str(image["name"]): {key: str(image[key]) for key in IMAGE_PINS if key in image}
        for image in document.get("images") or []
        if isinstance(image, dict) and "name" in image
    }


def with_image_pins(text: str, pins: dict[str, dict[str, str]], source: str) -> str:
    """`text` (a kustomization) whose `images:` entries of the pinned names carry those pins; images the
    source does not pin, and every other line, stay as they are."""
    if not pins:
        return text
    yaml_rt = _round_trip()
    document = yaml_rt.load(text)
    if not isinstance(document, CommentedMap):
        raise InvalidEnvironment(source, [Violation("(file)", "a kustomization must be a mapping")])
    images = document.get("images")
    if images is None:
        images = document["images"] = []
    by_name = {str(image.get("name")): image for image in images if isinstance(image, dict)}
    for name, pin in pins.items():
        image = by_name.get(name)
        if image is None:
            image = CommentedMap(name=name)
            images.append(image)
        for key in IMAGE_PINS:
            if key in pin:
                image[key] = pin[key]
            elif key in image:
                del image[key]
    out = io.StringIO()
    yaml_rt.dump(document, out)
    return out.getvalue()


def _load_mapping(text: str, source: str) -> dict:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise InvalidEnvironment(source, [Violation("(file)", f"not valid YAML: {error}")]) from None
    if not isinstance(document, dict):
        raise InvalidEnvironment(source, [Violation("(file)", "must be a mapping")])
    return document


def with_pins(text: str, pins: dict[str, str], source: str) -> str:
    """`text` (a stack file) whose `versions:` equals `pins`, everything else kept byte for byte where possible."""
    return with_mapping(text, ("versions",), pins, source)


def with_default_image_tags(text: str, tags: dict[str, str], source: str) -> str:
    """`text` (a stack file) whose `defaultImages.tags:` equals `tags` (unchanged text when both are empty)."""
    return with_mapping(text, ("defaultImages", "tags"), tags, source)


def with_mapping(text: str, keys: tuple[str, ...], pins: dict[str, str], source: str) -> str:
    """`text` (a stack file) whose mapping at `keys` under the platform's config equals `pins`, everything else
    kept byte for byte where possible. A mapping that is absent and would stay empty is not written."""
    yaml_rt = _round_trip()
    document = yaml_rt.load(text)
    parent = grandparent = document["config"][CONFIG_KEY]
    for depth, key in enumerate(keys):
        grandparent = parent
        where = ".".join((CONFIG_KEY, *keys[: depth + 1]))
        value = parent.get(key)
        if not isinstance(value, CommentedMap):
            if value not in (None, {}):
                raise InvalidEnvironment(source, [Violation(where, "must be a mapping")])
            if not pins and key not in parent:
                return text
            value = CommentedMap()
            parent[key] = value
        parent = value
    mapping = parent
    # The comment lines after the mapping (say, above the next setting) belong to its last entry: kept for
    # whichever entry is last afterwards, or for the mapping's own key when it ends up empty.
    trailing = _trailing_comment(mapping)
    for name in [name for name in mapping if name not in pins]:
        del mapping[name]
    for name, pin in sorted(pins.items()):
        mapping[name] = pin
    # An empty `{}` written inline would stay inline; entries read better one per line.
    if mapping:
        mapping.fa.set_block_style()
    else:
        mapping.fa.set_flow_style()
    if trailing is not None:
        for name in list(mapping.ca.items):
            if mapping.ca.items[name][2] is trailing:
                mapping.ca.items[name][2] = None
        owner, key = (mapping, list(mapping)[-1]) if mapping else (grandparent, keys[-1])
        owner.ca.items.setdefault(key, [None, None, None, None])[2] = trailing
    out = io.StringIO()
    yaml_rt.dump(document, out)
    return out.getvalue()


def _trailing_comment(mapping: CommentedMap) -> Any:
    """The comment token after a block mapping's last value, if any."""
    if not mapping:
        return None
    entry = mapping.ca.items.get(list(mapping)[-1])
    return entry[2] if entry and len(entry) > 2 else None


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


# --- what the promotion does in the cluster --------------------------------------------------------------------


def impact(promotion: Promotion, expander: Expander, repository: Path) -> EnvironmentDiff:
    """The target environment as it is against the target with the promotion applied, expanded: what its
    Applications apply, object by object, and its capacity. `repository` holds the stack files' `apps/`."""
    target_file = promotion.target_file
    before = rendered_side(render_stack(target_file), expander, repository)
    with tempfile.TemporaryDirectory(prefix="mlops-promote-") as scratch:
        promoted = Path(scratch)
        if (repository / "apps").is_dir():
            shutil.copytree(repository / "apps", promoted / "apps", symlinks=True)
        for change in promotion.files:
            path = promoted / change.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(change.after)
        after = rendered_side(render_stack(promoted / promotion.files[0].name), expander, promoted)
    return compare_stacks(promotion.target, before, after)


def rendered_side(rendered: Rendered, expander: Expander, repository: Path) -> RenderedStack:
    """One side of a diff, rendered and expanded here (the same code for both sides)."""
    expansion = expander.expand(rendered, repository)
    platform = Platform(rendered, expansion)
    return RenderedStack(
        manifests={object_ref(m.object): m.object for m in rendered.manifests},
        resources=other_resources(rendered.inventory()),
        expanded=expanded_objects(expansion),
        capacity=capacity_summary(platform.env, platform.objects),
        has_expansion=True,
    )
