"""Several checkov scans from one import of checkov. Runs under .venv-checkov's Python, by path: it may import
nothing but the standard library and checkov (the platform's packages are not installed there).

Importing checkov takes seconds. `check` starts this driver before it renders, so the import overlaps the
renders; once the manifests are written it sends one JSON list of checkov argument lists on stdin. Each scan
runs in a child forked from the warm interpreter (so scans run side by side and share nothing), and the driver
prints one JSON list: per scan, its exit code and what it printed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import checkov.main  # the slow part: done while the caller is still rendering


def _scan_in_child(argv: list[str], output: str) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 2
    try:
        with open(output, "w") as out:
            os.dup2(out.fileno(), sys.stdout.fileno())
            sys.stdout = os.fdopen(sys.stdout.fileno(), "w", closefd=False)
            result = checkov.main.Checkov(argv).run()
            code = result if isinstance(result, int) else 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException as error:  # noqa: BLE001 (reported to the caller through the exit code and stderr)
        print(f"checkov raised {type(error).__name__}: {error}", file=sys.stderr)
        code = 2
    finally:
        sys.stdout.flush()
        os._exit(code)


def main() -> None:
    scans = json.loads(sys.stdin.read() or "[]")
    with tempfile.TemporaryDirectory(prefix="checkov-driver-") as scratch:
        outputs = [os.path.join(scratch, f"scan-{index}.json") for index in range(len(scans))]
        children = [_scan_in_child(argv, output) for argv, output in zip(scans, outputs, strict=True)]
        results = []
        for pid, output in zip(children, outputs, strict=True):
            _, status = os.waitpid(pid, 0)
            stdout = open(output).read() if os.path.exists(output) else ""  # noqa: SIM115
            results.append({"exit": os.waitstatus_to_exitcode(status), "stdout": stdout})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
