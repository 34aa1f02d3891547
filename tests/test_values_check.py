"""The `values` stage: each rule fails on a planted bad key, shape or patch (with the real charts of
../shared/charts) and passes on the real environments; and the fixes of issue #15's defects 6, 7 and 8, read off
what the charts actually render."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli.commands import STAGES
from infra.expand import helm
from infra.expand.caches import Caches
from infra.expand.expansion import EXPANSION, TEMPLATE, VALUES_SCHEMA, Expander, Problem
from infra.expand.platform import Platform
from infra.expand.sources import RELEASE_TYPE
from infra.expand.values import patches
from infra.expand.values.allowlist import (
    VALUES_ALLOWLIST,
    AllowlistInvalid,
    ValuesAllowlist,
    load_allowlist,
    parse_allowlist,
)
from infra.expand.values.model import MISSING, ChartModel
from infra.expand.values.paths import BadPath, format_path, parse_path
from infra.expand.values.stage import STAGE, check_values, refusals, unused_entries, values_findings
from infra.offline.render import Rendered
from infra.offline.validate import Finding

EMPTY = ValuesAllowlist()


def chart(name: str, version: str) -> helm.Chart:
    return helm.Chart(Caches.from_environment().chart_archive(name, version))


@pytest.fixture(scope="module")
def models() -> dict[str, ChartModel]:
    pins = {
        "kube-prometheus-stack": "88.5.3",
        "traefik": "41.3.0",
        "istiod": "1.30.3",
        "cert-manager": "v1.21.1",
        "external-dns": "1.21.1",
        "metrics-server": "3.13.1",
        "cni": "1.30.3",
    }
    return {name: ChartModel(chart(name, version).files) for name, version in pins.items()}


def planted(
    rendered: Rendered, expander: Expander, application: str, change: Callable[[dict[str, Any]], None]
) -> Platform:
    """The environment's `application` alone, its Application object changed by `change`, expanded anew."""
    manifest = next(
        m
        for m in rendered.manifests
        if m.object["kind"] == "Application" and m.object["metadata"]["name"] == application
    )
    changed = copy.deepcopy(manifest.object)
    change(changed)
    stack = dataclasses.replace(
        rendered,
        manifests=(dataclasses.replace(manifest, object=changed),),
        run=dataclasses.replace(rendered.run, resources=[]),
    )
    return Platform(stack, expander.expand(stack))


def helm_values(application: dict[str, Any]) -> dict[str, Any]:
    return application["spec"]["source"]["helm"]["valuesObject"]


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


# --- the real environments ------------------------------------------------------------------------------------


def test_the_stage_is_part_of_check() -> None:
    assert "values" in STAGES and STAGE == "values"


def test_every_environment_passes_the_values_stage(platforms: dict[str, Platform], expander: Expander) -> None:
    for env, platform in platforms.items():
        findings, checked = values_findings(platform, expander)
        assert findings == [], f"{env}: " + "\n".join(f"{f.object_ref}: {f.message}" for f in findings)
        assert checked > (150 if env == "hub-example" else 200), (
            f"{env}: only {checked} value paths and patches checked"
        )


def test_the_allowlist_is_valid_and_every_entry_earns_its_place(
    platforms: dict[str, Platform], expander: Expander
) -> None:
    allowlist = load_allowlist(VALUES_ALLOWLIST)
    for platform in platforms.values():
        values_findings(platform, expander, allowlist)
    assert unused_entries(allowlist) == []


# --- keys: declared, read, passed through, free-form ----------------------------------------------------------


def test_a_typo_under_a_structured_map_is_an_error_naming_the_key(
    rendered: dict[str, Rendered], expander: Expander
) -> None:
    def typo(app: dict[str, Any]) -> None:
        helm_values(app)["prometheus"]["prometheusSpec"]["retentionn"] = "30d"
        helm_values(app)["grafana"]["replicaCont"] = 2

    findings, _ = values_findings(planted(rendered["dev"], expander, "kube-prometheus-stack", typo), expander)
    assert messages(findings) == [
        "spec.source.helm.valuesObject.grafana.replicaCont: chart kube-prometheus-stack 88.5.3 neither declares "
        "nor reads this key",
        "spec.source.helm.valuesObject.prometheus.prometheusSpec.retentionn: chart kube-prometheus-stack 88.5.3 "
        "neither declares nor reads this key",
    ]
    assert {f.object_ref for f in findings} == {"stack: argoproj.io/v1alpha1 Application argocd/kube-prometheus-stack"}
    assert {f.stage for f in findings} == {"values"}


def test_a_helm_release_of_the_stack_is_checked_like_an_application(
    rendered: dict[str, Rendered], expander: Expander
) -> None:
    dev = rendered["dev"]
    release = next(r for r in dev.run.resources if r.type == RELEASE_TYPE and r.inputs["chart"] == "argo-cd")
    inputs = copy.deepcopy(dict(release.inputs))
    inputs["values"]["server"]["replicaz"] = 2
    stack = dataclasses.replace(
        dev, manifests=(), run=dataclasses.replace(dev.run, resources=[dataclasses.replace(release, inputs=inputs)])
    )
    findings, _ = values_findings(Platform(stack, expander.expand(stack)), expander)
    assert [(f.object_ref, f.message) for f in findings] == [
        (
            "stack: Helm release (Pulumi kubernetes:helm.sh/v3:Release) argocd/argo-cd",
            "values.server.replicaz: chart argo-cd 10.1.1 neither declares nor reads this key",
        )
    ]


def test_declared_keys_and_subchart_keys_are_known(models: dict[str, ChartModel]) -> None:
    stack = models["kube-prometheus-stack"]
    assert stack.knows(("prometheus", "prometheusSpec", "retention"))
    assert stack.knows(("grafana", "replicas")), "a subchart's defaults count under its key"
    assert stack.knows(("kube-state-metrics", "replicas")), "a subchart with a dash in its key"
    assert stack.knows(("global", "imageRegistry")) and not stack.knows(("global", "imageRegistyr"))
    assert not stack.knows(("grafana", "replicaCont")) and not stack.knows(("prometheusOperator", "typo"))


def test_keys_a_template_reads_are_known_without_a_default(models: dict[str, ChartModel]) -> None:
    cert_manager = models["cert-manager"]
    # serviceAccount has no `annotations` default; the template passes `with .Values.serviceAccount.annotations`
    # through toYaml, so any annotation is known there.
    assert cert_manager.default(("serviceAccount", "annotations")) is MISSING
    assert cert_manager.knows(("serviceAccount", "annotations", "iam.gke.io/gcp-service-account"))
    assert not cert_manager.knows(("serviceAccount", "annotationz"))


def test_index_with_a_dotted_key_passes_a_map_through(models: dict[str, ChartModel]) -> None:
    # grafana's ConfigMap ranges over `index .Values "grafana.ini"`: every section and key reaches grafana.ini.
    assert models["kube-prometheus-stack"].knows(("grafana", "grafana.ini", "auth.generic_oauth", "client_id"))


def test_a_map_built_in_a_template_keeps_the_paths_it_holds(models: dict[str, ChartModel]) -> None:
    traefik = models["traefik"]
    # service.yaml puts .Values.service into a map with `set`, ranges over it and passes `.spec` through toYaml.
    assert traefik.knows(("service", "spec", "externalTrafficPolicy"))
    # ports are ranged over: any port name, but within each only what the templates read.
    assert traefik.knows(("ports", "metrics-extra", "port"))
    assert not traefik.knows(("ports", "web", "portt"))


def test_a_free_form_slot_accepts_any_key_but_a_structured_one_does_not(models: dict[str, ChartModel]) -> None:
    metrics_server = models["metrics-server"]
    assert metrics_server.default(("podAnnotations",)) == {}
    assert metrics_server.knows(("podAnnotations", "anything.example.com/x"))
    # `resources` has defaults (requests) and is passed through whole.
    assert metrics_server.knows(("resources", "limits", "memory"))
    # apiService is a structured map: its keys are read one by one.
    assert not metrics_server.knows(("apiService", "creat"))


def test_istio_charts_declare_their_internal_defaults(models: dict[str, ChartModel]) -> None:
    istiod = models["istiod"]
    # istiod keeps its defaults under _internal_defaults_do_not_set and merges them onto .Values at render time.
    assert istiod.knows(("meshConfig", "accessLogFile")) and istiod.knows(("autoscaleEnabled",))
    assert not istiod.knows(("autoscaleEnabledd",))


def test_a_block_merged_onto_the_values_takes_the_charts_keys(models: dict[str, ChartModel]) -> None:
    """istio-cni merges `cni.*` onto its values (`mustMergeOverwrite $.Values (index $.Values "cni")`)."""
    cni = models["cni"]
    assert cni.reads.aliased == {("cni",): ()}
    assert cni.knows(("cni", "cniBinDir")) and cni.knows(("cniBinDir",))
    assert not cni.knows(("cni", "cniBinDirr"))


# --- shapes -----------------------------------------------------------------------------------------------------


def test_a_list_where_the_chart_has_a_map_is_an_error(models: dict[str, ChartModel]) -> None:
    result = check_values(
        models["external-dns"],
        {"extraArgs": ["--google-project=p"], "policy": "sync"},
        "chart external-dns 1.21.1",
        "external-dns",
        EMPTY,
    )
    assert [(format_path(p.path), p.message) for p in result.problems] == [
        (
            "extraArgs",
            "a list where chart external-dns 1.21.1 has a map (default {}): Helm cannot merge them, keeps the list "
            "with a warning on every render, and the chart's templates are written for a map; give a map",
        )
    ]


def test_a_map_where_the_chart_has_a_list_or_a_scalar_is_an_error(models: dict[str, ChartModel]) -> None:
    result = check_values(
        models["metrics-server"],
        {"args": {"kubelet-insecure-tls": True}, "containerPort": {"https": 10250}, "replicas": "2", "hostNetwork": {}},
        "chart metrics-server 3.13.1",
        "metrics-server",
        EMPTY,
    )
    flagged = {format_path(p.path): p.message for p in result.problems}
    assert set(flagged) == {"args", "containerPort"}, "a string for a number is Helm's (or the schema's) business"
    assert flagged["args"].startswith("a map where chart metrics-server 3.13.1 has a list")


# --- the allow-list ---------------------------------------------------------------------------------------------


def allowlist_of(*entries: tuple[str, str]) -> ValuesAllowlist:
    return parse_allowlist([{"chart": c, "key": k, "reason": "a reviewer can check it"} for c, k in entries], "test")


def test_an_allowlist_entry_lets_a_key_through_and_counts_as_used(models: dict[str, ChartModel]) -> None:
    allowlist = allowlist_of(("kube-prometheus-stack", "prometheusOperator.passedThrough"))
    values = {"prometheusOperator": {"passedThrough": {"a": 1}, "typo": 1}}
    result = check_values(
        models["kube-prometheus-stack"],
        values,
        "chart kube-prometheus-stack 88.5.3",
        "kube-prometheus-stack",
        allowlist,
    )
    assert [format_path(p.path) for p in result.problems] == ["prometheusOperator.typo"]
    assert result.used == allowlist.entries


def test_an_allowlist_entry_no_environment_needs_is_an_error(
    platforms: dict[str, Platform], expander: Expander
) -> None:
    allowlist = allowlist_of(("kube-prometheus-stack", "grafana.notSetAnywhere"))
    for platform in platforms.values():
        values_findings(platform, expander, allowlist)
    assert messages(unused_entries(allowlist)) == [
        "chart kube-prometheus-stack, key grafana.notSetAnywhere: no value key of any environment needs this entry "
        "any more; remove it"
    ]


def test_an_allowlist_entry_the_chart_no_longer_needs_is_an_error(
    platforms: dict[str, Platform], expander: Expander
) -> None:
    # podAnnotations is a free-form slot: the chart accepts any key under it on its own.
    allowlist = allowlist_of(("kube-prometheus-stack", "grafana.podAnnotations"))
    findings, _ = values_findings(platforms["dev"], expander, allowlist)
    assert [(f.object_ref, f.message) for f in findings] == [
        (
            "test",
            "chart kube-prometheus-stack, key grafana.podAnnotations: the chart now accepts every key under it on its "
            "own (it passes the map through or leaves it free-form); remove the entry",
        )
    ]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"chart": "x"}, "expected a list"),
        ([{"chart": "x", "key": "a.b"}], "entry 1: reason must be non-empty text"),
        ([{"chart": "x", "key": "a.b", "reason": "r", "until": 1}], "entry 1: unknown field(s) until"),
        ([{"chart": "x", "key": "a..b", "reason": "r"}], "entry 1: key: 'a..b' is not a value key path"),
        ([{"chart": "x", "key": "a", "reason": "r"}, {"chart": "x", "key": "a", "reason": "s"}], "more than once"),
    ],
)
def test_a_malformed_allowlist_is_refused_naming_the_entry(data: object, complaint: str) -> None:
    with pytest.raises(AllowlistInvalid, match="^policies/values-allowlist.yaml: ") as raised:
        parse_allowlist(data, "policies/values-allowlist.yaml")
    assert complaint in str(raised.value)


def test_an_unreadable_allowlist_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "values-allowlist.yaml"
    broken.write_text("- chart: [unclosed\n")
    with pytest.raises(AllowlistInvalid, match=str(broken)):
        load_allowlist(broken)


def test_key_paths_round_trip_with_dotted_keys() -> None:
    for path in [("a", "b"), ("grafana", "grafana.ini", "server"), ("serviceAccount", "annotations", "x.io/y")]:
        assert parse_path(format_path(path)) == path
    assert format_path(("grafana", "grafana.ini")) == 'grafana["grafana.ini"]'
    with pytest.raises(BadPath):
        parse_path("a[b]")


# --- the chart's own verdict: schema and template errors ------------------------------------------------------


def test_a_value_the_chart_schema_refuses_is_a_values_finding(
    rendered: dict[str, Rendered], expander: Expander
) -> None:
    platform = planted(
        rendered["staging"], expander, "external-dns", lambda app: helm_values(app).update(provider={"name": 5})
    )
    assert [p.kind for p in platform.expansion.problems] == [VALUES_SCHEMA]
    findings, _ = values_findings(platform, expander)
    assert messages(findings) == [
        "spec.source.helm.valuesObject.provider.name: chart external-dns 1.21.1's values.schema.json refuses this "
        "value: got number, want string"
    ]


def test_a_template_that_fails_with_the_values_is_a_values_finding(
    rendered: dict[str, Rendered], expander: Expander
) -> None:
    platform = planted(rendered["onprem"], expander, "metrics-server", lambda app: helm_values(app).update(args="x"))
    assert [p.kind for p in platform.expansion.problems] == [TEMPLATE]
    findings, _ = values_findings(platform, expander)
    assert len(findings) == 1
    assert findings[0].message.startswith(
        "spec.source.helm.valuesObject.args: chart metrics-server 3.13.1 fails to render with these values: "
        "metrics-server/templates/deployment.yaml"
    )
    assert "range can't iterate over x" in findings[0].message
    assert findings[0].object_ref == "stack: argoproj.io/v1alpha1 Application argocd/metrics-server"


def test_the_expand_stage_keeps_its_own_problems(platforms: dict[str, Platform]) -> None:
    # Only refusals of the values move to the values stage; instability and build failures stay with `expand`.
    assert all(p.kind == EXPANSION for platform in platforms.values() for p in platform.expansion.problems)


# --- kustomize patches ------------------------------------------------------------------------------------------


def test_a_patch_that_matches_nothing_is_an_error(rendered: dict[str, Rendered], expander: Expander) -> None:
    def misnamed(app: dict[str, Any]) -> None:
        app["spec"]["source"]["kustomize"]["patches"][0]["target"]["name"] = "jupyter-web-app-confg"

    findings, checked = values_findings(
        planted(rendered["dev"], expander, "kubeflow-jupyter-web-app", misnamed), expander
    )
    assert checked == 2  # the web app's config, and its Deployment's resources (infra/components/kubeflow.py)
    assert messages(findings) == [
        "spec.source.kustomize.patches[0]: targets kind ConfigMap, name jupyter-web-app-confg, which matches none "
        "of the path's objects: kustomize ignores such a patch silently (https://github.com/kubeflow/manifests "
        "applications/jupyter/jupyter-web-app/upstream/overlays/istio at 26.03)"
    ]


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "pfx-api", "namespace": "kubeflow", "labels": {"app": "api", "tier": "web"}},
}
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings-5dbb5c54mh", "namespace": "x"}}


@pytest.mark.parametrize(
    ("target", "hit"),
    [
        ({"kind": "Deployment", "name": "api"}, True),
        ({"kind": "Deployment", "name": "ap"}, False),
        ({"kind": "Deploy.*", "name": "a.i"}, True),
        ({"kind": "Deployment", "namespace": "kubeflow", "group": "apps", "version": "v1"}, True),
        ({"kind": "Deployment", "namespace": "other"}, False),
        ({"kind": "Deployment", "group": "extensions"}, False),
        ({"labelSelector": "app=api,tier in (web, db)"}, True),
        ({"labelSelector": "app=api,!tier"}, False),
        ({"labelSelector": "app!=api"}, False),
        ({"annotationSelector": "owner"}, False),
    ],
)
def test_patch_targets_select_as_kustomize_does(target: dict[str, str], hit: bool) -> None:
    # The top-level kustomization's namePrefix `pfx-` applies after its patches.
    assert patches.matches(target, DEPLOYMENT, ("pfx-", "")) is hit


def test_a_patch_names_a_generated_config_map_without_its_hash() -> None:
    assert patches.matches({"kind": "ConfigMap", "name": "settings"}, CONFIG_MAP)
    assert not patches.matches({"kind": "ConfigMap", "name": "setting"}, CONFIG_MAP)


def test_a_patch_without_target_is_placed_by_its_body() -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 2}}
    found = patches.unmatched([{"patch": yaml.safe_dump(body)}], [DEPLOYMENT], ("pfx-", ""))
    assert found == []
    body["metadata"]["name"] = "gone"
    assert [i for i, _ in patches.unmatched([{"patch": yaml.safe_dump(body)}], [DEPLOYMENT])] == [0]


# --- issue #15 defects 6, 7, 8 ----------------------------------------------------------------------------------


def expanded(platform: Platform, application: str, kind: str, name: str) -> dict[str, Any]:
    found = [
        o.object
        for o in platform.expansion.objects[application]
        if o.object["kind"] == kind and o.object["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{application}: {kind} {name} rendered {len(found)} times"
    return found[0]


def container_args(deployment: dict[str, Any]) -> list[str]:
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_metrics_server_prefers_only_internal_addresses(platforms: dict[str, Platform]) -> None:
    """Defect 6: a second --kubelet-preferred-address-types adds to the chart's default list (ExternalIP stays);
    the chart's defaultArgs must carry the one the platform means."""
    args = container_args(expanded(platforms["onprem"], "metrics-server", "Deployment", "metrics-server"))
    address_types = [arg for arg in args if arg.startswith("--kubelet-preferred-address-types")]
    assert address_types == ["--kubelet-preferred-address-types=InternalIP,Hostname"]
    # The rest of the chart's defaultArgs stay as the pinned chart has them.
    chart_defaults = chart("metrics-server", "3.13.1").files.defaults["defaultArgs"]
    kept = [arg for arg in chart_defaults if not arg.startswith("--kubelet-preferred-address-types")]
    assert [arg for arg in args if arg in chart_defaults or arg.startswith("--kubelet-preferred")] == [
        chart_defaults[0],
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        *kept[1:],
    ]


def test_external_dns_gets_its_flags_in_the_shape_the_chart_expects(
    platforms: dict[str, Platform], expander: Expander
) -> None:
    """Defect 7: extraArgs is a map in external-dns 1.21.1 (flag name -> value, true for a bare flag)."""
    meant = {
        "staging": ["--google-project=mlops-staging-234567", "--google-zone-visibility=public"],
        "onprem": [
            "--rfc2136-host=10.0.0.53",
            "--rfc2136-port=53",
            "--rfc2136-tsig-axfr",
            "--rfc2136-tsig-keyname=mlops-platform",
            "--rfc2136-tsig-secret-alg=hmac-sha256",
            "--rfc2136-zone=ml.corp.example.net",
        ],
        "onprem-traefik": [
            "--rfc2136-host=10.0.0.53",
            "--rfc2136-port=53",
            "--rfc2136-tsig-axfr",
            "--rfc2136-tsig-keyname=mlops-lab",
            "--rfc2136-tsig-secret-alg=hmac-sha256",
            "--rfc2136-zone=lab.corp.example.net",
            "--traefik-disable-legacy",
        ],
    }
    for env, flags in meant.items():
        platform = platforms[env]
        application = next(
            m.object
            for m in platform.rendered.manifests
            if m.object["metadata"]["name"] == "external-dns" and m.object["kind"] == "Application"
        )
        assert isinstance(helm_values(application)["extraArgs"], dict)
        args = container_args(expanded(platform, "external-dns", "Deployment", "external-dns"))
        provider = args.index(next(arg for arg in args if arg.startswith("--provider=")))
        assert args[provider + 1 :] == flags, env
        findings, _ = values_findings(platform, expander)
        assert not [f for f in findings if "external-dns" in f.object_ref]


def test_longhorn_leaves_network_policy_to_the_platform(platforms: dict[str, Platform]) -> None:
    """Defect 8: `networkPolicies.enabled: false` alone still renders six chart NetworkPolicies
    (restrictInternalTraffic defaults to true in 1.12). longhorn-system is isolated by the platform's own
    default-deny and declared allowances, so the chart renders none."""
    platform = platforms["onprem"]
    chart_policies = [
        o.object["metadata"]["name"]
        for o in platform.expansion.objects["longhorn"]
        if o.object["kind"] == "NetworkPolicy"
    ]
    assert chart_policies == []
    own = {o.name for o in platform.owned_by("stack") if o.kind == "NetworkPolicy" and o.namespace == "longhorn-system"}
    assert {"default-deny", "allow"} <= own


def test_each_value_a_schema_refuses_is_named_under_its_chart() -> None:
    files = chart("kube-prometheus-stack", "88.5.3").files
    problem = Problem(
        "kube-prometheus-stack",
        "chart kube-prometheus-stack 88.5.3",
        "values don't meet the specifications of the schema(s) in the following chart(s): kube-prometheus-stack: "
        "- at '/alertmanager/enabled': got string, want boolean grafana: - at '/grafana.ini/a~1b': got number, "
        "want object - at '/replicas': got string, want integer",
        kind=VALUES_SCHEMA,
    )
    assert refusals(problem, files, "chart kube-prometheus-stack 88.5.3") == [
        (
            ("alertmanager", "enabled"),
            "chart kube-prometheus-stack 88.5.3's values.schema.json refuses this value: got string, want boolean",
        ),
        (
            ("grafana", "grafana.ini", "a/b"),
            "chart kube-prometheus-stack 88.5.3's values.schema.json refuses this value: got number, want object",
        ),
        (
            ("grafana", "replicas"),
            "chart kube-prometheus-stack 88.5.3's values.schema.json refuses this value: got string, want integer",
        ),
    ]
