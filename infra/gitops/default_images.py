"""The platform's default images (images/<name>/Dockerfile): which ones a push changed, the tag of each build,
where each environment keeps them, and pinning an environment to new builds. .github/workflows/images.yaml runs:

    python -m infra.gitops.default_images plan --base BEFORE --head SHA    # what to build and where to push (JSON)
    python -m infra.gitops.default_images pin --env dev NAME=BUILD ...     # pin an environment to new builds

and images/README.md says how to refresh an image's lock (`lock NAME`).

A build is tagged with the last commit that changed its sources (its own folder and the images/ folders its
Dockerfile copies from, e.g. images/common): the same sources always carry the same tag, whichever later push
builds them, and `git show <tag>:images/<name>/Dockerfile` shows what is in it. The stack offers the builds its
`defaultImages.tags` pins (the notebook form, the MLflow serving runtime); an app pins the images it runs in its
overlay's `images:` (the scheduled-notebook runner). Promotion carries both to the next environment.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dockerfile
import yaml

from infra.config import InvalidEnvironment, Violation, load_stack_file
from infra.config.derived import default_images_registry
from infra.config.settings.platform import APP_IMAGES, DEFAULT_IMAGES, STACK_IMAGES
from infra.gitops.promote import (
    FileChange,
    promotion_order,
    with_default_image_tags,
    with_image_pins,
)

IMAGES_DIR = "images"
DOCKERFILE = "Dockerfile"
NO_COMMIT = re.compile(r"^0*$")
BUILD = re.compile(r"^(?P<tag>[0-9a-f]{40})(@(?P<digest>sha256:[0-9a-f]{64}))?$")


class ImageError(Exception):
    """A problem with the images folder or a request about it, said in one sentence."""


@dataclass(frozen=True)
class Target:
    environment: str
    target: str
    """gke (pushed from a GitHub-hosted runner through Workload Identity Federation) or onprem (from the runner
    inside the network)."""
    registry: str


def image_names(repository: Path) -> list[str]:
    """Every image of the images folder: each folder with a Dockerfile."""
    return sorted(path.parent.name for path in (repository / IMAGES_DIR).glob(f"*/{DOCKERFILE}"))


def copied_folders(repository: Path, name: str) -> list[str]:
    """The images/ folders the image's Dockerfile copies from (the build context is images/), its own first."""
    path = repository / IMAGES_DIR / name / DOCKERFILE
    try:
        commands = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as error:
        raise ImageError(f"{path.relative_to(repository)} does not parse: {error}") from None
    folders = [name]
    for command in commands:
        if command.cmd.upper() not in ("COPY", "ADD") or any(flag.startswith("--from") for flag in command.flags):
            continue
        for source in command.value[:-1]:
            folder = source.split("/", 1)[0]
            if folder not in folders:
                if not (repository / IMAGES_DIR / folder).is_dir():
                    raise ImageError(
                        f"{path.relative_to(repository)} copies {source}, which is not in a folder of {IMAGES_DIR}/ "
                        "(the build context)"
                    )
                folders.append(folder)
    return folders


def source_paths(repository: Path, name: str) -> list[str]:
    return [f"{IMAGES_DIR}/{folder}" for folder in copied_folders(repository, name)]


def _git(repository: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout.strip()


def build_tag(repository: Path, name: str, head: str = "HEAD") -> str:
    """The last commit up to `head` that changed the image's sources: its build's tag."""
    tag = _git(repository, "log", "-1", "--format=%H", head, "--", *source_paths(repository, name))
    if not tag:
        raise ImageError(f"no commit up to {head} changed {', '.join(source_paths(repository, name))}")
    return tag


def changed_images(repository: Path, base: str | None, head: str) -> list[str]:
    """The images whose sources changed between `base` and `head`; every image without a usable base (a first
    push, a manual run, or a base the history lacks)."""
    names = image_names(repository)
    if not base or NO_COMMIT.match(base):
        return names
    try:
        _git(repository, "cat-file", "-e", f"{base}^{{commit}}")
    except ImageError:
        return names
    changed = _git(repository, "diff", "--name-only", base, head, "--", IMAGES_DIR).splitlines()
    return [
        name
        for name in names
        if any(
            path == source or path.startswith(f"{source}/")
            for source in source_paths(repository, name)
            for path in changed
        )
    ]


def targets(environments: Path) -> list[Target]:
    """Every environment's registry for the default images, in file name order."""
    found = []
    for path in sorted(environments.glob("Pulumi.*.yaml")):
        env = load_stack_file(path)
        found.append(Target(env.name, env.target, default_images_registry(env)))
    return found


def plan(repository: Path, base: str | None, head: str) -> dict[str, object]:
    """What the images workflow builds (name and tag of each image a push changed) and where it pushes them."""
    names = changed_images(repository, base, head)
    unknown = sorted(set(image_names(repository)) - set(DEFAULT_IMAGES))
    if unknown:
        raise ImageError(f"{', '.join(unknown)}: not in infra/catalog.py DEFAULT_IMAGES; add each image there")
    environments = repository / "environments"
    every = targets(environments)
    return {
        "images": [{"name": name, "tag": build_tag(repository, name, head)} for name in names],
        "gke": [t.environment for t in every if t.target == "gke"],
        "onprem": [t.environment for t in every if t.target == "onprem"],
        "registries": {t.environment: t.registry for t in every},
        "first_stage": promotion_order(environments)[0],
    }


# --- pinning an environment to builds --------------------------------------------------------------------------


def parse_builds(arguments: Sequence[str]) -> dict[str, str]:
    """`NAME=BUILD` arguments (BUILD: a 40-hex commit, optionally @sha256:<digest>) by image name."""
    builds: dict[str, str] = {}
    for argument in arguments:
        name, _, build = argument.partition("=")
        if name not in DEFAULT_IMAGES:
            raise ImageError(f"{argument}: {name!r} is not a default image ({', '.join(DEFAULT_IMAGES)})")
        if not BUILD.match(build):
            raise ImageError(f"{argument}: the build must be a 40-hex commit, optionally @sha256:<64 hex digits>")
        builds[name] = build
    return builds


def pin(repository: Path, environment: str, builds: dict[str, str]) -> list[FileChange]:
    """The environment's stack file and app overlays with these builds: `defaultImages.tags` for the images the
    stack offers, the `images:` entry of every overlay of the environment that runs an app image from the
    environment's registry. Validated, not written."""
    stack_file = repository / "environments" / f"Pulumi.{environment}.yaml"
    if not stack_file.is_file():
        raise InvalidEnvironment(str(stack_file), [Violation("(file)", "no such stack file")])
    env = load_stack_file(stack_file)
    registry = default_images_registry(env)
    tags = dict(env.default_images.tags)
    tags.update({name: build for name, build in builds.items() if name in STACK_IMAGES})
    before = stack_file.read_text()
    after = with_default_image_tags(before, tags, str(stack_file))
    changes = [FileChange(stack_file, f"environments/{stack_file.name}", before, after)]
    app_builds = {name: build for name, build in builds.items() if name in APP_IMAGES}
    for overlay in sorted((repository / "apps").glob(f"*/overlays/{environment}/kustomization.yaml")):
        text = overlay.read_text()
        document = yaml.safe_load(text) or {}
        pins = {}
        for entry in document.get("images") or []:
            image = str(entry.get("newName", "")) if isinstance(entry, dict) else ""
            for name, build in app_builds.items():
                if image == f"{registry}/{name}":
                    match = BUILD.match(build)
                    assert match is not None  # parse_builds checked it
                    pins[str(entry["name"])] = {
                        key: value for key, value in (("newTag", match["tag"]), ("digest", match["digest"])) if value
                    }
        after_overlay = with_image_pins(text, pins, str(overlay))
        changes.append(FileChange(overlay, str(overlay.relative_to(repository)), text, after_overlay))
    load_stack_file_text(after, stack_file)
    return changes


def load_stack_file_text(text: str, path: Path) -> None:
    """`text` as the stack file `path` would load (InvalidEnvironment naming the file otherwise)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        copy.write_text(text)
        load_stack_file(copy)


# --- locks -------------------------------------------------------------------------------------------------------


def lock(repository: Path, name: str) -> Path:
    """Resolve images/<name>/requirements.txt with pip (Python 3.11, as the images run it) and write every
    package it installs, at its version, to images/<name>/constraints.txt (the Dockerfile installs with it)."""
    if sys.version_info[:2] != (3, 11):
        raise ImageError(f"lock with Python 3.11, the images' Python (this is {sys.version.split()[0]})")
    folder = (repository / IMAGES_DIR / name).resolve()
    if not (folder / "requirements.txt").is_file():
        raise ImageError(f"{folder / 'requirements.txt'} does not exist")
    report = folder / ".pip-report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--prefer-binary"]
    command += ["--report", str(report), "-r", "requirements.txt"]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageError(f"pip could not resolve {folder / 'requirements.txt'}: {result.stderr.strip()[-2000:]}")
    try:
        return write_constraints(folder, name, json.loads(report.read_text()))
    finally:
        report.unlink()


def write_constraints(folder: Path, name: str, report: dict[str, object]) -> Path:
    """constraints.txt from a pip installation report (`pip install --dry-run --report`)."""
    installs = report["install"]
    assert isinstance(installs, list)
    pins = sorted({(item["metadata"]["name"].lower(), item["metadata"]["version"]) for item in installs})
    lines = [
        f"# Every package images/{name}/requirements.txt installs, at the version pip resolved for Python 3.11 on",
        f"# linux/amd64. Generated by `python -m infra.gitops.default_images lock {name}`; do not edit by hand.",
        *(f"{package}=={version}" for package, version in pins),
    ]
    target = folder / "constraints.txt"
    target.write_text("\n".join(lines) + "\n")
    return target


# --- command line ------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.gitops.default_images", description=__doc__.split("\n")[0])
    parser.add_argument("--repository", type=Path, default=Path("."), help="the repository's root (default: .)")
    sub = parser.add_subparsers(dest="command", required=True)
    plan_parser = sub.add_parser("plan", help="the images a push changed, their tags and every environment's registry")
    plan_parser.add_argument("--base", default="", help="the commit before the push (empty: build every image)")
    plan_parser.add_argument("--head", default="HEAD", help="the pushed commit")
    pin_parser = sub.add_parser("pin", help="pin an environment to builds: NAME=COMMIT[@sha256:DIGEST] ...")
    pin_parser.add_argument("--env", required=True)
    pin_parser.add_argument("builds", nargs="+")
    lock_parser = sub.add_parser("lock", help="resolve images/NAME/requirements.txt into its constraints.txt")
    lock_parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "plan":
            print(json.dumps(plan(args.repository, args.base, args.head), sort_keys=True))
        elif args.command == "pin":
            for change in pin(args.repository, args.env, parse_builds(args.builds)):
                if change.before != change.after:
                    change.path.write_text(change.after)
                    print(f"pinned {change.name}")
        else:
            print(f"wrote {lock(args.repository, args.name)}")
    except (ImageError, InvalidEnvironment) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
