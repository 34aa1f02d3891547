"""CEL validation rules of CRDs (`x-kubernetes-validations`), judged on the platform's custom resources as the API
server judges them on create (infra/expand/cel.py), and reported when they cannot be judged here."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from infra.cli.commands import load_crd_allowlist
from infra.expand import cel
from infra.expand.crd_schemas import as_received
from infra.expand.platform import Platform, PlatformObject
from infra.expand.schemas import PlatformValidator, schema_findings

SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('g-')", "message": "name must start with g-"},
        {"rule": "!has(self.metadata.labels)", "message": "labels are hidden from root rules"},
    ],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "!(has(self.selector) && has(self.targetRef))", "message": "one of selector or targetRef"},
                {"rule": "self.replicas <= self.maxReplicas", "fieldPath": ".replicas", "reason": "FieldValueInvalid"},
                {"rule": "self.replicas >= oldSelf.replicas", "message": "a transition rule: update only"},
            ],
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "maxReplicas": {"type": "integer", "default": 3},
                "selector": {"type": "object", "additionalProperties": {"type": "string"}},
                "targetRef": {"type": "string"},
                "timeout": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "duration(self) >= duration('1ms')"}],
                },
                "hosts": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "x-kubernetes-validations": [
                            {
                                "rule": "self.lowerAscii() == self",
                                "messageExpression": "'host ' + self + ' must be lower case'",
                            }
                        ],
                    },
                },
                "labels": {
                    "type": "object",
                    "x-kubernetes-validations": [{"rule": "self.all(key, !key.contains('*'))", "message": "no *"}],
                    "additionalProperties": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self.size() <= 8", "message": "value too long"}],
                    },
                },
                "memory": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "quantity(self).isGreaterThan(quantity('1Mi'))"}],
                },
            },
        },
    },
}


def string_schema(rule: str) -> dict[str, Any]:
    """An object whose one string `v` carries `rule`."""
    return {"type": "object", "properties": {"v": {"type": "string", "x-kubernetes-validations": [{"rule": rule}]}}}


def gadget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g-one", "labels": {"a": "b"}},
        "spec": {"replicas": 1, **spec},
    }


def judged(obj: dict[str, Any]) -> cel.Judgement:
    """As the `crd` stage judges: defaults applied first."""
    return cel.judge(SCHEMA, as_received(obj, SCHEMA))


def failures(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(failure.path, failure.message) for failure in judged(obj).failures]


def test_a_resource_that_keeps_every_rule_passes() -> None:
    good = gadget(selector={"app": "x"}, timeout="5s", hosts=["a.example.com"], labels={"team": "ml"})
    assert judged(good) == cel.Judgement((), ())


def test_each_rule_judges_the_value_its_node_describes() -> None:
    bad = gadget(
        selector={"app": "x"},
        targetRef="svc",
        maxReplicas=0,
        timeout="0s",
        hosts=["ok.example.com", "Bad.Example.com"],
        labels={"team*": "far-too-long"},
    )
    bad["metadata"]["name"] = "other"
    assert failures(bad) == [
        ("(root)", "name must start with g-"),
        ("spec", "one of selector or targetRef"),
        ("spec.replicas", "failed rule: self.replicas <= self.maxReplicas"),
        ("spec.timeout", "failed rule: duration(self) >= duration('1ms')"),
        ("spec.hosts[1]", "host Bad.Example.com must be lower case"),
        ("spec.labels", "no *"),
        ("spec.labels.team*", "value too long"),
    ]


def test_absent_values_are_not_judged_and_transition_rules_wait_for_an_update() -> None:
    assert failures({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g-x"}}) == []
    assert failures(gadget()) == []  # `self.replicas >= oldSelf.replicas` would fail on create if it were judged


def test_a_rule_calling_a_library_not_provided_is_reported_not_passed() -> None:
    judgement = judged(gadget(memory="2Gi"))
    assert judgement.failures == ()
    (unjudged,) = judgement.unjudged
    assert unjudged.rule == "quantity(self).isGreaterThan(quantity('1Mi'))"
    assert unjudged.reason.startswith("it calls ") and unjudged.reason.endswith(", which is not provided here")


def test_a_rule_that_cannot_be_evaluated_on_the_resource_fails_as_the_api_server_refuses_it() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.size > 1"}], "properties": {}}
    (failure,) = cel.judge(schema, {"name": "x"}).failures
    assert failure.path == "(root)" and failure.message.startswith("the rule 'self.size > 1' cannot be evaluated: ")


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("self.upperAscii() == 'AB-C'", "ab-c"),
        ("self.charAt(1) == 'b' && self.indexOf('c') == 2 && self.lastIndexOf('a') == 3", "abca"),
        ("self.replace('-', '.') == 'a.b.c' && self.split('-').size() == 3", "a-b-c"),
        ("self.substring(1, 3) == 'bc' && self.trim() == self", "abcd"),
        ("self.split(',').join('+') == 'x+y'", "x,y"),
        ("self.find('[0-9]+') == '42' && self.findAll('[a-z]').size() == 2", "ab42"),
        ("[1, 2, 3].isSorted() && [1, 2, 3].sum() == 6 && [3, 1].min() == 1 && [3, 1].max() == 3", "x"),
    ],
)
def test_kubernetes_string_list_and_regex_functions(rule: str, value: str) -> None:
    assert cel.judge(string_schema(rule), {"v": value}) == cel.Judgement((), ())


# --- through the `crd` stage, on the real platform -------------------------------------------------------------------


def with_changed(platform: Platform, kind: str, name: str, change: Any) -> tuple[Platform, PlatformObject]:
    objects = list(platform.objects)
    index = next(i for i, o in enumerate(objects) if o.kind == kind and o.object["metadata"]["name"] == name)
    changed = copy.deepcopy(dict(objects[index].object))
    change(changed)
    objects[index] = dataclasses.replace(objects[index], object=changed)
    copy_of = Platform(platform.rendered, platform.expansion)
    copy_of.__dict__["objects"] = tuple(objects)
    return copy_of, objects[index]


def crd_findings(platform: Platform, crd_schemas: str) -> list[Any]:
    validator = PlatformValidator.of(platform, crd_schemas, load_crd_allowlist())
    return schema_findings(platform, validator)["crd"][0]


def test_an_istio_policy_breaking_its_crds_rule_fails_the_crd_stage(
    platforms: dict[str, Platform], crd_schemas: str
) -> None:
    def both(policy: dict[str, Any]) -> None:
        policy["spec"]["selector"] = {"matchLabels": {"app": "ml-pipeline"}}
        policy["spec"]["targetRef"] = {"kind": "Service", "group": "", "name": "ml-pipeline"}

    platform, item = with_changed(platforms["dev"], "AuthorizationPolicy", "ml-pipeline", both)
    (finding,) = crd_findings(platform, crd_schemas)
    assert finding.object_ref == item.ref and finding.severity == "error"
    assert finding.message == "spec: only one of targetRefs or selector can be set"


def test_a_wildcard_label_value_is_refused_by_istios_rule(platforms: dict[str, Platform], crd_schemas: str) -> None:
    def wildcard(policy: dict[str, Any]) -> None:
        policy["spec"]["selector"] = {"matchLabels": {"app": "ml-*"}}

    platform, item = with_changed(platforms["dev"], "AuthorizationPolicy", "ml-pipeline", wildcard)
    (finding,) = crd_findings(platform, crd_schemas)
    assert finding.message == "spec.selector.matchLabels.app: wildcard not allowed in label value match"


def gadget_validator() -> PlatformValidator:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}}],
        },
    }
    return PlatformValidator("1.34", "/nonexistent", {}, [PlatformObject("gadgets", crd, "gadgets.yaml")], ())


def test_the_crd_stage_fails_a_broken_rule_and_names_an_unjudged_one_once() -> None:
    validator = gadget_validator()
    error, advisory = validator.validate(gadget(memory="2Gi", maxReplicas=0))
    assert (error.severity, error.message) == ("error", "spec.replicas: failed rule: self.replicas <= self.maxReplicas")
    assert advisory.severity == "advisory"
    assert advisory.message.startswith("CEL rule of the CRD gadgets.example.com not judged (it calls ")
    assert advisory.message.endswith("): quantity(self).isGreaterThan(quantity('1Mi'))")
    assert validator.validate(gadget(memory="3Gi")) == []  # reported once per CRD and rule


def test_rules_are_judged_only_on_what_the_schema_accepts() -> None:
    # `replicas` of the wrong type: the schema's error alone, not a CEL evaluation error on top.
    assert [f.message for f in gadget_validator().validate(gadget(replicas="two"))] == [
        "spec.replicas: 'two' is not of type 'integer'"
    ]


def test_every_rule_of_every_crd_the_platform_installs_can_be_judged(platforms: dict[str, Platform]) -> None:
    """A chart bump that brings a rule calling a library not provided here (or one this evaluator cannot parse)
    fails here, before the rule goes unjudged."""
    rules: dict[str, set[str]] = {}

    def collect(node: Any, crd: str) -> None:
        if isinstance(node, dict):
            for entry in node.get("x-kubernetes-validations") or ():
                rules.setdefault(str(entry["rule"]), set()).add(crd)
            for value in node.values():
                collect(value, crd)
        elif isinstance(node, list):
            for value in node:
                collect(value, crd)

    for platform in platforms.values():
        for item in platform.crds:
            collect(item.object.get("spec"), item.name)
    assert len(rules) > 150
    missing = {rule: cel.missing_functions(rule) for rule in rules}
    assert {rule: sorted(names) for rule, names in missing.items() if names} == {}


def test_the_url_and_ip_libraries() -> None:
    cases = {
        'url(self).getScheme() in ["http", "https"]': ("https://issuer.example.com/jwks", "ftp://files"),
        "isURL(self)": ("/an/absolute/path", "a relative/path"),
        'url(self).getHostname() == "::1" && url(self).getPort() == "80"': ("http://[::1]:80/x", "http://[::1]/x"),
        'url(self).getHost() == "a.com:8080" && url(self).getQuery()["q"] == ["1", "2"]': (
            "http://a.com:8080/p?q=1&q=2",
            "http://a.com/p?q=1",
        ),
        "isCIDR(self)": ("10.0.0.0/8", "10.0.0.1"),
        "isIP(self)": ("fe80::1", "fe80::1%eth0"),
    }
    for rule, (good, bad) in cases.items():
        schema = {
            "type": "object",
            "properties": {"v": {"type": "string", "x-kubernetes-validations": [{"rule": rule}]}},
        }
        assert cel.judge(schema, {"v": good}) == cel.Judgement((), ()), rule
        assert [f.message for f in cel.judge(schema, {"v": bad}).failures] == [f"failed rule: {rule}"], rule
