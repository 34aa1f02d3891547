from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from infra.cluster import ClusterFacts, Database, ObjectStore, StorageClasses, WorkloadIdentity
from infra.expand.expansion import Expander
from infra.expand.platform import Platform
from infra.offline.render import Rendered, render_stack, stack_files
from infra.platform.namespace import declared_allowances

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPO / "environments"
ENV_NAMES = [path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in stack_files(ENVIRONMENTS)]
SHARED = REPO.parent / "shared"
# The expansion's caches default to the shared copies beside the repository when they are there
# (infra/expand/caches.py); without them (and without MLOPS_*_CACHE set) it fails naming the missing source.


def crd_schema_location() -> str:
    return os.environ.get("MLOPS_CRD_SCHEMAS") or str(SHARED / "schemas" / "crds")


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    """Every real environment rendered once under the mock engine."""
    return {name: render_stack(ENVIRONMENTS / f"Pulumi.{name}.yaml") for name in ENV_NAMES}


@pytest.fixture(scope="session")
def expander() -> Expander:
    """One expander for the session: charts, trees and rendered sources are loaded once."""
    return Expander()


@pytest.fixture(scope="session")
def platforms(rendered: dict[str, Rendered], expander: Expander) -> dict[str, Platform]:
    """Every real environment with what its Applications and Helm releases apply."""
    return {name: Platform(stack, expander.expand(stack)) for name, stack in rendered.items()}


@pytest.fixture(scope="session")
def crd_schemas() -> str:
    location = crd_schema_location()
    if "{" not in location and not Path(location).is_dir():
        pytest.skip(f"no CRD schemas at {location}; set MLOPS_CRD_SCHEMAS")
    return location


def allowances(r: Rendered, namespace: str | None = None) -> dict[str, dict[str, Any]]:
    """The allowances of `namespace` (or, keyed `<namespace>/<name>`, of every namespace), read back from the
    rendered NetworkPolicies: each with its `direction`, `rule` and `podSelector`."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for m in r.manifests:
        if m.object["kind"] == "NetworkPolicy":
            policies.setdefault(m.object["metadata"]["namespace"], []).append(m.object)
    if namespace is not None:
        return declared_allowances(policies.get(namespace, []))
    return {f"{ns}/{name}": a for ns, found in policies.items() for name, a in declared_allowances(found).items()}


def onprem_facts(database: Database | None = None, identities: dict[str, str] | None = None) -> ClusterFacts:
    """On-prem cluster facts for a helper tested on its own: the Kubernetes provider is never touched."""
    return ClusterFacts(
        target="onprem",
        provider=None,  # type: ignore[arg-type]
        storage=StorageClasses(default="standard", fast="fast"),
        object_store=ObjectStore(kind="s3", endpoint="http://s3", buckets={}, credentials="secret"),
        registry="registry.example.com",
        load_balancer="metallb",
        cni="cilium",
        has_metrics_server=False,
        identity=WorkloadIdentity(identities or {}),
        database=database,
    )
