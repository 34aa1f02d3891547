"""Where the upstream sources of the expansion are kept: a chart cache and a git source cache.

Chart cache: a directory of chart archives named as `helm pull` names them, `<chart>-<version>.tgz`
(`MLOPS_CHART_CACHE`, else `../shared/charts` when the shared copies sit beside the repository, else
`.cache/charts/`).

Git source cache: one folder per git repository, named `<owner>-<repo>` (`kubeflow-manifests` for
github.com/kubeflow/manifests), holding each tag as a folder (`kubeflow-manifests/26.03/`) and the remote kustomize
bases its kustomizations read as `vendor/<repo>/<ref>/` (`kubeflow-manifests/vendor/argo-workflows/v3.7.3/`).
`MLOPS_GIT_CACHE`, else `../shared` when it holds `kubeflow-manifests/`, else `.cache/git/`.

Both are filled by `python -m infra.cli charts pull` where there is network. A source missing from its cache is an
error naming it and that command, never a silent skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
CHART_CACHE_VARIABLE = "MLOPS_CHART_CACHE"
GIT_CACHE_VARIABLE = "MLOPS_GIT_CACHE"
SHARED = REPO.parent / "shared"
"""Where the shared copies of the upstream sources sit beside a checkout (offline machines); `make` uses the same."""
LOCAL_CHART_CACHE = REPO / ".cache" / "charts"
LOCAL_GIT_CACHE = REPO / ".cache" / "git"
DEFAULT_CHART_CACHE = SHARED / "charts" if any((SHARED / "charts").glob("*.tgz")) else LOCAL_CHART_CACHE
DEFAULT_GIT_CACHE = SHARED if (SHARED / "kubeflow-manifests").is_dir() else LOCAL_GIT_CACHE
PULL_COMMAND = "python -m infra.cli charts pull"


class SourceMissing(Exception):
    """An upstream source the expansion needs is not in its cache."""


@dataclass(frozen=True)
class Caches:
    charts: Path
    git: Path

    @classmethod
    def from_environment(cls, charts: Path | None = None, git: Path | None = None) -> Caches:
        """The caches named by flags, else by MLOPS_CHART_CACHE / MLOPS_GIT_CACHE, else the shared copies beside the
        repository, else `.cache/`."""
        return cls(
            charts or Path(os.environ.get(CHART_CACHE_VARIABLE) or DEFAULT_CHART_CACHE),
            git or Path(os.environ.get(GIT_CACHE_VARIABLE) or DEFAULT_GIT_CACHE),
        )

    def chart_archive(self, chart: str, version: str) -> Path:
        """The archive of `chart` at `version`; SourceMissing naming it when the cache lacks it. A leading `v` may
        be on either side: repository indexes and Chart.yaml do not always agree on it (knative-operator)."""
        for candidate in chart_archive_names(chart, version):
            path = self.charts / candidate
            if path.is_file():
                return path
        raise SourceMissing(
            f"chart {chart} {version} is not in the chart cache {self.charts} (looked for "
            f"{', '.join(chart_archive_names(chart, version))}); fill it with `{PULL_COMMAND}` "
            f"or point {CHART_CACHE_VARIABLE} at a directory that holds it"
        )

    def git_tree(self, repo_url: str, tag: str) -> Path:
        """The checkout of `repo_url` at `tag`; SourceMissing naming it when the cache lacks it."""
        path = self.git / git_folder(repo_url) / tag
        if not path.is_dir():
            raise SourceMissing(
                f"git source {repo_url} at {tag} is not in the git cache (looked for {path}); fill it with "
                f"`{PULL_COMMAND}` or point {GIT_CACHE_VARIABLE} at a directory that holds it"
            )
        return path

    def vendor_root(self, repo_url: str) -> Path:
        """Where the remote kustomize bases read by `repo_url`'s kustomizations are kept."""
        return self.git / git_folder(repo_url) / "vendor"


def chart_archive_names(chart: str, version: str) -> list[str]:
    bare = version.removeprefix("v")
    names = [f"{chart}-{version}.tgz", f"{chart}-{bare}.tgz", f"{chart}-v{bare}.tgz"]
    return list(dict.fromkeys(names))


def git_folder(repo_url: str) -> str:
    """`https://github.com/kubeflow/manifests(.git)` -> `kubeflow-manifests`."""
    parts = [part for part in urlparse(repo_url).path.split("/") if part]
    if len(parts) < 2:
        raise ValueError(f"git source {repo_url!r} is not of the form https://host/<owner>/<repo>")
    return f"{parts[-2]}-{parts[-1].removesuffix('.git')}"
