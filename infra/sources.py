"""What the platform installs from upstream: a Helm chart, or a kustomize path in a git repository, with its default
pin. Each component module declares its own (`PlatformComponent.sources`); infra/catalog.py gathers them."""

from __future__ import annotations

from dataclasses import dataclass


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
