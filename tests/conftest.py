from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.offline.render import Rendered, render_stack, stack_files

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPO / "environments"
ENV_NAMES = [path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in stack_files(ENVIRONMENTS)]


def crd_schema_location() -> str:
    return os.environ.get("MLOPS_CRD_SCHEMAS") or str(REPO.parent / "shared" / "schemas" / "crds")


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    """Every real environment rendered once under the mock engine."""
    return {name: render_stack(ENVIRONMENTS / f"Pulumi.{name}.yaml") for name in ENV_NAMES}


@pytest.fixture(scope="session")
def crd_schemas() -> str:
    location = crd_schema_location()
    if "{" not in location and not Path(location).is_dir():
        pytest.skip(f"no CRD schemas at {location}; set MLOPS_CRD_SCHEMAS")
    return location
