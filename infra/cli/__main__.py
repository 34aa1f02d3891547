"""`python -m infra.cli {render,check,images,mirror,docs,promote,diff}`: the offline tools of the platform.

Exit codes: 0 done; 2 an invalid environment (messages name the config path; nothing is written);
1 anything else (a failed check, a refused promotion, a bug). Set MLOPS_DEBUG=1 for a traceback on unexpected errors.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from infra.cli import commands
from infra.cli.commands import REPO
from infra.config import InvalidEnvironment
from infra.expand.caches import CHART_CACHE_VARIABLE, GIT_CACHE_VARIABLE, Caches


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m infra.cli", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)

    def with_envs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--env", action="append", default=[], help="environment name (repeatable); default: all")
        p.add_argument("--environments", type=Path, default=REPO / "environments", help="stack file directory")

    def with_caches(p: argparse.ArgumentParser) -> None:
        p.add_argument("--chart-cache", type=Path, help="chart archives (env MLOPS_CHART_CACHE; else .cache/charts)")
        p.add_argument("--git-cache", type=Path, help="git sources by tag (env MLOPS_GIT_CACHE; else .cache/git)")

    render = sub.add_parser("render", help="render environments to manifests and an inventory")
    with_envs(render)
    render.add_argument("--out", type=Path, default=REPO / "build" / "render")
    render.add_argument(
        "--expand", action="store_true", help="also write what every Application and Helm release applies (expanded/)"
    )
    with_caches(render)

    charts = sub.add_parser("charts", help="the chart and git source caches")
    charts_sub = charts.add_subparsers(dest="charts_command", required=True)
    charts_pull = charts_sub.add_parser("pull", help="download every chart and git source the environments use")
    with_envs(charts_pull)
    with_caches(charts_pull)

    check = sub.add_parser("check", help="render, then validate schemas, ordering, policies and checkov")
    with_envs(check)
    check.add_argument("--out", type=Path, default=REPO / "build" / "check")
    check.add_argument(
        "--crd-schemas",
        default=os.environ.get("MLOPS_CRD_SCHEMAS", commands.DEFAULT_CRD_SCHEMAS),
        help="CRD JSON schemas: a <group>/<kind>_<version>.json directory or a URL template "
        "with {group}, {kind}, {version} (env MLOPS_CRD_SCHEMAS)",
    )
    check.add_argument("--skip-checkov", action="store_true", help="skip the checkov stage")
    with_caches(check)

    images = sub.add_parser("images", help="every container image each environment runs, and where it comes from")
    with_envs(images)
    with_caches(images)

    mirror = sub.add_parser("mirror", help="write what an environment's mirrors must hold, for helm, skopeo and git")
    mirror.add_argument("--env", required=True, help="environment name (its stack file sets `mirrors`)")
    mirror.add_argument("--out", type=Path, required=True, help="directory to write <env>/ into")
    mirror.add_argument("--environments", type=Path, default=REPO / "environments", help="stack file directory")
    with_caches(mirror)

    docs = sub.add_parser(
        "docs",
        help="regenerate the environment JSON Schema, docs/environment.md, docs/delivery.md and "
        "docs/environments/<env>.md (renders and expands every environment)",
    )
    docs.add_argument("--environments", type=Path, default=REPO / "environments", help="stack file directory")
    with_caches(docs)

    promote = sub.add_parser("promote", help="copy SRC's version pins into DST's stack file (dev -> staging -> prod)")
    promote.add_argument("source", metavar="SRC")
    promote.add_argument("target", metavar="DST")
    promote.add_argument("--dry-run", action="store_true", help="print the change as a unified diff, write nothing")
    promote.add_argument("--force", action="store_true", help="allow a promotion outside the configured order")
    promote.add_argument("--environments", type=Path, default=REPO / "environments", help="stack file directory")
    promote.add_argument(
        "--no-expand", action="store_true", help="with --dry-run: the file change only, not what it does in DST"
    )
    promote.add_argument("--output", type=Path, help="with --dry-run: write the complete expanded diff to this file")
    with_caches(promote)

    diff = sub.add_parser(
        "diff", help="markdown diff of the rendered and expanded environments between a git ref and now"
    )
    diff.add_argument("--base", required=True, metavar="REF", help="git ref to compare against, e.g. origin/main")
    diff.add_argument("--env", action="append", default=[], help="environment name (repeatable); default: all")
    diff.add_argument("--output", type=Path, help="write the complete diff (markdown) to this file")
    diff.add_argument("--comment", type=Path, help="write the pull-request comment (what stdout shows) to this file")
    diff.add_argument("--artifact-url", help="where the complete diff is published; the comment links to it")
    diff.add_argument(
        "--no-expand", action="store_true", help="compare the stack's objects only, not what the Applications apply"
    )
    diff.add_argument("--pull", action="store_true", help="fetch both sides' charts and git sources into the caches")
    with_caches(diff)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "render":
            caches = Caches.from_environment(args.chart_cache, args.git_cache) if args.expand else None
            return commands.render(args.environments, args.env, args.out, caches)
        if args.command == "charts":
            return commands.pull(args.environments, args.env, Caches.from_environment(args.chart_cache, args.git_cache))
        if args.command == "check":
            return commands.check(
                args.environments,
                args.env,
                args.out,
                args.crd_schemas,
                not args.skip_checkov,
                Caches.from_environment(args.chart_cache, args.git_cache),
            )
        if args.command == "images":
            return commands.images(
                args.environments, args.env, Caches.from_environment(args.chart_cache, args.git_cache)
            )
        if args.command == "mirror":
            caches = Caches.from_environment(args.chart_cache, args.git_cache)
            return commands.mirror(args.environments, args.env, args.out, caches)
        if args.command == "promote":
            caches = None if args.no_expand else Caches.from_environment(args.chart_cache, args.git_cache)
            return commands.promote(
                args.environments, args.source, args.target, args.dry_run, args.force, caches, args.output
            )
        if args.command == "diff":
            if args.chart_cache or args.git_cache:  # the renders of both trees read them from the environment
                caches = Caches.from_environment(args.chart_cache, args.git_cache)
                os.environ.update({CHART_CACHE_VARIABLE: str(caches.charts), GIT_CACHE_VARIABLE: str(caches.git)})
            return commands.diff(
                REPO, args.base, args.env, args.output, args.comment, args.artifact_url, not args.no_expand, args.pull
            )
        return commands.docs(args.environments, Caches.from_environment(args.chart_cache, args.git_cache))
    except InvalidEnvironment as error:
        print(error.report(), file=sys.stderr)
        return 2
    except commands.InvalidEnvironments as errors:
        for error in errors.errors:
            print(error.report(), file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`... | head`): stop, as a pipeline expects, without a message about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # noqa: BLE001 the CLI's last word: a message, not a traceback
        if os.environ.get("MLOPS_DEBUG"):
            traceback.print_exc()
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    # At exit the interpreter collects garbage over every object the run left behind (the rendered stacks,
    # the loaded schemas): 1.5 s after a `check`, for nothing. Freezing them skips that collection.
    gc.freeze()
    sys.exit(code)
