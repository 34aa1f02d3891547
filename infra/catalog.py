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

    @property
    def is_git(self) -> bool:
        return bool(self.path)

    @property
    def is_oci(self) -> bool:
        """A Helm chart in an OCI registry, written the way Argo CD's Helm source wants it (no oci://)."""
        return not self.is_git and "://" not in self.repo_url


def git_source(repo_url: str, path: str, tag: str, namespace: str) -> Chart:
    """A catalog entry for manifests kept in a git repository (e.g. upstream kustomize bases at a release tag)."""
    return Chart(repo_url, "", tag, namespace, path=path)


KUBEFLOW_MANIFESTS = "https://github.com/kubeflow/manifests"
KUBEFLOW_RELEASE = "26.03"
KUBEFLOW_PARTS = {
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
    # The apps behind the dashboard's other menu links, as upstream's example/kustomization.yaml installs them. The
    # volumes web app lists PVCViewer objects with every volume, so its controller (and CRD) comes with it.
    "pvcviewer-controller": "applications/pvcviewer-controller/upstream/base",
    "volumes-web-app": "applications/volumes-web-app/upstream/overlays/istio",
    "tensorboard-controller": "applications/tensorboard/tensorboard-controller/upstream/overlays/kubeflow",
    "tensorboards-web-app": "applications/tensorboard/tensorboards-web-app/upstream/overlays/istio",
    # Made for KServe 0.16 (v0.16.1 manifests); the platform's KServe is newer: infra/compat.py, PART_PAIRS.
    "models-web-app": "applications/kserve/models-web-app/overlays/kubeflow",
}

ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"

CATALOG: dict[str, Chart] = {
    "argo-cd": Chart("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1", "argocd"),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", "cert-manager"),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "monitoring"
    ),
    "metrics-server": Chart(
        "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1", "kube-system"
    ),
    # ECK is source-available under the Elastic License 2.0, not an OSI license (see docs/observability.md).
    "eck": Chart("https://helm.elastic.co", "eck-operator", "3.5.0", "elastic-system", license="Elastic-2.0"),
    # Not in ../shared/components.md: version read from prometheus-community/helm-charts at cf408a290aec.
    "prometheus-elasticsearch-exporter": Chart(
        "https://prometheus-community.github.io/helm-charts", "prometheus-elasticsearch-exporter", "7.4.0", "logging"
    ),
    "longhorn": Chart("https://charts.longhorn.io", "longhorn", "1.12.1", "longhorn-system"),
    # The Knative operator's Helm repository publishes its versions with a leading "v".
    "knative": Chart("https://knative.github.io/operator", "knative-operator", "v1.23.0", "knative-operator"),
    "keda": Chart("https://kedacore.github.io/charts", "keda", "2.20.2", "keda"),
    # Cluster layer, on-prem: the CNI (a Pulumi Helm release before Argo CD) and the cloud-service replacements.
    "cilium": Chart("https://helm.cilium.io", "cilium", "1.20.0", "kube-system"),
    "calico-crds": Chart(
        "https://docs.tigera.io/calico/charts", "crd.projectcalico.org.v1", "v3.32.1", "tigera-operator"
    ),
    "tigera-operator": Chart("https://docs.tigera.io/calico/charts", "tigera-operator", "v3.32.1", "tigera-operator"),
    "metallb": Chart("https://metallb.github.io/metallb", "metallb", "0.16.1", "metallb-system"),
    # AGPL-3.0, and upstream MinIO is archived (no community maintenance since 2025): docs/getting-started-onprem.md.
    "minio": Chart("https://operator.min.io/", "operator", "7.1.1", "minio", license="AGPL-3.0"),
    # Chart 0.29.0 = operator 1.30.0 (cloudnative-pg/charts tag cloudnative-pg-v0.29.0, 2026-07-20).
    "cloudnative-pg": Chart("https://cloudnative-pg.github.io/charts", "cloudnative-pg", "0.29.0", "cnpg-system"),
    "harbor": Chart("https://helm.goharbor.io", "harbor", "1.19.1", "harbor"),
    # nats-io/k8s helm/charts/nats Chart.yaml 2.14.2 (tag nats-2.14.2, snapshot 2026-06-11).
    "nats": Chart("https://nats-io.github.io/k8s/helm/charts/", "nats", "2.14.2", "nats"),
    "external-secrets": Chart("https://charts.external-secrets.io", "external-secrets", "2.9.0", "external-secrets"),
    "velero": Chart("https://vmware-tanzu.github.io/helm-charts", "velero", "12.1.0", "velero"),
    "istio-base": Chart(ISTIO_CHARTS, "base", "1.30.3", "istio-system"),
    "istio-cni": Chart(ISTIO_CHARTS, "cni", "1.30.3", "kube-system"),
    "istiod": Chart(ISTIO_CHARTS, "istiod", "1.30.3", "istio-system"),
    "istio-gateway": Chart(ISTIO_CHARTS, "gateway", "1.30.3", "istio-system"),
    "traefik": Chart("https://traefik.github.io/charts", "traefik", "41.3.0", "traefik"),
    "external-dns": Chart("https://kubernetes-sigs.github.io/external-dns/", "external-dns", "1.21.1", "external-dns"),
    # GPU telemetry (../shared/components.md, "Added for the rest of the seeds' platform"). GKE installs the NVIDIA
    # driver and device plugin itself, so GPU pools there get only the exporter; on-prem GPU nodes get NVIDIA's
    # operator (driver, container toolkit, device plugin, DCGM exporter). NVIDIA publishes the operator's chart
    # version with a leading "v".
    "dcgm-exporter": Chart(
        "https://nvidia.github.io/dcgm-exporter/helm-charts", "dcgm-exporter", "4.8.2", "dcgm-exporter"
    ),
    "gpu-operator": Chart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0", "gpu-operator"),
    # Long-term metrics: query, store gateway and compactor over the blocks Prometheus' sidecar uploads.
    "thanos": Chart("https://thanos-community.github.io/helm-charts", "thanos", "0.38.0", "thanos"),
    # --- ML platform: Kubeflow parts come from one upstream kubeflow/manifests release, path by path ---
    **{
        f"kubeflow-{part}": git_source(KUBEFLOW_MANIFESTS, path, KUBEFLOW_RELEASE, "kubeflow")
        for part, path in KUBEFLOW_PARTS.items()
    },
    # Argo CD's Helm-over-OCI form: registry path without oci://, chart named separately.
    "kserve-crd": Chart("ghcr.io/kserve/charts", "kserve-crd", "v0.20.0", "kserve"),
    "kserve": Chart("ghcr.io/kserve/charts", "kserve-resources", "v0.20.0", "kserve"),
    # Sign-in in front of Kubeflow. oauth2-proxy/manifests tag oauth2-proxy-10.1.4 (2026-02-17): the last chart of
    # the 7.14 line Kubeflow 26.03 was tested with; infra/components/oauth2_proxy.py runs it with image v7.14.3.
    "oauth2-proxy": Chart("https://oauth2-proxy.github.io/manifests", "oauth2-proxy", "10.1.4", "oauth2-proxy"),
    "mlflow": Chart("https://community-charts.github.io/helm-charts", "mlflow", "1.11.5", "mlflow", "MIT"),
    "feast": Chart("https://feast-helm-charts.storage.googleapis.com", "feast-feature-server", "0.66.0", "feast"),
    # Distributed training and tuning: the operator; each team's RayCluster is written by the stack.
    "kuberay-operator": Chart("https://ray-project.github.io/kuberay-helm/", "kuberay-operator", "1.7.0", "kuberay"),
}


# The MLflow image the tracking server and its schema migration run (components/mlflow.py): chart 1.11.5's
# appVersion (community-charts/helm-charts tag mlflow-1.11.5, charts/mlflow/Chart.yaml). Pinned apart from the
# chart so that the server and the migration always run one MLflow, whatever chart version an environment pins.
MLFLOW_IMAGE = "burakince/mlflow"
MLFLOW_VERSION = "3.15.1"

# The platform's default images: images/<name>/Dockerfile, built by .github/workflows/images.yaml into each
# environment's registry and tagged with the git commit of their sources (images/README.md). The stack offers the
# first three (pinned per environment under `defaultImages.tags`); apps pin theirs in their overlays' `images:`.
STACK_IMAGES = ("notebook", "codeserver", "model-server")
APP_IMAGES = ("papermill-runner",)
DEFAULT_IMAGES = (*STACK_IMAGES, *APP_IMAGES)


def effective_version(component: str, pins: dict[str, str]) -> str:
    """The chart version an environment deploys: its own pin, else the catalog default."""
    return pins.get(component, CATALOG[component].version)
