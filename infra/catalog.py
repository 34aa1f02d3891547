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


CATALOG: dict[str, Chart] = {
    "argo-cd": Chart("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1", "argocd"),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", "cert-manager"),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "monitoring"
    ),
    "metrics-server": Chart(
        "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1", "kube-system"
    ),
    # ECK is source-available under the Elastic License 2.0, not an OSI license (see README, "Observability").
    "eck": Chart("https://helm.elastic.co", "eck-operator", "3.5.0", "elastic-system", license="Elastic-2.0"),
    # Not in ../shared/components.md: version read from prometheus-community/helm-charts at cf408a290aec.
    "prometheus-elasticsearch-exporter": Chart(
        "https://prometheus-community.github.io/helm-charts", "prometheus-elasticsearch-exporter", "7.4.0", "logging"
    ),
    "external-secrets": Chart("https://charts.external-secrets.io", "external-secrets", "2.9.0", "external-secrets"),
    "velero": Chart("https://vmware-tanzu.github.io/helm-charts", "velero", "12.1.0", "velero"),
}


def effective_version(component: str, pins: dict[str, str]) -> str:
    """The chart version an environment deploys: its own pin, else the catalog default."""
    return pins.get(component, CATALOG[component].version)
