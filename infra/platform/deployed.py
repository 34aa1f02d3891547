"""Which platform components a rendered environment deploys, read back from what the program registered (each
component is a ComponentResource of type `mlops:<layer>:<class>`), so offline tools see exactly what ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.platform.component import PlatformComponent

if TYPE_CHECKING:
    from infra.offline.render import Rendered

COMPONENT_TYPE_PREFIX = "mlops:"


def _every_component_class() -> dict[str, type[PlatformComponent]]:
    import infra.cluster.onprem  # noqa: F401  (registers the on-prem services)
    import infra.components  # noqa: F401

    found: dict[str, type[PlatformComponent]] = {}
    pending = list(PlatformComponent.__subclasses__())
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending += cls.__subclasses__()
    return found


def deployed_components(rendered: Rendered) -> list[type[PlatformComponent]]:
    classes = _every_component_class()
    deployed = []
    for resource in rendered.run.resources:
        if resource.type.startswith(COMPONENT_TYPE_PREFIX) and resource.type.count(":") == 2:
            cls = classes.get(resource.type.rsplit(":", 1)[1])
            if cls is not None and cls.spec.name == resource.name:
                deployed.append(cls)
    return deployed
