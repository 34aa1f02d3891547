"""The secret scan (stage `secrets` of `check`) catches planted secrets; only reasoned allow-list entries pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.cli.commands import SECRETS_ALLOWLIST
from infra.offline.secrets import load_allowlist, repository_files, scan, scan_directory, tracked_files

REPO = Path(__file__).resolve().parents[1]
# Assembled at run time so this file itself holds no secret-shaped literal.
PLANTED_KEY = "AKIA" + "Q3EGRJ5XZ7WJHN2P"
PLANTED_VALUE = "Tr0ub4dor" + "&3xQ"


def git_repo(root: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def test_planted_secrets_in_tracked_files_are_caught(tmp_path: Path) -> None:
    repo = git_repo(
        tmp_path,
        {
            "infra/settings.py": f'aws_access_key_id = "{PLANTED_KEY}"\n',
            "environments/Pulumi.dev.yaml": f"config:\n  db_password: {PLANTED_VALUE}\n",
            "clean.py": 'credentials_secret = "object-store-credentials"\n',
        },
    )
    (repo / "untracked.py").write_text(f'password = "{PLANTED_VALUE}"\n')
    findings = scan(tracked_files(repo), repo, {})
    where = {f.object_ref for f in findings}
    assert "infra/settings.py:1" in where
    assert "environments/Pulumi.dev.yaml:2" in where
    assert not any(ref.startswith(("clean.py", "untracked.py")) for ref in where), where
    assert all("hashed_secret" in f.message for f in findings)


def test_planted_secret_in_rendered_manifests_is_caught(tmp_path: Path) -> None:
    manifest = tmp_path / "ml" / "secret-db.yaml"
    manifest.parent.mkdir()
    manifest.write_text(f"apiVersion: v1\nkind: Secret\nstringData:\n  password: {PLANTED_VALUE}\n")
    findings = scan_directory(tmp_path, {})
    assert [f.object_ref for f in findings] == ["ml/secret-db.yaml:4"]


def test_allowlist_silences_exactly_the_listed_hash(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r", {"a.py": f'password = "{PLANTED_VALUE}"\n'})
    (finding,) = scan(tracked_files(repo), repo, {})
    hashed = finding.message.split("hashed_secret ")[1].split(")")[0]
    allowlist = tmp_path / "allow.yaml"
    allowlist.write_text(f"- hashed_secret: {hashed}\n  type: Secret Keyword\n  reason: test fixture\n")
    assert scan(tracked_files(repo), repo, load_allowlist(allowlist)) == []
    allowlist.write_text(f"- hashed_secret: {hashed}\n  type: Secret Keyword\n")
    with pytest.raises(ValueError, match="reason"):
        load_allowlist(allowlist)


def test_repository_is_clean_with_its_allowlist() -> None:
    assert scan(repository_files(REPO, SECRETS_ALLOWLIST), REPO, load_allowlist(SECRETS_ALLOWLIST)) == []


def test_names_of_secrets_are_not_secrets_but_encoded_documents_are_read(tmp_path: Path) -> None:
    import base64

    config = f"registry: gs://bucket/registry.db\npassword: {PLANTED_VALUE}\n"
    harmless = "project: platform\nprovider: local\nregistry:\n  path: gs://mlops-dev-artifacts/feast/registry.db\n"
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        "keyOfSecretAccessKey: AWS_SECRET_ACCESS_KEY\n"
        "secretName: object-store-credentials\n"
        f"config_base64: {base64.b64encode(harmless.encode()).decode()}\n"
        f"leaky_base64: {base64.b64encode(config.encode()).decode()}\n"
    )
    assert [f.object_ref for f in scan_directory(tmp_path, {})] == ["app.yaml:4 (decoded) line 2"]


def test_a_commit_of_the_repository_is_not_a_secret_but_other_hex_is(tmp_path: Path) -> None:
    """Default images are pinned by the commit of their sources: a commit the repository has is public; the same
    shape that is no commit of it (or one a shallow clone lacks) is reported, saying how to tell."""
    repo = git_repo(tmp_path, {"first.txt": "first\n"})
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), *identity, "commit", "-qm", "1"], check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    stranger = "".join(reversed(commit.strip()))
    (repo / "pins.yaml").write_text(f"tags:\n  notebook: {commit.strip()}\n  codeserver: {stranger}\n")
    subprocess.run(["git", "-C", str(repo), "add", "pins.yaml"], check=True)
    (finding,) = scan(tracked_files(repo), repo, {})
    assert finding.object_ref == "pins.yaml:3"
    assert "Hex High Entropy String" in finding.message and "fetch the history" in finding.message
    # Outside a git repository (rendered manifests) nothing is a commit.
    outside = tmp_path.parent / f"{tmp_path.name}-rendered"
    outside.mkdir()
    (outside / "pins.yaml").write_text(f"tag: {commit.strip()}\n")
    assert [f.object_ref for f in scan_directory(outside, {})] == ["pins.yaml:1"]
