"""`make bench`: how long render and check take, per environment and for a fleet of environments.

Targets on a 2-core machine: `check` of all four environments within 15 s; each extra environment in a
fleet render within 0.3 s. Reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

from infra.cli import commands
from infra.cli.commands import REPO

ENVIRONMENTS = REPO / "environments"


def timed(fn, *args) -> float:  # noqa: ANN001
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fn(*args)
    return time.perf_counter() - start


def fleet(base: str, copies: int, scratch: Path) -> Path:
    envs = scratch / f"fleet-{copies}"
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
        timed(commands.render, ENVIRONMENTS, ["dev"], scratch / "warmup")  # imports, schema caches
        print(f"{'what':<34} {'seconds':>8}")
        for name in names:
            print(f"{'render ' + name:<34} {timed(commands.render, ENVIRONMENTS, [name], scratch / 'r'):>8.2f}")
        for name in names:
            seconds = timed(commands.check, ENVIRONMENTS, [name], scratch / "c", args.crd_schemas)
            print(f"{'check ' + name:<34} {seconds:>8.2f}")
        all_check = timed(commands.check, ENVIRONMENTS, [], scratch / "c", args.crd_schemas)
        print(f"{'check all ' + str(len(names)) + ' (target 15 s)':<34} {all_check:>8.2f}")
        previous: tuple[int, float] | None = None
        for copies in args.fleet:
            envs = fleet("dev", copies, scratch)
            seconds = timed(commands.render, envs, [], scratch / f"out-{copies}")
            marginal = ""
            if previous:
                per_env = (seconds - previous[1]) / (copies - previous[0])
                marginal = f"  ({per_env:.3f} s per extra environment, target 0.3)"
            print(f"{'render fleet of ' + str(copies):<34} {seconds:>8.2f}{marginal}")
            previous = (copies, seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
