"""Installing without internet: the `mirrors` stage of `check`, and what `python -m infra.cli mirror` writes.

With `mirrors` set in an environment, every reference the platform applies must point inside the mirrors, so that a
cluster that reaches only them installs everything: each Application's and Helm release's chart (the chart mirror's
registry), each git source and each remote kustomize base its path reads at sync (a git mirror's host, directly or
through the repo server's `insteadOf`), and each image a pod or a controller runs (`infra/expand/images.py`: under the
image mirror's prefix, a per-registry mirror, or the environment's own registry). An image outside them is refused
unless `mirrors.exceptions` names its prefix with a reason (an image an operator names in its built-in defaults,
which a container runtime mirror serves: docs/installing-without-internet.md); so is an operator's unseen default
(the images of Knative Serving, CloudNativePG's PostgreSQL) that no exception covers, and an exception that covers
nothing.

`mirror_plan` lists what must be copied into the mirrors, from the environment rendered *without* its mirrors (so
every reference is the upstream one): each chart at its version, each image, and each git repository at its tag
with the remote bases its paths read. `write_plan` writes them as the copying tools consume them.
"""

from __future__ import annotations

import json
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from infra.config.model import MirrorException, Mirrors
from infra.expand import kustomize
from infra.expand.expansion import Expander
from infra.expand.images import PlatformImages, platform_images
from infra.expand.platform import STACK, Platform
from infra.expand.sources import Deployer, Source
from infra.offline.validate import Finding
from infra.platform.argocd_app import mirrored_url
from infra.platform.image_reference import Reference
from infra.platform.mirrors import mirror_prefixes, own_registry, registry_mirror

STAGE = "mirrors"


def _host(url: str) -> str:
    return urlparse(url if "://" in url else f"scheme://{url}").netloc


@dataclass(frozen=True)
class Inside:
    """What the mirrors of one environment serve."""

    mirrors: Mirrors
    registry: str | None

    @property
    def image_prefixes(self) -> list[str]:
        return mirror_prefixes(self.mirrors, self.registry)

    def image(self, reference: str) -> bool:
        parsed = Reference.parse(reference)
        text = str(parsed) if parsed else reference
        return any(text.startswith(prefix) or reference.startswith(prefix) for prefix in self.image_prefixes)

    def chart(self, repo_url: str) -> bool:
        charts = self.mirrors.charts
        return bool(charts) and repo_url.removeprefix("oci://").rstrip("/") == charts.removeprefix("oci://")

    def git(self, url: str) -> bool:
        return _host(url) in {_host(mirror) for mirror in self.mirrors.git.values()}

    def exception(self, reference: str) -> MirrorException | None:
        parsed = Reference.parse(reference)
        text = str(parsed) if parsed else reference
        return next(
            (e for e in self.mirrors.exceptions if text.startswith(e.image.rstrip("/") + "/")),
            None,
        )


def _deployer_ref(platform: Platform, deployer: Deployer) -> str:
    if deployer.kind == "Release":
        return f"{STACK}: Pulumi Helm release {deployer.name}"
    applications = [o.ref for o in platform.objects if o.kind == "Application" and o.name == deployer.name]
    return applications[0] if applications else f"{STACK}: argoproj.io/v1alpha1 Application argocd/{deployer.name}"


def _source_field(deployer: Deployer, index: int) -> str:
    if deployer.kind == "Release":
        return "chart"
    return "spec.source" if len(deployer.sources) == 1 else f"spec.sources[{index}]"


def mirrors_findings(platform: Platform, expander: Expander) -> tuple[list[Finding], int]:
    """Every reference the platform applies outside the environment's mirrors; nothing without mirrors."""
    mirrors = platform.env.mirrors
    if not mirrors.enabled:
        return [], 0
    inside = Inside(mirrors, own_registry(platform.env))
    findings: list[Finding] = []
    checked = 0
    used: set[str] = set()
    for deployer in platform.deployers:
        ref = _deployer_ref(platform, deployer)
        for index, source in enumerate(deployer.sources):
            where = _source_field(deployer, index)
            checked += 1
            if source.kind == "chart" and not inside.chart(source.repo_url):
                findings.append(
                    Finding(
                        STAGE,
                        ref,
                        f"{where}: chart {source.chart} {source.version} comes from {source.repo_url}, outside the "
                        f"chart mirror ({mirrors.charts or 'mirrors.charts is unset'})",
                    )
                )
            if source.kind == "git" and not source.tree:
                if not inside.git(source.repo_url):
                    findings.append(
                        Finding(STAGE, ref, f"{where}.repoURL: {source.repo_url} is outside the git mirrors")
                    )
                findings += _remote_base_findings(ref, where, source, expander, mirrors, inside)
    images = platform_images(platform)
    for use in images.uses:
        checked += 1
        if inside.image(use.reference):
            continue
        exception = inside.exception(use.reference)
        if exception is not None:
            used.add(exception.image)
            continue
        findings.append(
            Finding(
                STAGE,
                use.object_ref,
                f"{use.field}: {use.reference} is pulled from outside the mirrors: point it at the image mirror, or "
                "list its registry under mirrors.exceptions with the reason",
            )
        )
    findings += _unseen_findings(images, inside, used)
    for exception in mirrors.exceptions:
        if exception.image not in used:
            findings.append(
                Finding(
                    STAGE,
                    f"{STACK}: mirrors.exceptions",
                    f"{exception.image}: no image of this environment is under it; remove the exception",
                )
            )
    return sorted(set(findings), key=lambda f: (f.object_ref, f.message)), checked


def _remote_base_findings(
    ref: str, where: str, source: Source, expander: Expander, mirrors: Mirrors, inside: Inside
) -> list[Finding]:
    """Argo CD's repo server clones the path's remote bases at every build: through the git mirrors (its
    `insteadOf`) or from the internet."""
    findings = []
    for base in sorted(kustomize.remote_bases(expander.git_tree(source), source.path), key=lambda b: (b.url, b.ref)):
        fetched = mirrored_url(base.url, mirrors.git)
        if not inside.git(fetched):
            findings.append(
                Finding(
                    STAGE,
                    ref,
                    f"{where}.path: {source.path} reads the remote kustomize base {base.url} at {base.ref}, which the "
                    "repo server fetches from there at every sync: add its host to mirrors.git",
                )
            )
    return findings


def _unseen_findings(images: PlatformImages, inside: Inside, used: set[str]) -> list[Finding]:
    findings = []
    for unseen in images.unseen:
        exception = inside.exception(f"{unseen.source}/x") if unseen.source else None
        if exception is not None:
            used.add(exception.image)
            continue
        findings.append(
            Finding(
                STAGE,
                unseen.object_ref,
                f"spec: {unseen.what} come from {unseen.source or 'the operator'}, which the platform cannot point at "
                "the image mirror: mirror that registry at the container runtime and list it under mirrors.exceptions",
            )
        )
    return findings


# --- what to copy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ChartCopy:
    repo_url: str
    chart: str
    version: str

    @property
    def pull(self) -> str:
        """The `helm pull` of the upstream chart."""
        if "://" not in self.repo_url:  # an OCI registry, as Argo CD names it
            return f"helm pull oci://{self.repo_url}/{self.chart} --version {self.version}"
        return f"helm pull {self.chart} --repo {self.repo_url} --version {self.version}"


@dataclass(frozen=True, order=True)
class GitCopy:
    url: str
    ref: str
    mirror: str


@dataclass
class MirrorPlan:
    env: str
    mirrors: Mirrors
    charts: set[ChartCopy] = field(default_factory=set)
    images: dict[str, Reference] = field(default_factory=dict)
    """Upstream reference text -> parsed."""
    git: set[GitCopy] = field(default_factory=set)
    unseen: list[str] = field(default_factory=list)

    def destination(self, reference: Reference) -> str | None:
        target = registry_mirror(reference.registry, self.mirrors)
        return f"{target}/{reference.repository}{reference.version}" if target else None


def mirror_plan(platform: Platform, expander: Expander, mirrors: Mirrors) -> MirrorPlan:
    """What to copy for `mirrors`, from `platform` rendered without them (upstream references)."""
    plan = MirrorPlan(platform.stack, mirrors)
    inside = Inside(mirrors, own_registry(platform.env))
    for deployer in platform.deployers:
        for source in deployer.sources:
            if source.kind == "chart":
                plan.charts.add(ChartCopy(source.repo_url, source.chart, source.version))
            elif not source.tree:
                plan.git.add(GitCopy(source.repo_url, source.version, mirrored_url(source.repo_url, mirrors.git)))
                for base in kustomize.remote_bases(expander.git_tree(source), source.path):
                    plan.git.add(GitCopy(base.url, base.ref, mirrored_url(base.url, mirrors.git)))
    images = platform_images(platform)
    for use in images.uses:
        parsed = use.parsed
        # Everything upstream names (an exception's registry too: the values may point some of its images at the
        # mirror, as the Knative operator's own), but what the environment's own registry holds already.
        if parsed is None or inside.image(use.reference):
            continue
        plan.images[str(parsed)] = parsed
    plan.unseen = [f"{u.object_ref}: {u.what}" for u in images.unseen]
    return plan


SCRIPT_HEAD = (
    "#!/bin/sh\n"
    "# Generated by `python -m infra.cli mirror`: run it where both the upstream sources and the mirrors are\n"
    "# reachable, logged in to the mirrors (helm registry login, skopeo login, git credentials).\n"
    "set -eu\n"
)


def _script(lines: Iterable[str]) -> str:
    return SCRIPT_HEAD + "".join(f"{line}\n" for line in lines)


def write_plan(plan: MirrorPlan, out: Path) -> list[Path]:
    """The files that copy `plan` into the mirrors:

    - charts.txt (`<repository> <chart> <version>`) and charts.sh: `helm pull` each, `helm push` it to the chart mirror;
    - images/<registry>.yaml, one per upstream registry, for `skopeo sync --src yaml --dest docker <file> <mirror>`
      (sync.sh runs them), and images.txt (`<source> <destination>` per line) for `crane copy` or `skopeo copy`;
    - git.txt (`<repository> <tag> <mirror repository>`) and git.sh: clone each at its tag and push the tag;
    - unseen.txt: images operators pick, for the container runtime's mirror (docs/installing-without-internet.md).
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str, executable: bool = False) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if executable:
            path.chmod(0o755)
        written.append(path)

    charts = sorted(plan.charts)
    write("charts.txt", "".join(f"{c.repo_url} {c.chart} {c.version}\n" for c in charts))
    if plan.mirrors.charts:
        push = shlex.quote(plan.mirrors.charts)
        lines = [f"{c.pull}\nhelm push {shlex.quote(f'{c.chart}-{c.version}.tgz')} {push}" for c in charts]
        write("charts.sh", _script(lines), executable=True)
    by_registry: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    pairs = []
    for text, reference in sorted(plan.images.items()):
        # The tag, and the digest where the reference pins one (the mirror then holds the very image pinned).
        by_registry[reference.registry][reference.repository] += [v for v in (reference.tag, reference.digest) if v]
        destination = plan.destination(reference)
        if destination is not None:
            pairs.append(f"{text} {destination}")
    sync = []
    for registry, repositories in sorted(by_registry.items()):
        document = {
            registry: {"images": {repo: list(dict.fromkeys(tags)) for repo, tags in sorted(repositories.items())}}
        }
        write(f"images/{registry}.yaml", yaml.safe_dump(document, sort_keys=False))
        target = registry_mirror(registry, plan.mirrors)
        if target is not None:
            sync.append(
                f"skopeo sync --src yaml --dest docker images/{shlex.quote(registry)}.yaml {shlex.quote(target)}"
            )
    write("images.txt", "".join(f"{pair}\n" for pair in pairs))
    if sync:
        write("sync.sh", _script(['cd "$(dirname "$0")"', *sync]), executable=True)
    git = sorted(plan.git)
    write("git.txt", "".join(f"{g.url} {g.ref} {g.mirror}\n" for g in git))
    lines = []
    for index, g in enumerate(git):
        if g.mirror == g.url:
            continue
        # A full (not shallow) clone of the one tag: a mirror refuses pushes from a shallow history.
        work = f"repo-{index}"
        lines.append(
            f"git clone --quiet --bare --single-branch --branch {shlex.quote(g.ref)} {shlex.quote(g.url)} {work}\n"
            f"git -C {work} push {shlex.quote(g.mirror)} {shlex.quote(f'refs/tags/{g.ref}')}\nrm -rf {work}"
        )
    write("git.sh", _script(lines), executable=True)
    write("unseen.txt", "".join(f"{line}\n" for line in plan.unseen))
    write(
        "summary.json",
        json.dumps({"env": plan.env, "charts": len(charts), "images": len(plan.images), "git": len(git)}, indent=2)
        + "\n",
    )
    return written


def mirrors_without(document: Mapping) -> dict:
    """A stack file's document with its `mirrors` setting removed (what the environment names upstream)."""
    copied = json.loads(json.dumps(document))
    for settings in (copied.get("config") or {}).values():
        if isinstance(settings, dict):
            settings.pop("mirrors", None)
    return copied
