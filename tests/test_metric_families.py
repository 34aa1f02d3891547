"""Every metric family the platform's alerts, recording rules and dashboards read is exported by a scrape target of
the same environment (infra/observability/exporters.py), and GPU telemetry follows the GPUs: the GPU alerts, AIOps
GPU rules and GPU panels exist exactly where a DCGM exporter runs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.components import EVERY_COMPONENT
from infra.components.dcgm_exporter import DcgmExporter
from infra.expand.platform import STACK, Platform
from infra.observability import exporters
from infra.observability.exporters import NOT_SCRAPED, exported_table

from .conftest import ENV_NAMES


def own(platform: Platform) -> list[dict[str, Any]]:
    return [dict(o.object) for o in platform.objects if o.owner == STACK]


def everything(platform: Platform) -> list[dict[str, Any]]:
    return [dict(o.object) for o in platform.objects]


TABLE = exported_table(EVERY_COMPONENT)


def gaps(objects: list[dict[str, Any]], own: list[dict[str, Any]]) -> exporters.Gaps:
    return exporters.gaps(objects, own, TABLE)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_family_read_is_exported_in_its_environment(platforms: dict[str, Platform], env: str) -> None:
    found = gaps(everything(platforms[env]), own(platforms[env]))
    assert not found.unknown_monitors, (
        f"{env}: monitors no component lists in exported_families: {found.unknown_monitors}"
    )
    assert not found.unexported, "\n".join(f"{env}: {reader} reads {family}" for reader, family in found.unexported)


def test_known_gaps_are_all_still_read(platforms: dict[str, Platform]) -> None:
    """A NOT_SCRAPED entry is dropped once nothing reads it (or its exporter is scraped)."""
    read = set().union(*(gaps(everything(p), own(p)).known for p in platforms.values()))
    assert set(NOT_SCRAPED) == read, f"stale NOT_SCRAPED entries: {sorted(set(NOT_SCRAPED) - read)}"


def test_every_table_entry_names_a_monitor_of_some_environment(platforms: dict[str, Platform]) -> None:
    monitors = {
        exporters.table_entry(exporters.monitor_key(o.object), TABLE)
        for p in platforms.values()
        for o in p.objects
        if o.kind in exporters.MONITOR_KINDS
    }
    assert set(TABLE) - monitors == set(), "exported_families entries no environment has"


def _rule(name: str, expr: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "extra", "namespace": "monitoring"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": name, "expr": expr}]}]},
    }


def test_a_family_nothing_exports_is_found(platforms: dict[str, Platform]) -> None:
    platform = platforms["onprem"]
    rules = [*own(platform), _rule("Nope", 'rate(nobody_exports_this_total{job="x"}[5m]) > 0')]
    found = gaps(everything(platform), rules)
    assert found.unexported == (("PrometheusRule monitoring/extra: alert Nope", "nobody_exports_this_total"),)


def test_a_family_of_an_exporter_of_another_environment_is_found(platforms: dict[str, Platform]) -> None:
    """GPU metrics count where a GPU exporter runs (dev's GKE GPU pool), not on a cluster without one."""
    rule = _rule("Gpu", "avg(DCGM_FI_DEV_GPU_UTIL) > 1")
    dev = platforms["dev"]
    assert gaps(everything(dev), [*own(dev), rule]).unexported == ()
    without_exporter = [o for o in everything(dev) if exporters.monitor_key(o) != "dcgm-exporter/dcgm-exporter"]
    found = gaps(without_exporter, [*own(dev), rule]).unexported
    assert ("PrometheusRule monitoring/extra: alert Gpu", "DCGM_FI_DEV_GPU_UTIL") in found


def test_a_dashboard_panel_is_judged_like_a_rule(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    dashboards = [
        o for o in own(platform) if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"]
    ]
    broken = copy.deepcopy(dashboards[0])
    key, text = next(iter(broken["data"].items()))
    board = json.loads(text)
    board["panels"][1]["targets"][0]["expr"] = "sum(longhorn_volume_robustness)"
    broken["data"][key] = json.dumps(board)
    found = gaps(everything(platform), [*own(platform), broken])
    assert [family for _, family in found.unexported] == ["longhorn_volume_robustness"]


def test_a_monitor_missing_from_the_table_is_found(platforms: dict[str, Platform]) -> None:
    platform = platforms["dev"]
    monitor = {"kind": "PodMonitor", "metadata": {"name": "new-thing", "namespace": "somewhere"}}
    assert gaps([*everything(platform), monitor], own(platform)).unknown_monitors == ("somewhere/new-thing",)


def test_the_gke_exporter_exports_what_its_table_entry_says(platforms: dict[str, Platform]) -> None:
    """The dcgm-exporter chart's metrics list (the ConfigMap its DaemonSet reads) holds DCGM_FI_DEV_GPU_UTIL, and
    only families of its table entry."""
    lists = [
        o.object
        for o in platforms["dev"].objects
        if o.owner == "dcgm-exporter" and o.kind == "ConfigMap" and o.name == "exporter-metrics-config-map"
    ]
    assert len(lists) == 1
    fields = {
        line.split(",")[0].strip()
        for line in lists[0]["data"]["metrics"].splitlines()
        if line.strip() and not line.strip().startswith("#")
    }
    assert "DCGM_FI_DEV_GPU_UTIL" in fields
    assert all(
        exporters.provides(DcgmExporter.exported_families["dcgm-exporter/dcgm-exporter"], field) for field in fields
    ), fields


def _components(platform: Platform) -> set[str]:
    from infra.platform import labels

    return {
        str(o.object["metadata"]["labels"][labels.COMPONENT])
        for o in platform.objects
        if o.owner == STACK and o.kind == "Application"
    }


@pytest.mark.parametrize("env", ENV_NAMES)
def test_gpu_rules_and_panels_follow_the_gpu_exporter(platforms: dict[str, Platform], env: str) -> None:
    platform = platforms[env]
    exporter = bool({"dcgm-exporter", "gpu-operator"} & _components(platform))
    read = {family for reader in exporters.readers(own(platform)) for family in reader.families}
    assert ("DCGM_FI_DEV_GPU_UTIL" in read) == exporter
    alerts = {
        rule["alert"]
        for o in own(platform)
        if o["kind"] == "PrometheusRule"
        for group in o["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert ({"GpuSaturated", "GpuUnderutilised"} <= alerts) == exporter


def test_a_monitor_two_components_list_is_refused() -> None:
    class Copycat(DcgmExporter):
        """Lists (inherits) the same monitor as DcgmExporter."""

    with pytest.raises(ValueError, match="dcgm-exporter/dcgm-exporter is listed by both"):
        exported_table([DcgmExporter, Copycat])
