"""Run checkov over the rendered manifests of several environments in a single subprocess.

checkov lives in its own virtualenv (its `packaging` pin conflicts with pulumi's), so it is run as a program.
Its start-up costs seconds, so all environments share one run and results are mapped back by file path.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from infra.offline.validate import Finding

_REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV_BIN: Path = Path(os.environ.get("MLOPS_CHECKOV") or _REPO_ROOT / ".venv-checkov" / "bin" / "checkov")

_MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
_TIMEOUT_S = 600

# checkov phones home unless told not to. --skip-download (and BC_SKIP_MAPPING, its env twin) stops the
# Prisma Cloud guideline/mapping download; CKV_SKIP_PACKAGE_UPDATE_CHECK stops the PyPI version check that runs
# when checkov's banner module is imported, even with -o json.
_OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
}


def _manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in _MANIFEST_SUFFIXES and p.is_file())


def _json_documents(text: str) -> Iterator[Any]:
    """checkov prints one JSON document per run (a dict, or a list of dicts for several frameworks)."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return
        document, index = decoder.raw_decode(text, index)
        yield document


def _reports(stdout: str) -> Iterator[Mapping[str, Any]]:
    for document in _json_documents(stdout):
        for report in document if isinstance(document, list) else [document]:
            # With nothing to scan checkov prints a bare summary without "results".
            if isinstance(report, Mapping) and isinstance(report.get("results"), Mapping):
                yield report


def _owner(path: Path, env_dirs: Mapping[str, Path]) -> tuple[str, Path] | None:
    # The deepest directory wins, in case one environment's directory is nested in another's.
    owners = [(len(d.parts), env, d) for env, d in env_dirs.items() if path.is_relative_to(d)]
    if not owners:
        return None
    _, env, directory = max(owners)
    return env, path.relative_to(directory)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    install_hint = (
        f"checkov not found at {CHECKOV_BIN}: run `make install` (it creates .venv-checkov) or set MLOPS_CHECKOV"
    )
    if not CHECKOV_BIN.is_file():
        raise RuntimeError(install_hint)
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, **_OFFLINE_ENV},
            timeout=_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as e:
        raise RuntimeError(install_hint) from e
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{CHECKOV_BIN} did not finish within {_TIMEOUT_S} s") from e


def manifest_arguments(files: list[Path], config_file: Path, external_checks_dir: Path | None) -> list[str]:
    # -f per file rather than -d per environment: with several -d, checkov 3.3 prints one report per directory
    # and the kubernetes runner carries earlier directories' resources into later reports under mangled paths.
    arguments = ["--config-file", str(config_file), "--framework", "kubernetes", "-o", "json"]
    arguments += ["--compact", "--quiet", "--skip-download"]
    if external_checks_dir is not None:
        arguments += ["--external-checks-dir", str(external_checks_dir)]
    for file in files:
        arguments += ["-f", str(file)]
    return arguments


def _files_by_environment(env_dirs: Mapping[str, Path]) -> list[list[Path]]:
    """The manifest files of each environment (its `<env>` and `<env>/apps` directories), one list per
    environment that has any: each is its own checkov scan, so the scans use every core, and checkov's graph
    never links an object of one environment to another's."""
    by_environment: dict[str, list[Path]] = {}
    for key, directory in env_dirs.items():
        by_environment.setdefault(key.split("/")[0], []).extend(_manifest_files(directory))
    return [files for files in by_environment.values() if files]


def workflow_arguments(directory: Path, framework: str = "github_actions") -> list[str]:
    return ["--framework", framework, "-d", str(directory), "-o", "json", "--compact", "--quiet", "--skip-download"]


def _reports_of(returncode: int, stdout: str, stderr: str) -> list[Mapping[str, Any]]:
    # Exit code 1 means "some checks failed"; a crash also exits 1, but then stdout is not a JSON report.
    stderr_tail = stderr.strip()[-2000:]
    if returncode not in (0, 1):
        raise RuntimeError(f"{CHECKOV_BIN} failed with exit code {returncode}:\n{stderr_tail}")
    try:
        reports = list(_reports(stdout))
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{CHECKOV_BIN} did not print a JSON report ({e}):\n{stderr_tail}") from e
    if returncode == 1 and not reports:
        raise RuntimeError(f"{CHECKOV_BIN} exited with 1 and no report:\n{stderr_tail}")
    return reports


def manifest_findings(reports: list[Mapping[str, Any]], env_dirs: Mapping[str, Path]) -> dict[str, list[Finding]]:
    findings: dict[str, list[Finding]] = {env: [] for env in env_dirs}
    for report in reports:
        for check in report["results"].get("failed_checks", []):
            path = Path(check.get("file_abs_path") or check["file_path"]).resolve()
            owner = _owner(path, env_dirs)
            if owner is None:
                raise RuntimeError(f"checkov reported {path}, which is in none of the directories it was given")
            env, relative = owner
            message = f"{check['check_id']}: {check['check_name']}"
            findings[env].append(Finding("checkov", f"{relative.as_posix()} {check['resource']}", message))
    return {env: sorted(set(items), key=lambda f: (f.object_ref, f.message)) for env, items in findings.items()}


def workflow_findings(reports: list[Mapping[str, Any]]) -> list[Finding]:
    findings = [
        Finding(
            "checkov",
            f"{check['file_path'].lstrip('/')} {check['resource']}",
            f"{check['check_id']}: {check['check_name']}",
        )
        for report in reports
        for check in report["results"].get("failed_checks", [])
    ]
    return sorted(set(findings), key=lambda f: (f.object_ref, f.message))


def run_checkov(
    manifest_dirs: Mapping[str, Path], config_file: Path, external_checks_dir: Path | None = None
) -> dict[str, list[Finding]]:
    env_dirs = {env: Path(d).resolve() for env, d in manifest_dirs.items()}
    files = [f for d in env_dirs.values() for f in _manifest_files(d)]
    if not files:
        return {env: [] for env in env_dirs}
    result = _run([str(CHECKOV_BIN), *manifest_arguments(files, config_file, external_checks_dir)])
    return manifest_findings(_reports_of(result.returncode, result.stdout, result.stderr), env_dirs)


def run_checkov_directory(directory: Path, framework: str) -> list[Finding]:
    """checkov with one framework over one directory (e.g. github_actions over .github/workflows)."""
    result = _run([str(CHECKOV_BIN), *workflow_arguments(directory, framework)])
    return workflow_findings(_reports_of(result.returncode, result.stdout, result.stderr))


class WarmCheckov:
    """checkov's interpreter started ahead of time (infra/offline/checkov_driver.py): it imports checkov while
    the caller renders, then runs the manifest scan and the workflow scan side by side."""

    def __init__(self, niceness: int = 0) -> None:
        python = CHECKOV_BIN.parent / "python"
        if not python.is_file():
            raise RuntimeError(
                f"checkov's Python not found at {python}: run `make install` (it creates .venv-checkov) "
                "or set MLOPS_CHECKOV to the checkov of a virtualenv"
            )
        self._process = subprocess.Popen(
            # -P: the script's own directory (this package, with its checkov.py) must not shadow checkov.
            [str(python), "-P", str(Path(__file__).with_name("checkov_driver.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **_OFFLINE_ENV},
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,  # noqa: PLW1509 (no threads yet)
        )

    def scan(
        self,
        manifest_dirs: Mapping[str, Path],
        config_file: Path,
        external_checks_dir: Path | None,
        workflows_dir: Path | None,
    ) -> tuple[dict[str, list[Finding]], list[Finding]]:
        """Findings of the manifests by directory key, and of the workflows (none without `workflows_dir`)."""
        env_dirs = {env: Path(d).resolve() for env, d in manifest_dirs.items()}
        scans = [
            manifest_arguments(files, config_file, external_checks_dir) for files in _files_by_environment(env_dirs)
        ]
        manifest_scans = len(scans)
        if workflows_dir is not None:
            scans.append(workflow_arguments(workflows_dir))
        try:
            stdout, stderr = self._process.communicate(json.dumps(scans), timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self._process.kill()
            raise RuntimeError(f"checkov did not finish within {_TIMEOUT_S} s") from e
        if self._process.returncode != 0:
            raise RuntimeError(f"checkov's driver failed (exit {self._process.returncode}):\n{stderr[-2000:]}")
        results = [_reports_of(scan["exit"], scan["stdout"], stderr) for scan in json.loads(stdout)]
        manifest_reports = [report for reports in results[:manifest_scans] for report in reports]
        manifests = manifest_findings(manifest_reports, env_dirs)
        workflows = workflow_findings(results[manifest_scans]) if workflows_dir is not None else []
        return manifests, workflows

    def close(self) -> None:
        """Stop the driver if no scan was asked of it (e.g. the check stopped on an invalid environment)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
