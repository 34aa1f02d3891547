"""Applications that leave fields to the controllers that write them (ignoreDifferences)."""

from __future__ import annotations

import pytest

from infra.platform.argocd_app import IgnoredDifference
from infra.platform.component import ComponentSpec


def test_an_ignored_difference_is_written_as_argo_cd_reads_it() -> None:
    entry = IgnoredDifference("roles", "rbac.authorization.k8s.io", "ClusterRole", "admin", ("/rules",), "w")
    assert entry.spec() == {
        "group": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "admin",
        "jsonPointers": ["/rules"],
    }
    assert IgnoredDifference("a", "", "ConfigMap", "c", ("/data",), "w", namespace="ns").spec()["namespace"] == "ns"


def test_an_ignore_must_name_an_application_of_its_component() -> None:
    stray = IgnoredDifference("elsewhere", "", "ConfigMap", "x", ("/data",), "hpa-controller")
    with pytest.raises(ValueError, match="ignore_differences names Application 'elsewhere'"):
        ComponentSpec(name="demo", layer="platform", namespace="demo", ignore_differences=(stray,))
