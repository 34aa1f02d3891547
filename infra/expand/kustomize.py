"""kustomize, and only here: building a kustomize path of a git source the way Argo CD's repo server does.

Argo CD copies the repository at the Application's revision, writes the Application's `kustomize` options into
the path's kustomization (its `patches` are appended to the kustomization's own; its `images` are set as `kustomize
edit set image` sets them), and runs `kustomize build`.
Remote bases (`https://github.com/<owner>/<repo>/<path>?ref=<tag>`) are fetched with git at build time. Offline they
come from the git cache's `vendor/<repo>/<ref>/` folders, in one of two ways that build the same objects (a test holds
them equal on the Pipelines path): by default the copy's kustomizations name the vendored folders instead (a local
base), which spares kustomize a git clone per base; or, with `remote="git"`, kustomize fetches them with git itself,
sent to a repository made of the vendored folder by git's `url.<base>.insteadOf`. The cached tree stays as upstream
wrote it either way.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from infra.expand.caches import PULL_COMMAND, SourceMissing

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_OPTIONS = frozenset({"patches", "images"})
# Argo CD's image override `[<name>=]<new name>[:<tag>|@<digest>]`, as `kustomize edit set image` reads it.
_IMAGE_OVERRIDE = re.compile(r"^(?:(?P<name>[^=]+)=)?(?P<new>[^@]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>\S+))?$")
# https://github.com/<owner>/<repo>[.git]/<path>?ref=<ref>, and kustomize's other spelling with `//` before the path.
_REMOTE_BASE = re.compile(
    r"(?:https://)?github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?(?://|/)(?P<path>[^\s?'\"]*)"
    r"\?ref=(?P<ref>[\w./-]+)"
)


class KustomizeMissing(RuntimeError):
    pass


class BuildFailed(Exception):
    pass


@dataclass(frozen=True)
class RemoteBase:
    owner: str
    repo: str
    ref: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"


def kustomize_command() -> list[str]:
    """`kustomize build`, or `kubectl kustomize`, or the command in MLOPS_KUSTOMIZE."""
    configured = os.environ.get("MLOPS_KUSTOMIZE")
    if configured:
        return shlex.split(configured)
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise KustomizeMissing(
        "no kustomize found: install kubectl (it bundles kustomize) or kustomize, or set MLOPS_KUSTOMIZE"
    )


@cache
def kustomize_version() -> str:
    """What the expansion cache keys on: the command and the version it reports."""
    command = kustomize_command()
    probe = [command[0], "version"] if command[:2] == ["kustomize", "build"] else [*command[:1], "version", "--client"]
    result = subprocess.run(probe, capture_output=True, text=True, check=False)
    return f"{shlex.join(command)}: {' '.join(result.stdout.split())}"


def remote_bases(tree: Path, path: str) -> set[RemoteBase]:
    """The remote bases the kustomization at `path` reads, directly or through the local bases it reads."""
    return {base for _, _, base, _ in _remote_entries(tree, path)}


def _remote_entries(tree: Path, path: str) -> list[tuple[Path, str, RemoteBase, str]]:
    """(kustomization file, its entry, the remote base, the path inside it) of every remote base `path` reads."""
    found: list[tuple[Path, str, RemoteBase, str]] = []
    seen: set[Path] = set()
    pending = [(tree / path).resolve()]
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kustomization = next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)
        if kustomization is None:
            continue
        data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
        for entry in [*(data.get("resources") or []), *(data.get("bases") or []), *(data.get("components") or [])]:
            match = _REMOTE_BASE.fullmatch(str(entry))
            if match:
                base = RemoteBase(match["owner"], match["repo"], match["ref"])
                found.append((kustomization, str(entry), base, match["path"]))
            elif (directory / str(entry)).is_dir():
                pending.append((directory / str(entry)).resolve())
    return found


def build(
    tree: Path, path: str, options: Mapping[str, Any], vendor: Path, remote: Literal["vendored", "git"] = "vendored"
) -> str:
    """`kustomize build <tree>/<path>` with Argo CD's kustomize `options` applied; the YAML text it prints. Remote
    bases come from `vendor` (see the module's docstring for `remote`)."""
    unsupported = sorted(set(options) - SUPPORTED_OPTIONS)
    if unsupported:
        raise BuildFailed(
            f"kustomize option(s) {', '.join(unsupported)} of the Application are not applied by the offline "
            f"expansion (it applies: {', '.join(sorted(SUPPORTED_OPTIONS))}); extend infra/expand/kustomize.py"
        )
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    entries = _remote_entries(tree, path)
    for base in {base for _, _, base, _ in entries}:
        if not (vendor / base.repo / base.ref).is_dir():
            raise SourceMissing(
                f"remote kustomize base {base.url} at {base.ref} is not in the git cache (looked for "
                f"{vendor / base.repo / base.ref}); fill it with `{PULL_COMMAND}`"
            )
    if entries and remote == "git":
        environment["GIT_CONFIG_GLOBAL"] = str(_git_redirects(vendor, frozenset(base for _, _, base, _ in entries)))
    with tempfile.TemporaryDirectory(prefix="mlops-kustomize-") as scratch:
        root = tree
        if options or (entries and remote == "vendored"):
            # A copy made of hard links (a tenth of a full copy); the files changed are replaced, never written
            # through, so the cached tree stays as upstream wrote it.
            root = Path(scratch) / "tree"
            shutil.copytree(tree, root, symlinks=True, copy_function=_link_or_copy)
            _add_patches(root / path, list(options.get("patches") or []))
            _set_images(root / path, [str(image) for image in options.get("images") or []])
            if remote == "vendored":
                _name_vendored_bases(root, tree, entries, vendor)
        result = subprocess.run(
            [*kustomize_command(), str(root / path)], capture_output=True, text=True, env=environment, check=False
        )
    if result.returncode != 0:
        message = " ".join(result.stderr.split())[-1500:] or f"exit code {result.returncode}"
        raise BuildFailed(f"kustomize build {path} failed: {message}")
    return result.stdout


def _kustomization(directory: Path, what: str) -> tuple[Path, dict[str, Any]]:
    kustomization = next((directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()), None)
    if kustomization is None:
        raise BuildFailed(f"{directory}: no kustomization file to add the Application's {what} to")
    return kustomization, yaml.safe_load(kustomization.read_text()) or {}


def _rewrite(kustomization: Path, data: Mapping[str, Any]) -> None:
    kustomization.unlink()  # a hard link to the cached tree's file: the new text goes into a file of its own
    kustomization.write_text(yaml.safe_dump(dict(data), sort_keys=False))


def _add_patches(directory: Path, patches: list[Any]) -> None:
    if not patches:
        return
    kustomization, data = _kustomization(directory, "patches")
    data["patches"] = [*(data.get("patches") or []), *patches]
    _rewrite(kustomization, data)


def image_override(text: str) -> dict[str, str]:
    """One of Argo CD's `images` as a kustomization `images` entry: `name=newName:tag` replaces image `name`,
    `name:tag` (or `@digest`) only retags it."""
    match = _IMAGE_OVERRIDE.match(text)
    if match is None:
        raise BuildFailed(f"kustomize image {text!r} is not `[<name>=]<new name>[:<tag>|@<digest>]`")
    entry = {"name": match["name"] or match["new"]}
    if match["name"]:
        entry["newName"] = match["new"]
    if match["tag"]:
        entry["newTag"] = match["tag"]
    if match["digest"]:
        entry["digest"] = match["digest"]
    return entry


def _set_images(directory: Path, images: list[str]) -> None:
    """What `kustomize edit set image` (which Argo CD runs in the path) makes of `images`: an entry per image name,
    which replaces the kustomization's own entry of that name, all sorted by name."""
    if not images:
        return
    kustomization, data = _kustomization(directory, "images")
    entries = {entry["name"]: dict(entry) for entry in data.get("images") or []}
    for text in images:
        override = image_override(text)
        entries[override["name"]] = override
    data["images"] = [entries[name] for name in sorted(entries)]
    _rewrite(kustomization, data)


def _name_vendored_bases(
    root: Path, tree: Path, entries: list[tuple[Path, str, RemoteBase, str]], vendor: Path
) -> None:
    """In the copy at `root`, each remote base entry names its vendored folder (a relative path, as a local base)."""
    by_file: dict[Path, list[tuple[str, Path]]] = {}
    for kustomization, entry, base, inside in entries:
        copied = root / kustomization.relative_to(tree.resolve())
        by_file.setdefault(copied, []).append((entry, (vendor / base.repo / base.ref / inside).resolve()))
    for copied, replacements in by_file.items():
        text = copied.read_text(encoding="utf-8")
        for entry, folder in replacements:
            text = text.replace(entry, os.path.relpath(folder, copied.parent))
        copied.unlink()  # a hard link to the cached tree's file
        copied.write_text(text, encoding="utf-8")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copy2(source, target)


_redirect_lock = threading.Lock()
_redirects: dict[tuple[Path, frozenset[RemoteBase]], Path] = {}


def _git_redirects(vendor: Path, bases: frozenset[RemoteBase]) -> Path:
    """A git config that sends each remote base's repository to a local repository made from its vendored files,
    one commit tagged per vendored ref; made once per process and removed at exit."""
    key = (vendor, bases)
    with _redirect_lock:
        if key in _redirects:
            return _redirects[key]
        scratch = Path(tempfile.mkdtemp(prefix="mlops-remote-bases-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        lines = ['[protocol "file"]', "\tallow = always"]
        for repo in sorted({(base.owner, base.repo) for base in bases}):
            local = scratch / f"{repo[0]}-{repo[1]}"
            _git(["init", "-q", str(local)])
            for base in sorted((b for b in bases if (b.owner, b.repo) == repo), key=lambda b: b.ref):
                source = vendor / base.repo / base.ref
                if not source.is_dir():
                    raise SourceMissing(
                        f"remote kustomize base {base.url} at {base.ref} is not in the git cache (looked for "
                        f"{source}); fill it with `{PULL_COMMAND}`"
                    )
                for entry in local.iterdir():
                    if entry.name != ".git":
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                shutil.copytree(source, local, dirs_exist_ok=True, symlinks=True)
                _git(["-C", str(local), "add", "-A"])
                _git(["-C", str(local), "commit", "-q", "--allow-empty", "-m", f"{base.url} {base.ref} (vendored)"])
                _git(["-C", str(local), "tag", "-f", base.ref])
            lines += [f'[url "file://{local}"]', f"\tinsteadOf = https://github.com/{repo[0]}/{repo[1]}"]
        config = scratch / "gitconfig"
        config.write_text("\n".join(lines) + "\n")
        _redirects[key] = config
        return config


def _git(arguments: list[str]) -> None:
    identity = ["-c", "user.name=mlops-offline", "-c", "user.email=offline@localhost", "-c", "commit.gpgsign=false"]
    result = subprocess.run(["git", *identity, *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildFailed(f"git {' '.join(arguments)} failed: {' '.join(result.stderr.split())}")
