"""The one catalog of upstream sources (Helm charts, and kustomize paths in git) and their default pins.

Versions come from ../shared/components.md (collected 2026-08-22). An environment may pin its own version of
any entry under `versions:` in its stack file; `effective_version` is the only place that decides which wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    repo_url: str
    chart: str
    """Chart name; empty for a git source."""
    version: str
    """Chart version, or the git tag of a git source."""
    namespace: str
    license: str = "Apache-2.0"
    path: str = ""
    """Kustomize (or plain manifest) directory inside repo_url at tag `version`; set only for git sources."""
    component: str = ""
    """Component that delivers this entry, when that is not the entry's own key (a component with several
    sources); Argo CD's platform project admits the repositories of enabled components' entries."""

    @property
    def is_git(self) -> bool:
        return bool(self.path)

    @property
    def is_oci(self) -> bool:
        """A Helm chart in an OCI registry, written the way Argo CD's Helm source wants it (no oci://)."""
        return not self.is_git and "://" not in self.repo_url


def git_source(repo_url: str, path: str, tag: str, namespace: str, component: str) -> Chart:
    """A catalog entry for manifests kept in a git repository (e.g. upstream kustomize bases at a release tag)."""
    return Chart(repo_url, "", tag, namespace, path=path, component=component)


KUBEFLOW_MANIFESTS = "https://github.com/kubeflow/manifests"
KUBEFLOW_RELEASE = "26.03"

CATALOG: dict[str, Chart] = {
    "argo-cd": Chart("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1", "argocd"),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", "cert-manager"),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "monitoring"
    ),
    # --- ML platform: Kubeflow parts come from one upstream kubeflow/manifests release, path by path ---
    **{
        f"kubeflow-{part}": git_source(KUBEFLOW_MANIFESTS, path, KUBEFLOW_RELEASE, "kubeflow", "kubeflow")
        for part, path in {
            "roles": "common/kubeflow-roles/base",
            "istio-resources": "common/istio/kubeflow-istio-resources/base",
            "profiles": "applications/profiles/pss",
            "poddefaults": "applications/admission-webhook/upstream/overlays/cert-manager",
            "pipelines": "applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user",
            "notebook-controller": "applications/jupyter/notebook-controller/upstream/overlays/kubeflow",
            "jupyter-web-app": "applications/jupyter/jupyter-web-app/upstream/overlays/istio",
            "katib": "applications/katib/upstream/installs/katib-with-kubeflow",
            "training-operator": "applications/training-operator/upstream/overlays/kubeflow",
            "central-dashboard": "applications/centraldashboard/upstream/overlays/kserve",
        }.items()
    },
    # Argo CD's Helm-over-OCI form: registry path without oci://, chart named separately.
    "kserve-crd": Chart("ghcr.io/kserve/charts", "kserve-crd", "v0.20.0", "kserve", component="kserve"),
    "kserve": Chart("ghcr.io/kserve/charts", "kserve-resources", "v0.20.0", "kserve"),
    "mlflow": Chart("https://community-charts.github.io/helm-charts", "mlflow", "1.11.5", "mlflow", "MIT"),
    "feast": Chart("https://feast-helm-charts.storage.googleapis.com", "feast-feature-server", "0.66.0", "feast"),
}


def effective_version(component: str, pins: dict[str, str]) -> str:
    """The chart version an environment deploys: its own pin, else the catalog default."""
    return pins.get(component, CATALOG[component].version)
