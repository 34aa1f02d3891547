"""Every platform component, registered by module name: adding one is its module plus one line here.

A component module (infra/components/<name>.py) holds everything of its component: the one PlatformComponent
subclass it defines, with its spec, values, alerts, exported metric families and the Secrets it reads, its upstream
`sources` (catalog entries with their default pins) and its `settings` model. The catalog (infra/catalog.py) and the
Environment's `components:` settings (infra/config/model.py) are gathered from the modules registered here.

Components are declared in this order. One that installs CRDs comes before those that create its custom resources
(kube-prometheus-stack before everything that declares a ServiceMonitor). Sync waves come from each component's
declared dependencies (infra/platform/ordering.py), not from this order.
"""

from __future__ import annotations

from importlib import import_module

from infra.platform.component import PlatformComponent

BOOTSTRAP_MODULE = "argocd"
"""Argo CD, which the stack installs first and which syncs every other component."""
COMPONENT_MODULES = (
    "monitoring",
    "thanos",
    "cert_manager",
    "istio",
    "traefik",
    "external_dns",
    "metrics_server",
    "dcgm_exporter",
    "gpu_operator",
    "eck",
    "logging",
    "longhorn",
    "knative",
    "keda",
    "external_secrets",
    "velero",
    "oauth2_proxy",
    "kubeflow",
    "kuberay",
    "kserve",
    "mlflow",
    "feast",
)
ONPREM_SERVICE_MODULES = ("metallb", "minio", "cloudnative_pg", "harbor", "nats")
"""The on-prem replacements of cloud services, which the on-prem cluster layer adds (infra/cluster/onprem.py)."""


def defined_components(module_name: str) -> list[type[PlatformComponent]]:
    """The PlatformComponent subclasses infra/components/<module_name>.py defines (not those it imports)."""
    module = import_module(f"{__name__}.{module_name}")
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, PlatformComponent) and value.__module__ == module.__name__
    ]


def component_of(module_name: str) -> type[PlatformComponent]:
    """The one PlatformComponent subclass infra/components/<module_name>.py defines."""
    defined = defined_components(module_name)
    if len(defined) != 1:
        names = ", ".join(sorted(component.__name__ for component in defined)) or "none"
        raise TypeError(
            f"infra/components/{module_name}.py must define one PlatformComponent subclass; it defines {names}"
        )
    return defined[0]


BOOTSTRAP = component_of(BOOTSTRAP_MODULE)
COMPONENTS: tuple[type[PlatformComponent], ...] = tuple(component_of(name) for name in COMPONENT_MODULES)
ONPREM_SERVICES: tuple[type[PlatformComponent], ...] = tuple(component_of(name) for name in ONPREM_SERVICE_MODULES)
EVERY_COMPONENT: tuple[type[PlatformComponent], ...] = (BOOTSTRAP, *COMPONENTS, *ONPREM_SERVICES)
"""Every component some environment may install, for what is gathered from all of them (catalog, settings, the
exported metric families)."""

__all__ = [
    "BOOTSTRAP",
    "COMPONENTS",
    "EVERY_COMPONENT",
    "ONPREM_SERVICES",
    "component_of",
    "defined_components",
]
