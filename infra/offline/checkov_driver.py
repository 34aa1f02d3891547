"""checkov's scans for `check`, from one import of checkov. Runs under .venv-checkov's Python, by path: it may import
nothing but the standard library, checkov and what checkov depends on (the platform's packages are not installed
there).

Importing checkov takes seconds. `check` starts this driver before it renders, so the import overlaps the renders;
its command line names checkov's configuration and the project's custom checks (`--config`, `--external-checks`),
and as soon as checkov is loaded it prints one line, the kinds checkov's resource checks read (so that the caller
writes no other object for it). Once the platform is known the caller sends one JSON request on stdin:

- `scans`: checkov command lines (the CI workflows' github_actions scan), each run as checkov's CLI runs it;
- `objects`: files of one Kubernetes object each, scanned with checkov's resource checks (the project's own among
  them) in a few large batches: a resource check reads one object, so batching changes no result;
- `units`: files of an object with the objects checkov's graph checks connect it to (the Role a binding names, the
  NetworkPolicies of a pod's namespace), each scanned with the graph checks alone and on its own, since checkov's
  graph connects every object of a scan to every other, across namespaces and environments.

Objects of kinds no check reads (CustomResourceDefinitions, ConfigMaps, ...) are not parsed at all. Every scan runs
in a child forked from the warm interpreter (the scans run side by side and share nothing), and the driver prints
one JSON document: per CLI scan its exit code and output, and per object or unit file the results of its checks.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from typing import Any

import checkov.main  # the slow part: done while the caller is still rendering
import yaml  # a dependency of checkov
from checkov.common.checks_infra.registry import get_graph_checks_registry
from checkov.kubernetes.checks.resource.registry import registry as resource_registry
from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter

KUBERNETES = "kubernetes"


def _fork(work: Any, output: str) -> int:
    """`work()` in a child whose stdout goes to `output`; the child's pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 2
    try:
        with open(output, "w") as out:
            os.dup2(out.fileno(), sys.stdout.fileno())
            sys.stdout = os.fdopen(sys.stdout.fileno(), "w", closefd=False)
            code = work()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException as error:  # noqa: BLE001 (reported to the caller through the exit code and stderr)
        print(f"checkov raised {type(error).__name__}: {error}", file=sys.stderr)
        code = 2
    finally:
        sys.stdout.flush()
        os._exit(code)


def _cli(argv: list[str]) -> Any:
    def run() -> int:
        result = checkov.main.Checkov(argv).run()
        return result if isinstance(result, int) else 0

    return run


def _records(report: Any) -> Iterable[tuple[str, Any]]:
    for reports in report if isinstance(report, list) else [report]:
        if reports.check_type != KUBERNETES:
            continue
        yield from (("passed", r) for r in reports.passed_checks)
        yield from (("failed", r) for r in reports.failed_checks)
        yield from (("skipped", r) for r in reports.skipped_checks)


def _scan(files: list[str], runner_filter: RunnerFilter) -> dict[str, list[list[str]]]:
    """Per file: [check id, check name, passed|failed|skipped, resource, suppression reason, fields read]."""
    logging.disable(logging.WARNING)  # checkov logs parse details at warning level; its report says what matters
    results: dict[str, list[list[str]]] = {os.path.basename(f): [] for f in files}
    report = Runner().run(None, files=files, runner_filter=runner_filter)
    for outcome, record in _records(report):
        result = record.check_result or {}
        reason = str(result.get("suppress_comment") or "")
        fields = ", ".join(str(key) for key in result.get("evaluated_keys") or ())
        entry = [record.check_id, record.check_name, outcome, record.resource, reason, fields]
        results[os.path.basename(record.file_path)].append(entry)
    return results


def _objects(files: list[str], runner_filter: RunnerFilter) -> Any:
    def run() -> int:
        json.dump(_scan(files, runner_filter), sys.stdout)
        return 0

    return run


def _units(files: list[str], runner_filter: RunnerFilter) -> Any:
    def run() -> int:
        results: dict[str, list[list[str]]] = {}
        for file in files:  # one fresh runner each: a runner keeps what it parsed, and its graph spans its files
            results.update(_scan([file], runner_filter))
        json.dump(results, sys.stdout)
        return 0

    return run


def _read_kind(path: str) -> str:
    with open(path) as text:
        return str(json.load(text).get("kind", ""))


def _checked_kinds() -> set[str] | None:
    """The kinds a resource check reads (None: a wildcard check reads every kind)."""
    if resource_registry.wildcard_checks:
        return None
    return {kind for kind, checks in resource_registry.checks.items() if checks}


def _config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path) as text:
        return yaml.safe_load(text) or {}


def _chunks(items: list[str], count: int) -> list[list[str]]:
    return [chunk for chunk in (items[index::count] for index in range(max(1, count))) if chunk]


def _option(name: str) -> str | None:
    arguments = sys.argv[1:]
    return arguments[arguments.index(name) + 1] if name in arguments else None


def main() -> None:
    config = _config(_option("--config"))
    external = _option("--external-checks")
    if external:
        resource_registry.load_external_checks(external)
    kinds = _checked_kinds()
    print(json.dumps({"kinds": sorted(kinds) if kinds is not None else None}), flush=True)
    request = json.loads(sys.stdin.read() or "{}")
    graph_registry = get_graph_checks_registry(KUBERNETES)
    graph_registry.load_checks()
    graph_ids = sorted({check.id for check in graph_registry.checks})
    skipped = [str(check) for check in config.get("skip-check") or []]
    workers = max(1, int(request.get("workers") or 1))
    object_filter = RunnerFilter(framework=[KUBERNETES], skip_checks=[*graph_ids, *skipped], show_progress_bar=False)
    unit_filter = RunnerFilter(
        framework=[KUBERNETES], checks=[i for i in graph_ids if i not in skipped], show_progress_bar=False
    )
    objects = list(request.get("objects") or [])
    read = [f for f in objects if kinds is None or _read_kind(f) in kinds]
    work = [_cli(argv) for argv in request.get("scans") or []]
    scans = len(work)
    work += [_objects(chunk, object_filter) for chunk in _chunks(read, workers)]
    work += [_units(chunk, unit_filter) for chunk in _chunks(list(request.get("units") or []), workers)]
    with tempfile.TemporaryDirectory(prefix="checkov-driver-") as scratch:
        outputs = [os.path.join(scratch, f"scan-{index}.json") for index in range(len(work))]
        running: list[tuple[int, str]] = []
        finished: dict[str, tuple[int, str]] = {}
        # CLI scans first (each its own child), then the batches, at most `workers` plus the CLI scans at once.
        limit = scans + workers
        for job, output in zip(work, outputs, strict=True):
            while len(running) >= limit:
                pid, status = os.wait()
                done = next(item for item in running if item[0] == pid)
                running.remove(done)
                finished[done[1]] = (os.waitstatus_to_exitcode(status), done[1])
            running.append((_fork(job, output), output))
        for pid, output in running:
            _, status = os.waitpid(pid, 0)
            finished[output] = (os.waitstatus_to_exitcode(status), output)
        cli_results = []
        results: dict[str, list[list[str]]] = {os.path.basename(f): [] for f in objects}
        for index, output in enumerate(outputs):
            code, _ = finished[output]
            text = open(output).read() if os.path.exists(output) else ""  # noqa: SIM115
            if index < scans:
                cli_results.append({"exit": code, "stdout": text})
                continue
            if code != 0:
                print(f"a checkov batch failed (exit {code})", file=sys.stderr)
                sys.exit(2)
            results.update(json.loads(text or "{}"))
    json.dump({"scans": cli_results, "results": results, "graph_checks": graph_ids}, sys.stdout)


if __name__ == "__main__":
    main()
