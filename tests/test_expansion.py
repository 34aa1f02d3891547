"""The expansion: every Application's chart or git path, and every Pulumi Helm release, rendered as Argo CD's repo
server (or Helm) would render it, from the caches, byte for byte the same each time."""

from __future__ import annotations

import filecmp
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from infra.cli.__main__ import main
from infra.expand import helm, kustomize
from infra.expand.caches import Caches, SourceMissing, chart_archive_names, git_folder
from infra.expand.documents import DocumentError, parse_objects, split_documents
from infra.expand.expansion import Expander, ResultCache, crd_api_versions
from infra.expand.output import masked, object_file
from infra.expand.platform import Platform
from infra.expand.sources import Deployer, Source, canonical
from infra.offline.render import Rendered
from infra.platform.argocd_app import SOURCE_KEY

from .conftest import SHARED

KUBEFLOW_PIPELINES = "applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user"


def chart_archive(directory: Path, name: str, version: str, files: Mapping[str, str]) -> Path:
    """A chart archive as `helm package` lays it out: `<name>/Chart.yaml`, `<name>/templates/...`."""
    metadata = {"apiVersion": "v2", "name": name, "version": version, **yaml.safe_load(files.get("Chart.yaml", "{}"))}
    contents = {"Chart.yaml": yaml.safe_dump(metadata), **{k: v for k, v in files.items() if k != "Chart.yaml"}}
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"{name}-{version}.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for path, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def chart_source(name: str, version: str = "1.0.0", values: Mapping[str, object] | None = None) -> Source:
    return Source(
        "chart", "https://charts.example.com", version, chart=name, values_json=canonical(values or {}), release=name
    )


def expand_one(tmp_path: Path, source: Source, namespace: str = "apps", **kwargs: object):
    expander = Expander(Caches(tmp_path, tmp_path / "git"), ResultCache(None))
    return expander.expand_deployers(
        "test", [Deployer(source.release, "Application", namespace, (source,))], "1.34", **kwargs
    )


# --- caches ----------------------------------------------------------------------------------------------------


def test_a_chart_missing_from_the_cache_is_an_error_naming_it_and_the_pull_command(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing, match=r"chart keda 2\.20\.2 is not in the chart cache .*charts pull"):
        Caches(tmp_path, tmp_path).chart_archive("keda", "2.20.2")
    with pytest.raises(SourceMissing, match=r"kubeflow/manifests at 26\.03 is not in the git cache"):
        Caches(tmp_path, tmp_path).git_tree("https://github.com/kubeflow/manifests", "26.03")


def test_archive_names_take_a_leading_v_on_either_side() -> None:
    assert chart_archive_names("knative-operator", "v1.23.0") == [
        "knative-operator-v1.23.0.tgz",
        "knative-operator-1.23.0.tgz",
    ]
    assert "gpu-operator-v26.7.0.tgz" in chart_archive_names("gpu-operator", "26.7.0")
    assert git_folder("https://github.com/kubeflow/manifests.git") == "kubeflow-manifests"


def test_render_expand_without_a_cache_fails_naming_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty cache never means a skipped expansion."""
    monkeypatch.setenv("MLOPS_EXPANSION_CACHE", "off")
    code = main(
        ["render", "--env", "dev", "--expand", "--chart-cache", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]
    )
    assert code == 1
    assert "is not in the chart cache" in capsys.readouterr().err


# --- documents ---------------------------------------------------------------------------------------------------


def test_documents_split_where_helm_splits_them() -> None:
    text = (
        "# a comment\n---# cert-manager writes this\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n# only\n"
        "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: B, metadata: {name: b}}\n"
    )
    assert len(split_documents(text)) == 2
    assert [o["kind"] for o in parse_objects(text, "x")] == ["A", "B"]


def test_yaml_value_key_is_a_plain_string() -> None:
    """kube-prometheus-stack's AlertmanagerConfig CRD lists `=` among matcher operators."""
    obj = next(parse_objects("apiVersion: v1\nkind: A\nmetadata: {name: a}\nenum:\n- =\n- '!='\n", "x"))
    assert obj["enum"] == ["=", "!="]


def test_a_document_that_is_no_object_is_refused() -> None:
    with pytest.raises(DocumentError, match="no Kubernetes object"):
        list(parse_objects("just: data\n", "chart/templates/x.yaml"))


# --- charts ------------------------------------------------------------------------------------------------------


def test_a_chart_renders_with_a_subchart_off_then_on() -> None:
    """Helm drops disabled subcharts from the chart object it renders: each render must load the chart afresh
    (staging and prod enable argo-cd's redis-ha, dev does not)."""
    chart = helm.Chart(SHARED / "charts" / "argo-cd-10.1.1.tgz")
    options = {"release": "argo-cd", "namespace": "argocd", "kubernetes_version": "1.34", "api_versions": []}
    off = chart.render({"redis-ha": {"enabled": False}}, **options)
    on = chart.render({"redis-ha": {"enabled": True}}, **options)
    assert not any("redis-ha" in t.path for t in off)
    assert any("charts/redis-ha/templates" in t.path for t in on)


def test_crds_of_a_disabled_subchart_are_not_installed() -> None:
    chart = helm.Chart(SHARED / "charts" / "kube-prometheus-stack-88.5.3.tgz")
    assert len(chart.enabled_crds({})) == 10
    assert chart.enabled_crds({"crds": {"enabled": False}}) == []


def test_dependency_conditions_and_tags_as_helm_reads_them() -> None:
    assert helm.dependency_enabled({"condition": "a.enabled,b.enabled"}, {"b": {"enabled": False}}) is False
    assert helm.dependency_enabled({"condition": "a.enabled"}, {}) is True
    assert helm.dependency_enabled({"tags": ["x", "y"]}, {"tags": {"x": False, "y": True}}) is True
    assert helm.dependency_enabled({"tags": ["x"]}, {"tags": {"x": False}}) is False


def test_values_refused_by_the_chart_schema_are_a_problem(tmp_path: Path) -> None:
    expander = Expander(Caches(SHARED / "charts", tmp_path), ResultCache(None))
    source = Source(
        "chart",
        "https://istio",
        "1.30.3",
        chart="gateway",
        values_json=canonical({"replicaCount": "x"}),
        release="istio-gateway",
    )
    result = expander.expand_deployers(
        "t", [Deployer("istio-gateway", "Application", "istio-system", (source,))], "1.34"
    )
    assert [p.deployer for p in result.problems] == ["istio-gateway"]
    assert "/replicaCount" in result.problems[0].message


# --- what Argo CD applies of a rendered chart ----------------------------------------------------------------------


def job(name: str, hook: str | None, argocd_hook: str | None = None) -> str:
    annotations = {}
    if hook:
        annotations["helm.sh/hook"] = hook
    if argocd_hook:
        annotations["argocd.argoproj.io/hook"] = argocd_hook
    return yaml.safe_dump(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "annotations": annotations}}
    )


def test_hooks_are_kept_where_argo_cd_applies_them(tmp_path: Path) -> None:
    chart_archive(
        tmp_path,
        "hooks",
        "1.0.0",
        {
            "templates/pre.yaml": job("pre", "pre-install,pre-upgrade"),
            "templates/post.yaml": job("post", "post-upgrade"),
            "templates/test.yaml": job("test", "test"),
            "templates/both.yaml": job("both", "test", "PostSync"),
            "templates/plain.yaml": job("plain", None),
        },
    )
    expansion = expand_one(tmp_path, chart_source("hooks"))
    assert sorted(o.object["metadata"]["name"] for o in expansion.all_objects()) == ["both", "plain", "post", "pre"]


def test_objects_land_in_the_destination_namespace_and_cluster_objects_in_none(tmp_path: Path) -> None:
    chart_archive(
        tmp_path,
        "placed",
        "1.0.0",
        {
            "templates/objects.yaml": "\n---\n".join(
                [
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: here}",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: there, namespace: elsewhere}",
                    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                    "metadata: {name: role, namespace: apps}",
                    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                    "metadata: {name: widgets.example.com}\n"
                    "spec: {group: example.com, scope: Cluster, names: {kind: Widget, plural: widgets},"
                    " versions: [{name: v1, served: true, storage: true}]}",
                    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: apps}",
                ]
            )
        },
    )
    placed = {
        o.object["metadata"]["name"]: o.object["metadata"].get("namespace")
        for o in expand_one(tmp_path, chart_source("placed")).all_objects()
    }
    assert placed == {"here": "apps", "there": "elsewhere", "role": None, "widgets.example.com": None, "w": None}


def test_a_chart_that_reads_the_cluster_apis_sees_those_the_platform_installs(tmp_path: Path) -> None:
    """Argo CD passes the cluster's API versions; the platform's CRDs are among them once it is installed."""
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.example.com}\n"
        "spec: {group: example.com, scope: Namespaced, names: {kind: Monitor, plural: a},"
        " versions: [{name: v1, served: true, storage: true}]}"
    )
    chart_archive(tmp_path, "crds", "1.0.0", {"crds/crd.yaml": crd})
    chart_archive(
        tmp_path,
        "gated",
        "1.0.0",
        {
            "templates/m.yaml": (
                '{{- if .Capabilities.APIVersions.Has "example.com/v1/Monitor" }}\n'
                "apiVersion: example.com/v1\nkind: Monitor\nmetadata: {name: m}\n{{- end }}"
            )
        },
    )
    expander = Expander(Caches(tmp_path, tmp_path), ResultCache(None))
    deployers = [Deployer(name, "Application", "apps", (chart_source(name),)) for name in ("crds", "gated")]
    expansion = expander.expand_deployers("t", deployers, "1.34")
    assert [o.object["kind"] for o in expansion.objects["gated"]] == ["Monitor"]
    assert {"example.com/v1", "example.com/v1/Monitor"} <= set(expansion.api_versions)
    alone = expander.expand_deployers("t", deployers[1:], "1.34")
    assert alone.objects["gated"] == []


def test_a_chart_that_renders_differently_each_time_is_a_problem_naming_what_pins_it(tmp_path: Path) -> None:
    chart_archive(
        tmp_path,
        "random",
        "1.0.0",
        {
            "values.yaml": "auth:\n  key: ''\n",
            "templates/_helpers.tpl": '{{- define "random.key" -}}\n'
            "{{- .Values.auth.key | default (randAlphaNum 16) }}\n{{- end }}",
            "templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: key}\n"
            'stringData: {key: {{ include "random.key" . | quote }}}',
            "templates/hook.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  annotations:\n"
            "    helm.sh/hook: pre-install\nstringData: {key: {{ randAlphaNum 8 | quote }}}",
        },
    )
    problems = {p.subject.split(" (")[0]: p for p in expand_one(tmp_path, chart_source("random")).problems}
    assert problems["Secret key"].severity == "error"
    assert "stringData.key" in problems["Secret key"].message
    assert "auth.key" in problems["Secret key"].message
    assert problems["Secret hook"].severity == "advisory"
    pinned = expand_one(tmp_path, chart_source("random", values={"auth": {"key": "fixed"}}))
    assert [p.subject for p in pinned.problems if p.severity == "error"] == []


def test_an_object_rendered_twice_is_a_problem(tmp_path: Path) -> None:
    chart_archive(
        tmp_path,
        "twice",
        "1.0.0",
        {
            "templates/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}",
            "templates/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}",
        },
    )
    assert ["ConfigMap apps/same"] == [p.subject for p in expand_one(tmp_path, chart_source("twice")).problems]


def test_results_are_cached_by_everything_that_determines_them(tmp_path: Path) -> None:
    chart_archive(
        tmp_path / "charts",
        "plain",
        "1.0.0",
        {"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Values.name }}}"},
    )
    caches = Caches(tmp_path / "charts", tmp_path)
    first = Expander(caches, ResultCache(tmp_path / "results"))
    deployer = Deployer("plain", "Application", "apps", (chart_source("plain", values={"name": "one"}),))
    assert first.expand_deployers("t", [deployer], "1.34").all_objects()[0].object["metadata"]["name"] == "one"
    assert len(list((tmp_path / "results").glob("*.json"))) == 1
    again = Expander(caches, ResultCache(tmp_path / "results"))
    assert (
        again.expand_deployers("t", [deployer], "1.34").all_objects()
        == first.expand_deployers("t", [deployer], "1.34").all_objects()
    )
    other = Deployer("plain", "Application", "apps", (chart_source("plain", values={"name": "two"}),))
    assert again.expand_deployers("t", [other], "1.34").all_objects()[0].object["metadata"]["name"] == "two"
    assert len(list((tmp_path / "results").glob("*.json"))) == 2


def test_equal_objects_of_different_cached_results_are_one_object(tmp_path: Path) -> None:
    """Read back from disk, an object equal to one of another result is that object (a fleet's per-environment
    builds share their CRDs, and what is derived from them is made once); a different one stays its own."""
    results = tmp_path / "results"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}}
    writer = ResultCache(results)
    writer.put("one", {"objects": [["one.yaml", dict(crd)], ["x.yaml", {"kind": "ConfigMap", "data": {"n": "1"}}]]})
    writer.put("two", {"objects": [["two.yaml", dict(crd)], ["x.yaml", {"kind": "ConfigMap", "data": {"n": "2"}}]]})
    reader = ResultCache(results)
    one, two = reader.get("one"), reader.get("two")
    assert one is not None and two is not None
    assert one["objects"][0][1] is two["objects"][0][1]
    assert one["objects"][1][1] is not two["objects"][1][1]


def test_the_crds_a_chart_installs_before_the_apis_are_known_are_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ks.g.io}\n"
        "spec: {group: g.io, names: {kind: K, plural: ks}, scope: Namespaced, versions: [{name: v1, served: true, "
        "storage: true}]}\n"
    )
    chart_archive(
        tmp_path / "charts",
        "asks",
        "1.0.0",
        {
            "crds/k.yaml": crd,
            "templates/cm.yaml": '{{ if .Capabilities.APIVersions.Has "g.io/v1" }}apiVersion: v1\nkind: ConfigMap\n'
            "metadata: {name: sees-k}\n{{ end }}",
        },
    )
    caches = Caches(tmp_path / "charts", tmp_path)
    deployer = Deployer("asks", "Application", "apps", (chart_source("asks"),))
    first = Expander(caches, ResultCache(tmp_path / "results")).expand_deployers("t", [deployer], "1.34")
    assert "sees-k" in {o.object["metadata"]["name"] for o in first.all_objects()}

    def refuse(*_: object) -> None:
        raise AssertionError("read again: the cached CRDs were not used")

    monkeypatch.setattr(helm.Chart, "enabled_crds", refuse)
    again = Expander(caches, ResultCache(tmp_path / "results")).expand_deployers("t", [deployer], "1.34")
    assert again.all_objects() == first.all_objects()


def test_crd_api_versions_are_those_served() -> None:
    crd = {
        "spec": {"group": "g.io", "names": {"kind": "K"}, "versions": [{"name": "v1"}, {"name": "v0", "served": False}]}
    }
    assert crd_api_versions([crd]) == {"g.io/v1", "g.io/v1/K"}


# --- git paths ---------------------------------------------------------------------------------------------------


def test_kustomize_options_other_than_patches_are_refused(tmp_path: Path) -> None:
    with pytest.raises(kustomize.BuildFailed, match="namePrefix"):
        kustomize.build(tmp_path, ".", {"namePrefix": "x-"}, tmp_path)


def test_the_pipelines_path_reads_its_remote_bases_from_the_cache() -> None:
    tree = SHARED / "kubeflow-manifests" / "26.03"
    assert kustomize.remote_bases(tree, KUBEFLOW_PIPELINES) == {
        kustomize.RemoteBase("argoproj", "argo-workflows", "v3.7.3")
    }


def test_a_remote_base_missing_from_the_cache_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing, match="argo-workflows at v3.7.3 is not in the git cache"):
        kustomize.build(SHARED / "kubeflow-manifests" / "26.03", KUBEFLOW_PIPELINES, {}, tmp_path / "vendor")


def test_application_patches_are_applied_as_argo_cd_applies_them(platforms: dict[str, Platform]) -> None:
    account = next(
        o.object
        for o in platforms["dev"].owned_by("kubeflow-pipelines")
        if o.kind == "ServiceAccount" and o.name == "ml-pipeline-ui"
    )
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].startswith("wi-kubeflow-pipelines-ui@")


# --- the real environments -----------------------------------------------------------------------------------------


def test_every_application_and_release_of_every_environment_expands(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        assert [p for p in platform.expansion.problems if p.severity == "error"] == [], env
        empty = [name for name, count in platform.expansion.counts().items() if count == 0]
        assert empty == [], f"{env}: nothing rendered for {empty}"
        # An Application in a hub is prefixed by its environment; the expansion knows it by its catalog key.
        applications = {
            (o.object["metadata"].get("annotations") or {}).get(SOURCE_KEY, o.name)
            for o in platform.owned_by("stack")
            if o.kind == "Application"
        }
        assert applications <= set(platform.expansion.counts()), env


def test_dev_expands_to_at_least_600_objects_kubeflow_included(platforms: dict[str, Platform]) -> None:
    counts = platforms["dev"].expansion.counts()
    assert sum(counts.values()) >= 600
    assert counts["kubeflow-pipelines"] > 100 and counts["argo-cd"] > 40


def test_the_inventory_lists_each_applications_object_count(tmp_path: Path) -> None:
    assert main(["render", "--env", "onprem", "--expand", "--out", str(tmp_path)]) == 0
    inventory = yaml.safe_load((tmp_path / "onprem" / "inventory.yaml").read_text())["expanded"]
    assert inventory["applications"]["cilium"]["kind"] == "Release"
    assert inventory["objects"] == sum(a["objects"] for a in inventory["applications"].values())
    files = list((tmp_path / "onprem" / "expanded").rglob("*.yaml"))
    assert len(files) == inventory["objects"]


def test_render_expand_is_byte_identical_between_runs(tmp_path: Path) -> None:
    for out in ("one", "two"):
        assert main(["render", "--env", "dev", "--env", "onprem", "--expand", "--out", str(tmp_path / out)]) == 0
    comparison = filecmp.dircmp(tmp_path / "one", tmp_path / "two")
    differing: list[str] = []

    def walk(c: filecmp.dircmp) -> None:
        differing.extend(c.diff_files + c.left_only + c.right_only)
        for sub in c.subdirs.values():
            walk(sub)

    walk(comparison)
    assert differing == []


def test_expanded_files_are_named_by_kind_namespace_and_name_with_secrets_masked() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"},
        "data": {"key": "dmFsdWU="},
        "stringData": {"other": "t"},
    }
    assert object_file(secret) == "secret-n-s.yaml"
    assert object_file({"kind": "ClusterRole", "metadata": {"name": "r"}}) == "clusterrole-_cluster-r.yaml"
    assert json.dumps(masked(secret)).count("[secret]") == 2 and "dmFsdWU=" not in json.dumps(masked(secret))


def test_rendered_stacks_name_their_releases(rendered: dict[str, Rendered]) -> None:
    from infra.expand.sources import deployers

    releases = {env: sorted(d.name for d in deployers(r) if d.kind == "Release") for env, r in rendered.items()}
    assert releases["dev"] == ["argo-cd"] and releases["onprem"] == ["argo-cd", "cilium"]


def test_the_ml_applications_the_application_set_generates_are_expanded(platforms: dict[str, Platform]) -> None:
    """Argo CD's ApplicationSet makes one Application per apps/<app>/overlays/<env>; they are part of the platform."""
    for env, platform in platforms.items():
        generated = {d.name: d for d in platform.deployers if d.sources[0].tree}
        assert sorted(generated) == sorted(platform.env.argocd.apps), env
        if "model-serving" not in generated:  # on-prem: no example model (the small Traefik example: no app at all)
            continue
        assert sorted(generated) == sorted(platform.env.argocd.apps), env
        assert generated["model-serving"].namespace == "ml-model-serving"
        assert generated["model-serving"].sources[0].path == f"apps/model-serving/overlays/{env}"
        assert platform.expansion.counts()["model-serving"] > 0


def test_an_application_set_template_the_expansion_cannot_evaluate_is_refused(tmp_path: Path) -> None:
    from infra.expand.sources import application_set

    (tmp_path / "apps" / "x" / "overlays" / "dev").mkdir(parents=True)
    appset = {
        "metadata": {"name": "ml-apps"},
        "spec": {
            "generators": [{"git": {"repoURL": "https://git/repo", "directories": [{"path": "apps/*/overlays/dev"}]}}],
            "template": {
                "metadata": {"name": "{{ .path.basename | upper }}"},
                "spec": {
                    "destination": {"namespace": "n"},
                    "source": {"repoURL": "https://git/repo", "path": "p", "targetRevision": "main"},
                },
            },
        },
    }
    with pytest.raises(ValueError, match="does not evaluate"):
        application_set(appset, "https://git/repo", tmp_path)
    appset["spec"]["template"]["metadata"]["name"] = "{{ index .path.segments 1 }}"
    assert [d.name for d in application_set(appset, "https://git/repo", tmp_path)] == ["x"]
    with pytest.raises(ValueError, match="only git directories generators over this repository"):
        application_set(appset, "https://elsewhere", tmp_path)


def test_a_patched_build_leaves_the_cached_tree_as_it_was(tmp_path: Path) -> None:
    """The build works on a copy of hard links; the kustomization it changes must not be written through them."""
    base = tmp_path / "tree" / "app"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (base / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n")
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    patch = {
        "target": {"kind": "ConfigMap", "name": "settings"},
        "patch": '[{"op": "add", "path": "/data/b", "value": "2"}]',
    }
    built = kustomize.build(tmp_path / "tree", "app", {"patches": [patch]}, tmp_path / "vendor")
    assert next(parse_objects(built, "app"))["data"] == {"a": "1", "b": "2"}
    assert {p.name: p.read_bytes() for p in base.iterdir()} == before


def test_vendored_remote_bases_build_what_kustomize_fetches_with_git() -> None:
    """The Pipelines path reads three remote bases: named as local folders, they build the same objects as when
    kustomize clones them with git (from a repository made of the same vendored files)."""
    tree, vendor = SHARED / "kubeflow-manifests" / "26.03", SHARED / "kubeflow-manifests" / "vendor"
    patch = {
        "target": {"kind": "ConfigMap", "name": "pipeline-install-config"},
        "patch": '[{"op": "add", "path": "/data/x", "value": "y"}]',
    }
    for options in ({}, {"patches": [patch]}):
        vendored = kustomize.build(tree, KUBEFLOW_PIPELINES, options, vendor)
        assert vendored == kustomize.build(tree, KUBEFLOW_PIPELINES, options, vendor, remote="git")
        assert "name: workflows.argoproj.io" in vendored  # a CRD of the remote base


def test_the_values_that_pin_a_random_secret_are_found_through_named_templates() -> None:
    """Grafana draws its admin password in a named template two calls away from its Secret's template."""
    from infra.expand.randomness import random_value_keys

    grafana = helm.Chart(SHARED / "charts" / "kube-prometheus-stack-88.5.3.tgz").files
    keys = random_value_keys(grafana, "kube-prometheus-stack/charts/grafana/templates/secret.yaml")
    assert {"grafana.adminPassword", "grafana.admin.existingSecret"} <= set(keys)
    harbor = helm.Chart(SHARED / "charts" / "harbor-1.19.1.tgz").files
    assert random_value_keys(harbor, "harbor/templates/core/core-secret.yaml") == ["core.secret", "core.xsrfKey"]
    assert "registry.credentials.password" in random_value_keys(
        harbor, "harbor/templates/registry/registry-secret.yaml"
    )
