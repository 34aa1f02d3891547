"""The `kubernetes` and `crd` stages on the whole platform: built-in kinds strictly at the environment's Kubernetes
version, custom resources against the CRDs the platform installs (converted as the API server judges objects), the
CRD catalog only for the cluster layer's CRDs, and the allow-list kept honest."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.cli.commands import APPS_DIR, load_crd_allowlist
from infra.expand import crd_schemas as conversion
from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.schemas import AllowlistUse, PlatformValidator, schema_findings
from infra.gitops import apps
from infra.offline import validate
from infra.offline.validate import Finding

from .conftest import ENV_NAMES

# --- a CRD of our own, to pin down each rule of the conversion ----------------------------------------------------

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "data": {"type": "object", "additionalProperties": {"type": "string"}},
        "spec": {
            "type": "object",
            "required": ["size", "mode"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "exclusiveMinimum": False, "maximum": 10},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                "note": {"type": "string", "nullable": True},
                "label": {"type": "string"},
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "since": {"type": "string", "format": "date-time"},
                "count": {"type": "integer", "format": "int32"},
                "interval": {"type": "string", "format": "duration"},
                "blob": {"type": "string", "format": "byte"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "open": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}},
                },
                "pipelines": {
                    "type": "array",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "items": {"type": "object"},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"},
                        },
                    },
                },
                "names": {"type": "array", "items": {"type": "string"}},
                "action": {"type": "string", "pattern": "^(?i)(abort|warn)$"},  # RE2's inline flag (Alertmanager)
                "rules": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-validations": [{"rule": "self.size() < 5"}],
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def widget_crd(versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": versions
            or [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": WIDGET_SCHEMA}},
                {"name": "v1beta1", "served": False, "storage": False, "schema": {"openAPIV3Schema": WIDGET_SCHEMA}},
            ],
        },
    }


WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "team", "labels": {"app": "w"}},
    "spec": {"size": 3, "mode": "slow"},
}


def widget_validator(crd: dict[str, Any] | None = None, kubernetes_version: str = "1.34") -> PlatformValidator:
    return PlatformValidator(
        kubernetes_version, "/nonexistent", {}, [PlatformObject("widgets", crd or widget_crd(), "widgets.yaml")], ()
    )


def widget(**spec: Any) -> dict[str, Any]:
    return {**copy.deepcopy(WIDGET), "spec": {**WIDGET["spec"], **spec}}


def messages(obj: dict[str, Any], validator: PlatformValidator | None = None) -> list[str]:
    return [f.message for f in (validator or widget_validator()).validate(obj)]


def test_a_good_widget_passes() -> None:
    assert messages(WIDGET) == []


@pytest.mark.parametrize(
    ("path", "spec"),
    [
        ("spec.colour", {"colour": "red"}),  # unknown field of the spec
        ("spec.open.strict.b", {"open": {"strict": {"b": "x"}}}),  # under a declared field of a preserving object
        ("spec.ports[0].name", {"ports": [{"port": 80, "name": "http"}]}),  # in a list item
    ],
)
def test_an_unknown_field_fails_naming_its_path(path: str, spec: dict[str, Any]) -> None:
    (message,) = messages(widget(**spec))
    assert message.startswith(f"{path}: unknown field: the CRD widgets.example.com (v1) declares no such field")


def test_unknown_top_level_and_metadata_fields_fail_and_declared_tops_pass() -> None:
    assert messages(widget() | {"data": {"k": "v"}}) == []  # the schema declares `data`
    assert [m.split(":")[0] for m in messages(widget() | {"stringData": {"k": "v"}})] == ["stringData"]
    obj = widget()
    obj["metadata"]["labelz"] = {}
    (message,) = messages(obj)
    assert message == "metadata.labelz: unknown field: ObjectMeta declares no such field"


def test_null_is_kept_where_nullable_and_dropped_or_defaulted_elsewhere() -> None:
    assert messages(widget(note=None)) == []  # nullable
    assert messages(widget(label=None)) == []  # not nullable: the API server drops it
    assert messages(widget(mode=None)) == []  # not nullable, defaulted
    (message,) = messages(widget(size=None))  # dropped, and it is required
    assert message == "spec: 'size' is a required property"
    (message,) = messages(widget(names=["a", None]))  # a list item is not dropped
    assert message == "spec.names[1]: None is not of type 'string'"


def test_a_required_field_with_a_default_is_never_missing() -> None:
    obj = widget()
    del obj["spec"]["mode"]
    assert messages(obj) == []


def test_int_or_string_takes_an_integer_or_a_string_only() -> None:
    assert messages(widget(port=8080)) == [] and messages(widget(port="http")) == []
    for bad in (1.5, True, [1]):
        assert {m.split(":")[0] for m in messages(widget(port=bad))} == {"spec.port"}, bad


def test_preserve_unknown_fields_keeps_what_it_covers() -> None:
    assert messages(widget(free={"anything": {"deep": [1]}})) == []
    assert messages(widget(open={"extra": 1, "strict": {"a": "x"}})) == []
    # A list that preserves unknown fields keeps its items' (ECK's Logstash `pipelines`).
    assert messages(widget(pipelines=[{"pipeline.id": "main", "config.string": "input {}"}])) == []


def test_embedded_resources_need_apiVersion_and_kind_and_take_object_meta() -> None:
    good = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"anything": True}}
    assert messages(widget(template=good)) == []
    assert messages(widget(template={"metadata": {"name": "p"}})) == [
        "spec.template: 'apiVersion' is a required property",
        "spec.template: 'kind' is a required property",
    ]
    (message,) = messages(widget(template={**good, "metadata": {"nam": "p"}}))
    assert message.startswith("spec.template.metadata.nam: unknown field")


def test_value_validations_and_bounds() -> None:
    assert [m.split(":")[0] for m in messages(widget(size=11))] == ["spec.size"]
    assert [m.split(":")[0] for m in messages(widget(mode="medium"))] == ["spec.mode"]
    assert messages(widget(ratio=0.5)) == []
    assert [m.split(":")[0] for m in messages(widget(ratio=0))] == ["spec.ratio"]  # OpenAPI's boolean exclusive


def test_formats_are_checked_where_the_api_server_checks_them() -> None:
    good = {"since": "2026-01-02T03:04:05Z", "interval": "1h30m", "blob": "aGVsbG8=", "count": 7}
    assert messages(widget(**good)) == []
    assert messages(widget(interval="3 days")) == []  # go-openapi reads Scala durations too
    for field, bad in (("since", "2026-13-02T03:04:05Z"), ("interval", "soon"), ("blob", "not base64!")):
        assert [m.split(":")[0] for m in messages(widget(**{field: bad}))] == [f"spec.{field}"], field


def test_patterns_are_read_as_re2_reads_them() -> None:
    assert messages(widget(action="WARN")) == []  # `(?i)` after `^`: Python refuses it there, RE2 does not
    for bad in ("stop", "warn\n"):  # `$` is the end of the text
        assert [m.split(":")[0] for m in messages(widget(action=bad))] == ["spec.action"], bad
    assert conversion.python_pattern("a(?i)b|c") == "a(?i:b)|(?i:c)"  # the flag covers each later alternative
    with pytest.raises(ValueError, match="POSIX"):
        conversion.python_pattern("^[[:alpha:]]+$")


def test_list_types_refuse_duplicates_with_defaults_applied() -> None:
    (message,) = messages(widget(tags=["a", "b", "a"]))
    assert message.startswith("spec.tags: [2]: duplicate item 'a'")
    (message,) = messages(widget(ports=[{"port": 80}, {"port": 80, "protocol": "TCP"}]))
    assert message.startswith("spec.ports: [1]: duplicate entry")
    assert messages(widget(ports=[{"port": 80}, {"port": 80, "protocol": "UDP"}])) == []


def test_a_version_the_crd_does_not_serve_fails() -> None:
    (finding,) = widget_validator().validate(WIDGET | {"apiVersion": "example.com/v1beta1"})
    assert finding.stage == "crd"
    assert "the CRD widgets.example.com (Application widgets) does not serve v1beta1 (served: v1)" in finding.message
    (finding,) = widget_validator().validate(WIDGET | {"apiVersion": "example.com/v2"})
    assert "has no version v2 (served: v1)" in finding.message


def test_a_kind_nothing_installs_fails_naming_it() -> None:
    gadget = {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "team"}}
    (finding,) = widget_validator().validate(gadget)
    assert finding.stage == "crd" and finding.message.startswith("apiVersion: nothing installs example.org/Gadget")


def test_a_schema_keyword_not_judged_here_is_a_finding_not_a_pass() -> None:
    schema = copy.deepcopy(WIDGET_SCHEMA)
    schema["properties"]["spec"]["properties"]["size"]["x-unheard-of"] = True
    crd = widget_crd([{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}])
    (message,) = messages(WIDGET, widget_validator(crd))
    assert "cannot be judged: spec.size: schema keyword(s) not judged here: x-unheard-of" in message


def test_the_conversion_keeps_nothing_it_should_not() -> None:
    converted = conversion._Converter().root(WIDGET_SCHEMA)
    spec = converted["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["free"]
    assert spec["properties"]["note"]["type"] == ["string", "null"]
    assert spec["properties"]["port"]["type"] == ["integer", "string"]
    assert "format" not in spec["properties"]["count"]  # numeric formats are not checked
    assert spec["properties"]["ratio"] == {"type": "number", "exclusiveMinimum": 0}


# --- the real platform ---------------------------------------------------------------------------------------------


def planted(platform: Platform, owner: str, kind: str, plant: Any) -> tuple[Platform, PlatformObject]:
    """`platform` with one object of `owner` and `kind` changed by `plant` (which edits a copy in place)."""
    objects = list(platform.objects)
    index = next(i for i, o in enumerate(objects) if o.owner == owner and o.kind == kind)
    changed = copy.deepcopy(dict(objects[index].object))
    plant(changed)
    objects[index] = dataclasses.replace(objects[index], object=changed)
    copy_of = Platform(platform.rendered, platform.expansion)
    copy_of.__dict__["objects"] = tuple(objects)  # the cached property, set as it would be computed
    return copy_of, objects[index]


def stage_findings(platform: Platform, crd_schemas: str) -> list[Finding]:
    return findings_with(PlatformValidator.of(platform, crd_schemas, load_crd_allowlist()), platform)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_object_of_every_environment_passes(platforms: dict[str, Platform], crd_schemas: str, env: str) -> None:
    validator = PlatformValidator.of(platforms[env], crd_schemas, load_crd_allowlist())
    stages = schema_findings(platforms[env], validator)
    assert stages["kubernetes"][0] == [] and stages["crd"][0] == []
    assert stages["kubernetes"][1] + stages["crd"][1] == len(platforms[env].objects)
    # Custom resources of the charts and Kubeflow paths, not only the stack's (the small example has no Kubeflow).
    assert stages["crd"][1] > (60 if env == "hub-example" else 100)


@pytest.mark.parametrize(
    ("owner", "kind"),
    [(STACK, "ServiceMonitor"), ("kube-prometheus-stack", "Prometheus"), ("kubeflow-pipelines", "VirtualService")],
)
def test_a_planted_unknown_field_in_a_custom_resource_fails_naming_it(
    platforms: dict[str, Platform], crd_schemas: str, owner: str, kind: str
) -> None:
    platform, item = planted(platforms["dev"], owner, kind, lambda obj: obj["spec"].update(colour="red"))
    (finding,) = stage_findings(platform, crd_schemas)
    assert finding.stage == "crd" and finding.object_ref == item.ref and item.ref.startswith(f"{owner}: ")
    assert finding.message.startswith("spec.colour: unknown field: the CRD ")


def test_a_planted_unknown_field_in_a_crd_fails_as_a_built_in_kind(
    platforms: dict[str, Platform], crd_schemas: str
) -> None:
    platform, item = planted(
        platforms["dev"], "kube-prometheus-stack", "CustomResourceDefinition", lambda obj: obj["spec"].update(x=1)
    )
    (finding,) = stage_findings(platform, crd_schemas)
    assert finding.stage == "kubernetes" and finding.object_ref == item.ref and "'x' was unexpected" in finding.message


def test_a_custom_resource_of_an_unserved_version_fails(platforms: dict[str, Platform], crd_schemas: str) -> None:
    platform, _ = planted(
        platforms["dev"], STACK, "ServiceMonitor", lambda obj: obj.update(apiVersion="monitoring.coreos.com/v1beta9")
    )
    (finding,) = stage_findings(platform, crd_schemas)
    assert "the CRD servicemonitors.monitoring.coreos.com (Application kube-prometheus-stack)" in finding.message
    assert "has no version v1beta9" in finding.message


def test_cilium_policies_on_prem_are_judged_by_the_catalog(platforms: dict[str, Platform], crd_schemas: str) -> None:
    onprem = platforms["onprem"]
    assert not any(crd.object["spec"]["group"] == "cilium.io" for crd in onprem.crds)  # the cluster layer's
    assert stage_findings(onprem, crd_schemas) == []
    platform, item = planted(onprem, STACK, "CiliumNetworkPolicy", lambda obj: obj["spec"].update(colour="red"))
    (finding,) = stage_findings(platform, crd_schemas)
    assert finding.object_ref == item.ref and "'colour' was unexpected" in finding.message
    # Where the cluster layer installs no cilium.io, nothing does.
    dev = PlatformValidator.of(platforms["dev"], crd_schemas, {})
    (finding,) = dev.validate(item.object)
    assert finding.message.startswith("apiVersion: nothing installs cilium.io/CiliumNetworkPolicy")


def test_an_allow_list_entry_lets_a_catalog_gap_through_and_rots_when_unused(
    platforms: dict[str, Platform], tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"  # a catalog without Cilium's schemas
    shutil.copytree(Path(crd_schemas_location()), catalog, ignore=shutil.ignore_patterns("cilium.io"))
    entry = "cilium.io/CiliumNetworkPolicy"
    onprem = PlatformValidator.of(platforms["onprem"], str(catalog), {})
    assert any(
        "no schema for cilium.io/CiliumNetworkPolicy" in f.message for f in findings_with(onprem, platforms["onprem"])
    )
    allowlist = {entry: "not in the catalog", "postgresql.cnpg.io/Cluster": "stale", "example.com/Gone": "stale"}
    use = AllowlistUse()
    for env in ("dev", "onprem"):
        validator = PlatformValidator.of(platforms[env], str(catalog), allowlist)
        assert [f for f in findings_with(validator, platforms[env]) if f.stage == "crd"] == []
        use.record(platforms[env], validator)
    stale = {f.message.split(":")[0]: f.message for f in use.stale(allowlist, "policies/crd-allowlist.yaml")}
    assert set(stale) == {"postgresql.cnpg.io/Cluster", "example.com/Gone"}
    assert "the platform installs its CRD (onprem: Application cloudnative-pg)" in stale["postgresql.cnpg.io/Cluster"]
    assert "matches nothing in the environments checked (dev, onprem)" in stale["example.com/Gone"]


def test_the_allow_list_holds_no_entry_the_platform_makes_needless(platforms: dict[str, Platform]) -> None:
    allowlist = load_crd_allowlist()
    for platform in platforms.values():
        validator = PlatformValidator.of(platform, crd_schemas_location(), allowlist)
        assert not any(f"{group}/{kind}" in allowlist for group, kind in validator.crds), platform.stack


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_app_overlay_applies_to_its_environment(
    platforms: dict[str, Platform], crd_schemas: str, env: str, tmp_path: Path
) -> None:
    """An app's custom resources need CRDs its environment installs: the on-prem model-serving overlay asked for an
    InferenceService where KServe is off (it needs the Istio ingress)."""
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        pytest.skip("no kustomize (kubectl or kustomize)")
    validator = PlatformValidator.of(platforms[env], crd_schemas, load_crd_allowlist())
    stack_objects = [m.object for m in platforms[env].rendered.manifests]
    findings, _ = apps.check_overlays(APPS_DIR, env, stack_objects, validator, tmp_path)
    assert findings == []


def test_memoized_results_are_those_of_a_fresh_validation(platforms: dict[str, Platform], crd_schemas: str) -> None:
    platform, _ = planted(platforms["staging"], STACK, "ServiceMonitor", lambda obj: obj["spec"].update(colour="red"))
    validate.clear_caches()
    conversion.clear_cache()
    fresh = {env: stage_findings(p, crd_schemas) for env, p in {**platforms, "planted": platform}.items()}
    cached = len(validate._results)
    again = {env: stage_findings(p, crd_schemas) for env, p in {**platforms, "planted": platform}.items()}
    assert again == fresh and len(fresh["planted"]) == 1
    assert len(validate._results) == cached  # every result came from the memo
    # The four environments share most objects: far fewer validations than objects.
    assert cached < 0.6 * sum(len(p.objects) for p in platforms.values())


# --- helpers -------------------------------------------------------------------------------------------------------


def crd_schemas_location() -> str:
    from .conftest import crd_schema_location

    location = crd_schema_location()
    if not Path(location).is_dir():
        pytest.skip(f"no CRD schemas at {location}")
    return location


def findings_with(validator: PlatformValidator, platform: Platform) -> list[Finding]:
    return [f for findings, _ in schema_findings(platform, validator).values() for f in findings]
