"""Secret scan: detect-secrets over the repository's tracked files and the rendered manifests.

Nothing secret belongs in git in plain text: secrets reach the cluster as Pulumi secret config or through
External Secrets. What detect-secrets reports that is not a secret goes in policies/secrets-allowlist.yaml,
each entry with its reason. Two heuristics are built in:
- a "Secret Keyword" hit whose value is a dash-joined lowercase name (`object-store-credentials`) or an
  environment variable name (`AWS_SECRET_ACCESS_KEY`) names where a secret is kept; it is not a credential;
- a "Base64 High Entropy String" that decodes to readable text is an encoded document (a config file in chart
  values): the decoded text is scanned instead;
- a "Hex High Entropy String" of 40 hex digits that is a commit of the scanned repository (the builds of the
  default images are tagged and pinned by commit) is public by nature. A clone without the history (a shallow
  CI checkout) cannot tell, so the scan reports it and says so: check out with the history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.offline.validate import Finding

OBJECT_NAME = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)+|[A-Z][A-Z0-9]*(_[A-Z0-9]+)+)$")
KEYWORD = "Secret Keyword"
BASE64 = "Base64 High Entropy String"
HEX = "Hex High Entropy String"
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Allowed:
    hashed_secret: str
    type: str
    reason: str


def load_allowlist(path: Path) -> dict[tuple[str, str], Allowed]:
    entries = yaml.safe_load(path.read_text()) or []
    allowed: dict[tuple[str, str], Allowed] = {}
    for index, entry in enumerate(entries):
        reason = str(entry.get("reason") or "").strip()
        if not reason or not entry.get("hashed_secret") or not entry.get("type"):
            raise ValueError(f"{path} entry {index}: needs hashed_secret, type and a reason")
        item = Allowed(str(entry["hashed_secret"]), str(entry["type"]), reason)
        allowed[(item.hashed_secret, item.type)] = item
    return allowed


def tracked_files(repo: Path) -> list[Path]:
    """Files git tracks (what a push would publish); an error when `repo` is not a git work tree."""
    result = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git ls-files failed in {repo}: {result.stderr.strip()}")
    return [repo / name for name in result.stdout.split("\0") if name and (repo / name).is_file()]


def repository_files(repo: Path, allowlist_file: Path) -> list[Path]:
    """Tracked files but the allow-list itself, which holds nothing but hashes (high-entropy by nature)."""
    return [path for path in tracked_files(repo) if path.resolve() != allowlist_file.resolve()]


# Findings of each file content already scanned in this process, as (suffix after the file name, message).
# Environments share most of their rendered files, and detect-secrets costs tens of milliseconds a file.
_SCANNED: dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[str, str]]] = {}


def scan(files: Iterable[Path], root: Path, allowlist: Mapping[tuple[str, str], Allowed]) -> list[Finding]:
    """Every potential secret in `files` not explained by the allowlist, named `path:line` relative to root.
    Each distinct file content is scanned once per process."""
    root = root.resolve()
    allowed = frozenset(allowlist)
    names = {Path(path).resolve(): str(Path(path).resolve().relative_to(root)) for path in files}
    keys = {path: (hashlib.sha256(path.read_bytes()).hexdigest(), allowed) for path in names}
    unscanned = {key: path for path, key in keys.items() if key not in _SCANNED}
    fresh = _scan_files(list(unscanned.values()), root, allowlist)
    for key, path in unscanned.items():
        name = names[path]
        _SCANNED[key] = [(f.object_ref[len(name) :], f.message) for f in fresh if f.object_ref.startswith(f"{name}:")]
    findings = [
        Finding("secrets", f"{names[path]}{suffix}", message)
        for path, key in keys.items()
        for suffix, message in _SCANNED[key]
    ]
    return sorted(findings, key=lambda f: (f.object_ref, f.message))


def _scan_files(files: list[Path], root: Path, allowlist: Mapping[tuple[str, str], Allowed]) -> list[Finding]:
    if not files:
        return []
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    from infra.offline.secret_gate import gated_scans

    collection = SecretsCollection(root=str(root))
    with default_settings(), gated_scans():
        for path in files:
            collection.scan_file(str(Path(path).resolve().relative_to(root)))
    commits = _commits(
        root,
        {
            s.secret_value
            for found in collection.data.values()
            for s in found
            if _may_be_a_commit(s.type, s.secret_value)
        },
    )
    findings = []
    for filename, secrets in collection.data.items():
        for secret in secrets:
            if (secret.secret_hash, secret.type) in allowlist or _names_an_object(secret.type, secret.secret_value):
                continue
            if secret.secret_value in commits:
                continue
            document = _decoded_text(secret.type, secret.secret_value)
            if document is not None:
                findings += _scan_text(document, f"{filename}:{secret.line_number} (decoded)", allowlist)
                continue
            message = (
                f"{secret.type} (hashed_secret {secret.secret_hash}): move it to Pulumi secret config or a "
                "secret store, or allow-list the hash with a reason"
            )
            if _may_be_a_commit(secret.type, secret.secret_value):
                message += " (if it names a commit of this repository, this clone lacks it: fetch the history)"
            findings.append(Finding("secrets", f"{filename}:{secret.line_number}", message))
    return sorted(findings, key=lambda f: (f.object_ref, f.message))


def _names_an_object(kind: str, value: str | None) -> bool:
    return kind == KEYWORD and value is not None and bool(OBJECT_NAME.match(value))


def _may_be_a_commit(kind: str, value: str | None) -> bool:
    return kind == HEX and value is not None and bool(COMMIT_ID.match(value))


def _commits(root: Path, candidates: set[str]) -> set[str]:
    """The candidates that are commits of the git repository `root` is in (none outside a repository)."""
    if not candidates:
        return set()
    ordered = sorted(candidates)
    result = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-check=%(objecttype)"],
        input="".join(f"{value}\n" for value in ordered),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return set()
    kinds = result.stdout.splitlines()
    return {value for value, kind in zip(ordered, kinds, strict=True) if kind == "commit"}


def _decoded_text(kind: str, value: str | None) -> str | None:
    if kind != BASE64 or value is None:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text if all(c.isprintable() or c in "\n\r\t" for c in text) else None


def _scan_text(text: str, name: str, allowlist: Mapping[tuple[str, str], Allowed]) -> list[Finding]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "decoded").write_text(text)
        return [
            Finding("secrets", f"{name} line {f.object_ref.rsplit(':', 1)[1]}", f.message)
            for f in scan([Path(tmp) / "decoded"], Path(tmp), allowlist)
        ]


def scan_directory(directory: Path, allowlist: Mapping[tuple[str, str], Allowed]) -> list[Finding]:
    """Every file under `directory` (rendered manifests), named relative to it."""
    return scan(sorted(p for p in directory.rglob("*") if p.is_file()), directory, allowlist)
