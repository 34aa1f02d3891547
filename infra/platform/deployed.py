"""Which platform components a rendered environment deploys, read back from what the program registered (each
component is a ComponentResource of type `mlops:<layer>:<class>`), so offline tools see exactly what ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.offline.render import Rendered
    from infra.platform.component import PlatformComponent

COMPONENT_TYPE_PREFIX = "mlops:"


def deployed_components(rendered: Rendered) -> list[type[PlatformComponent]]:
    from infra.components import EVERY_COMPONENT  # the components import the platform helpers

    classes = {cls.__name__: cls for cls in EVERY_COMPONENT}
    deployed = []
    for resource in rendered.run.resources:
        if resource.type.startswith(COMPONENT_TYPE_PREFIX) and resource.type.count(":") == 2:
            cls = classes.get(resource.type.rsplit(":", 1)[1])
            if cls is not None and cls.spec.name == resource.name:
                deployed.append(cls)
    return deployed
