"""`python -m infra.bench_instructions`: the instructions one stack's render costs, by phase, counted by valgrind's
callgrind. Seconds on a shared machine vary by half from one minute to the next; instruction counts repeat to
within a fraction of a percent, so this is how a change to the render's speed is judged. Needs valgrind
(`callgrind_control`); takes a few minutes. Kernel time (creating files) is not counted.

Run as is, it starts itself under callgrind; under callgrind (`--measure`) it renders two stacks to warm up, then
reports the phases of the next ones.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.cli.commands import REPO, validate_all
from infra.config import load_stack_file, read_stack_file
from infra.config.loader import pulumi_config_values
from infra.offline import render
from infra.offline.disk_writer import put_on_disk
from infra.offline.engine import run_program
from infra.program import main as program_main


class Counter:
    """Reads and zeroes this process's callgrind counters."""

    def __init__(self, dumps: Path) -> None:
        self.dumps = dumps

    def _control(self, flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(os.getpid())], capture_output=True, check=True)

    def take(self) -> int:
        self._control("--dump")
        latest = max(glob.glob(f"{self.dumps}/callgrind.out.{os.getpid()}.*"), key=os.path.getmtime)
        total = re.search(r"^(?:summary|totals): (\d+)", Path(latest).read_text(), re.MULTILINE)
        self._control("--zero")
        assert total, f"no total in {latest}"
        return int(total.group(1))


def measure(stack_file: Path, copies: int, dumps: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="mlops-instructions-"))
    counter = Counter(dumps)
    validate_all(stack_file.parent, [])
    phases: dict[str, Callable[[dict[str, Any]], Any]] = {
        "load": lambda s: s.update(
            env=load_stack_file(stack_file), config=pulumi_config_values(read_stack_file(stack_file))
        ),
        "program under the mock engine": lambda s: s.update(run=run_program(s["env"].name, s["config"], program_main)),
        "manifests": lambda s: s.update(
            rendered=render.Rendered(s["env"].name, s["env"], s["run"], render._manifests(s["run"]))
        ),
        "yaml": lambda s: s.update(files=render.files_of(s["rendered"])),
        "files": lambda s: put_on_disk(scratch / s["env"].name, s["files"]),
    }
    print(f"{'phase':<32} " + " ".join(f"{f'stack {n + 1}':>12}" for n in range(copies)))
    rows: dict[str, list[int]] = {name: [] for name in [*phases, "total"]}
    for round_ in range(copies + 2):
        with render.collector_paused():
            state: dict[str, Any] = {}
            counter.take()
            spent = {}
            for name, phase in phases.items():
                phase(state)
                spent[name] = counter.take()
            del state
        if round_ >= 2:  # the first two warm up imports and caches
            for name, value in spent.items():
                rows[name].append(value)
            rows["total"].append(sum(spent.values()))
    for name, values in rows.items():
        print(f"{name:<32} " + " ".join(f"{value / 1e6:>11.0f}M" for value in values))
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--measure", metavar="DUMPS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    stack_file = REPO / "environments" / f"Pulumi.{args.env}.yaml"
    if args.measure:
        measure(stack_file, args.copies, Path(args.measure))
        return
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("needs valgrind with callgrind_control (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="mlops-callgrind-") as dumps:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={dumps}/callgrind.out.%p", "--quiet",
            sys.executable, "-m", "infra.bench_instructions", "--env", args.env, "--copies", str(args.copies),
            "--measure", dumps,
        ]  # fmt: skip
        raise SystemExit(subprocess.run(command, cwd=REPO).returncode)


if __name__ == "__main__":
    main()
