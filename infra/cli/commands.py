"""What each CLI command does; __main__.py only parses arguments and maps errors to exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.config import InvalidEnvironment, load_stack_file
from infra.offline.render import Rendered, render_stack, stack_files, summary, write
from infra.offline.validate import Finding

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CRD_SCHEMAS = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json"
CRD_ALLOWLIST = REPO / "policies" / "crd-allowlist.yaml"
CHECKOV_CONFIG = REPO / "policies" / "checkov" / "config.yaml"
CHECKOV_CUSTOM_CHECKS = REPO / "policies" / "checkov" / "custom_checks"
SECRETS_ALLOWLIST = REPO / "policies" / "secrets-allowlist.yaml"
WORKFLOWS = REPO / ".github" / "workflows"
STAGES = ("kubernetes", "crd", "ordering", "policy", "secrets", "checkov")
REPOSITORY = "repository"
REPOSITORY_STAGES = ("secrets", "checkov")


class InvalidEnvironments(Exception):
    def __init__(self, errors: Sequence[InvalidEnvironment]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(error.report() for error in self.errors))


def render_all(environments: Path, names: Sequence[str]) -> list[Rendered]:
    """Validate every requested environment first, so one bad stack file means nothing is rendered."""
    files = stack_files(environments, list(names))
    errors = []
    for path in files:
        try:
            load_stack_file(path)
        except InvalidEnvironment as error:
            errors.append(error)
    if errors:
        raise InvalidEnvironments(errors)
    return [render_stack(path) for path in files]


def render(environments: Path, names: Sequence[str], out: Path) -> int:
    for rendered in render_all(environments, names):
        target = write(rendered, out)
        print(summary(rendered))
        print(f"  written to {target}")
    return 0


@dataclass
class EnvironmentReport:
    stack: str
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stages: tuple[str, ...] = STAGES

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
        for finding in self.findings:
            lines.append(f"  - [{finding.stage}/{finding.severity}] {finding.object_ref}: {finding.message}")
        lines.append(f"  result: {'FAIL' if self.errors else 'ok'}")
        return "\n".join(lines)


def check(environments: Path, names: Sequence[str], out: Path, crd_schemas: str, with_checkov: bool = True) -> int:
    from infra.components import BOOTSTRAP
    from infra.offline.policy import run_policies
    from infra.offline.secrets import load_allowlist, repository_files, scan, scan_directory
    from infra.offline.validate import ManifestValidator
    from infra.platform.ordering import ordering_problems

    rendered = render_all(environments, names)
    allowlist = load_crd_allowlist()
    secrets_allowlist = load_allowlist(SECRETS_ALLOWLIST)
    reports: dict[str, EnvironmentReport] = {}
    manifest_dirs: dict[str, Path] = {}
    for stack in rendered:
        manifest_dirs[stack.stack] = write(stack, out) / "manifests"
        report = reports[stack.stack] = EnvironmentReport(stack.stack)
        validator = ManifestValidator(stack.env.kubernetes_version, crd_schemas, allowlist)
        objects = [manifest.object for manifest in stack.manifests]
        for manifest in stack.manifests:
            report.findings += validator.validate(manifest.object)
        custom = sum(is_custom_resource(m.object["apiVersion"]) for m in stack.manifests)
        report.checked["kubernetes"] = len(objects) - custom
        report.checked["crd"] = custom
        problems = ordering_problems(objects, BOOTSTRAP.spec.provides_crds)
        report.findings += [Finding("ordering", stack.stack, problem) for problem in problems]
        report.checked["ordering"] = len(objects)
        report.findings += run_policies(stack.run.resources)
        report.checked["policy"] = len(stack.run.resources)
    repository = EnvironmentReport(REPOSITORY, stages=REPOSITORY_STAGES)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # checkov is a subprocess of several seconds: the secret scan runs meanwhile.
        checkov_run = pool.submit(_checkov_findings, manifest_dirs) if with_checkov else None
        for stack, directory in manifest_dirs.items():
            reports[stack].findings += scan_directory(directory, secrets_allowlist)
            reports[stack].checked["secrets"] = sum(1 for p in directory.rglob("*") if p.is_file())
        files = repository_files(REPO, SECRETS_ALLOWLIST)
        repository.findings += scan(files, REPO, secrets_allowlist)
        repository.checked["secrets"] = len(files)
        if checkov_run is not None:
            for key, findings in checkov_run.result().items():
                target = repository if key == REPOSITORY else reports[key]
                target.findings += findings
                source = WORKFLOWS if key == REPOSITORY else manifest_dirs[key]
                target.checked["checkov"] = sum(1 for _ in source.rglob("*.y*ml"))
    for report in [*reports.values(), repository]:
        print(report.table())
    failed = [stack for stack, report in reports.items() if report.errors]
    print(
        f"check: {len(reports) - len(failed)} of {len(reports)} environments clean"
        + (f"; failing: {', '.join(failed)}" if failed else "")
        + ("; repository checks failing" if repository.errors else "")
    )
    return 1 if failed or repository.errors else 0


def _checkov_findings(manifest_dirs: dict[str, Path]) -> dict[str, list[Finding]]:
    """One checkov run over every environment's manifests and the GitHub workflows (key `repository`)."""
    from infra.offline.checkov import run_checkov

    dirs = {**manifest_dirs, **({REPOSITORY: WORKFLOWS} if WORKFLOWS.is_dir() else {})}
    return run_checkov(dirs, CHECKOV_CONFIG, CHECKOV_CUSTOM_CHECKS, frameworks=("kubernetes", "github_actions"))


def is_custom_resource(api_version: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return "." in group and not group.endswith(".k8s.io")


def load_crd_allowlist() -> dict[str, str]:
    data = yaml.safe_load(CRD_ALLOWLIST.read_text()) or {}
    return {str(key): str(reason) for key, reason in data.items()}


def docs() -> int:
    from infra.config.docs import write_generated

    for path in write_generated():
        print(f"wrote {path.relative_to(REPO)}")
    return 0
