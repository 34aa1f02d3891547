"""The `values` stage of `check`: every value key an Application or Helm release gives its chart is one the chart
knows, with the shape the chart expects; the chart's schema and templates accept the values; every kustomize
patch of a git source selects an object. The stage is infra/expand/values/stage.py; its Go-template reader
(gotemplate.py) serves the expansion too, so this package imports nothing on its own."""
