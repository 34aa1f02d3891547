"""`charts pull`: fill the chart and git caches with every source the environments use, from the network.

Charts come from their HTTP repositories or OCI registries (Helm's own client, through infra/expand/helm.py);
git sources are cloned at their tag, and so are the remote kustomize bases their paths read. Whatever is already
in a cache is left as it is, so with a full cache (e.g. `../shared`) this needs no network.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.expand import helm
from infra.expand.caches import Caches, SourceMissing, git_folder
from infra.expand.kustomize import RemoteBase, remote_bases
from infra.expand.sources import Source


class PullFailed(Exception):
    pass


@dataclass(frozen=True)
class Pulled:
    label: str
    where: Path
    fetched: bool
    """False when it was in the cache already."""


def pull_sources(sources: Iterable[Source], caches: Caches) -> list[Pulled]:
    done: list[Pulled] = []
    # Sources in this repository (the ML applications' overlays) are here already.
    unique = sorted({s for s in sources if not s.tree}, key=lambda s: (s.kind, s.repo_url, s.chart, s.path, s.version))
    for source in unique:
        if source.kind == "chart":
            done.append(_pull_chart(source, caches))
            continue
        tree = _pull_git(source.repo_url, source.version, caches.git / git_folder(source.repo_url) / source.version)
        done.append(tree)
        for base in sorted(remote_bases(tree.where, source.path), key=lambda b: (b.url, b.ref)):
            done.append(_pull_git(base.url, base.ref, caches.vendor_root(source.repo_url) / base.repo / base.ref, base))
    return list({(p.label, p.where): p for p in done}.values())


def _pull_chart(source: Source, caches: Caches) -> Pulled:
    label = f"chart {source.chart} {source.version}"
    try:
        return Pulled(label, caches.chart_archive(source.chart, source.version), False)
    except SourceMissing:
        pass
    try:
        archive = helm.pull(source.chart, source.repo_url, source.version, caches.charts)
    except helm.ChartError as error:
        raise PullFailed(str(error)) from error
    return Pulled(label, archive, True)


def _pull_git(url: str, ref: str, target: Path, base: RemoteBase | None = None) -> Pulled:
    label = f"{'remote base' if base else 'git'} {url} {ref}"
    if target.is_dir():
        return Pulled(label, target, False)
    with tempfile.TemporaryDirectory(prefix="mlops-clone-") as scratch:
        checkout = Path(scratch) / "checkout"
        result = subprocess.run(
            [
                "git",
                "-c",
                "advice.detachedHead=false",
                "clone",
                "--quiet",
                "--depth",
                "1",
                "--branch",
                ref,
                url,
                str(checkout),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PullFailed(f"could not clone {url} at {ref}: {' '.join(result.stderr.split())}")
        shutil.rmtree(checkout / ".git")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(checkout), target)
    return Pulled(label, target, True)
