"""What the platform installs from upstream: a Helm chart, or a kustomize path in a git repository, with its default
pin. Each component module declares its own (`PlatformComponent.sources`); infra/catalog.py gathers them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ImageValue:
    """A chart value that names an image, or the registry of one: where a cluster without internet access is pointed
    at the image mirror (infra/platform/mirrors.py; a test holds `upstream` to the pinned chart's values.yaml)."""

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


def registry_values(*paths: str, upstream: str) -> tuple[ImageValue, ...]:
    """Values that each name the registry `upstream` of some of the chart's images."""
    return tuple(ImageValue(path, upstream, "registry") for path in paths)


@dataclass(frozen=True)
class Chart:
    repo_url: str
    chart: str
    """Chart name; empty for a git source."""
    version: str
    """Chart version, or the git tag of a git source."""
    namespace: str
    license: str = "Apache-2.0"
    path: str = ""
    """Kustomize (or plain manifest) directory inside repo_url at tag `version`; set only for git sources."""
    images: tuple[ImageValue, ...] = ()
    """The values that name the images the chart runs (those it renders with the platform's values)."""

    @property
    def is_git(self) -> bool:
        return bool(self.path)

    @property
    def is_oci(self) -> bool:
        """A Helm chart in an OCI registry, written the way Argo CD's Helm source wants it (no oci://)."""
        return not self.is_git and "://" not in self.repo_url


def git_source(repo_url: str, path: str, tag: str, namespace: str) -> Chart:
    """A catalog entry for manifests kept in a git repository (e.g. upstream kustomize bases at a release tag)."""
    return Chart(repo_url, "", tag, namespace, path=path)
