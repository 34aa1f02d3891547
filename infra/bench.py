"""`make bench`: how long render and check take, per environment and for a fleet of environments.

Targets on a 2-core machine: `check` of all four environments, every Application expanded, within 30 s (measured as
a user runs it: a new `python -m infra.cli check` process; once with an empty expansion cache, as on a fresh clone,
and once with the cache a previous run left); each extra environment in a fleet `render --expand` within 0.5 s, and
in a plain fleet render within 0.3 s (one process renders N copies of an environment). Reported here, never asserted
in tests.

A shared machine's speed swings by half from one minute to the next, so the table opens and closes with the
time of a fixed piece of pure Python (`machine_pace`): read each figure against it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.cli import commands
from infra.cli.commands import REPO
from infra.expand.caches import Caches

ENVIRONMENTS = REPO / "environments"


def timed(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fn(*args)
    return time.perf_counter() - start


QUIET_PACE_S = 0.3  # about what machine_pace takes on the 2-core reference machine at its quietest


def machine_pace() -> float:
    """Seconds for ten million additions in a Python loop: how fast this machine runs Python right now."""
    start = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.perf_counter() - start


def print_pace(when: str) -> None:
    pace = machine_pace()
    print(f"{f'machine pace {when} (quiet: {QUIET_PACE_S} s)':<44} {pace:>8.2f}  ({pace / QUIET_PACE_S:.1f}x quiet)")


def cli_seconds(*arguments: str, crd_schemas: str, expansion_cache: Path | None = None) -> float:
    """Wall time of the CLI in a new process, imports included; it must succeed."""
    start = time.perf_counter()
    env = {**os.environ, "MLOPS_CRD_SCHEMAS": crd_schemas}
    if expansion_cache is not None:
        env["MLOPS_EXPANSION_CACHE"] = str(expansion_cache)
    result = subprocess.run([sys.executable, "-m", "infra.cli", *arguments], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"infra.cli {' '.join(arguments)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return seconds


def fleet(base: str, copies: int, scratch: Path, kind: str) -> Path:
    envs = scratch / f"fleet-{kind}-{copies}"
    envs.mkdir()
    source = (ENVIRONMENTS / f"Pulumi.{base}.yaml").read_text()
    for index in range(copies):
        (envs / f"Pulumi.{base}{index:03d}.yaml").write_text(source)
    return envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, nargs="+", default=[1, 10, 40])
    parser.add_argument("--crd-schemas", default=str(REPO.parent / "shared" / "schemas" / "crds"))
    args = parser.parse_args()
    names = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in sorted(ENVIRONMENTS.glob("Pulumi.*.yaml"))]
    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        print(f"{'what':<44} {'seconds':>8}")
        print_pace("before")
        results = scratch / "expansion-cache"
        for state in ("empty", "warm"):
            seconds = cli_seconds(
                "check", "--out", str(scratch / "cli"), crd_schemas=args.crd_schemas, expansion_cache=results
            )
            print(f"{f'check all {len(names)}, new process, {state} cache (30 s)':<44} {seconds:>8.2f}")
        timed(commands.render, ENVIRONMENTS, ["dev"], scratch / "warmup")  # imports, schema caches
        for name in names:
            print(f"{'render ' + name:<44} {timed(commands.render, ENVIRONMENTS, [name], scratch / 'r'):>8.2f}")
        warm = timed(commands.check, ENVIRONMENTS, [], scratch / "c", args.crd_schemas)
        print(f"{f'check all {len(names)}, in a warm process':<44} {warm:>8.2f}")
        caches = Caches.from_environment()
        for expand, target in ((False, 0.3), (True, 0.5)):
            previous: tuple[int, float] | None = None
            what = "render --expand" if expand else "render"
            for copies in args.fleet:
                envs = fleet("dev", copies, scratch, "expand" if expand else "plain")
                seconds = timed(commands.render, envs, [], scratch / f"out-{what}-{copies}", caches if expand else None)
                marginal = ""
                if previous:
                    per_env = (seconds - previous[1]) / (copies - previous[0])
                    marginal = f"  ({per_env:.3f} s per extra environment, target {target})"
                print(f"{what + ' fleet of ' + str(copies):<44} {seconds:>8.2f}{marginal}")
                previous = (copies, seconds)
        print_pace("after")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
