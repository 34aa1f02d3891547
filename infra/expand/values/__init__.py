"""The `values` stage of `check`: every value key an Application or Helm release gives its chart is one the chart
knows, with the shape the chart expects; the chart's schema and templates accept the values; every kustomize
patch of a git source selects an object. See stage.py."""

from infra.expand.values.stage import STAGE, default_allowlist, unused_entries, values_findings

__all__ = ["STAGE", "default_allowlist", "unused_entries", "values_findings"]
