"""Every container image the platform runs, and the `images` stage that refuses a floating one.

An image is run by the platform when a pod template of the stack or of an Application names it (init and ephemeral
containers and image volumes included), or when a controller the platform installs starts it later and names it in
the configuration the platform applies:

- container arguments and environment of a workload: `--acme-http01-solver-image=...` (cert-manager),
  `--executor-image ...` (Argo Workflows in Kubeflow Pipelines), `V2_LAUNCHER_IMAGE` / `V2_DRIVER_IMAGE` (the KFP API
  server), `CSI_*_IMAGE` (Longhorn's driver deployer), `--prometheus-config-reloader=...`: a flag or variable whose
  name says image, or whose value is a registry-qualified reference with a tag or digest;
- ConfigMap data read by controllers (parsed as JSON or YAML): Katib's metrics collectors, suggestions and early
  stopping (`katib-config`), KServe's storage initializer, agent and router (`inferenceservice-config`, where an
  `image` with a `defaultImageVersion` beside it is that image at that version), the Pipelines cache step
  (`cacheImage`), the notebook images the Jupyter web app offers: a key that says image, at any depth;
- custom resources whose controllers build pods: every `image` / `imageName` under `spec` (KServe's
  ClusterServingRuntimes, a Prometheus' or Alertmanager's image), Knative's `spec.registry.override`, and the
  Elastic stack's images, which ECK names after the resource's `spec.version` (`docker.elastic.co/<product>/<product>`)
  unless `spec.image` says otherwise;
- Istio's proxy, which the injector adds to every pod it injects and puts in place of `image: auto` in gateway pods:
  `<global.hub>/<global.proxy.image>:<global.tag>` of the injector's values.

Images an operator picks from defaults compiled into it, and names nowhere the platform can read, are listed as
unseen (an advisory each): Knative's Serving and Eventing images (by digest, in the release manifests the Knative
operator carries), the PostgreSQL image of a CloudNativePG Cluster without `imageName`, the Calico images of the
Tigera operator. A mirror must cover them at the container runtime (docs/installing-without-internet.md).

`check` refuses an image without a tag or digest, one with a moving tag (`latest`, `main`, ...), and a repository
that runs at two different tags in one environment (each place that starts it is named); hardware builds of one
release (`ray:2.52.0` and `ray:2.52.0-gpu`, VARIANT_SUFFIX) are one version.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from infra.expand.platform import Platform, PlatformObject
from infra.expand.scope import group_of
from infra.offline.validate import Finding
from infra.platform.image_reference import DEFAULT_REGISTRY, Reference

STAGE = "images"
POD = "pod"
"""`ImageUse.started_by` of an image a pod template of the platform names itself."""

# Where each workload kind keeps its pod spec.
POD_SPECS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Words of keys about images that do not name one (`imagePullPolicy`, `imagePullSecrets`, `defaultImageVersion`).
_NOT_AN_IMAGE_KEY = ("pullpolic", "pullsecret", "version", "tag", "digest", "allowcustom")
_ARGUMENT = re.compile(r"^--?(?P<flag>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:=(?P<value>.*))?$")
# ECK names the Elastic stack's images after the resource's version (pkg/controller/common/container/container.go).
ECK_IMAGES = {
    ("elasticsearch.k8s.elastic.co", "Elasticsearch"): "docker.elastic.co/elasticsearch/elasticsearch",
    ("kibana.k8s.elastic.co", "Kibana"): "docker.elastic.co/kibana/kibana",
    ("logstash.k8s.elastic.co", "Logstash"): "docker.elastic.co/logstash/logstash",
    ("apm.k8s.elastic.co", "ApmServer"): "docker.elastic.co/apm/apm-server",
    ("agent.k8s.elastic.co", "Agent"): "docker.elastic.co/elastic-agent/elastic-agent",
}
BEAT_IMAGE = "docker.elastic.co/beats/{type}"
ISTIO_INJECTOR = "istio-sidecar-injector"
ISTIO_AUTO_IMAGE = "auto"
KNATIVE_OPERATOR_API = "operator.knative.dev"
KNATIVE_RELEASES = "gcr.io/knative-releases"
CNPG_POSTGRES = "ghcr.io/cloudnative-pg/postgresql"
CALICO_IMAGES = "quay.io/calico"
# Builds of one release that a project publishes side by side under one repository for different hardware: Ray's
# `2.52.0-gpu` (CUDA added to `2.52.0`), `-cpu`, `-cu121` (a CUDA version). A pod of each kind (a Ray head on a CPU
# node, workers on GPU nodes) runs the same release; pre-releases (`-rc1`) and any other suffix stay versions of
# their own.
VARIANT_SUFFIX = re.compile(r"-(?:gpu|cpu|cu\d+)$")


@dataclass(frozen=True, order=True)
class ImageUse:
    """One place of the platform that makes a container runtime pull an image."""

    reference: str
    """As written there (or as the controller composes it)."""
    owner: str
    """`stack`, or the Application (or Pulumi Helm release) that applies the object."""
    object_ref: str
    """`PlatformObject.ref` of the object that names it."""
    field: str
    """Where in that object."""
    started_by: str = POD
    """POD when the object's own pods run it; else who starts it later, and when."""

    @property
    def parsed(self) -> Reference | None:
        return Reference.parse(self.reference)


@dataclass(frozen=True, order=True)
class UnseenImages:
    """Images a controller picks from defaults compiled into it: the platform cannot name them offline."""

    owner: str
    object_ref: str
    what: str
    source: str | None = None
    """The registry (and path) they come from, where it is known: what a container runtime mirror must serve."""


@dataclass(frozen=True)
class PlatformImages:
    uses: tuple[ImageUse, ...]
    unseen: tuple[UnseenImages, ...]

    def by_reference(self) -> dict[str, list[ImageUse]]:
        grouped: dict[str, list[ImageUse]] = defaultdict(list)
        for use in self.uses:
            parsed = use.parsed
            grouped[str(parsed) if parsed else use.reference].append(use)
        return {reference: sorted(grouped[reference]) for reference in sorted(grouped)}


# --- where images are named --------------------------------------------------------------------------------------


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    return group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _is_image_key(key: Any) -> bool:
    """A key whose value names images: `image`, `imageName`, `imageGroupOne`, `cacheImage`, `V2_LAUNCHER_IMAGE`,
    `sidecar-images`."""
    if not isinstance(key, str):
        return False
    word = re.sub(r"[-_.]", "", key.lower())
    if any(part in word for part in _NOT_AN_IMAGE_KEY):
        return False
    return word.startswith("image") or word.endswith(("image", "images", "imagename"))


def _qualified(text: Any) -> Reference | None:
    """A reference that cannot be anything else: registry host, repository, and a tag or digest."""
    if not isinstance(text, str) or "/" not in text:
        return None
    reference = Reference.parse(text)
    if reference is None or reference.registry == DEFAULT_REGISTRY and not text.startswith(DEFAULT_REGISTRY):
        return None
    return reference if reference.tag or reference.digest else None


def _named(text: Any) -> bool:
    """Whether a value under an image key is a reference (not a bare word such as Istio's `proxyv2`)."""
    return isinstance(text, str) and Reference.parse(text) is not None and ("/" in text or ":" in text)


def _pod_spec_images(item: PlatformObject, path: tuple[str, ...]) -> Iterator[ImageUse]:
    spec = _dig(item.object, *path)
    if not isinstance(spec, Mapping):
        return
    at = ".".join(path)
    gateway = "gateway" in str(
        (_dig(item.object, *path[:-1], "metadata", "annotations") or {}).get("inject.istio.io/templates", "")
    )
    for key in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(key) or ()):
            if not isinstance(container, Mapping):
                continue
            where = f"{at}.{key}[{index}]"
            image = container.get("image")
            if image == ISTIO_AUTO_IMAGE and gateway:
                continue  # the injector puts its proxy there: `_istio_proxy`
            if image is not None:
                yield ImageUse(str(image), item.owner, item.ref, f"{where}.image")
            name = container.get("name", index)
            yield from _container_settings(item, container, where, f"{item.kind} {item.name}, container {name}")
    for index, volume in enumerate(spec.get("volumes") or ()):
        reference = _dig(volume, "image", "reference")
        if reference is not None:
            yield ImageUse(str(reference), item.owner, item.ref, f"{at}.volumes[{index}].image.reference")


def _container_settings(item: PlatformObject, container: Mapping[str, Any], where: str, who: str) -> Iterator[ImageUse]:
    """Images a container's program starts, named in its arguments or environment."""
    for list_key in ("command", "args"):
        words = [str(word) for word in container.get(list_key) or ()]
        for index, word in enumerate(words):
            argument = _ARGUMENT.match(word)
            if argument is None:
                continue
            flag, value = argument.group("flag"), argument.group("value")
            if value is None and "image" in flag.lower() and index + 1 < len(words):
                value, index = words[index + 1], index + 1
            if value is None:
                continue
            if ("image" in flag.lower() and _named(value)) or _qualified(value):
                yield ImageUse(value, item.owner, item.ref, f"{where}.{list_key}[{index}]", f"{who} (--{flag})")
    for index, variable in enumerate(container.get("env") or ()):
        name, value = str(variable.get("name", "")), variable.get("value")
        if value is None:
            continue
        if (_is_image_key(name) and _named(value)) or _qualified(value):
            yield ImageUse(str(value), item.owner, item.ref, f"{where}.env[{index}].value", f"{who} (env {name})")


def _keyed_images(value: Any, at: str, under_image_key: bool = False) -> Iterator[tuple[str, str]]:
    """(field, reference) for every reference under an image key, at any depth."""
    if isinstance(value, Mapping):
        version = value.get("defaultImageVersion")
        for key, item in value.items():
            inner = f"{at}.{key}" if at else str(key)
            if key == "image" and isinstance(item, str) and isinstance(version, str) and ":" not in item:
                # KServe's explainers: the image without a tag, and the version it runs at beside it.
                yield inner, f"{item}:{version}"
                continue
            yield from _keyed_images(item, inner, under_image_key or _is_image_key(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _keyed_images(item, f"{at}[{index}]", under_image_key)
    elif under_image_key and _named(value):
        yield at, str(value)


def _parsed_text(text: str) -> Any:
    """A ConfigMap value as the program that reads it would: JSON or YAML (several documents), else the text."""
    stripped = text.lstrip()
    if stripped[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            pass
    if "\n" not in text.strip():
        return text
    try:
        return list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:
        return text


def _config_map_images(item: PlatformObject) -> Iterator[ImageUse]:
    data = item.object.get("data") or {}
    if not isinstance(data, Mapping):
        return
    for key, text in sorted(data.items()):
        if not isinstance(text, str) or key.startswith("_example") or "image" not in text.lower() + key.lower():
            continue
        who = f"what reads ConfigMap {item.namespace}/{item.name} ({key})"
        if _is_image_key(key) and _named(text):
            yield ImageUse(text.strip(), item.owner, item.ref, f"data.{key}", who)
            continue
        for field, reference in _keyed_images(_parsed_text(text), ""):
            yield ImageUse(reference, item.owner, item.ref, f"data.{key}: {field}", who)


def _istio_proxy(item: PlatformObject) -> Iterator[ImageUse]:
    """The injector's proxy: in every pod it injects, and in place of `image: auto` in gateway pods."""
    try:
        values = json.loads((item.object.get("data") or {}).get("values") or "{}")
    except ValueError:
        return
    proxy = _dig(values, "global", "proxy", "image")
    hub, tag = _dig(values, "global", "hub"), _dig(values, "global", "tag")
    if not isinstance(proxy, str):
        return
    variant = _dig(values, "global", "variant") or ""
    reference = proxy if "/" in proxy else f"{hub}/{proxy}:{tag}{'-' + variant if variant else ''}"
    yield ImageUse(
        reference,
        item.owner,
        item.ref,
        "data.values: global.hub, global.proxy.image, global.tag",
        "Istio's injector, in every pod it injects and in gateway pods (image: auto)",
    )


def _custom_resource_images(item: PlatformObject) -> Iterator[ImageUse]:
    group, kind = _group_kind(item.object)
    spec = item.object.get("spec")
    who = f"the controller of {kind} {item.namespace + '/' if item.namespace else ''}{item.name}"
    for field, reference in _keyed_images(spec, "spec"):
        yield ImageUse(reference, item.owner, item.ref, field, who)
    if group == KNATIVE_OPERATOR_API:
        for name, reference in sorted((_dig(spec, "registry", "override") or {}).items()):
            yield ImageUse(str(reference), item.owner, item.ref, f"spec.registry.override.{name}", who)
    version = _dig(spec, "version")
    if isinstance(spec, Mapping) and "image" not in spec and isinstance(version, str):
        if (group, kind) in ECK_IMAGES:
            yield ImageUse(f"{ECK_IMAGES[(group, kind)]}:{version}", item.owner, item.ref, "spec.version", who)
        elif (group, kind) == ("beat.k8s.elastic.co", "Beat") and isinstance(spec.get("type"), str):
            image = BEAT_IMAGE.format(type=spec["type"])
            yield ImageUse(f"{image}:{version}", item.owner, item.ref, "spec.type, spec.version", who)


def _unseen(item: PlatformObject) -> UnseenImages | None:
    group, kind = _group_kind(item.object)
    spec = item.object.get("spec") or {}
    if group == KNATIVE_OPERATOR_API and kind in ("KnativeServing", "KnativeEventing"):
        overridden = sorted(_dig(spec, "registry", "override") or {})
        return UnseenImages(
            item.owner,
            item.ref,
            f"the images of Knative {kind.removeprefix('Knative')}"
            + (" (the queue-proxy sidecar among them)" if kind == "KnativeServing" else "")
            + ", named by digest in the release manifests built into the Knative operator"
            + (f" (except {', '.join(overridden)}, set in spec.registry.override)" if overridden else ""),
            KNATIVE_RELEASES,
        )
    if (group, kind) == ("postgresql.cnpg.io", "Cluster") and not spec.get("imageName"):
        return UnseenImages(
            item.owner, item.ref, "the PostgreSQL image: the CloudNativePG operator's default", CNPG_POSTGRES
        )
    if (group, kind) == ("operator.tigera.io", "Installation"):
        return UnseenImages(
            item.owner, item.ref, "Calico's images: the Tigera operator's defaults for its version", CALICO_IMAGES
        )
    return None


def platform_images(platform: Platform) -> PlatformImages:
    uses: list[ImageUse] = []
    unseen: list[UnseenImages] = []
    for item in platform.objects:
        group, kind = _group_kind(item.object)
        if (group, kind) in POD_SPECS:
            uses += _pod_spec_images(item, POD_SPECS[(group, kind)])
        elif (group, kind) == ("", "ConfigMap"):
            uses += _config_map_images(item)
            if item.name.startswith(ISTIO_INJECTOR):
                uses += _istio_proxy(item)
        elif group and "." in group and not group.endswith(".k8s.io") and kind != "Application":
            uses += _custom_resource_images(item)
        found = _unseen(item)
        if found is not None:
            unseen.append(found)
    return PlatformImages(tuple(sorted(set(uses))), tuple(sorted(set(unseen))))


# --- the stage ---------------------------------------------------------------------------------------------------


def image_problems(images: PlatformImages) -> list[tuple[ImageUse, str]]:
    """(use, message) for each image that is not one fixed version: no reference, no tag, a moving tag, or a tag
    that differs from the one another place of the same environment starts."""
    problems: list[tuple[ImageUse, str]] = []
    versions: dict[str, dict[str, list[ImageUse]]] = defaultdict(lambda: defaultdict(list))
    for use in images.uses:
        parsed = use.parsed
        if parsed is None:
            problems.append((use, f"{use.reference!r} is not an image reference"))
            continue
        if not parsed.tag and not parsed.digest:
            problems.append((use, f"{use.reference} has no tag: the runtime pulls `latest`, whatever it is then"))
        elif not parsed.pinned:
            problems.append((use, f"{use.reference} has the moving tag {parsed.tag!r}: name a release"))
        versions[parsed.name][release(parsed)].append(use)
    for name, by_release in versions.items():
        if len(by_release) < 2:
            continue
        for version, found in by_release.items():
            others = "; ".join(
                f"{_written_version(uses[0])} by {_place(uses[0])}"
                for other_version, uses in sorted(by_release.items())
                if other_version != version
            )
            for use in found:
                problems.append((use, f"{name}{_written_version(use)} differs from {others}: one image, one version"))
    return problems


def release(reference: Reference) -> str:
    """The version a reference runs, for the one-version rule: its `:tag` and `@digest`, without a build-variant
    suffix of the tag (VARIANT_SUFFIX), so `ray:2.52.0-gpu` is the release of `ray:2.52.0` and `ray:2.51.0-gpu`
    is not."""
    tag = VARIANT_SUFFIX.sub("", reference.tag) if reference.tag else reference.tag
    return (f":{tag}" if tag else "") + (f"@{reference.digest}" if reference.digest else "")


def _written_version(use: ImageUse) -> str:
    parsed = use.parsed
    return parsed.version if parsed else use.reference


def _place(use: ImageUse) -> str:
    return f"{use.object_ref} {use.field}"


def images_findings(platform: Platform) -> tuple[list[Finding], int]:
    images = platform_images(platform)
    findings = [Finding(STAGE, use.object_ref, f"{use.field}: {message}") for use, message in image_problems(images)]
    findings += [
        Finding(
            STAGE,
            unseen.object_ref,
            f"spec: {unseen.what}; not listed (the platform cannot read them offline)",
            "advisory",
        )
        for unseen in images.unseen
    ]
    return sorted(set(findings), key=lambda f: (f.object_ref, f.message)), len(images.uses)


def listing(images: PlatformImages) -> Iterable[str]:
    """The lines `python -m infra.cli images` prints for one environment."""
    for reference, uses in images.by_reference().items():
        yield f"  {reference}"
        for use in uses:
            started = "" if use.started_by == POD else f"  [started by {use.started_by}]"
            yield f"      {use.object_ref} {use.field}{started}"
    for unseen in images.unseen:
        yield f"  (not named) {unseen.object_ref}: {unseen.what}"
