"""One place per component: a component module declares its spec, charts and settings, and one registration line in
infra/components/__init__.py is all the rest of the code needs; the catalog and the Environment's `components:`
settings are gathered from the registered modules."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from typing import Annotated

import pytest
from pydantic import Field, ValidationError

import infra.components
from infra.catalog import CATALOG, gathered, merged
from infra.cluster.cni import SOURCES as CLUSTER_SOURCES
from infra.components import (
    BOOTSTRAP,
    BOOTSTRAP_MODULE,
    COMPONENT_MODULES,
    EVERY_COMPONENT,
    ONPREM_SERVICE_MODULES,
    component_of,
    defined_components,
)
from infra.config.model import Components, assembled_components
from infra.config.settings.common import ComponentSettings, Settings
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.sources import Chart

REGISTERED = (BOOTSTRAP_MODULE, *COMPONENT_MODULES, *ONPREM_SERVICE_MODULES)


def test_every_module_that_defines_a_component_is_registered_once() -> None:
    modules = [info.name for info in pkgutil.iter_modules(infra.components.__path__)]
    with_component = {name for name in modules if defined_components(name)}
    assert with_component == set(REGISTERED), "a component module is not registered, or a helper module is"
    assert len(REGISTERED) == len(set(REGISTERED))
    assert [component.__module__.rsplit(".", 1)[1] for component in EVERY_COMPONENT] == list(REGISTERED)


def test_a_registered_module_must_define_exactly_one_component() -> None:
    with pytest.raises(TypeError, match=r"infra/components/kubeflow_images\.py must define one PlatformComponent"):
        component_of("kubeflow_images")


def test_each_component_declares_its_own_settings_model_in_its_module() -> None:
    declaring = [component for component in EVERY_COMPONENT if component.settings is not None]
    assert list(Components.model_fields) == [component.settings.key for component in declaring]
    for component in declaring:
        assert component.settings.model.__module__ == component.__module__, component.__name__
        field = Components.model_fields[component.settings.key]
        assert field.annotation is component.settings.model and field.description == component.settings.description
    # Argo CD's settings are the Environment's top-level `argocd:`; the on-prem services are set under `onprem:`.
    assert BOOTSTRAP.settings is None


def test_the_catalog_is_what_the_component_modules_and_the_cluster_layer_declare() -> None:
    expected = {**CLUSTER_SOURCES}
    for component in EVERY_COMPONENT:
        expected.update(component.sources)
    assert dict(CATALOG) == expected and CATALOG is gathered()
    assert sum(len(component.sources) for component in EVERY_COMPONENT) + len(CLUSTER_SOURCES) == len(CATALOG)


def test_a_catalog_entry_declared_by_two_modules_is_refused() -> None:
    chart = Chart("https://charts.example.com", "widget", "1.0.0", "widget")
    twice = r"'widget' is declared twice: in infra.components.a and in infra.components.b"
    with pytest.raises(ValueError, match=twice):
        merged([("infra.components.a", {"widget": chart}), ("infra.components.b", {"widget": chart})])


class WidgetSettings(Settings):
    enabled: bool = False
    """Install the widget."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """How many widget servers run."""


class Widget(PlatformComponent):
    """A component as a new module would write it: nothing outside this class names it but its registration."""

    spec = ComponentSpec(name="widget", layer="platform", namespace="widget")
    sources = {"widget": Chart("https://charts.example.com", "widget", "1.0.0", "widget")}
    settings = ComponentSettings("widget_server", WidgetSettings, "The widget server.")


def test_a_new_component_needs_only_its_module_and_its_registration() -> None:
    registered = (*EVERY_COMPONENT, Widget)
    components = assembled_components(registered)
    assert list(components.model_fields)[-1] == "widget_server"
    settings = components.model_validate({"widgetServer": {"enabled": True, "replicas": 3}})
    assert settings.widget_server == WidgetSettings(enabled=True, replicas=3)
    assert components().widget_server == WidgetSettings()
    schema = components.model_json_schema(by_alias=True)
    assert schema["properties"]["widgetServer"]["description"] == "The widget server."
    with pytest.raises(ValidationError, match="less than or equal to 5"):
        components.model_validate({"widgetServer": {"replicas": 6}})
    catalog = merged((component.__module__, component.sources) for component in registered)
    assert catalog["widget"].version == "1.0.0"


def test_a_settings_key_declared_twice_is_refused() -> None:
    class OtherWidget(Widget):
        pass

    with pytest.raises(ValueError, match=r"components.widget_server is declared twice"):
        assembled_components((Widget, OtherWidget))


@pytest.mark.parametrize(
    "first",
    [
        "infra.config",
        "infra.config.model",
        "infra.catalog",
        "infra.compat",
        "infra.components.kubeflow",
        "infra.components.monitoring",
        "infra.platform.component",
        "infra.cluster",
        "infra.observability.alertmanager",
    ],
)
def test_any_module_imports_first_in_a_new_process(first: str) -> None:
    """The layering that lets config gather from the components: component, platform, observability and cluster
    modules read the catalog and the Environment only when they run, so no import order trips over a cycle."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {first}; from infra.config.model import Environment, Components"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]
