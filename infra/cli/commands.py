"""What each CLI command does; __main__.py only parses arguments and maps errors to exit codes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from infra.config import Environment, InvalidEnvironment, load_stack_file, stack_name
from infra.expand.caches import SHARED, Caches
from infra.expand.expansion import Expander, Expansion
from infra.expand.output import expansion_summary
from infra.offline.disk_writer import DiskWriter
from infra.offline.render import Rendered, render_stack, stack_files, summary, write
from infra.offline.validate import Finding

if TYPE_CHECKING:  # the apps, schema and posture stages are imported only when `check` runs
    from infra.expand.posture import AcceptedList, PlatformPosture
    from infra.expand.schemas import AllowlistUse
    from infra.gitops.apps import Overlay
    from infra.offline.checkov import ContentScan

REPO = Path(__file__).resolve().parents[2]
PUBLIC_CRD_SCHEMAS = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json"
SHARED_CRD_SCHEMAS = SHARED / "schemas" / "crds"
DEFAULT_CRD_SCHEMAS = str(SHARED_CRD_SCHEMAS) if SHARED_CRD_SCHEMAS.is_dir() else PUBLIC_CRD_SCHEMAS
CRD_ALLOWLIST = REPO / "policies" / "crd-allowlist.yaml"
CHECKOV_CONFIG = REPO / "policies" / "checkov" / "config.yaml"
CHECKOV_CUSTOM_CHECKS = REPO / "policies" / "checkov" / "custom_checks"
APPS_DIR = REPO / "apps"
WORKFLOWS_DIR = REPO / ".github" / "workflows"
SECRETS_ALLOWLIST = REPO / "policies" / "secrets-allowlist.yaml"
STAGES = (
    "expand",
    "values",
    "kubernetes",
    "crd",
    "ordering",
    "policy",
    "integrity",
    "admission",
    "convergence",
    "wiring",
    "capacity",
    "images",
    "mirrors",
    "apps",
    "secrets",
    "checkov",
)
REPOSITORY = "repository"
# `values` and `crd` here: allow-list entries that no environment needs (judged when every environment is checked).
REPOSITORY_STAGES = ("secrets", "values", "crd", "checkov")
SIDE_NICENESS = 5


class InvalidEnvironments(Exception):
    def __init__(self, errors: Sequence[InvalidEnvironment]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(error.report() for error in self.errors))


def render_all(environments: Path, names: Sequence[str]) -> Iterator[Rendered]:
    """Every requested environment rendered, one at a time (a fleet's results need not all be held at once).
    All are validated first, so one bad stack file means nothing is rendered."""
    validate_all(environments, names)
    for path in stack_files(environments, list(names)):
        yield render_stack(path)


def expanded_ahead(
    stacks: Iterable[Rendered], expander: Expander | None
) -> Iterator[tuple[Rendered, Expansion | None]]:
    """Each rendered stack with its expansion, made in a thread while the next stack renders: the expansion waits
    mostly on Helm's engine and kustomize, outside the interpreter lock, and the render is pure Python."""
    if expander is None:
        yield from ((stack, None) for stack in stacks)
        return
    with ThreadPoolExecutor(max_workers=1) as expanding:
        pending: tuple[Rendered, Future[Expansion]] | None = None
        for stack in stacks:
            future = expanding.submit(expander.expand, stack)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (stack, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def render(environments: Path, names: Sequence[str], out: Path, caches: Caches | None = None) -> int:
    """Render (and, with `caches`, expand) every requested environment; 1 if an expansion has problems."""
    expander = Expander(caches) if caches is not None else None
    problems = 0
    with DiskWriter() as writer:
        for rendered, expansion in expanded_ahead(render_all(environments, names), expander):
            target = write(rendered, out, writer, expansion)
            print(summary(rendered))
            if expansion is not None:
                print(expansion_summary(expansion))
                print(capacity_report(rendered, expansion))
                problems += sum(problem.severity == "error" for problem in expansion.problems)
            print(f"  written to {target}")
    if problems:
        print(f"render: {problems} expansion problem(s): what Argo CD would apply is not what was rendered here")
    return 1 if problems else 0


def capacity_report(rendered: Rendered, expansion: Expansion) -> str:
    """The environment's capacity and headroom, as `render` prints them."""
    from infra.expand.capacity import capacity_of, report
    from infra.expand.platform import Platform

    platform = Platform(rendered, expansion)
    return report(capacity_of(platform.env, platform.objects))


def pull(environments: Path, names: Sequence[str], caches: Caches) -> int:
    """Fill the chart and git caches with every source the requested environments use."""
    from infra.expand.existing import existing_sources
    from infra.expand.pull import pull_sources
    from infra.expand.sources import deployers

    stacks = list(render_all(environments, names))
    sources = [s for rendered in stacks for d in deployers(rendered) for s in d.sources]
    # The charts of the components the clusters already run, at their declared versions: `check` reads their CRDs.
    sources += [source for rendered in stacks for _, source, _ in existing_sources(rendered.env).values()]
    pulled = pull_sources(sources, caches)
    for item in pulled:
        print(f"{'pulled ' if item.fetched else 'present'} {item.label} -> {item.where}")
    print(f"charts pull: {sum(p.fetched for p in pulled)} fetched, {sum(not p.fetched for p in pulled)} already cached")
    return 0


@dataclass
class EnvironmentReport:
    stack: str
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stages: tuple[str, ...] = STAGES
    summaries: dict[str, str] = field(default_factory=dict)
    """A line more about a stage (checkov: checks passed, failed and accepted)."""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def table(self) -> str:
        lines = [f"{self.stack}", f"  {'stage':<11} {'checked':>7} {'errors':>6} {'advisory':>8}"]
        for stage in self.stages:
            if stage not in self.checked:
                lines.append(f"  {stage:<11} {'skipped':>7}")
                continue
            stage_findings = [f for f in self.findings if f.stage == stage]
            errors = sum(f.severity == "error" for f in stage_findings)
            lines.append(f"  {stage:<11} {self.checked[stage]:>7} {errors:>6} {len(stage_findings) - errors:>8}")
        for stage, line in self.summaries.items():
            lines.append(f"  {stage}: {line}")
        for finding in self.findings:
            lines.append(f"  - [{finding.stage}/{finding.severity}] {finding.object_ref}: {finding.message}")
        lines.append(f"  result: {'FAIL' if self.errors else 'ok'}")
        return "\n".join(lines)


def preinstalled_crds(env: Environment) -> list[str]:
    """CRD groups that exist before any Application syncs: Argo CD's, the cluster layer's (e.g. Cilium) and those
    of the components the cluster already runs."""
    from infra.cluster import cni_of
    from infra.cluster.facts import cluster_crd_groups
    from infra.components import BOOTSTRAP, COMPONENTS

    existing = [entry for c in COMPONENTS if c.existing(env) for entry in c.spec.provides_crds]
    return [*BOOTSTRAP.spec.provides_crds, *cluster_crd_groups(cni_of(env)), *existing]


def check(
    environments: Path,
    names: Sequence[str],
    out: Path,
    crd_schemas: str,
    with_checkov: bool = True,
    caches: Caches | None = None,
) -> int:
    from infra.expand.posture import load_accepted, posture_findings
    from infra.expand.schemas import AllowlistUse
    from infra.expand.values.stage import default_allowlist, unused_entries
    from infra.gitops.apps import build_overlays
    from infra.offline.checkov import ContentScan, WarmCheckov, scan_findings, workflow_arguments

    validate_all(environments, names)
    allowlist = default_allowlist()  # a malformed allow-list stops `check` before any render
    crd_allowlist = load_crd_allowlist()
    accepted = load_accepted()
    content_scan = ContentScan.default()
    postures: dict[str, PlatformPosture] = {}
    expander = Expander(caches or Caches.from_environment())
    paths = stack_files(environments, list(names))
    every_environment = set(paths) == set(stack_files(environments, []))
    reports: dict[str, EnvironmentReport] = {}
    manifest_dirs: dict[str, Path] = {}
    repository = EnvironmentReport(REPOSITORY, stages=REPOSITORY_STAGES)
    # The main process renders and validates one environment after the other. Meanwhile the second core scans
    # for secrets (a process of its own: the repository, then each environment once written), builds the app
    # overlays (kustomize subprocesses) and imports checkov, whose scans run once every manifest is written.
    # The side work runs at a lower priority: the renders are the longest chain, and everything else fits in the
    # time they take.
    spawn = multiprocessing.get_context("spawn")
    checkov = WarmCheckov(niceness=SIDE_NICENESS) if with_checkov else None
    try:
        with (
            ProcessPoolExecutor(
                max_workers=1, mp_context=spawn, initializer=os.nice, initargs=(SIDE_NICENESS,)
            ) as side,
            ThreadPoolExecutor(max_workers=2) as waits,
        ):
            repository_scan = side.submit(_repository_secrets)
            builds = {stack_name(path): waits.submit(build_overlays, APPS_DIR, stack_name(path)) for path in paths}
            secret_scans: dict[str, Future[tuple[list[Finding], int]]] = {}
            allowlist_use = AllowlistUse()
            for stack, expansion in expanded_ahead((render_stack(path) for path in paths), expander):
                assert expansion is not None
                posture = (content_scan, checkov.kinds(), postures) if checkov is not None else None
                reports[stack.stack] = _check_rendered(
                    stack,
                    expansion,
                    expander,
                    out,
                    crd_schemas,
                    builds[stack.stack],
                    manifest_dirs,
                    allowlist_use,
                    posture,
                    accepted,
                )
                for key in (stack.stack, f"{stack.stack}/apps"):
                    if key in manifest_dirs:
                        secret_scans[key] = side.submit(_directory_secrets, manifest_dirs[key])
            if checkov is not None:
                workflows = _workflows_dir()
                scans = [workflow_arguments(workflows)] if workflows is not None else []
                checkov_run = waits.submit(content_scan.run, checkov, scans)
            # The renders are done: the main process takes over the scans the side process has not started.
            taken_over = {
                key: _directory_secrets(manifest_dirs[key])
                for key in reversed(secret_scans)
                if secret_scans[key].cancel()
            }
            for key, scan in secret_scans.items():
                report = reports[key.split("/")[0]]
                findings, files = taken_over[key] if key in taken_over else scan.result()
                report.findings += findings
                report.checked["secrets"] = report.checked.get("secrets", 0) + files
            repository.findings += repository_scan.result()[0]
            repository.checked["secrets"] = repository_scan.result()[1]
            if every_environment:
                repository.findings += unused_entries(allowlist)
                repository.checked["values"] = len(allowlist.entries)
                # A CRD allow-list entry that let nothing through in any environment has rotted.
                repository.findings += allowlist_use.stale(crd_allowlist, str(CRD_ALLOWLIST.relative_to(REPO)))
                repository.checked["crd"] = len(crd_allowlist)
            workflow_findings: list[Finding] = []
            if checkov is not None:
                run = checkov_run.result()
                if run.scans:
                    workflow_findings = scan_findings(*run.scans[0])
                for name, posture in postures.items():
                    findings, counts = posture_findings(posture, content_scan, accepted)
                    reports[name].findings += findings
                    reports[name].checked["checkov"] = counts.objects
                    reports[name].summaries["checkov"] = counts.summary()
                if every_environment:
                    repository.findings += accepted.stale()
                    repository.checked["checkov"] = len(accepted.entries)
                _print_workflows(workflow_findings)
                print(
                    f"checkov: {content_scan.scanned} distinct objects and units scanned, the rest from its cache "
                    f"({content_scan.cache or 'off'})"
                )
    finally:
        if checkov is not None:
            checkov.close()
    for report in [*reports.values(), repository]:
        print(report.table())
    failed = [stack for stack, report in reports.items() if report.errors]
    print(
        f"check: {len(reports) - len(failed)} of {len(reports)} environments clean"
        + (f"; failing: {', '.join(failed)}" if failed else "")
        + ("; repository checks failing" if repository.errors else "")
    )
    return 1 if failed or workflow_findings or repository.errors else 0


def _check_rendered(
    stack: Rendered,
    expansion: Expansion,
    expander: Expander,
    out: Path,
    crd_schemas: str,
    overlays: Future[list[Overlay]],
    manifest_dirs: dict[str, Path],
    allowlist_use: AllowlistUse | None = None,
    posture: tuple[ContentScan, frozenset[str] | None, dict[str, PlatformPosture]] | None = None,
    accepted: AcceptedList | None = None,
) -> EnvironmentReport:
    """The stages that need the rendered stack and what its Applications apply: the expansion itself, schemas,
    ordering, policies, integrity, Pod Security admission, convergence with runtime writers, wiring, capacity, and
    the app overlays."""
    from infra.expand.admission import admission_findings
    from infra.expand.capacity import capacity_findings
    from infra.expand.convergence import convergence_findings
    from infra.expand.expansion import EXPANSION
    from infra.expand.images import images_findings
    from infra.expand.integrity import integrity_findings
    from infra.expand.mirrors import mirrors_findings
    from infra.expand.platform import STACK, Platform
    from infra.expand.schemas import PlatformValidator, schema_findings
    from infra.expand.values.stage import values_findings
    from infra.expand.wiring import wiring_findings
    from infra.gitops.apps import check_overlays
    from infra.offline.policy import object_policy_findings, run_policies
    from infra.platform.ordering import ordering_problems

    platform = Platform(stack, expansion)
    if posture is not None:  # checkov's scans are asked for now, and run once every environment is known
        from infra.expand.posture import request_scans

        scan, kinds, postures = posture
        postures[stack.stack] = request_scans(platform, scan, kinds)
    # The expanded objects are checked in memory; `render --expand` writes them for people to read.
    manifest_dirs[stack.stack] = write(stack, out) / "manifests"
    report = EnvironmentReport(stack.stack)
    report.findings += [
        Finding("expand", f"{problem.deployer}: {problem.subject}", problem.message, problem.severity)
        for problem in expansion.problems
        if problem.kind == EXPANSION  # the chart's schema and template errors are the values stage's
    ]
    report.checked["expand"] = len(expansion.all_objects())
    values, report.checked["values"] = values_findings(platform, expander)
    report.findings += values
    integrity, report.checked["integrity"] = integrity_findings(platform)
    report.findings += integrity
    admission, report.checked["admission"] = admission_findings(platform)
    report.findings += admission
    convergence, report.checked["convergence"] = convergence_findings(platform)
    report.findings += convergence
    wiring, report.checked["wiring"] = wiring_findings(platform)
    report.findings += wiring
    capacity, report.checked["capacity"] = capacity_findings(platform)
    report.findings += capacity
    images, report.checked["images"] = images_findings(platform)
    report.findings += images
    if stack.env.mirrors.enabled:
        mirrored, report.checked["mirrors"] = mirrors_findings(platform, expander)
        report.findings += mirrored
    # Schemas of every object of the platform: built-in kinds at the environment's Kubernetes version, custom
    # resources against the CRDs the platform installs (the app overlays' too).
    validator = PlatformValidator.of(platform, crd_schemas, load_crd_allowlist())
    for stage, (findings, count) in schema_findings(platform, validator).items():
        report.findings += findings
        report.checked[stage] = count
    objects = [manifest.object for manifest in stack.manifests]
    problems = ordering_problems(objects, preinstalled_crds(stack.env))
    report.findings += [Finding("ordering", stack.stack, problem) for problem in problems]
    report.checked["ordering"] = len(objects)
    report.findings += run_policies(stack.run.resources)
    # CrossGuard's Kubernetes rules over what the Applications and Helm releases apply, with the reviewed list.
    expanded = [item for item in platform.objects if item.owner != STACK]

    def accepts(ref: str, rule: str) -> bool:
        return accepted is not None and accepted.accepts(ref, rule, stack.stack) is not None

    report.findings += object_policy_findings(stack.stack, expanded, stack.run.resources, accepts)
    report.checked["policy"] = len(stack.run.resources) + len(expanded)
    # The ML applications Argo CD syncs into this environment, built from apps/*/overlays/<env>.
    apps_out = out / stack.stack / "apps"
    app_findings, report.checked["apps"] = check_overlays(
        APPS_DIR, stack.stack, objects, validator, apps_out, overlays.result()
    )
    report.findings += app_findings
    if apps_out.is_dir():  # for the secret scan; checkov reads the apps' objects from the platform
        manifest_dirs[f"{stack.stack}/apps"] = apps_out
    if allowlist_use is not None:
        allowlist_use.record(platform, validator)
    return report


def images(environments: Path, names: Sequence[str], caches: Caches) -> int:
    """Every container image each environment runs, with where it comes from; 1 if one is refused."""
    from infra.expand.images import image_problems, listing, platform_images
    from infra.expand.platform import Platform

    refused = 0
    for rendered, expansion in expanded_ahead(render_all(environments, names), Expander(caches)):
        assert expansion is not None
        found = platform_images(Platform(rendered, expansion))
        problems = image_problems(found)
        print(f"{rendered.stack}: {len(found.by_reference())} images, {len(found.unseen)} set of images not named")
        for line in listing(found):
            print(line)
        for use, message in problems:
            print(f"  - [images/error] {use.object_ref} {use.field}: {message}")
        refused += len(problems)
    return 1 if refused else 0


def mirror(environments: Path, name: str, out: Path, caches: Caches) -> int:
    """Write what must be copied into `name`'s mirrors (charts, images, git repositories at their tags) as files
    that helm, skopeo (or crane) and git consume; 1 if the environment has no mirrors."""
    import tempfile

    from infra.expand.mirrors import mirror_plan, mirrors_without, write_plan
    from infra.expand.platform import Platform

    validate_all(environments, [name])
    (path,) = stack_files(environments, [name])
    env = load_stack_file(path)
    if not env.mirrors.enabled:
        print(
            f"mirror: {name} has no mirrors (set `mirrors` in {path.name}: docs/installing-without-internet.md)",
            file=sys.stderr,
        )
        return 1
    # Rendered without its mirrors, the environment names every source as upstream does: what to copy from.
    with tempfile.TemporaryDirectory(prefix="mlops-mirror-") as scratch:
        upstream = Path(scratch) / path.name
        upstream.write_text(yaml.safe_dump(mirrors_without(yaml.safe_load(path.read_text()))))
        rendered = render_stack(upstream)
    expander = Expander(caches)
    platform = Platform(rendered, expander.expand(rendered))
    plan = mirror_plan(platform, expander, env.mirrors)
    written = write_plan(plan, out / name)
    print(
        f"mirror {name}: {len(plan.charts)} charts, {len(plan.images)} images, {len(plan.git)} git repositories at "
        f"their tags, {len(plan.unseen)} sets of images operators pick themselves (unseen.txt)"
    )
    for path_written in written:
        print(f"  wrote {path_written}")
    return 0


def validate_all(environments: Path, names: Sequence[str]) -> None:
    """Every requested environment is valid, or InvalidEnvironments naming every problem."""
    errors = []
    for path in stack_files(environments, list(names)):
        try:
            load_stack_file(path)
        except InvalidEnvironment as error:
            errors.append(error)
    if errors:
        raise InvalidEnvironments(errors)


def _directory_secrets(directory: Path) -> tuple[list[Finding], int]:
    from infra.offline.secrets import load_allowlist, scan_directory

    return scan_directory(directory, load_allowlist(SECRETS_ALLOWLIST)), sum(
        1 for p in directory.rglob("*") if p.is_file()
    )


def _repository_secrets() -> tuple[list[Finding], int]:
    from infra.offline.secrets import load_allowlist, repository_files, scan

    tracked = repository_files(REPO, SECRETS_ALLOWLIST)
    return scan(tracked, REPO, load_allowlist(SECRETS_ALLOWLIST)), len(tracked)


def _workflows_dir() -> Path | None:
    """The CI workflows, which checkov's github_actions checks (pinned actions, no injectable inputs, ...)."""
    return WORKFLOWS_DIR if WORKFLOWS_DIR.is_dir() else None


def _print_workflows(findings: list[Finding]) -> None:
    count = sum(1 for _ in WORKFLOWS_DIR.glob("*.y*ml")) if WORKFLOWS_DIR.is_dir() else 0
    print(f"workflows (.github/workflows, checkov github_actions): {count} files, {len(findings)} errors")
    for finding in findings:
        print(f"  - [checkov/error] {finding.object_ref}: {finding.message}")


def load_crd_allowlist() -> dict[str, str]:
    """policies/crd-allowlist.yaml: `group/Kind: reason`; ValueError naming the file and entry when malformed."""
    data = yaml.safe_load(CRD_ALLOWLIST.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{CRD_ALLOWLIST}: must map `group/Kind` to a reason, not {type(data).__name__}")
    for key, reason in data.items():
        if not isinstance(key, str) or "/" not in key or not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{CRD_ALLOWLIST}: entry {key!r} must be `group/Kind: <reason>` with a reason")
    return dict(data)


def docs(environments: Path, caches: Caches) -> int:
    from infra.config.docs import write_generated
    from infra.expand.platform import Platform
    from infra.gitops.docs import write_delivery_docs
    from infra.gitops.environment_pages import write_environment_pages

    expander = Expander(caches)
    platforms = (
        Platform(stack, expansion)
        for stack, expansion in expanded_ahead(render_all(environments, []), expander)
        if expansion is not None
    )
    for path in [*write_generated(), write_delivery_docs(), *write_environment_pages(platforms)]:
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def promote(
    environments: Path,
    source: str,
    target: str,
    dry_run: bool,
    force: bool,
    caches: Caches | None = None,
    output: Path | None = None,
) -> int:
    """Promote SRC's pins into DST; with `dry_run`, print the change and, with `caches`, what it does in DST's
    cluster (the expanded diff; `output` receives the complete one)."""
    from infra.gitops.promote import PromotionRefused, apply, impact, plan

    try:
        promotion = plan(environments, source, target, force)
    except PromotionRefused as refused:
        print(f"promote: refused: {refused}; pass --force to promote anyway", file=sys.stderr)
        return 1
    if not promotion.changed:
        print(f"promote: {target} already has the pins of {source}; nothing to change")
        return 0
    if dry_run:
        print(promotion.diff(), end="")
        if caches is not None:
            from infra.gitops.diff_markdown import comment, markdown

            effect = impact(promotion, Expander(caches), environments.parent)
            title = f"{target} with {source}'s pins"
            if output is not None:
                output.write_text(markdown([effect], title))
            print()
            print(comment([effect], title, complete=str(output) if output else None), end="")
        return 0
    apply(promotion)
    for change in promotion.files:
        if change.before != change.after:
            print(f"promote: wrote {source}'s pins into {change.name}")
    return 0


def diff(
    repo: Path,
    base: str,
    names: Sequence[str],
    output: Path | None,
    comment_file: Path | None = None,
    artifact_url: str | None = None,
    expand: bool = True,
    pull: bool = False,
) -> int:
    """The rendered diff against `base`: the comment (summary and first changes) on stdout and in `comment_file`,
    the complete diff in `output`."""
    from infra.gitops.diff import WorkingTreeInvalid, diff_against
    from infra.gitops.diff_markdown import comment, markdown

    try:
        diffs, errors = diff_against(repo, base, names, expand, pull)
    except WorkingTreeInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 2
    if output is not None:
        output.write_text(markdown(diffs, base, errors))
    text = comment(diffs, base, errors, artifact_url, complete=str(output) if output else None)
    if comment_file is not None:
        comment_file.write_text(text)
    print(text, end="")
    return 0
