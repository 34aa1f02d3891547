"""Where a cluster without internet access gets what the platform runs (Environment.mirrors): the one place that
points an upstream image, registry or chart at its mirror, and the chart values that point each chart's images there.

An image `<registry>/<repository>:<tag>` is pulled as `<mirrors.images>/<registry>/<repository>:<tag>`, or as
`<mirror>/<repository>:<tag>` where `mirrors.imageRegistries` names a mirror for that registry; a chart from
`mirrors.charts` (argocd_app.mirrored_source); a git repository from `mirrors.git` (argocd_app.mirrored_url). Without
mirrors everything stays as upstream names it.

CHART_IMAGES says, per chart of the catalog, which values name an image and what the chart's default there is (a
test holds each default to the pinned chart's values.yaml): the mirrored value replaces it. `check`'s `mirrors` stage
then finds whatever still points outside the mirrors in what the charts render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from infra import catalog
from infra.config.settings.platform import Mirrors
from infra.platform.image_reference import Reference

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


@dataclass(frozen=True)
class ImageValue:
    """A chart value that names an image, or the registry of one."""

    path: str
    """Dotted path in the chart's values (`redis-ha.haproxy.image.repository`)."""
    upstream: str
    """The chart's default there: an image name (`quay.io/argoproj/argocd`) or, for `registry`, a registry."""
    kind: Literal["repository", "registry", "path", "image"] = "repository"
    """`registry`: a registry, or a registry and path under which the chart names its images (Istio's `hub`);
    `image`: a whole reference with its tag; `path`: a repository path inside its registry, set as it is (where the
    chart would otherwise shorten Docker Hub's `library/<name>` to `<name>`, which a mirror keeps under its full
    path)."""
    implied: bool = False
    """The chart leaves the value empty and means `upstream` (its templates fill it in)."""

    def mirrored(self, mirrors: Mirrors) -> str:
        if self.kind == "registry":
            return mirrored_prefix(self.upstream, mirrors)
        if self.kind == "path":
            return self.upstream
        if self.kind == "image":
            return mirrored_image(self.upstream, mirrors)
        return mirrored_repository(self.upstream, mirrors)


def _registry(*paths: str, upstream: str) -> tuple[ImageValue, ...]:
    return tuple(ImageValue(path, upstream, "registry") for path in paths)


# Per catalog key: the values that name the images the chart runs (those it renders with the platform's values).
CHART_IMAGES: dict[str, tuple[ImageValue, ...]] = {
    "argo-cd": (
        ImageValue("global.image.repository", "quay.io/argoproj/argocd"),
        ImageValue("redis.image.repository", "ecr-public.aws.com/docker/library/redis"),
        ImageValue("redis-ha.image.repository", "ecr-public.aws.com/docker/library/redis"),
        ImageValue("redis-ha.haproxy.image.repository", "ecr-public.aws.com/docker/library/haproxy"),
    ),
    "cert-manager": _registry("imageRegistry", upstream="quay.io"),
    "cilium": (
        ImageValue("image.repository", "quay.io/cilium/cilium"),
        ImageValue("certgen.image.repository", "quay.io/cilium/certgen"),
        ImageValue("hubble.relay.image.repository", "quay.io/cilium/hubble-relay"),
        ImageValue("envoy.image.repository", "quay.io/cilium/cilium-envoy"),
        # The chart appends `-generic` (the cloud-agnostic operator) to this name.
        ImageValue("operator.image.repository", "quay.io/cilium/operator"),
    ),
    # Calico's own images (node, typha, CNI) are the Tigera operator's defaults: images.py lists them as unseen.
    "tigera-operator": (
        ImageValue("tigeraOperator.registry", "quay.io", "registry"),
        ImageValue("calicoctl.image", "quay.io/calico/ctl"),
    ),
    "harbor": tuple(
        ImageValue(f"{path}.repository", f"docker.io/goharbor/{name}")
        for path, name in (
            ("nginx.image", "nginx-photon"),
            ("portal.image", "harbor-portal"),
            ("core.image", "harbor-core"),
            ("jobservice.image", "harbor-jobservice"),
            ("registry.registry.image", "registry-photon"),
            ("registry.controller.image", "harbor-registryctl"),
            ("trivy.image", "trivy-adapter-photon"),
            ("database.internal.image", "harbor-db"),
            ("redis.internal.image", "redis-photon"),
            ("exporter.image", "harbor-exporter"),
        )
    ),
    # Istio names every image `<hub>/<name>:<tag>`, the sidecar proxy the injector adds included.
    "istiod": _registry("global.hub", upstream="registry.istio.io/release"),
    "istio-cni": _registry("global.hub", upstream="registry.istio.io/release"),
    # KServe's controller writes the agent, router and storage-initializer images into the pods it makes.
    "kserve": (
        ImageValue("kserve.controller.image", "kserve/kserve-controller"),
        ImageValue("kserve.controller.rbacProxyImage", "quay.io/brancz/kube-rbac-proxy:v0.18.0", "image"),
        ImageValue("kserve.agent.image", "kserve/agent"),
        ImageValue("kserve.router.image", "kserve/router"),
        ImageValue("kserve.storage.image", "kserve/storage-initializer"),
        ImageValue("kserve.servingruntime.art.image", "kserve/art-explainer"),
        ImageValue("kserve.localmodel.controller.image", "kserve/kserve-localmodel-controller"),
        ImageValue("kserve.localmodel.defaultJobImage", "kserve/storage-initializer"),
        ImageValue("kserve.localmodel.agent.image", "kserve/kserve-localmodelnode-agent"),
    ),
    # The chart renders `<image.registry, else quay.io>/<image.repository>`.
    "oauth2-proxy": (ImageValue("image.registry", "quay.io", "registry", implied=True),),
    "cloudnative-pg": (ImageValue("image.repository", "ghcr.io/cloudnative-pg/cloudnative-pg"),),
    "dcgm-exporter": (ImageValue("image.repository", "nvcr.io/nvidia/k8s/dcgm-exporter"),),
    "eck": (ImageValue("image.repository", "docker.elastic.co/eck/eck-operator"),),
    "external-dns": (ImageValue("image.repository", "registry.k8s.io/external-dns/external-dns"),),
    "external-secrets": (
        ImageValue("image.repository", "ghcr.io/external-secrets/external-secrets"),
        ImageValue("webhook.image.repository", "ghcr.io/external-secrets/external-secrets"),
        ImageValue("certController.image.repository", "ghcr.io/external-secrets/external-secrets"),
    ),
    "feast": (ImageValue("image.repository", "quay.io/feastdev/feature-server"),),
    "keda": _registry(
        "image.keda.registry", "image.metricsApiServer.registry", "image.webhooks.registry", upstream="ghcr.io"
    ),
    "knative": (
        ImageValue(
            "knative_operator.knative_operator.image", "gcr.io/knative-releases/knative.dev/operator/cmd/operator"
        ),
        ImageValue(
            "knative_operator.operator_webhook.image", "gcr.io/knative-releases/knative.dev/operator/cmd/webhook"
        ),
    ),
    "kube-prometheus-stack": (
        *_registry(
            "alertmanager.alertmanagerSpec.image.registry",
            "prometheus.prometheusSpec.image.registry",
            "prometheusOperator.image.registry",
            "prometheusOperator.prometheusConfigReloader.image.registry",
            "prometheusOperator.thanosImage.registry",
            "grafana.sidecar.image.registry",
            "prometheus-node-exporter.image.registry",
            upstream="quay.io",
        ),
        *_registry("prometheusOperator.admissionWebhooks.patch.image.registry", upstream="ghcr.io"),
        *_registry("grafana.image.registry", upstream="docker.io"),
        *_registry("kube-state-metrics.image.registry", upstream="registry.k8s.io"),
    ),
    # Longhorn's `global.imageRegistry` is the registry of every image it runs (docker.io's longhornio/*), the
    # engine, instance and share managers the manager starts included.
    "kuberay-operator": (ImageValue("image.repository", "quay.io/kuberay/operator"),),
    "longhorn": (ImageValue("global.imageRegistry", "docker.io", "registry", implied=True),),
    "metallb": (
        ImageValue("controller.image.repository", "quay.io/metallb/controller"),
        ImageValue("speaker.image.repository", "quay.io/metallb/speaker"),
    ),
    "metrics-server": (ImageValue("image.repository", "registry.k8s.io/metrics-server/metrics-server"),),
    "minio": (ImageValue("operator.image.repository", "quay.io/minio/operator"),),
    "mlflow": (
        ImageValue("image.repository", "burakince/mlflow"),
        ImageValue("initImages.dbchecker.repository", "busybox"),
        ImageValue("initImages.mlflowDbMigration.repository", "burakince/mlflow"),
        ImageValue("initImages.iniFileInitializer.repository", "busybox"),
    ),
    "nats": (
        ImageValue("container.image.repository", "nats"),
        ImageValue("reloader.image.repository", "natsio/nats-server-config-reloader"),
        ImageValue("promExporter.image.repository", "natsio/prometheus-nats-exporter"),
    ),
    "prometheus-elasticsearch-exporter": (
        ImageValue("image.repository", "quay.io/prometheuscommunity/elasticsearch-exporter"),
    ),
    # The chart's defaults are empty; it renders `docker.io/traefik`, which Docker Hub serves as library/traefik.
    "traefik": (
        ImageValue("image.registry", "docker.io", "registry", implied=True),
        ImageValue("image.repository", "library/traefik", "path", implied=True),
    ),
    "velero": (ImageValue("image.repository", "docker.io/velero/velero"),),
}


def mirror_values(chart: str, mirrors: Mirrors) -> dict[str, Any]:
    """Chart values pointing the images of catalog entry `chart` at the image mirror; empty without one."""
    if not (mirrors.images or mirrors.image_registries):
        return {}
    values: dict[str, Any] = {}
    for setting in CHART_IMAGES.get(chart, ()):
        node = values
        *parents, leaf = setting.path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = setting.mirrored(mirrors)
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
