"""Kubeflow complete (issue #17, item 1): the web apps the central dashboard links to are deployed, the dashboard
links to nothing that is not, and the models web app's own KServe band is in the compatibility matrix."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import compat
from infra.catalog import CATALOG
from infra.components.kubeflow import KUBEFLOW_PARTS, PARTS
from infra.components.kubeflow_dashboard import (
    DASHBOARD_CONFIG,
    DASHBOARD_PART,
    LINKS_KEY,
    MENU,
    dashboard_links,
)
from infra.config import InvalidEnvironment, load_stack_file
from infra.expand.caches import Caches
from infra.expand.expansion import Expander
from infra.expand.platform import Platform, PlatformObject
from infra.offline.render import Rendered, render_stack
from infra.platform import labels

from .conftest import ENVIRONMENTS

GATEWAY = "kubeflow-gateway"
KUBEFLOW_NAMESPACE = "kubeflow"
WEB_APPS = {
    "kubeflow-volumes-web-app": "/volumes/",
    "kubeflow-tensorboards-web-app": "/tensorboards/",
    "kubeflow-models-web-app": "/kserve-endpoints/",
}
UPSTREAM_LINKS = "applications/centraldashboard/upstream/overlays/kserve/patches/configmap.yaml"


# --- helpers -------------------------------------------------------------------------------------------------------


def kubeflow_platforms(platforms: dict[str, Platform]) -> dict[str, Platform]:
    found = {name: p for name, p in platforms.items() if p.env.components.kubeflow.enabled}
    assert found, "no example environment runs Kubeflow"
    return found


def dashboard_document(platform: Platform) -> dict[str, Any]:
    """The `links` document of the dashboard's ConfigMap as its Application applies it."""
    maps = [
        o
        for o in platform.objects
        if o.owner == DASHBOARD_PART and o.kind == "ConfigMap" and o.name.startswith(DASHBOARD_CONFIG)
    ]
    assert len(maps) == 1, f"{platform.env.name}: {len(maps)} ConfigMaps {DASHBOARD_CONFIG}"
    return json.loads(maps[0].object["data"][LINKS_KEY])


def links(document: Mapping[str, Any]) -> Iterator[str]:
    """Every in-cluster link of a dashboard document (menu entries, their sections' items, quick links)."""
    for entry in (*document.get("menuLinks", ()), *document.get("quickLinks", ())):
        if "link" in entry:
            yield entry["link"]
        for item in entry.get("items", ()):
            yield item["link"]


def routes(platform: Platform) -> dict[str, PlatformObject]:
    """The URI prefixes the Kubeflow gateway routes, each to the VirtualService that routes it."""
    found: dict[str, PlatformObject] = {}
    for item in platform.objects:
        if item.kind != "VirtualService" or item.namespace != KUBEFLOW_NAMESPACE:
            continue
        gateways = item.object["spec"].get("gateways") or ()
        if not {GATEWAY, f"{KUBEFLOW_NAMESPACE}/{GATEWAY}"} & set(gateways):
            continue
        for route in item.object["spec"].get("http") or ():
            for match in route.get("match") or ():
                prefix = (match.get("uri") or {}).get("prefix")
                if prefix:
                    found[prefix] = item
    return found


def services(platform: Platform) -> set[str]:
    return {f"{o.name}.{o.namespace}" for o in platform.objects if o.kind == "Service"}


def dead_links(platform: Platform, document: Mapping[str, Any]) -> list[str]:
    """The document's links that no web app serves: the longest route prefix matching each must be another than the
    dashboard's own catch-all `/`, and every Service its VirtualService sends to must be deployed."""
    known = routes(platform)
    deployed = services(platform)
    dead = []
    for link in links(document):
        path = link.split("#", 1)[0]
        prefixes = [prefix for prefix in known if path.startswith(prefix) and prefix != "/"]
        if not prefixes:
            dead.append(f"{link}: no VirtualService on {GATEWAY} routes it")
            continue
        service = known[max(prefixes, key=len)]
        for route in service.object["spec"]["http"]:
            for destination in route.get("route") or ():
                host = destination["destination"]["host"].removesuffix(".svc.cluster.local")
                if "." not in host:
                    host = f"{host}.{service.namespace}"
                if host not in deployed:
                    dead.append(f"{link}: {service.ref} sends to Service {host}, which is not deployed")
    return dead


def stack_copy(tmp_path: Path, env: str, components: Mapping[str, Mapping[str, Any]], **settings: Any) -> Path:
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    platform = document["config"]["mlops-platform:platform"]
    for component, change in components.items():
        platform["components"].setdefault(component, {}).update(change)
    platform.update(settings)
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def application(r: Rendered, name: str) -> dict[str, Any] | None:
    return next(
        (m.object for m in r.manifests if m.object["kind"] == "Application" and m.object["metadata"]["name"] == name),
        None,
    )


def wave(r: Rendered, name: str) -> int:
    app = application(r, name)
    assert app is not None, name
    return int(app["metadata"]["annotations"][labels.SYNC_WAVE])


@pytest.fixture(scope="module")
def without_kserve(tmp_path_factory: pytest.TempPathFactory, expander: Expander) -> Platform:
    """dev with KServe off (and the model-serving app, which needs it): Kubeflow without the models web app."""
    argocd = yaml.safe_load((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())["config"]["mlops-platform:platform"]
    apps = [app for app in (argocd.get("argocd") or {}).get("apps", []) if app != "model-serving"]
    path = stack_copy(
        tmp_path_factory.mktemp("dev"),
        "dev",
        {"kserve": {"enabled": False}},
        argocd={**(argocd.get("argocd") or {}), "apps": apps},
    )
    stack = render_stack(path)
    return Platform(stack, expander.expand(stack))


# --- the parts -----------------------------------------------------------------------------------------------------


def test_every_catalog_part_is_deployed_at_a_stage() -> None:
    assert {part.key for part in PARTS} == {f"kubeflow-{key}" for key in KUBEFLOW_PARTS}
    assert len({part.key for part in PARTS}) == len(PARTS)
    for key in WEB_APPS:
        assert CATALOG[key].path.startswith("applications/") and CATALOG[key].version == "26.03"


def test_the_web_apps_expand_and_follow_the_controllers_whose_objects_they_list(
    platforms: dict[str, Platform], rendered: dict[str, Rendered]
) -> None:
    for name, platform in kubeflow_platforms(platforms).items():
        owners = {o.owner for o in platform.objects}
        for key in (*WEB_APPS, "kubeflow-pvcviewer-controller", "kubeflow-tensorboard-controller"):
            if key == "kubeflow-models-web-app" and not platform.env.components.kserve.enabled:
                continue
            assert key in owners, f"{name}: {key} applies nothing"
        r = rendered[name]
        assert wave(r, "kubeflow-pvcviewer-controller") < wave(r, "kubeflow-volumes-web-app")
        assert wave(r, "kubeflow-tensorboard-controller") < wave(r, "kubeflow-tensorboards-web-app")
        assert max(wave(r, part.key) for part in PARTS if application(r, part.key)) == wave(r, DASHBOARD_PART)
        if platform.env.components.kserve.enabled:
            assert wave(r, "kserve") < wave(r, "kubeflow-models-web-app")
        crds = {o.name for o in platform.objects if o.kind == "CustomResourceDefinition"}
        assert {"pvcviewers.kubeflow.org", "tensorboards.tensorboard.kubeflow.org"} <= crds, name


# --- the dashboard's links -----------------------------------------------------------------------------------------


def test_every_dashboard_link_reaches_a_deployed_web_app(platforms: dict[str, Platform]) -> None:
    for name, platform in kubeflow_platforms(platforms).items():
        document = dashboard_document(platform)
        assert dead_links(platform, document) == [], name
        assert {link for link in links(document) if link in WEB_APPS.values()} == {
            path for key, path in WEB_APPS.items() if any(o.owner == key for o in platform.objects)
        }, name


def test_a_link_to_a_web_app_not_deployed_is_found(without_kserve: Platform) -> None:
    """The finder fails: the upstream document (every web app) on a platform without KServe's models web app."""
    everything = dashboard_links([part.key for part in PARTS])
    assert dead_links(without_kserve, everything) == [
        "/kserve-endpoints/: no VirtualService on kubeflow-gateway routes it"
    ]


def test_without_kserve_the_models_web_app_and_its_link_are_left_out(without_kserve: Platform) -> None:
    assert not any(o.owner == "kubeflow-models-web-app" for o in without_kserve.objects)
    assert "kubeflow-models-web-app" not in {d.name for d in without_kserve.deployers}
    document = dashboard_document(without_kserve)
    assert "/kserve-endpoints/" not in set(links(document))
    assert dead_links(without_kserve, document) == []
    assert [entry["text"] for entry in document["menuLinks"]] == [
        entry["text"] for part, entry in MENU if part != "kubeflow-models-web-app"
    ]


def test_with_every_part_the_links_are_upstreams(platforms: dict[str, Platform]) -> None:
    """The platform writes the document itself (to leave out what is off); with every part, it is the one of the
    pinned release, so a new release's links show up here."""
    caches = Caches.from_environment()
    tree = caches.git_tree(CATALOG[DASHBOARD_PART].repo_url, CATALOG[DASHBOARD_PART].version)
    upstream = yaml.safe_load((tree / UPSTREAM_LINKS).read_text())["data"][LINKS_KEY]
    assert dashboard_links([part.key for part in PARTS]) == json.loads(upstream)
    full = [p for p in kubeflow_platforms(platforms).values() if p.env.components.kserve.enabled]
    assert full, "no example environment runs Kubeflow with KServe"
    for platform in full:
        assert dashboard_document(platform) == json.loads(upstream), platform.env.name


# --- the models web app and KServe ---------------------------------------------------------------------------------


def test_the_models_web_app_carries_its_own_untested_pair(rendered: dict[str, Rendered]) -> None:
    kserve = CATALOG["kserve"].version
    own = (
        f"kserve {kserve} is untested with kubeflow-models-web-app of Kubeflow 26.03 (KServe's models web app "
        "0.16.1); it accepts kserve 0.16-0.20 (tested with 0.16)"
    )
    assert compat.advisories({}, "1.34", {"kserve"}, "kubeflow-models-web-app") == [own]
    for name, r in rendered.items():
        app = application(r, "kubeflow-models-web-app")
        if app is None:
            continue
        assert own in app["metadata"]["annotations"][labels.ADVISORY], name
        for other in ("kubeflow-volumes-web-app", DASHBOARD_PART):
            assert own not in (application(r, other) or {})["metadata"]["annotations"].get(labels.ADVISORY, "")


def test_the_models_web_app_is_tested_against_its_own_kserve_band() -> None:
    """The part's band is compared apart from the release's: narrowed, KServe 0.20 is rejected for the part alone."""
    narrowed = compat.PartBands("a web app made for KServe 0.16", {"kserve": compat.Band((0, 16), ((0, 16), (0, 17)))})
    release = compat.MATRIX["26.03"]
    patched = compat.KubeflowRelease(release.pipelines, release.dependencies, {"kubeflow-models-web-app": narrowed})
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setitem(compat.MATRIX, "26.03", patched)
        found = [f for f in compat.findings({}, "1.34", {"kserve"}) if f.part]
    assert [(f.part, f.accepted) for f in found] == [("kubeflow-models-web-app", False)]
    assert "is not compatible with kubeflow-models-web-app of Kubeflow 26.03" in found[0].message()
    # Without KServe the part is not deployed, and nothing is compared.
    assert not [f for f in compat.findings({}, "1.34", {"istio"}) if f.part]


def test_a_kserve_pin_outside_the_models_web_apps_band_is_rejected(tmp_path: Path) -> None:
    path = stack_copy(tmp_path, "dev", {}, versions={"kserve": "v0.21.0", "kserve-crd": "v0.21.0"})
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(path)
    found = [str(v) for v in caught.value.violations]
    assert any("kserve v0.21.0 is not compatible with kubeflow-models-web-app of Kubeflow 26.03" in v for v in found)
