"""A real stack file, edited, in a temporary directory: how tests try a setting on an example environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import CONFIG_KEY, InvalidEnvironment, load_stack_file
from tests.conftest import ENVIRONMENTS

Edit = Callable[[dict[str, Any]], Any]


def stack_copy(tmp_path: Path, env: str, edit: Edit) -> Path:
    """`environments/Pulumi.<env>.yaml` with `edit` applied to its platform settings, as a file in `tmp_path`."""
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{env}.yaml").read_text())
    edit(document["config"][CONFIG_KEY])
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def violations(tmp_path: Path, env: str, edit: Edit) -> list[str]:
    """What loading the edited copy refuses (it must refuse something)."""
    with pytest.raises(InvalidEnvironment) as caught:
        load_stack_file(stack_copy(tmp_path, env, edit))
    return [str(v) for v in caught.value.violations]
