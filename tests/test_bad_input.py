"""Property-based: invalid environments, made by mutating the real stack files, fail with path-named errors.

Each example takes one node of a real stack file and breaks it the way an adopter might: a wrong type, an
unknown key, a value outside an enum, a number out of range, a string that misses its pattern. Where to break
and how comes from the generated JSON Schema, so new settings are covered as they are added.
"""

from __future__ import annotations

import contextlib
import copy
import io
import ipaddress
import json
import re
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from infra.cli.__main__ import main
from infra.config import InvalidEnvironment, load_environment
from infra.config.errors import CONFIG_KEY, config_path
from infra.config.formats import FORMATS

from .conftest import ENV_NAMES, ENVIRONMENTS
from .format_values import FORMAT_VALUES

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "infra/config/environment.schema.json").read_text())
STACKS = {name: yaml.safe_load((ENVIRONMENTS / f"Pulumi.{name}.yaml").read_text()) for name in ENV_NAMES}
BOUNDED = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path_ = tuple[str | int, ...]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref, and pick the non-null branch of an Optional."""
    while True:
        if "$ref" in schema:
            schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            options = [option for option in schema["anyOf"] if option.get("type") != "null"]
            if len(options) != 1:
                return schema
            schema = options[0]
        else:
            return schema


def nodes(value: Any, schema: dict[str, Any], path: Path_ = ()) -> Iterator[tuple[Path_, Any, dict[str, Any]]]:
    """Every node of a real config with the schema it must satisfy."""
    schema = resolve(schema)
    yield path, value, schema
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                yield from nodes(item, schema["properties"][key], (*path, key))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from nodes(item, schema["items"], (*path, index))


NODES = [
    (name, path, value, schema)
    for name, stack in STACKS.items()
    for path, value, schema in nodes(stack["config"][CONFIG_KEY], SCHEMA)
]


@st.composite
def broken(draw: st.DrawFn, schema: dict[str, Any], value: Any) -> tuple[str, Any, str | None]:
    """(how, replacement, added key): a value this schema rejects."""
    kinds = ["type"]
    if schema.get("type") == "object":
        kinds.append("unknown-key")
    if "enum" in schema:
        kinds.append("enum")
    if schema.get("type") == "integer" and ("minimum" in schema or "maximum" in schema):
        kinds.append("range")
    if schema.get("type") == "string" and "pattern" in schema:
        kinds.append("pattern")
    how = draw(st.sampled_from(kinds))
    if how == "unknown-key":
        key = "zz" + draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
        return how, {**value, key: draw(st.integers())}, key
    if how == "enum":
        return how, draw(st.text(min_size=1, max_size=12).filter(lambda text: text not in schema["enum"])), None
    if how == "range":
        above = st.integers(schema["maximum"] + 1, schema["maximum"] + 10_000) if "maximum" in schema else st.nothing()
        below = st.integers(schema["minimum"] - 10_000, schema["minimum"] - 1) if "minimum" in schema else st.nothing()
        return how, draw(st.one_of(above, below)), None
    if how == "pattern":
        pattern = re.compile(schema["pattern"])
        return how, draw(st.text(max_size=20).filter(lambda text: not pattern.search(text))), None
    wrong: dict[str, st.SearchStrategy[Any]] = {
        "string": st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.just("k"), st.integers())),
        "integer": st.sampled_from(["many", "ten", [1], {"n": 1}]),
        "boolean": st.sampled_from(["maybe", "sometimes", [True], {"on": True}]),
        "object": st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2)),
        "array": st.one_of(st.integers(), st.just({"not": "a list"})),
    }
    return how, draw(wrong.get(schema.get("type"), st.just([["not", "valid"]]))), None


def mutate(stack: dict[str, Any], path: Path_, replacement: Any) -> dict[str, Any]:
    changed = copy.deepcopy(stack)
    if not path:
        changed["config"][CONFIG_KEY] = replacement
        return changed
    node = changed["config"][CONFIG_KEY]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = replacement
    return changed


@st.composite
def invalid_stacks(draw: st.DrawFn) -> tuple[str, Path_, str, dict[str, Any]]:
    name, path, value, schema = draw(st.sampled_from(NODES))
    how, replacement, key = draw(broken(schema, value))
    named = (*path, key) if key is not None else path
    return name, named, how, mutate(STACKS[name], path, replacement)


@BOUNDED
@given(invalid_stacks())
def test_an_invalid_environment_names_the_path_to_fix(case: tuple[str, Path_, str, dict[str, Any]]) -> None:
    name, path, how, stack = case
    try:
        load_environment(stack["config"][CONFIG_KEY], name)
    except InvalidEnvironment as error:
        paths = [violation.path for violation in error.violations]
        assert paths and all(p.startswith(CONFIG_KEY) for p in paths), paths
        where = config_path(path)
        assert any(p.startswith(where) or where.startswith(p) for p in paths), (how, where, paths)
        assert "Traceback" not in error.report()
    else:
        raise AssertionError(f"{how} at {config_path(path)} was accepted")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_stacks())
def test_the_cli_exits_2_with_the_path_and_renders_nothing(case: tuple[str, Path_, str, dict[str, Any]]) -> None:
    name, path, _, stack = case
    with tempfile.TemporaryDirectory() as tmp:
        environments, out = Path(tmp) / "environments", Path(tmp) / "out"
        environments.mkdir()
        (environments / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(["render", "--environments", str(environments), "--out", str(out)])
        assert code == 2, stderr.getvalue()
        assert CONFIG_KEY in stderr.getvalue() and "Traceback" not in stderr.getvalue()
        assert not out.exists()


# --- formats: every value of the right type that its consumer would refuse is refused at load ---------------

# Real stacks with every optional section set, so that every setting that has a format is somewhere to break.
FULL_GKE: dict[str, Any] = {
    "gke": {
        "network": {
            "subnetCidr": "10.10.0.0/20",
            "podsCidr": "10.20.0.0/14",
            "servicesCidr": "10.24.0.0/20",
            "masterCidr": "172.16.0.0/28",
        },
        "pubsubTopics": ["model-events", "feature-updates"],
    },
    "components": {
        "certManager": {"acmeSolver": "dns01", "cloudDnsProject": "mlops-dev-123456", "cloudDnsZone": "dev-ml"},
        "kuberay": {"enabled": True, "rayVersion": "2.52.0"},
        "externalDns": {
            "provider": "google",
            "googleProject": "mlops-dev-123456",
            "domainFilters": ["ml.example.com"],
        },
        "monitoring": {
            "grafana": {
                "sso": {
                    "clientId": "grafana-dev",
                    "clientSecret": {"existingSecret": "grafana-oauth", "key": "client-secret"},
                    "authUrl": "https://login.example.com/oauth2/authorize",
                    "tokenUrl": "https://login.example.com/oauth2/token",
                    "apiUrl": "https://login.example.com/oauth2/userinfo",
                    "allowedGroups": ["ml-platform"],
                    "adminGroups": ["ml-platform"],
                    "scopes": "openid email profile groups",
                }
            },
            "alerting": {
                "defaultReceiver": "platform-slack",
                "receivers": [
                    {
                        "name": "platform-slack",
                        "type": "slack",
                        "channel": "#ml-platform-alerts",
                        "secret": {"existingSecret": "alertmanager-slack", "key": "webhook-url"},
                    },
                    {"name": "platform-hook", "type": "webhook", "secret": {"configKey": "alertWebhook"}},
                ],
                "routes": [{"receiver": "platform-hook", "components": ["argo-cd"]}],
            },
        },
        "logging": {
            "enabled": True,
            "version": "9.4.3",
            "retention": "14d",
            "elasticsearch": {"heap": "1g", "memory": "2Gi", "cpu": "1", "storageSize": "50Gi"},
            "snapshots": {"schedule": "0 30 1 * * ?", "retention": "30d"},
        },
        "longhorn": {
            "snapshots": {"cron": "0 */6 * * *", "retain": 8},
            "backups": {"cron": "30 2 * * *", "retain": 14},
        },
        "keda": {
            "exampleWorker": {
                "enabled": True,
                "image": "registry.k8s.io/pause:3.10@sha256:" + "0" * 64,
                "redisAddress": "redis.ml-examples.svc.cluster.local:6379",
            }
        },
        "velero": {"schedules": [{"name": "nightly", "schedule": "0 3 * * *", "includeNamespaces": ["ml-serving"]}]},
        "feast": {"project": "platform"},
        "kubeflow": {
            "auth": {
                "emailClaim": "email",
                "groupsClaim": "groups",
                "requestedScopes": ["openid", "email", "groups"],
                "refreshInterval": "4m",
            }
        },
    },
    "gitops": {"repoUrl": "https://github.com/example-org/mlops-platform.git", "revision": "main"},
    "mirrors": {
        "charts": "oci://registry.example.com/charts",
        "images": "registry.example.com/mirror",
        "imageRegistries": {"docker.io": "europe-docker.pkg.dev/mlops-dev/docker-hub"},
        "git": {"https://github.com/": "https://git.example.com/github/"},
        "exceptions": [{"image": "gcr.io/knative-releases", "reason": "the nodes' containerd mirrors gcr.io"}],
    },
    "argocd": {
        "sso": {
            "issuer": "https://idp.example.com/realms/platform",
            "clientId": "argocd-dev",
            "clientSecret": {"name": "argocd-oidc", "key": "clientSecret"},
            "requestedScopes": ["openid", "groups"],
            "groupsClaim": "groups",
        },
        "rbac": {"bindings": [{"group": "platform-admins", "role": "admin"}]},
        "syncWindows": [
            {
                "kind": "deny",
                "schedule": "0 18 * * 5",
                "duration": "60h",
                "timeZone": "Europe/Berlin",
                "applications": ["model-*"],
            }
        ],
        "apps": ["model-serving"],
    },
}
FULL_ONPREM: dict[str, Any] = {
    "onprem": {
        "loadBalancer": {
            "mode": "bgp",
            "addresses": ["192.168.50.200-192.168.50.250", "fd00:50::/64"],
            "peers": [{"address": "192.168.50.1", "asn": 64512, "myAsn": 64513}],
        },
        "registry": {"provider": "existing", "url": "registry.corp.example.net/mlops"},
    },
    "objectStore": {"provider": "s3", "endpoint": "https://s3.corp.example.net:9000"},
    # Traefik's settings (the on-prem example runs Istio, for Kubeflow and KServe, which Traefik turns off).
    "ingress": {"provider": "traefik", "forwardAuthUrl": "http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth"},
    "components": {
        "kubeflow": {"enabled": False},
        "kserve": {"enabled": False},
        "externalSecrets": {"onpremStore": "vault", "vault": {"server": "https://vault.corp.example.net:8200"}},
        "externalDns": {"rfc2136": {"tsigKeyName": "mlops-platform.", "tsigSecret": "external-dns-tsig"}},
    },
}


def merged(base: Any, extra: Any) -> Any:
    """`base` with `extra` laid over it: mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in extra.items()}}
    return copy.deepcopy(extra)


def full_stack(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    stack = copy.deepcopy(STACKS[name])
    stack["config"][CONFIG_KEY] = merged(stack["config"][CONFIG_KEY], extra)
    return stack


def with_pool_labels(stack: dict[str, Any]) -> dict[str, Any]:
    pool = stack["config"][CONFIG_KEY]["gke"]["nodePools"][1]
    pool["labels"] = {"example.com/team": "batch"}
    pool["taints"] = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    return stack


FULL_STACKS = {"dev": with_pool_labels(full_stack("dev", FULL_GKE)), "onprem": full_stack("onprem", FULL_ONPREM)}

# (stack, path, format, what): where each format can be broken. `what` is "value" for a string setting or list
# item, "key" or "map-value" for the keys and values of a map such as a node pool's labels.
FORMAT_NODES = sorted(
    {
        (name, path, fmt, what)
        for name, stack in FULL_STACKS.items()
        for path, _, schema in nodes(stack["config"][CONFIG_KEY], SCHEMA)
        for fmt, what in [
            (schema.get("format"), "value"),
            (schema.get("propertyNames", {}).get("format"), "key"),
            (resolve(schema.get("additionalProperties") or {}).get("format"), "map-value"),
        ]
        if fmt is not None
    },
    key=str,
)


def placed(stack: dict[str, Any], path: Path_, what: str, value: str) -> tuple[dict[str, Any], Path_]:
    """The stack with `value` at `path` (as a new key or a new key's value for maps), and the path it has."""
    if what == "value":
        return mutate(stack, path, value), path
    node = stack["config"][CONFIG_KEY]
    for key in path:
        node = node[key]
    if what == "key":
        return mutate(stack, path, {**node, value: "batch"}), (*path, value)
    return mutate(stack, path, {**node, "example.com/tier": value}), (*path, "example.com/tier")


def refusal(value: str, fmt: str) -> str:
    return f"{value!r} is not {FORMATS[fmt].description}: "


def test_every_format_has_generated_values_and_a_place_to_break() -> None:
    assert set(FORMAT_VALUES) == set(FORMATS), "tests/format_values.py needs values for every format, and only those"
    assert {fmt for _, _, fmt, _ in FORMAT_NODES} == set(FORMATS), "FULL_GKE/FULL_ONPREM must set every format"


@pytest.mark.parametrize("name", sorted(FULL_STACKS))
def test_the_full_stacks_are_valid(name: str) -> None:
    load_environment(FULL_STACKS[name]["config"][CONFIG_KEY], name)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_values_of_a_format_are_accepted(fmt: str, data: st.DataObject) -> None:
    value = data.draw(FORMAT_VALUES[fmt].valid, label="value")
    assert TypeAdapter(Annotated[str, FORMATS[fmt]]).validate_python(value) == value
    # Where the format is used in a stack, the value passes too (a rule relating it to others may still object).
    name, path, _, what = data.draw(st.sampled_from([node for node in FORMAT_NODES if node[2] == fmt]), label="at")
    stack, where = placed(FULL_STACKS[name], path, what, value)
    try:
        load_environment(stack["config"][CONFIG_KEY], name)
    except InvalidEnvironment as error:
        refused = [v for v in error.violations if v.path == config_path(where) and refusal(value, fmt) in v.message]
        assert not refused, refused


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invalid_values_of_a_format_are_refused_naming_the_key(fmt: str, data: st.DataObject) -> None:
    value = data.draw(FORMAT_VALUES[fmt].invalid, label="value")
    name, path, _, what = data.draw(st.sampled_from([node for node in FORMAT_NODES if node[2] == fmt]), label="at")
    stack, where = placed(FULL_STACKS[name], path, what, value)
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(stack["config"][CONFIG_KEY], name)
    messages = [str(v) for v in caught.value.violations]
    assert f"{config_path(where)}: {refusal(value, fmt)}" in "\n".join(messages), messages
    assert "Traceback" not in caught.value.report()


ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text("0123456789.-/:@*,?eEimkMGT ", max_size=40),
    st.text(string.digits, min_size=4301, max_size=4400),  # past Python's limit on converting digits to int
    st.tuples(
        st.text(string.digits, min_size=1, max_size=3),
        st.sampled_from(["e", "E", "e-", "e+"]),
        st.text(string.digits, min_size=1, max_size=12),
    ).map("".join),
)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=ANY_TEXT)
def test_no_text_makes_a_format_check_fail_other_than_by_refusing(fmt: str, value: str) -> None:
    """Whatever is written, the check accepts it or refuses it with a message: never a traceback."""
    try:
        TypeAdapter(Annotated[str, FORMATS[fmt]]).validate_python(value)
    except ValidationError as error:
        assert [detail["type"] for detail in error.errors()] == ["format"], error


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_cli_refuses_a_format_with_exit_2_naming_the_key(data: st.DataObject) -> None:
    name, path, fmt, what = data.draw(st.sampled_from(FORMAT_NODES), label="at")
    value = data.draw(FORMAT_VALUES[fmt].invalid, label="value")
    stack, where = placed(FULL_STACKS[name], path, what, value)
    code, stderr, rendered = run_render(name, stack)
    assert code == 2, stderr
    assert f"{config_path(where)}: " in stderr and "Traceback" not in stderr, stderr
    assert not rendered


def run_render(name: str, stack: dict[str, Any]) -> tuple[int, str, bool]:
    """Exit code, stderr and whether anything was written, of `render` on a directory holding only `stack`."""
    with tempfile.TemporaryDirectory() as tmp:
        environments, out = Path(tmp) / "environments", Path(tmp) / "out"
        environments.mkdir()
        (environments / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(["render", "--environments", str(environments), "--out", str(out)])
        return code, stderr.getvalue(), out.exists()


# --- relations: well-formed values that cannot work together are refused at load, naming the key ----------


def platform(name: str) -> dict[str, Any]:
    """A fresh copy of a full stack's platform settings, to edit."""
    return copy.deepcopy(FULL_STACKS[name]["config"][CONFIG_KEY])


def refused_at(raw: dict[str, Any], name: str, path: Path_, fragment: str) -> None:
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, name)
    where = config_path(path)
    found = [str(v) for v in caught.value.violations]
    assert any(v.startswith(f"{where}: ") and fragment in v for v in found), (where, fragment, found)


RELATIONS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELATIONS
@given(st.integers(0, 2**32 - 256), st.integers(24, 30), st.integers(0, 255))
def test_overlapping_address_pools_are_refused(start: int, prefix: int, offset: int) -> None:
    network = ipaddress.IPv4Network((start, prefix), strict=False)
    inside = network.network_address + offset % network.num_addresses
    raw = platform("onprem")
    raw["onprem"]["loadBalancer"]["addresses"] = [str(network), f"{inside}-{inside}"]
    refused_at(raw, "onprem", ("onprem", "loadBalancer", "addresses", 1), f"overlaps {network}")
    if network.broadcast_address < ipaddress.IPv4Address(2**32 - 1):
        raw["onprem"]["loadBalancer"]["addresses"] = [str(network), f"{network.broadcast_address + 1}/32"]
        load_environment(raw, "onprem")


def test_two_bgp_peers_at_one_address_are_refused() -> None:
    raw = platform("onprem")
    peer = raw["onprem"]["loadBalancer"]["peers"][0]
    raw["onprem"]["loadBalancer"]["peers"] = [peer, {**peer, "asn": 64600}]
    refused_at(raw, "onprem", ("onprem", "loadBalancer", "peers", 1, "address"), "is used twice")


@RELATIONS
@given(st.integers(1, 64), st.integers(0, 64))
def test_an_elasticsearch_heap_must_stay_below_its_memory(memory_gi: int, extra_gi: int) -> None:
    raw = platform("dev")
    raw["components"]["logging"]["elasticsearch"] |= {"memory": f"{memory_gi}Gi", "heap": f"{memory_gi + extra_gi}g"}
    refused_at(raw, "dev", ("components", "logging", "elasticsearch", "heap"), "not below memory")
    raw["components"]["logging"]["elasticsearch"]["heap"] = f"{memory_gi * 512}m"
    load_environment(raw, "dev")


@RELATIONS
@given(st.sampled_from([2, 3]), st.integers(1, 16))
def test_a_minio_pool_needs_enough_volumes_to_erasure_code(servers: int, volumes: int) -> None:
    raw = platform("onprem")
    raw["objectStore"] = {"provider": "minio", "bucketPrefix": "mlops"}
    raw["onprem"]["minio"] = {"servers": servers, "volumesPerServer": volumes}
    if servers * volumes < {2: 4, 3: 6}[servers]:
        refused_at(raw, "onprem", ("onprem", "minio", "volumesPerServer"), f"{servers} servers need at least")
    else:
        load_environment(raw, "onprem")


@RELATIONS
@given(st.integers(0, 100), st.integers(0, 1000))
def test_knative_min_scale_is_not_above_max_scale(min_scale: int, max_scale: int) -> None:
    raw = platform("dev")
    raw["components"]["knative"]["autoscaling"] |= {"minScale": min_scale, "maxScale": max_scale}
    if max_scale and min_scale > max_scale:
        refused_at(raw, "dev", ("components", "knative", "autoscaling", "minScale"), f"above maxScale {max_scale}")
    else:
        load_environment(raw, "dev")


@RELATIONS
@given(FORMAT_VALUES["domain"].valid.filter(lambda domain: domain != "example.com"), st.booleans())
def test_team_members_need_an_allowed_e_mail_domain(domain: str, owner: bool) -> None:
    raw = platform("dev")
    team = raw["components"]["kubeflow"]["teams"][0]
    if owner:
        team["owner"] = f"dana@{domain}"
        path: Path_ = ("components", "kubeflow", "teams", 0, "owner")
    else:
        team["members"] = [*team["members"], f"dana@{domain}"]
        path = ("components", "kubeflow", "teams", 0, "members", len(team["members"]) - 1)
    refused_at(raw, "dev", path, "is not in an allowed e-mail domain (example.com)")
    raw["components"]["kubeflow"]["auth"]["allowedEmailDomains"] = ["example.com", domain]
    load_environment(raw, "dev")


def test_a_team_member_listed_twice_is_refused() -> None:
    raw = platform("dev")
    raw["components"]["kubeflow"]["teams"][0]["members"] = ["bob@example.com", "Bob@example.com"]
    refused_at(raw, "dev", ("components", "kubeflow", "teams", 0, "members", 1), "is used twice")


def test_a_team_gpu_quota_needs_a_gpu_pool() -> None:
    raw = platform("dev")
    raw["gke"]["nodePools"] = [pool for pool in raw["gke"]["nodePools"] if pool["role"] != "gpu"]
    refused_at(raw, "dev", ("components", "kubeflow", "teams", 0, "quota", "gpu"), "no node pool has role gpu")


@pytest.mark.parametrize(
    ("path", "items"),
    [
        (("gke", "pubsubTopics"), ["model-events", "model-events"]),
        (("argocd", "apps"), ["model-serving", "model-serving"]),
    ],
)
def test_names_that_become_one_resource_each_are_unique(path: Path_, items: list[str]) -> None:
    raw = platform("dev")
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = items
    refused_at(raw, "dev", (*path, 1), "is used twice (also at [0])")


def test_argocd_sign_in_asks_for_openid() -> None:
    raw = platform("dev")
    raw["argocd"]["sso"]["requestedScopes"] = ["profile", "groups"]
    refused_at(raw, "dev", ("argocd", "sso", "requestedScopes"), "must include openid")


@RELATIONS
@given(st.integers(10, 99), st.integers(1, 12))
def test_a_chart_is_pinned_by_a_semantic_version_and_a_git_source_by_its_tag(year: int, month: int) -> None:
    tag = f"{year}.{month:02d}"
    raw = platform("dev")
    raw["versions"] = {"kube-prometheus-stack": tag}
    refused_at(raw, "dev", ("versions", "kube-prometheus-stack"), "is a Helm chart, pinned by a semantic version")
    raw["versions"] = {"kube-prometheus-stack": "88.5.3"}
    load_environment(raw, "dev")


def test_node_pools_keep_their_role_label_and_unique_taints() -> None:
    raw = platform("dev")
    raw["gke"]["nodePools"][1]["labels"] = {"mlops.io/pool-role": "gpu"}
    refused_at(raw, "dev", ("gke", "nodePools", 1, "labels", "mlops.io/pool-role"), "set by the platform")
    raw = platform("dev")
    taint = {"key": "dedicated", "value": "a", "effect": "NoSchedule"}
    raw["gke"]["nodePools"][1]["taints"] = [taint, {**taint, "value": "b"}]
    refused_at(raw, "dev", ("gke", "nodePools", 1, "taints", 1, "key"), "is used twice")
    raw = platform("dev")
    raw["gke"]["nodePools"][2]["taints"] = [{"key": "nvidia.com/gpu", "value": "yes", "effect": "NoSchedule"}]
    refused_at(raw, "dev", ("gke", "nodePools", 2, "taints", 1, "key"), "is used twice")


@pytest.mark.parametrize(
    ("gpu", "machine", "count", "field", "fragment"),
    [
        ("nvidia-l4", "a2-highgpu-1g", 1, "machineType", "nvidia-l4 needs a machine type of g2-*"),
        ("nvidia-tesla-a100", "g2-standard-8", 1, "machineType", "a2-highgpu-* or a2-megagpu-*"),
        ("nvidia-tesla-t4", "e2-standard-8", 1, "machineType", "n1-*"),
        ("nvidia-l4", "g2-standard-24", 1, "count", "g2-standard-24 comes with 2 GPUs"),
        ("nvidia-tesla-a100", "a2-highgpu-4g", 2, "count", "a2-highgpu-4g comes with 4 GPUs"),
        ("nvidia-h100-80gb", "a3-highgpu-8g", 4, "count", "a3-highgpu-8g comes with 8 GPUs"),
    ],
)
def test_a_gpu_fits_its_machine_type(gpu: str, machine: str, count: int, field: str, fragment: str) -> None:
    raw = platform("dev")
    raw["gke"]["nodePools"][2] |= {"machineType": machine, "gpu": {"type": gpu, "count": count}}
    path: Path_ = ("gke", "nodePools", 2, field) if field == "machineType" else ("gke", "nodePools", 2, "gpu", field)
    refused_at(raw, "dev", path, fragment)


@pytest.mark.parametrize(
    ("name", "raw_edit", "path", "fragment"),
    [
        ("Dev_1", {}, ("name",), "the stack name 'Dev_1' (from the file name) is not usable"),
        ("d" * 35, {}, ("name",), "longer than 40 characters"),
        (
            "production",
            {"objectStore": {"bucketPrefix": "p" * 41}},
            ("objectStore", "bucketPrefix"),
            "bucket names have",
        ),
    ],
)
def test_the_stack_name_fits_the_names_made_from_it(
    name: str, raw_edit: dict[str, Any], path: Path_, fragment: str
) -> None:
    refused_at(merged(platform("dev"), raw_edit), name, path, fragment)


def test_dns_settings_cover_the_domain() -> None:
    raw = platform("dev")
    raw["components"]["externalDns"]["domainFilters"] = ["other.example.com"]
    refused_at(raw, "dev", ("components", "externalDns", "domainFilters"), "no platform record would be written")
    raw = platform("onprem")
    raw["components"]["externalDns"]["rfc2136"]["zone"] = "other.example.net"
    refused_at(raw, "onprem", ("components", "externalDns", "rfc2136", "zone"), "does not hold ml.corp.example.net")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 64))
def test_the_cli_refuses_a_relation_with_exit_2_naming_the_key(memory_gi: int) -> None:
    stack = copy.deepcopy(FULL_STACKS["dev"])
    stack["config"][CONFIG_KEY]["components"]["logging"]["elasticsearch"] |= {
        "memory": f"{memory_gi}Gi",
        "heap": f"{memory_gi}g",
    }
    code, stderr, rendered = run_render("dev", stack)
    assert code == 2, stderr
    assert f"{config_path(('components', 'logging', 'elasticsearch', 'heap'))}: " in stderr
    assert not rendered


def test_a_refused_item_of_a_list_that_needs_items_is_reported_once() -> None:
    """pydantic drops the refused item and then finds the list too short; only the item is the one to fix."""
    raw = platform("onprem")
    raw["onprem"]["loadBalancer"]["addresses"] = ["192.168.50.250-192.168.50.200"]
    with pytest.raises(InvalidEnvironment) as caught:
        load_environment(raw, "onprem")
    assert [v.path for v in caught.value.violations] == [
        config_path(("onprem", "loadBalancer", "addresses", 0)),
    ]
    raw["onprem"]["loadBalancer"]["addresses"] = []
    refused_at(raw, "onprem", ("onprem", "loadBalancer", "addresses"), "should have at least 1 item")
