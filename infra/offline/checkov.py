"""checkov, which lives in its own virtualenv (its `packaging` pin conflicts with pulumi's), run as a program.

`check` uses `WarmCheckov` (checkov imported ahead of time by infra/offline/checkov_driver.py) and `ContentScan`: every
distinct object of the platform is scanned once, whatever the number of environments that apply it, and its results
are kept by content on disk (`.cache/checkov/`, `MLOPS_CHECKOV_CACHE`, `off` to disable), keyed as well on checkov's
version, its configuration, the project's custom checks and the driver. `run_checkov` scans directories of manifests
with checkov's command line, as a person would.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.offline.validate import Finding

_REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV_BIN: Path = Path(os.environ.get("MLOPS_CHECKOV") or _REPO_ROOT / ".venv-checkov" / "bin" / "checkov")

CUSTOM_CHECKS = _REPO_ROOT / "policies" / "checkov" / "custom_checks"
CONFIG = _REPO_ROOT / "policies" / "checkov" / "config.yaml"
DRIVER = Path(__file__).with_name("checkov_driver.py")
CACHE_VARIABLE = "MLOPS_CHECKOV_CACHE"
DEFAULT_CACHE = _REPO_ROOT / ".cache" / "checkov"
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


def scan_findings(code: int, stdout: str) -> list[Finding]:
    """The findings of a workflow scan the warm driver ran (its exit code and output)."""
    return workflow_findings(_reports_of(code, stdout, ""))


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


@dataclass(frozen=True)
class CheckResult:
    """One check of checkov on one object."""

    check_id: str
    name: str
    outcome: str
    """`passed`, `failed` or `skipped` (suppressed by a `checkov.io/skip` annotation, with its reason)."""
    resource: str
    """checkov's id of what it judged: `Kind.namespace.name` (a workload's pods: `Pod.namespace.name.labels`)."""
    reason: str = ""
    """The suppression's reason for `skipped`."""
    fields: str = ""
    """The fields the check read, as checkov names them (`spec/template/spec/containers/[0]/resources`)."""


@dataclass(frozen=True)
class ScanRun:
    """What the driver returned: each command line's exit code and output, and the results of each file."""

    scans: list[tuple[int, str]]
    results: dict[str, list[CheckResult]]


class WarmCheckov:
    """checkov's interpreter started ahead of time (infra/offline/checkov_driver.py): it imports checkov while
    the caller renders, then runs every scan asked of it side by side."""

    def __init__(
        self, niceness: int = 0, config: Path | None = CONFIG, external_checks_dir: Path | None = CUSTOM_CHECKS
    ) -> None:
        self.config = config
        self.external_checks_dir = external_checks_dir
        self._kinds: frozenset[str] | None = None
        self._kinds_read = False
        python = CHECKOV_BIN.parent / "python"
        if not python.is_file():
            raise RuntimeError(
                f"checkov's Python not found at {python}: run `make install` (it creates .venv-checkov) "
                "or set MLOPS_CHECKOV to the checkov of a virtualenv"
            )
        self._process = subprocess.Popen(
            # -P: the script's own directory (this package, with its checkov.py) must not shadow checkov.
            [
                str(python),
                "-P",
                str(DRIVER),
                *(["--config", str(config)] if config else []),
                *(["--external-checks", str(external_checks_dir)] if external_checks_dir else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **_OFFLINE_ENV},
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,  # noqa: PLW1509 (no threads yet)
        )

    def kinds(self) -> frozenset[str] | None:
        """The kinds checkov's resource checks read (None: every kind), once checkov is loaded."""
        if not self._kinds_read:
            assert self._process.stdout is not None
            line = self._process.stdout.readline()
            try:
                kinds = json.loads(line)["kinds"]
            except (ValueError, KeyError, TypeError):
                self._process.kill()
                _, stderr = self._process.communicate()
                raise RuntimeError(f"checkov's driver failed to start:\n{line}{stderr[-2000:]}") from None
            self._kinds = frozenset(kinds) if kinds is not None else None
            self._kinds_read = True
        return self._kinds

    def run(
        self,
        scans: Sequence[list[str]] = (),
        objects: Sequence[Path] = (),
        units: Sequence[Path] = (),
        workers: int = 2,
    ) -> ScanRun:
        """Command lines as checkov's CLI runs them; files of one object each with the resource checks; files of
        a unit (an object and what checkov's graph connects it to) with the graph checks, each on its own."""
        request = {
            "scans": list(scans),
            "objects": [str(path) for path in objects],
            "units": [str(path) for path in units],
            "workers": workers,
        }
        self.kinds()
        try:
            stdout, stderr = self._process.communicate(json.dumps(request), timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self._process.kill()
            raise RuntimeError(f"checkov did not finish within {_TIMEOUT_S} s") from e
        if self._process.returncode != 0:
            raise RuntimeError(f"checkov's driver failed (exit {self._process.returncode}):\n{stderr[-2000:]}")
        try:
            answer = json.loads(stdout)
        except ValueError as e:
            raise RuntimeError(f"checkov's driver printed no JSON ({e}):\n{stderr[-2000:]}") from e
        results = {
            name: [CheckResult(*entry) for entry in entries] for name, entries in (answer.get("results") or {}).items()
        }
        return ScanRun([(scan["exit"], scan["stdout"]) for scan in answer.get("scans") or []], results)

    def close(self) -> None:
        """Stop the driver if no scan was asked of it (e.g. the check stopped on an invalid environment)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def _checkov_version() -> str:
    found = sorted(CHECKOV_BIN.parent.parent.glob("lib/python*/site-packages/checkov/version.py"))
    return found[0].read_text() if found else str(CHECKOV_BIN)


def scan_digest(config: Path | None = CONFIG, external_checks_dir: Path | None = CUSTOM_CHECKS) -> str:
    """What every result depends on besides the object: checkov's version, its configuration, the custom checks,
    and the driver that runs them."""
    digest = hashlib.sha256(_checkov_version().encode())
    digest.update(DRIVER.read_bytes())
    if config is not None:
        digest.update(config.read_bytes())
    if external_checks_dir is not None:
        for path in sorted(external_checks_dir.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


class ContentScan:
    """Objects (and units of objects) scanned by content: each distinct one once, its results kept on disk."""

    def __init__(
        self,
        cache: Path | None,
        config: Path | None = CONFIG,
        external_checks_dir: Path | None = CUSTOM_CHECKS,
    ) -> None:
        self.cache = cache
        self.config = config
        self.external_checks_dir = external_checks_dir
        self._digest = scan_digest(config, external_checks_dir)
        self._texts: dict[int, tuple[Any, str]] = {}
        self._objects: dict[str, str] = {}
        self._units: dict[str, str] = {}
        self._results: dict[str, list[CheckResult]] = {}
        self._lock = threading.Lock()
        self.scanned = 0
        """How many keys the last `run` had to scan (the rest came from the cache)."""

    @classmethod
    def default(cls) -> ContentScan:
        configured = os.environ.get(CACHE_VARIABLE)
        if configured == "off":
            return cls(None)
        return cls(Path(configured) if configured else DEFAULT_CACHE)

    def _text(self, obj: Any) -> str:
        """The object's canonical JSON, once per object (environments share the expansion's objects)."""
        with self._lock:
            known = self._texts.get(id(obj))
            if known is not None and known[0] is obj:
                return known[1]
        text = canonical(obj)
        with self._lock:
            self._texts[id(obj)] = (obj, text)
        return text

    def object_key(self, obj: Mapping[str, Any]) -> str:
        """The key of one object's resource checks; asks for its scan."""
        text = self._text(obj)
        key = hashlib.sha256(f"{self._digest}\0object\0{text}".encode()).hexdigest()
        self._objects.setdefault(key, text)
        return key

    def unit_key(self, objects: Sequence[Mapping[str, Any]]) -> str:
        """The key of a unit's graph checks (its first object judged, with the others it connects to)."""
        texts = [self._text(obj) for obj in objects]
        key = hashlib.sha256(f"{self._digest}\0unit\0{chr(0).join(texts)}".encode()).hexdigest()
        self._units.setdefault(key, "---\n".join(f"{text}\n" for text in texts))
        return key

    def results(self, key: str) -> list[CheckResult]:
        return self._results[key]

    def _cached(self, key: str) -> list[CheckResult] | None:
        if self.cache is None:
            return None
        try:
            entries = json.loads((self.cache / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return [CheckResult(*entry) for entry in entries]

    def _store(self, key: str, results: Iterable[CheckResult]) -> None:
        if self.cache is None:
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        temporary = self.cache / f".{key}.{os.getpid()}"
        temporary.write_text(json.dumps([list(vars(r).values()) for r in results]), encoding="utf-8")
        temporary.replace(self.cache / f"{key}.json")

    def run(self, warm: WarmCheckov, scans: Sequence[list[str]] = (), workers: int = 2) -> ScanRun:
        """Scan whatever was asked and is not cached (and the command lines `scans`, e.g. the workflows)."""
        for key in [*self._objects, *self._units]:
            if key not in self._results:
                cached = self._cached(key)
                if cached is not None:
                    self._results[key] = cached
        missing_objects = [key for key in self._objects if key not in self._results]
        missing_units = [key for key in self._units if key not in self._results]
        self.scanned = len(missing_objects) + len(missing_units)
        with tempfile.TemporaryDirectory(prefix="mlops-checkov-") as scratch:
            directory = Path(scratch)
            object_files = [directory / f"{key}.json" for key in missing_objects]
            unit_files = [directory / f"{key}.yaml" for key in missing_units]
            for path, key in zip(object_files, missing_objects, strict=True):
                path.write_text(self._objects[key], encoding="utf-8")
            for path, key in zip(unit_files, missing_units, strict=True):
                path.write_text(self._units[key], encoding="utf-8")
            run = warm.run(scans, object_files, unit_files, workers)
        for path in [*object_files, *unit_files]:
            key = path.stem
            found = run.results.get(path.name, [])
            self._results[key] = found
            self._store(key, found)
        return run
