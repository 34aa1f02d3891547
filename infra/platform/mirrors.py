"""Where a cluster without internet access gets what the platform runs (Environment.mirrors): the one place that
points an upstream image, registry or chart at its mirror, and the chart values that point each chart's images there.

An image `<registry>/<repository>:<tag>` is pulled as `<mirrors.images>/<registry>/<repository>:<tag>`, or as
`<mirror>/<repository>:<tag>` where `mirrors.imageRegistries` names a mirror for that registry; a chart from
`mirrors.charts` (argocd_app.mirrored_source); a git repository from `mirrors.git` (argocd_app.mirrored_url). Without
mirrors everything stays as upstream names it.

Each chart of the catalog says which of its values name an image and what the chart's default there is (its
`images`; a test holds each default to the pinned chart's values.yaml): the mirrored value replaces it. `check`'s
`mirrors` stage then finds whatever still points outside the mirrors in what the charts render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from infra import catalog
from infra.config.settings.platform import Mirrors
from infra.platform.image_reference import Reference
from infra.sources import ImageValue

if TYPE_CHECKING:
    from infra.config import Environment


def registry_mirror(registry: str, mirrors: Mirrors) -> str | None:
    """The mirror of an upstream registry (host, or host and path), None without one."""
    if registry in mirrors.image_registries:
        return mirrors.image_registries[registry]
    if mirrors.images:
        return f"{mirrors.images}/{registry}"
    return None


def mirrored_image(reference: str, mirrors: Mirrors) -> str:
    """`reference` as pulled from the image mirror; unchanged without one (or when it is not a reference)."""
    parsed = Reference.parse(reference)
    if parsed is None:
        return reference
    target = registry_mirror(parsed.registry, mirrors)
    if target is None:
        return reference
    return f"{target}/{parsed.repository}{parsed.version}"


def own_registry(env: Environment) -> str | None:
    """The environment's own registry (its images: the ML applications', the default images' builds), which the
    cluster reaches anyway."""
    if env.onprem is not None:
        return env.onprem.registry.url or f"harbor.{env.domain}"
    if env.gke is not None:
        return f"{env.gke.region}-docker.pkg.dev/{env.gke.project}"
    return None


def mirror_prefixes(mirrors: Mirrors, registry: str | None) -> list[str]:
    """The prefixes (each ending with `/`) of every image the cluster pulls without the internet: under the image
    mirror, a registry's own mirror, or the environment's own `registry`."""
    prefixes = [mirrors.images, *mirrors.image_registries.values(), registry]
    return [prefix.rstrip("/") + "/" for prefix in prefixes if prefix]


def pulled_image(reference: str, env: Environment) -> str:
    """An image an adopter names (a notebook image, ...) as the cluster pulls it: unchanged where the environment's
    own registry or a mirror already holds it, else from the image mirror (unchanged without one)."""
    if any(reference.startswith(prefix) for prefix in mirror_prefixes(env.mirrors, own_registry(env))):
        return reference
    return mirrored_image(reference, env.mirrors)


def mirrored_repository(name: str, mirrors: Mirrors) -> str:
    """An image name without tag (`quay.io/cilium/cilium`, `redis`) as pulled from the image mirror."""
    parsed = Reference.parse(name)
    if parsed is None or parsed.tag or parsed.digest:
        raise ValueError(f"{name!r} is not an image name without tag or digest")
    target = registry_mirror(parsed.registry, mirrors)
    return f"{target}/{parsed.repository}" if target is not None else name


def mirrored_prefix(prefix: str, mirrors: Mirrors) -> str:
    """A registry, or a registry and path under it (`registry.istio.io/release`), as served by the image mirror."""
    registry, _, path = prefix.partition("/")
    target = registry_mirror(registry, mirrors)
    if target is None:
        return prefix
    return f"{target}/{path}" if path else target


def mirrored_containers(containers: Iterable[Mapping[str, Any]], mirrors: Mirrors) -> list[dict[str, Any]]:
    """Containers the platform adds to a chart's or a manifest's pods, each pulling its image from the mirror."""
    return [{**container, "image": mirrored_image(container["image"], mirrors)} for container in containers]


def mirrored_value(setting: ImageValue, mirrors: Mirrors) -> str:
    """What a chart value naming an image (or its registry) becomes with the mirrors."""
    if setting.kind == "registry":
        return mirrored_prefix(setting.upstream, mirrors)
    if setting.kind == "path":
        return setting.upstream
    if setting.kind == "image":
        return mirrored_image(setting.upstream, mirrors)
    return mirrored_repository(setting.upstream, mirrors)


def mirror_values(chart: str, mirrors: Mirrors) -> dict[str, Any]:
    """Chart values pointing the images of catalog entry `chart` at the image mirror; empty without one."""
    if not (mirrors.images or mirrors.image_registries):
        return {}
    values: dict[str, Any] = {}
    entry = catalog.CATALOG.get(chart)
    for setting in entry.images if entry else ():
        node = values
        *parents, leaf = setting.path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = mirrored_value(setting, mirrors)
    return values


def merged(values: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with `extra` merged in (maps merge key by key, anything else is replaced)."""
    result = dict(values)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def release_chart(key: str, mirrors: Mirrors) -> dict[str, Any]:
    """A Pulumi Helm release's `chart` and `repository_opts` for catalog entry `key`: from the chart mirror
    (`oci://<charts>/<chart>`, which Helm pulls without a repository), or from the upstream repository."""
    chart = catalog.CATALOG[key]
    if mirrors.charts:
        return {"chart": f"{mirrors.charts}/{chart.chart}"}
    return {"chart": chart.chart, "repository_opts": {"repo": chart.repo_url}}


def release_values(key: str, values: Mapping[str, Any], mirrors: Mirrors) -> dict[str, Any]:
    """A release's values with its images pointed at the image mirror (when there is one)."""
    return merged(values, mirror_values(key, mirrors))
