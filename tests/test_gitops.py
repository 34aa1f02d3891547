"""GitOps delivery: promotion between stack files, rendered diffs between git refs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli import commands
from infra.cli.__main__ import main
from infra.cluster.onprem import MINIO_ENDPOINT, OBJECT_STORE_CREDENTIALS
from infra.config import CONFIG_KEY, InvalidEnvironment, load_environment, load_stack_file
from infra.config.derived import bucket_names
from infra.expand import kustomize
from infra.gitops import apps, diff_markdown
from infra.gitops import diff as rendered_diff
from infra.gitops.docs import DELIVERY_DOCS, delivery_text
from infra.gitops.promote import PromotionRefused, check_order
from infra.offline.render import Rendered, render_stack
from infra.offline.serialize import plain
from infra.offline.validate import ManifestValidator
from infra.platform.argocd_app import sync_policy
from infra.platform.component import ComponentSpec

from .conftest import ENV_NAMES

REPO = Path(__file__).resolve().parents[1]
# The runner build the scheduled-notebook overlays pin (the images workflow's tag: a commit of images/).
RUNNER_TAG = yaml.safe_load((REPO / "apps/scheduled-notebooks/overlays/dev/kustomization.yaml").read_text())["images"][
    0
]["newTag"]
ORDER = ["dev", "staging", "prod"]


@pytest.fixture
def environments(tmp_path: Path) -> Path:
    """A copy of the real stack files and apps, with dev pinning two versions staging does not have."""
    target = tmp_path / "environments"
    shutil.copytree(REPO / "environments", target)
    shutil.copytree(REPO / "apps", tmp_path / "apps")
    dev = target / "Pulumi.dev.yaml"
    dev.write_text(
        dev.read_text().replace(
            "      kube-prometheus-stack: 88.5.3\n",
            "      kube-prometheus-stack: 88.6.0\n      cert-manager: v1.21.2\n",
        )
    )
    return target


def test_promotion_copies_only_the_pins_and_keeps_comments(environments: Path) -> None:
    staging, prod = environments / "Pulumi.staging.yaml", environments / "Pulumi.prod.yaml"
    before, prod_before = staging.read_text(), prod.read_text()
    assert main(["promote", "dev", "staging", "--environments", str(environments)]) == 0
    after = staging.read_text()
    assert "kube-prometheus-stack: 88.6.0" in after and "cert-manager: v1.21.2" in after
    assert prod.read_text() == prod_before
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    assert removed == ["      kube-prometheus-stack: 88.5.3"]
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert sorted(added) == ["      cert-manager: v1.21.2", "      kube-prometheus-stack: 88.6.0"]
    assert all(line in after for line in before.splitlines() if line.lstrip().startswith("#"))


def test_promotion_copies_app_image_pins_to_the_next_stage_only(environments: Path) -> None:
    overlays = environments.parent / "apps" / "scheduled-notebooks" / "overlays"
    dev, staging, prod = (overlays / env / "kustomization.yaml" for env in ("dev", "staging", "prod"))
    dev.write_text(dev.read_text().replace(f'newTag: "{RUNNER_TAG}"', 'newTag: "1.2.0"'))
    before, prod_before = staging.read_text(), prod.read_text()
    assert main(["promote", "dev", "staging", "--environments", str(environments)]) == 0
    after = staging.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b.strip() for _, b in changed] in (["newTag: 1.2.0"], ['newTag: "1.2.0"'])
    assert prod.read_text() == prod_before
    serving = overlays.parents[1] / "model-serving" / "overlays" / "staging" / "kustomization.yaml"
    assert (
        serving.read_text()
        == (REPO / "apps" / "model-serving" / "overlays" / "staging" / "kustomization.yaml").read_text()
    )


def test_promotion_removes_pins_the_source_does_not_have(environments: Path) -> None:
    staging = environments / "Pulumi.staging.yaml"
    prod = environments / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("versions: {}", "versions:\n      cert-manager: v1.20.3"))
    staging.write_text(staging.read_text().replace("      kube-prometheus-stack: 88.5.3\n", ""))
    staging.write_text(staging.read_text().replace("    versions:\n", "    versions: {}\n"))
    assert main(["promote", "staging", "prod", "--environments", str(environments)]) == 0
    assert "cert-manager: v1.20.3" not in prod.read_text()
    assert "versions: {}" in prod.read_text()


def test_dry_run_prints_a_diff_and_writes_nothing(environments: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staging = environments / "Pulumi.staging.yaml"
    before = staging.read_text()
    assert main(["promote", "dev", "staging", "--dry-run", "--no-expand", "--environments", str(environments)]) == 0
    out = capsys.readouterr().out
    assert "--- a/environments/Pulumi.staging.yaml" in out
    assert "-      kube-prometheus-stack: 88.5.3" in out and "+      kube-prometheus-stack: 88.6.0" in out
    assert staging.read_text() == before


def test_skipping_a_stage_is_refused_unless_forced(environments: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = environments / "Pulumi.prod.yaml"
    before = prod.read_text()
    assert main(["promote", "dev", "prod", "--environments", str(environments)]) == 1
    assert "skips staging" in capsys.readouterr().err
    assert prod.read_text() == before
    assert main(["promote", "dev", "prod", "--force", "--environments", str(environments)]) == 0
    assert "kube-prometheus-stack: 88.6.0" in prod.read_text()


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        ("staging", "dev", "backwards"),
        ("dev", "onprem", "not in the promotion order"),
        ("dev", "onprem-traefik", "not in the promotion order"),
        ("onprem", "onprem-traefik", "not in the promotion order"),
        ("dev", "dev", "itself"),
    ],
)
def test_order_rules(source: str, target: str, reason: str) -> None:
    with pytest.raises(PromotionRefused, match=reason):
        check_order(ORDER, source, target)


def test_promotion_that_would_make_the_target_invalid_writes_nothing(
    environments: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = environments / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("cert-manager: v1.21.2", "cert-manager: latest"))
    staging = environments / "Pulumi.staging.yaml"
    before = staging.read_text()
    assert main(["promote", "dev", "staging", "--environments", str(environments)]) == 2
    assert "mlops-platform:platform.versions.cert-manager" in capsys.readouterr().err
    assert staging.read_text() == before


# --- diff ------------------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway git repository holding the program and the stack files, one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "environments", root / "environments")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return root


def test_diff_reports_added_removed_and_changed_fields(repo: Path) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    text = dev.read_text().replace("kube-prometheus-stack: 88.5.3", "kube-prometheus-stack: 88.6.0")
    dev.write_text(text.replace("      keda:\n", "      keda:\n        enabled: false\n", 1))
    diffs, errors = rendered_diff.diff_against(repo, "HEAD", ["dev"], expand=False)
    assert errors == {}
    (env,) = diffs
    assert any("Application argocd/keda" in ref for ref in env.kubernetes.removed)
    assert any(ref.endswith("Namespace keda") for ref in env.kubernetes.removed)
    changed = {change.ref: change for change in env.kubernetes.changed}
    app = changed["argoproj.io/v1alpha1 Application argocd/kube-prometheus-stack"]
    assert ("spec.source.targetRevision", "88.5.3", "88.6.0") in app.fields
    text = diff_markdown.markdown(diffs, "HEAD", errors)
    assert text.startswith(diff_markdown.COMMENT_MARKER)
    assert "`spec.source.targetRevision`: `88.5.3` → `88.6.0`" in text
    assert "removed `v1 Namespace keda`" in text


def test_compare_renders_names_added_objects_and_changed_cloud_inputs(tmp_path: Path) -> None:
    def write(side: str, objects: dict[str, str], inventory: str) -> None:
        stack = tmp_path / side / "dev"
        (stack / "manifests" / "ns").mkdir(parents=True)
        for name, body in objects.items():
            (stack / "manifests" / "ns" / name).write_text(body)
        (stack / "inventory.yaml").write_text(inventory)

    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: ns}\ndata: {k: '%s'}\n"
    bucket = "resources:\n- {type: 'gcp:storage/bucket:Bucket', name: artifacts, inputs: {location: %s}}\n"
    write("base", {"a.yaml": config_map % ("a", "1")}, bucket % "EU")
    write("head", {"a.yaml": config_map % ("a", "2"), "b.yaml": config_map % ("b", "1")}, bucket % "US")
    (env,) = rendered_diff.compare_renders(tmp_path / "base", tmp_path / "head")
    assert env.kubernetes.added == ["v1 ConfigMap ns/b"]
    assert env.kubernetes.changed[0].fields == (("data.k", "1", "2"),)
    assert env.resources.changed[0].ref == "gcp:storage/bucket:Bucket artifacts"
    assert env.resources.changed[0].fields == (("location", "EU", "US"),)


def test_diff_with_an_invalid_working_tree_exits_2_naming_the_path(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("provider: istio", "provider: nginx"))
    assert commands.diff(repo, "HEAD", ["dev"], None) == 2
    assert "mlops-platform:platform.ingress.provider: 'nginx' is not allowed" in capsys.readouterr().err


def test_base_that_does_not_render_counts_everything_as_added(repo: Path) -> None:
    dev = repo / "environments" / "Pulumi.dev.yaml"
    good = dev.read_text()
    dev.write_text(good.replace("provider: istio", "provider: nginx"))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "broken")
    dev.write_text(good)
    diffs, errors = rendered_diff.diff_against(repo, "HEAD", ["dev"], expand=False)
    assert "nginx" in errors["base"]
    assert diffs[0].note == "new environment" and diffs[0].kubernetes.added
    assert "did not render" in diff_markdown.markdown(diffs, "HEAD", errors)


def test_diff_of_an_unknown_ref_is_an_error_not_a_traceback(repo: Path) -> None:
    with pytest.raises(rendered_diff.RenderFailed, match="no-such-ref"):
        rendered_diff.diff_against(repo, "no-such-ref", ["dev"])


# --- Argo CD as the stack configures it -------------------------------------------------------------------


def _objects(rendered: dict[str, Rendered], env: str, kind: str) -> dict[str, dict[str, Any]]:
    return {m.object["metadata"]["name"]: m.object for m in rendered[env].manifests if m.object["kind"] == kind}


def _argocd_values(rendered: dict[str, Rendered], env: str) -> dict[str, Any]:
    release = next(r for r in rendered[env].run.resources if r.type == "kubernetes:helm.sh/v3:Release")
    return plain(release.inputs)["values"]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_delivery_objects_validate_against_their_crd_schemas(
    rendered: dict[str, Rendered], crd_schemas: str, env: str
) -> None:
    validator = ManifestValidator(rendered[env].env.kubernetes_version, crd_schemas, {})
    delivery = [
        m.object for m in rendered[env].manifests if m.object["kind"] in ("AppProject", "ApplicationSet", "Application")
    ]
    # The ApplicationSet of the ML applications exists where the environment lists some (argocd.apps).
    generated = {"ApplicationSet"} if rendered[env].env.argocd.apps else set()
    assert {o["kind"] for o in delivery} == {"AppProject", "Application", *generated}
    assert [finding for obj in delivery for finding in validator.validate(obj)] == []


@pytest.mark.parametrize("env", ENV_NAMES)
def test_application_set_syncs_the_environments_overlays_into_declared_namespaces(
    rendered: dict[str, Rendered], env: str
) -> None:
    settings = rendered[env].env
    # In a hub (argocd.mode hub) the names carry the environment's prefix.
    prefix = f"{env}-" if settings.argocd.mode == "hub" else ""
    if not settings.argocd.apps:
        assert f"{prefix}ml-apps" not in _objects(rendered, env, "ApplicationSet"), "an ApplicationSet without apps"
        return
    appset = _objects(rendered, env, "ApplicationSet")[f"{prefix}ml-apps"]
    (generator,) = appset["spec"]["generators"]
    assert generator["git"]["directories"] == [{"path": f"apps/{app}/overlays/{env}"} for app in settings.argocd.apps]
    assert generator["git"]["repoURL"] == settings.gitops.repo_url
    assert appset["spec"]["template"]["spec"]["project"] == f"{prefix}ml-apps"
    project = _objects(rendered, env, "AppProject")[f"{prefix}ml-apps"]["spec"]
    namespaces = {f"ml-{app}" for app in settings.argocd.apps}
    assert {d["namespace"] for d in project["destinations"]} == namespaces
    assert project["clusterResourceWhitelist"] == []
    created = _objects(rendered, env, "Namespace")
    for namespace in namespaces:
        assert created[namespace]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    denies = [
        m.object["metadata"]["namespace"]
        for m in rendered[env].manifests
        if m.object["kind"] == "NetworkPolicy" and m.object["metadata"]["name"] == "default-deny"
    ]
    assert namespaces <= set(denies)


def test_sso_secret_is_a_reference_and_rbac_comes_from_config(rendered: dict[str, Rendered]) -> None:
    values = _argocd_values(rendered, "prod")
    oidc = yaml.safe_load(values["configs"]["cm"]["oidc.config"])
    assert oidc["clientSecret"] == "$argocd-oidc:clientSecret"
    assert oidc["issuer"] == "https://idp.example.com/realms/platform"
    assert values["configs"]["cm"]["admin.enabled"] is False
    rbac = values["configs"]["rbac"]
    assert "g, platform-admins, role:admin" in rbac["policy.csv"].splitlines()
    assert "g, ml-engineers, role:ml-deployer" in rbac["policy.csv"].splitlines()
    assert rbac["policy.default"] == "role:readonly"
    dev = _argocd_values(rendered, "dev")["configs"]
    assert "oidc.config" not in dev["cm"] and dev["rbac"]["policy.default"] == ""


def test_prod_projects_carry_the_sync_windows_and_dev_has_none(rendered: dict[str, Rendered]) -> None:
    for name, project in _objects(rendered, "prod", "AppProject").items():
        (window,) = project["spec"]["syncWindows"]
        assert window["kind"] == "deny" and window["schedule"] == "0 18 * * 5" and window["manualSync"], name
    assert all(p["spec"]["syncWindows"] == [] for p in _objects(rendered, "dev", "AppProject").values())


def test_sync_mode_is_a_component_property(rendered: dict[str, Rendered]) -> None:
    apps = _objects(rendered, "dev", "Application")
    assert apps["cert-manager"]["spec"]["syncPolicy"]["automated"] == {"prune": False, "selfHeal": True}
    assert apps["kube-prometheus-stack"]["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in sync_policy("manual", [])
    with pytest.raises(ValueError, match="sync_reason"):
        ComponentSpec(name="x", layer="platform", namespace="x", sync="manual")


def test_manual_apps_sync_leaves_out_automated(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        (REPO / "environments" / "Pulumi.dev.yaml")
        .read_text()
        .replace(
            "    components:\n",
            "    argocd:\n      appsSync: manual\n      apps: [model-serving]\n    components:\n",
            1,
        )
    )
    rendered = render_stack(stack)
    appset = next(m.object for m in rendered.manifests if m.object["kind"] == "ApplicationSet")
    assert "automated" not in appset["spec"]["template"]["spec"]["syncPolicy"]
    namespaces = {m.object["metadata"]["name"] for m in rendered.manifests if m.object["kind"] == "Namespace"}
    assert "ml-model-serving" in namespaces and "ml-scheduled-notebooks" not in namespaces


@pytest.mark.parametrize(
    ("argocd", "expected"),
    [
        ({"adminEnabled": False}, "mlops-platform:platform.argocd.adminEnabled: may be false only when"),
        ({"rbac": {"bindings": [{"group": "g", "role": "admin"}]}}, "argocd.rbac.bindings: need argocd.sso"),
        (
            {"sso": {"issuer": "http://idp", "clientId": "c", "clientSecret": {"name": "s", "key": "k"}}},
            "argocd.sso.issuer",
        ),
        (
            {"syncWindows": [{"kind": "deny", "schedule": "weekends", "duration": "1h"}]},
            "syncWindows[0].schedule: 'weekends' is not a five-field cron expression",
        ),
    ],
)
def test_bad_argocd_settings_name_their_path(argocd: dict[str, Any], expected: str) -> None:
    raw = yaml.safe_load((REPO / "environments" / "Pulumi.dev.yaml").read_text())["config"][CONFIG_KEY]
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment({**raw, "argocd": argocd}, "dev")
    assert any(expected in str(v) for v in caught.value.violations), caught.value.report()


def test_delivery_docs_are_current() -> None:
    assert DELIVERY_DOCS.read_text() == delivery_text(), "run `python -m infra.cli docs`"


# --- apps/ overlays ------------------------------------------------------------------------------------------

needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")), reason="no kustomize (kubectl or kustomize)"
)


@needs_kustomize
@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_overlay_builds_and_validates(
    rendered: dict[str, Rendered], crd_schemas: str, env: str, tmp_path: Path
) -> None:
    overlays = apps.overlays(REPO / "apps", env)
    listed = set(rendered[env].env.argocd.apps)
    assert {path.parents[1].name for path in overlays} == listed
    # model-serving is a KServe InferenceService: listed only where KServe is installed (the GKE examples and the
    # on-prem one, which reads the model from MinIO). The small Traefik example lists no app.
    assert listed <= {"scheduled-notebooks", "model-serving"}
    assert "model-serving" not in listed or rendered[env].env.components.kserve.enabled
    if not listed:
        return
    validator = ManifestValidator(rendered[env].env.kubernetes_version, crd_schemas, {})
    objects = [m.object for m in rendered[env].manifests]
    findings, checked = apps.check_overlays(REPO / "apps", env, objects, validator, tmp_path)
    assert findings == [] and checked >= 4
    cronjob = yaml.safe_load((tmp_path / "scheduled-notebooks" / "cronjob-scheduled-notebook.yaml").read_text())
    assert cronjob["metadata"]["namespace"] == "ml-scheduled-notebooks"
    image = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f"/papermill-runner:{RUNNER_TAG}"), image


@needs_kustomize
def test_the_on_prem_model_is_read_from_minio_with_the_namespaces_s3_keys() -> None:
    """KServe's storage initializer takes the endpoint from the service account's annotations and the keys from
    the Secrets it lists: the cluster layer's object store, bucket and credentials Secret."""
    env = load_stack_file(REPO / "environments" / "Pulumi.onprem.yaml")
    overlay = apps.build(REPO / "apps" / "model-serving" / "overlays" / "onprem")
    assert overlay.error == ""
    by_kind = {obj["kind"]: obj for obj in overlay.objects}
    model = by_kind["InferenceService"]["spec"]["predictor"]["model"]
    artifacts = bucket_names(env.object_store.bucket_prefix, env.name)["artifacts"]
    assert model["storageUri"].startswith(f"s3://{artifacts}/")
    account = by_kind["ServiceAccount"]
    assert account["metadata"]["name"] == by_kind["InferenceService"]["spec"]["predictor"]["serviceAccountName"]
    annotations = account["metadata"]["annotations"]
    assert f"http://{annotations['serving.kserve.io/s3-endpoint']}" == MINIO_ENDPOINT
    assert annotations["serving.kserve.io/s3-usehttps"] == "0"
    assert account["secrets"] == [{"name": OBJECT_STORE_CREDENTIALS}]


@needs_kustomize
def test_overlay_breaking_the_project_rules_is_caught(
    rendered: dict[str, Rendered], crd_schemas: str, tmp_path: Path
) -> None:
    overlay = tmp_path / "apps" / "rogue" / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [policy.yaml, role.yaml]\nnamespace: ml-serving\n")
    (overlay / "policy.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open}\n"
        "spec: {podSelector: {}, ingress: [{}]}\n"
    )
    (overlay / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: everything}\n"
        "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n"
    )
    validator = ManifestValidator(rendered["dev"].env.kubernetes_version, crd_schemas, {})
    objects = [m.object for m in rendered["dev"].manifests]
    findings, _ = apps.check_overlays(tmp_path / "apps", "dev", objects, validator, tmp_path / "out")
    messages = "\n".join(f"{f.object_ref}: {f.message}" for f in findings)
    assert "namespace ml-rogue is not a destination of project ml-apps" in messages
    assert "kind NetworkPolicy is reserved to the platform" in messages
    assert "ClusterRole /everything" in messages or "ClusterRole everything: cluster-scoped" in messages
    assert "namespace ml-serving; objects of app rogue belong in ml-rogue" in messages


@needs_kustomize
def test_overlay_that_does_not_build_is_a_finding(
    rendered: dict[str, Rendered], crd_schemas: str, tmp_path: Path
) -> None:
    overlay = tmp_path / "apps" / "broken" / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    validator = ManifestValidator("1.34", crd_schemas, {})
    findings, _ = apps.check_overlays(tmp_path / "apps", "dev", [], validator, tmp_path / "out")
    assert any("kustomize build failed" in f.message for f in findings)


# --- GitHub Actions workflows --------------------------------------------------------------------------------

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yaml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _schema_check(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_workflows_validate_against_the_github_workflow_schema() -> None:
    assert {path.name for path in WORKFLOWS} >= {"pr.yaml", "deploy.yaml", "promote.yaml", "drift.yaml", "e2e.yaml"}
    result = _schema_check(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert _schema_check(broken).returncode != 0


def _uses(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield key, value
            else:
                yield from _uses(value)
    elif isinstance(node, list):
        for item in node:
            yield from _uses(item)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_permissions_least_privilege(workflow: Path) -> None:
    text = workflow.read_text()
    document = yaml.safe_load(text)
    assert document["permissions"] == {"contents": "read"}, "top-level permissions must be read-only"
    for _, action in _uses(document):
        if action.startswith("./"):
            continue
        assert PINNED.match(action), f"{action} is not pinned to a full commit SHA"
        line = next(line for line in text.splitlines() if action in line)
        assert re.search(r"# v\d+\.\d+\.\d+", line), f"{action}: add the version as a comment"
    assert "credentials_json" not in text, "GCP access by workload identity federation only"
    for job in document["jobs"].values():
        writes = {scope for scope, level in (job.get("permissions") or {}).items() if level == "write"}
        assert writes <= {"id-token", "pull-requests", "issues", "contents"}
        if "google-github-actions/auth@" in yaml.safe_dump(job):
            assert "id-token" in writes and "workload_identity_provider" in yaml.safe_dump(job)


def test_staging_and_prod_deploy_in_order_behind_their_environments() -> None:
    deploy = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yaml").read_text())
    jobs = deploy["jobs"]
    assert jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    reusable = yaml.safe_load((REPO / ".github" / "workflows" / "pulumi-stack.yaml").read_text())
    assert reusable["jobs"]["up"]["environment"] == "${{ inputs.stack }}"


def test_e2e_stack_file_is_a_valid_small_onprem_environment(tmp_path: Path) -> None:
    shutil.copy(REPO / "tests" / "e2e" / "Pulumi.e2e.yaml", tmp_path)
    env = load_stack_file(tmp_path / "Pulumi.e2e.yaml")
    assert env.target == "onprem" and not env.high_availability and not env.components.monitoring.enabled


def test_check_without_kustomize_fails_naming_what_to_install(
    tmp_path: Path, crd_schemas: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Kubeflow paths and the app overlays are kustomize builds: without kustomize the platform cannot be
    checked, and check says so instead of skipping them."""
    monkeypatch.delenv("MLOPS_KUSTOMIZE", raising=False)
    monkeypatch.setattr(kustomize.shutil, "which", lambda _: None)
    monkeypatch.setenv("MLOPS_EXPANSION_CACHE", "off")
    code = main(["check", "--env", "dev", "--out", str(tmp_path), "--crd-schemas", crd_schemas, "--skip-checkov"])
    assert code == 1
    assert "no kustomize found: install kubectl" in capsys.readouterr().err


def test_an_overlay_of_an_app_the_environment_does_not_list_is_not_synced(tmp_path: Path, expander) -> None:
    """dev has an overlay of model-serving; listed without it, dev generates no Application for it (it would sync
    into a namespace the stack does not make)."""
    from infra.expand.platform import Platform

    stack = (REPO / "environments" / "Pulumi.dev.yaml").read_text()
    assert "argocd:" not in stack and (REPO / "apps/model-serving/overlays/dev").is_dir()  # dev lists both apps
    variant = tmp_path / "Pulumi.dev.yaml"
    listed = "    highAvailability: false\n    argocd:\n      apps: [scheduled-notebooks]\n"
    variant.write_text(stack.replace("    highAvailability: false\n", listed, 1))
    platform = Platform(render_stack(variant), expander.expand(render_stack(variant)))
    generated = sorted(d.name for d in platform.deployers if d.sources[0].tree)
    assert generated == ["scheduled-notebooks"]
