"""The one catalog of upstream Helm charts and their default pinned versions.

Versions come from ../shared/components.md (collected 2026-08-22). An environment may pin its own version of
any entry under `versions:` in its stack file; `effective_version` is the only place that decides which wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    repo_url: str
    chart: str
    version: str
    namespace: str
    license: str = "Apache-2.0"


ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"

CATALOG: dict[str, Chart] = {
    "argo-cd": Chart("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1", "argocd"),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", "cert-manager"),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "monitoring"
    ),
    "istio-base": Chart(ISTIO_CHARTS, "base", "1.30.3", "istio-system"),
    "istio-cni": Chart(ISTIO_CHARTS, "cni", "1.30.3", "kube-system"),
    "istiod": Chart(ISTIO_CHARTS, "istiod", "1.30.3", "istio-system"),
    "istio-gateway": Chart(ISTIO_CHARTS, "gateway", "1.30.3", "istio-system"),
    "traefik": Chart("https://traefik.github.io/charts", "traefik", "41.3.0", "traefik"),
    "external-dns": Chart("https://kubernetes-sigs.github.io/external-dns/", "external-dns", "1.21.1", "external-dns"),
}


def effective_version(component: str, pins: dict[str, str]) -> str:
    """The chart version an environment deploys: its own pin, else the catalog default."""
    return pins.get(component, CATALOG[component].version)
