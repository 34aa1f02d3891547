"""`charts pull` fills the caches from the network: here, from a chart repository served on loopback and a git
repository on disk, exactly as it would from the real ones."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import helm_python
import pytest

from infra.catalog import CATALOG
from infra.expand.caches import SHARED, Caches
from infra.expand.pull import PullFailed, pull_sources
from infra.expand.sources import Source

from .test_expansion import chart_archive

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false"]


@pytest.fixture()
def chart_repository(tmp_path: Path) -> Iterator[str]:
    """An HTTP chart repository (index.yaml and archives) on a loopback port."""
    served = tmp_path / "served"
    chart_archive(
        served, "widget", "1.2.3", {"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w}"}
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm_python.repo_index_generate(served, base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()


def git_repository(path: Path, files: dict[str, str], tag: str) -> str:
    """A repository with one commit tagged `tag`, reachable as file://; returns its URL."""
    path.mkdir(parents=True)
    subprocess.run([*GIT, "init", "-q", str(path)], check=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run([*GIT, "-C", str(path), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(path), "commit", "-q", "-m", "release"], check=True)
    subprocess.run([*GIT, "-C", str(path), "tag", tag], check=True)
    return f"file://{path}"


def test_a_chart_is_pulled_once_into_the_cache(tmp_path: Path, chart_repository: str) -> None:
    caches = Caches(tmp_path / "charts", tmp_path / "git")
    source = Source("chart", chart_repository, "1.2.3", chart="widget")
    first = pull_sources([source], caches)
    assert [(p.fetched, p.where.name) for p in first] == [(True, "widget-1.2.3.tgz")]
    assert caches.chart_archive("widget", "1.2.3").is_file()
    assert [p.fetched for p in pull_sources([source], caches)] == [False]


def test_a_chart_that_is_not_there_fails_naming_it(tmp_path: Path, chart_repository: str) -> None:
    with pytest.raises(PullFailed, match=r"could not pull chart widget 9\.9\.9"):
        pull_sources([Source("chart", chart_repository, "9.9.9", chart="widget")], Caches(tmp_path, tmp_path))


def test_a_git_source_and_its_remote_bases_are_cloned_at_their_tags(tmp_path: Path, monkeypatch) -> None:
    """The remote base is named as kustomize names it (https://github.com/...); git's insteadOf sends the clone to a
    local repository, as a mirror would."""
    base = git_repository(tmp_path / "upstream" / "base", {"manifests/cm/kustomization.yaml": "resources: []\n"}, "v1")
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        f'[url "{base}"]\n\tinsteadOf = https://github.com/example/base\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    kustomization = "resources:\n- https://github.com/example/base/manifests/cm?ref=v1\n"
    manifests = git_repository(
        tmp_path / "upstream" / "manifests", {"apps/x/kustomization.yaml": kustomization}, "26.03"
    )
    caches = Caches(tmp_path / "charts", tmp_path / "git")
    pulled = pull_sources([Source("git", manifests, "26.03", path="apps/x")], caches)
    assert [p.fetched for p in pulled] == [True, True]
    tree = caches.git_tree(manifests, "26.03")
    assert (tree / "apps/x/kustomization.yaml").is_file() and not (tree / ".git").exists()
    assert (caches.vendor_root(manifests) / "base" / "v1" / "manifests/cm/kustomization.yaml").is_file()
    assert [p.fetched for p in pull_sources([Source("git", manifests, "26.03", path="apps/x")], caches)] == [
        False,
        False,
    ]
    shutil.rmtree(tmp_path / "upstream")


def test_sources_in_this_repository_need_no_pull(tmp_path: Path) -> None:
    local = Source("git", "https://github.com/example-org/mlops-platform.git", "main", path="apps/x", tree="/repo")
    assert pull_sources([local], Caches(tmp_path, tmp_path)) == []


def test_the_caches_default_to_the_shared_copies_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run by hand (no make, no MLOPS_*_CACHE), the CLI reads the shared copies the machine holds offline."""
    monkeypatch.delenv("MLOPS_CHART_CACHE", raising=False)
    monkeypatch.delenv("MLOPS_GIT_CACHE", raising=False)
    caches = Caches.from_environment()
    assert caches.charts == SHARED / "charts" and caches.git == SHARED
    assert caches.chart_archive("argo-cd", CATALOG["argo-cd"].version).is_file()
