"""Helpers the policies share: where a resource lives (stack, tier) and how to read its properties."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
PROD_STACK = re.compile(r"^prod(-|$)")
# Tags that move: a pod pulling one of these runs whatever was pushed last.
FLOATING_TAGS = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "dev"})
TIER_LABEL_KEYS = ("tier", "mlops.dev/tier")


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>` (empty when not a URN)."""
    parts = urn.split("::")
    return parts[0].removeprefix("urn:pulumi:") if parts[0].startswith("urn:pulumi:") else ""


def is_prod(urn: str, labels: Mapping[str, Any] | None = None) -> bool:
    """Production is a stack named `prod` (or `prod-*`), or a resource labelled tier=prod."""
    labels = labels or {}
    return bool(PROD_STACK.match(stack_of(urn))) or any(labels.get(key) == "prod" for key in TIER_LABEL_KEYS)


def dig(props: Mapping[str, Any], *path: str) -> Any:
    """The value at `path`, or None when any step is missing or not a mapping."""
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return props.get("metadata") or {}


WORKLOAD_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def containers(props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container (init, regular, ephemeral) of a workload object declared directly."""
    path = WORKLOAD_POD_SPEC.get(str(props.get("kind")))
    if path is None:
        return
    pod_spec = dig(props, *path) or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(key) or []:
            if isinstance(container, Mapping):
                yield container


def image_is_pinned(image: str) -> bool:
    """A digest, or a tag that is not `latest`; `repo` alone means `latest`."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return False
    return tag_is_pinned(name.rsplit(":", 1)[1])


def tag_is_pinned(tag: Any) -> bool:
    return isinstance(tag, str) and bool(tag) and tag.lower() not in FLOATING_TAGS


def chart_values(resource_type: str, props: Mapping[str, Any]) -> list[Any]:
    """Helm values a chart is installed with: an Application's valuesObject(s) or a Release's values."""
    if resource_type == "kubernetes:helm.sh/v3:Release":
        return [props.get("values") or {}]
    if resource_type == "kubernetes:argoproj.io/v1alpha1:Application":
        return [dig(source, "helm", "valuesObject") or {} for source in application_sources(props)]
    return []


def application_sources(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = props.get("spec") or {}
    sources = [spec.get("source")] if spec.get("source") else []
    return [s for s in [*sources, *(spec.get("sources") or [])] if isinstance(s, Mapping)]


def unpinned_chart_images(values: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """`(path, value)` for every image in chart values that floats: an `image: {tag: ...}` whose tag is set but
    not fixed (an empty tag means the chart's appVersion, fixed by the chart version), and a container written
    out in values (`{name, image: "repo:tag"}`, e.g. Velero's plugin init containers) without tag or digest."""
    if isinstance(values, Mapping):
        image = values.get("image")
        if isinstance(image, str) and "name" in values and not image_is_pinned(image):
            yield f"{path}.image", image
        if isinstance(image, Mapping) and "tag" in image and image["tag"] != "" and not tag_is_pinned(image["tag"]):
            yield f"{path}.image.tag" if path else "image.tag", image["tag"]
        for key, value in values.items():
            yield from unpinned_chart_images(value, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list):
        for index, value in enumerate(values):
            yield from unpinned_chart_images(value, f"{path}[{index}]")
