"""Kubeflow from the upstream kubeflow/manifests release, one Argo CD Application per part, on the platform's
own Istio, cert-manager and Knative (the copies bundled in kubeflow/manifests `common/` are not installed),
and one Profile per team of the environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra import compat
from infra.components.kubeflow_dashboard import DASHBOARD_PART, dashboard_patch
from infra.components.kubeflow_images import mirror_options
from infra.components.kubeflow_pipelines import (
    LAUNCHER_CONFIG,
    MERGED_METRICS_PATH,
    MERGED_METRICS_PORT,
    UPSTREAM_STORES,
    cache_webhook_peer_authentication,
    launcher_config,
    metadata_login,
    pipelines_patches,
    remote_bases_advisory,
    ui_endpoint_problem,
)
from infra.config.derived import default_image
from infra.config.formats import (
    ByteQuantity,
    ByteQuota,
    Claim,
    CpuQuantity,
    DataKey,
    Email,
    EmailDomain,
    HttpsUrl,
    Image,
    KubernetesName,
    ObjectName,
    RefreshMinutes,
    Scope,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import deployments_unavailable, down
from infra.observability.promrules import Group
from infra.platform import sign_in
from infra.platform.argocd_app import IgnoredDifference
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.config_text import yaml_text
from infra.platform.database import iam_grant_advisory
from infra.platform.existing import gateway_namespace
from infra.platform.expose import http01_challenges, platform_certificate
from infra.platform.kustomize import json_patch, merge_patch
from infra.platform.labels import PATCH_FORCE, component_labels
from infra.platform.login_copy import copy_database_login
from infra.platform.mirrors import pulled_image
from infra.platform.network import (
    ANY_NAMESPACE,
    ANYWHERE,
    API_SERVER_ENTITIES,
    HTTPS_OUT,
    KUBE_API,
    WEBHOOK_FROM_API_SERVER,
    Allow,
    from_namespaces,
)
from infra.platform.object_store import object_store_url
from infra.platform.resources import resources
from infra.platform.security import restricted_pod
from infra.sources import git_source

if TYPE_CHECKING:
    from infra.config import Environment

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

# The notebook servers the Jupyter web app offers by default (`components.kubeflow.notebookImages`).
NOTEBOOK_IMAGES = (
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-tensorflow-full:v1.10.0",
)

# Where Kubeflow's UIs and APIs are called from besides the teams' namespaces: the Istio gateways.
GATEWAY_NAMESPACES = ("istio-system", "istio-ingress")
# The PodDefaults webhook listens on 4443, which the shared webhook allowance does not cover (its caller, the API
# server, is allowed by entity too where Cilium runs, like the shared one).
PODDEFAULTS_WEBHOOK = Allow(
    "poddefaults-webhook", "ingress", (ANYWHERE,), (4443,), cluster_entities=API_SERVER_ENTITIES
)
# Controllers and Pipelines call services in other namespaces (team namespaces, the on-prem database).
KUBEFLOW_OUT = Allow("kubeflow-out", "egress", (ANY_NAMESPACE,))


class TeamQuota(Settings):
    cpu: CpuQuantity = "8"
    """CPU the team's namespace may request in total, e.g. `8` or `500m`."""
    memory: ByteQuantity = "32Gi"
    """Memory the team's namespace may request in total."""
    gpu: Annotated[int, Field(ge=0, le=512)] = 0
    """GPUs (`nvidia.com/gpu`) the team's namespace may request in total."""
    storage: ByteQuota = "200Gi"
    """Persistent volume storage the team's namespace may claim in total."""


class RayHead(Settings):
    cpu: CpuQuantity = "2"
    """CPU of the Ray head pod (request and limit): the cluster's control processes, the dashboard and the driver
    of jobs submitted to it."""
    memory: ByteQuantity = "8Gi"
    """Memory of the Ray head pod (request and limit)."""


class RayWorkerGroup(Settings):
    name: KubernetesName
    """Group name, unique within the team's Ray cluster, e.g. `cpu` or `gpu`."""
    cpu: CpuQuantity = "4"
    """CPU of each worker pod (request and limit)."""
    memory: ByteQuantity = "16Gi"
    """Memory of each worker pod (request and limit); Ray's object store takes part of it."""
    gpu: Annotated[int, Field(ge=0, le=8)] = 0
    """GPUs (`nvidia.com/gpu`) of each worker pod. Above 0 the workers run the GPU image on the GPU nodes (the
    pools with role `gpu` on GKE), tolerating their `nvidia.com/gpu` taint."""
    min_replicas: Annotated[int, Field(ge=0, le=100)] = 0
    """Workers the autoscaler keeps when the cluster is idle; 0 scales the group to nothing."""
    max_replicas: Annotated[int, Field(ge=1, le=100)] = 2
    """Workers the autoscaler may start; with the head, the largest cluster must fit the team's quota."""


class TeamRay(Settings):
    head: RayHead = RayHead()
    """Size of the head pod."""
    worker_groups: Annotated[tuple[RayWorkerGroup, ...], Field(min_length=1)] = (RayWorkerGroup(name="cpu"),)
    """Groups of identical workers the Ray autoscaler scales between their minReplicas and maxReplicas."""
    idle_timeout_seconds: Annotated[int, Field(ge=30, le=86400)] = 600
    """How long a worker without Ray tasks or actors stays before the autoscaler removes it."""


class Team(Settings):
    name: KubernetesName
    """Team name; also the name of its Kubeflow Profile and of the namespace the Profile creates."""
    owner: Email
    """E-mail of the team's owner, as the identity provider reports it; owns the Profile."""
    members: tuple[Email, ...] = ()
    """E-mails of the other members; each becomes a contributor (edit access) of the team's namespace."""
    quota: TeamQuota = TeamQuota()
    """Compute and storage the team may use: the Profile's ResourceQuota."""
    ray: TeamRay | None = None
    """A Ray cluster in the team's namespace (`ray`), made by the KubeRay operator (`components.kuberay`):
    autoscaled workers, object store access as the team's pipeline steps have it, and its dashboard at
    `https://kubeflow.<domain>/ray/<team>/` behind the platform's sign-in, for the team's owner and members only.
    Unset: no Ray cluster."""


class ProxySecretKeyRef(Settings):
    name: ObjectName
    """Name of a Secret in the `oauth2-proxy` namespace. Create it out of band (e.g. with External Secrets); its
    value never appears in a stack file or a rendered manifest."""
    key: DataKey
    """Key in that Secret holding the value."""


class KubeflowAuth(Settings):
    issuer: HttpsUrl
    """OIDC issuer URL of the identity provider, exactly as it appears in the `iss` claim of its tokens (mind a
    trailing slash), e.g. `https://idp.example.com/realms/platform`. oauth2-proxy and istiod fetch its discovery
    document and signing keys, so it must be reachable from the cluster."""
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth client ID registered for Kubeflow, with the redirect URL `https://kubeflow.<domain>/oauth2/callback`.
    The ingress gateway accepts only ID tokens issued to this client."""
    client_secret: ProxySecretKeyRef
    """Where that client's secret is: a reference to a Secret key, never the secret itself."""
    cookie_secret: ProxySecretKeyRef
    """Where the key that encrypts the session cookie is: 16, 24 or 32 random bytes, e.g. the 32 characters
    `openssl rand -hex 16` prints. Changing it signs everybody out."""
    allowed_email_domains: tuple[EmailDomain, ...]
    """Only users whose e-mail address is in one of these domains may sign in, e.g. `example.com`; `*` admits any
    domain (then restrict with allowedGroups). At least one is needed."""
    allowed_groups: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Only members of these identity-provider groups (read from the ID token's groups claim) may sign in; empty
    admits every user of the allowed domains."""
    email_claim: Claim = "email"
    """ID token claim with the user's e-mail address: it becomes the Kubeflow user (`kubeflow-userid`) that team
    owners and members are matched against."""
    groups_claim: Claim = "groups"
    """ID token claim with the user's groups, which allowedGroups is checked against."""
    requested_scopes: tuple[Scope, ...] = ("openid", "email", "profile")
    """Scopes requested at sign-in; `openid` is required. Add the scope your identity provider needs to put groups
    into the ID token (often `groups`) when you set allowedGroups."""
    refresh_interval: RefreshMinutes = "4m"
    """How often oauth2-proxy renews a session's ID token with its refresh token, e.g. `4m`. The gateway verifies
    that token on every request, so keep this below the identity provider's ID token lifetime; the provider must
    issue refresh tokens to the client (without them users sign in again when the token expires)."""


class KubeflowSettings(Settings):
    enabled: bool = False
    """Install Kubeflow (Pipelines, Notebooks, Volumes, TensorBoards, Katib, training operator, dashboard, Profiles,
    and with KServe its endpoints page) from the upstream kubeflow/manifests release. Needs the Istio ingress
    provider."""
    notebook_images: Annotated[tuple[Image, ...], Field(min_length=1)] = NOTEBOOK_IMAGES
    """Images offered when a user starts a notebook server; the first is the default."""
    teams: tuple[Team, ...] = ()
    """Teams: one Kubeflow Profile (namespace, members, ResourceQuota) each."""
    auth: KubeflowAuth | None = None
    """Sign-in in front of the dashboard at `https://kubeflow.<domain>`: oauth2-proxy as an OIDC client of this
    identity provider, enforced by the Istio ingress gateway for every request to that host. Required for tier
    prod. Unset, Kubeflow has no sign-in and trusts the user header it is sent (its Applications say so in their
    advisory annotation): keep such an environment off public networks."""


@dataclass(frozen=True)
class Part:
    key: str
    """Catalog entry, also the Application's name."""
    stage: int
    """Stage inside the component's wave."""
    needs: str = ""
    """The component without which the part has nothing to show (it is left out, and so are its dashboard links)."""


# Roles and the shared gateway first; then Profiles (whose CRD the teams' Profiles need), the PodDefaults webhook, and
# the controllers whose CRDs the volumes and tensorboards web apps list (without the PVCViewer CRD the volumes page
# fails: kubeflow/kubeflow#7414); then the applications; then the dashboard that links them.
PARTS: tuple[Part, ...] = (
    Part("kubeflow-roles", 0),
    Part("kubeflow-istio-resources", 0),
    Part("kubeflow-profiles", 1),
    Part("kubeflow-poddefaults", 1),
    Part("kubeflow-pvcviewer-controller", 1),
    Part("kubeflow-tensorboard-controller", 1),
    Part("kubeflow-pipelines", 2),
    Part("kubeflow-notebook-controller", 2),
    Part("kubeflow-jupyter-web-app", 2),
    Part("kubeflow-volumes-web-app", 2),
    Part("kubeflow-tensorboards-web-app", 2),
    Part("kubeflow-katib", 2),
    Part("kubeflow-training-operator", 2),
    # The KServe endpoints page lists the InferenceServices of KServe, which the platform installs on its own.
    Part("kubeflow-models-web-app", 2, needs="kserve"),
    Part(DASHBOARD_PART, 3),
)
CRD_PART = "kubeflow-profiles"
# The labels the profile controller gives each team namespace (kubeflow/manifests 26.03
# applications/profiles/upstream/base/namespace-labels.yaml), kept: the file is replaced as a whole.
UPSTREAM_TEAM_LABELS = {
    "katib.kubeflow.org/metrics-collector-injection": "enabled",
    "serving.kubeflow.org/inferenceservice": "enabled",
    "pipelines.kubeflow.org/enabled": "true",
    "app.kubernetes.io/part-of": "kubeflow-profile",
}
# Team namespaces run what users start: notebooks (the Jupyter web app's pods set no restricted securityContext),
# pipeline steps (component images, often root) and Katib trials. `restricted` would refuse them, so they enforce
# `baseline` (upstream's choice) and warn and audit at `restricted`, every level pinned to the cluster's version like
# the platform's own namespaces.
TEAM_POD_SECURITY = {"enforce": "baseline", "warn": "restricted", "audit": "restricted"}
OBJECT_STORE_LABEL = "access-object-store"
DASHBOARD_HOST_LABEL = sign_in.HOST_LABEL
DASHBOARD_TLS_SECRET = "kubeflow-tls"
TEAM_LABELS_FILE = "namespace-labels.yaml"
# The notebook form's other two server types, with the images kubeflow/manifests 26.03 offers for them (its
# jupyter-web-app spawner_ui_config.yaml): kubeflow/kubeflow's notebook-servers at the web app's own tag, v1.10.0.
# The web app shows all three types whatever the config holds (v1.10.0 has no setting that hides one), so each
# needs images of its kind: for both, the notebook's annotations make Istio rewrite request paths to `/` (and, for
# RStudio, send the X-RStudio-Root-Path header), where a Jupyter image, serving under its NB_PREFIX, has nothing.
# images/notebook and images/codeserver build on the first two at that tag (tests/test_default_images.py).
NOTEBOOK_SERVERS = "ghcr.io/kubeflow/kubeflow/notebook-servers"
NOTEBOOK_SERVERS_TAG = "v1.10.0"
CODE_SERVER_IMAGES = (f"{NOTEBOOK_SERVERS}/codeserver-python:{NOTEBOOK_SERVERS_TAG}",)
RSTUDIO_IMAGES = (f"{NOTEBOOK_SERVERS}/rstudio-tidyverse:{NOTEBOOK_SERVERS_TAG}",)
# Requests (CPU, memory) of each container of the parts' Deployments and StatefulSets, which kubeflow/manifests 26.03
# leaves without limits (and mostly without requests): limits follow the platform's rule (`resources`: twice the
# CPU, the memory asked for). Where upstream asks for more, its request is kept (the Pipelines API server and
# agents, MySQL, the visualization server, Argo's controller).
WORKLOAD_RESOURCES: dict[str, dict[tuple[str, str], dict[str, tuple[str, str]]]] = {
    "kubeflow-central-dashboard": {("Deployment", "centraldashboard"): {"centraldashboard": ("50m", "128Mi")}},
    "kubeflow-jupyter-web-app": {("Deployment", "jupyter-web-app-deployment"): {"jupyter-web-app": ("50m", "256Mi")}},
    "kubeflow-models-web-app": {("Deployment", "kserve-models-web-app"): {"kserve-models-web-app": ("50m", "256Mi")}},
    "kubeflow-tensorboards-web-app": {
        ("Deployment", "tensorboards-web-app-deployment"): {"tensorboards-web-app": ("50m", "256Mi")}
    },
    "kubeflow-volumes-web-app": {("Deployment", "volumes-web-app-deployment"): {"volumes-web-app": ("50m", "256Mi")}},
    "kubeflow-katib": {
        ("Deployment", "katib-controller"): {"katib-controller": ("50m", "128Mi")},
        ("Deployment", "katib-db-manager"): {"katib-db-manager": ("20m", "64Mi")},
        ("Deployment", "katib-mysql"): {"katib-mysql": ("100m", "512Mi")},
        ("Deployment", "katib-ui"): {"katib-ui": ("20m", "64Mi")},
    },
    "kubeflow-notebook-controller": {("Deployment", "notebook-controller-deployment"): {"manager": ("50m", "128Mi")}},
    "kubeflow-pipelines": {
        ("Deployment", "cache-server"): {"server": ("50m", "128Mi")},
        ("Deployment", "kubeflow-pipelines-profile-controller"): {"profile-controller": ("20m", "128Mi")},
        ("Deployment", "metadata-envoy-deployment"): {"container": ("20m", "64Mi")},
        ("Deployment", "metadata-grpc-deployment"): {"container": ("50m", "128Mi")},
        ("Deployment", "metadata-writer"): {"main": ("20m", "128Mi")},
        ("Deployment", "ml-pipeline"): {"ml-pipeline-api-server": ("250m", "500Mi")},
        ("Deployment", "ml-pipeline-persistenceagent"): {"ml-pipeline-persistenceagent": ("120m", "500Mi")},
        ("Deployment", "ml-pipeline-scheduledworkflow"): {"ml-pipeline-scheduledworkflow": ("20m", "64Mi")},
        ("Deployment", "ml-pipeline-ui"): {"ml-pipeline-ui": ("50m", "256Mi")},
        ("Deployment", "ml-pipeline-viewer-crd"): {"ml-pipeline-viewer-crd": ("20m", "64Mi")},
        ("Deployment", "ml-pipeline-visualizationserver"): {"ml-pipeline-visualizationserver": ("30m", "500Mi")},
        ("Deployment", "mysql"): {"mysql": ("100m", "800Mi")},
        ("Deployment", "seaweedfs"): {"seaweedfs": ("50m", "256Mi")},
        ("Deployment", "workflow-controller"): {"workflow-controller": ("100m", "500Mi")},
    },
    # Named as its path's kustomization names it, before the `admission-webhook-` prefix.
    "kubeflow-poddefaults": {("Deployment", "deployment"): {"admission-webhook": ("20m", "64Mi")}},
    "kubeflow-profiles": {
        ("Deployment", "profiles-deployment"): {"kfam": ("20m", "64Mi"), "manager": ("50m", "128Mi")}
    },
    "kubeflow-training-operator": {("Deployment", "training-operator"): {"training-operator": ("50m", "128Mi")}},
}
# Deployments upstream gives no pod securityContext: the runtime's seccomp profile (their images' users are kept).
WITHOUT_POD_CONTEXT = frozenset(
    {
        ("kubeflow-katib", "katib-controller"),
        ("kubeflow-katib", "katib-db-manager"),
        ("kubeflow-katib", "katib-ui"),
        ("kubeflow-poddefaults", "deployment"),
    }
)
# Workloads whose programs never call the Kubernetes API (databases, stores, proxies, the metacontroller hook that
# answers requests, the visualization server): no service account token in their pods. Istio's proxy has its own
# token (a projected `istio-token` volume), and Workload Identity on GKE needs none.
WITHOUT_API = frozenset(
    {
        ("kubeflow-katib", "katib-db-manager"),
        ("kubeflow-katib", "katib-mysql"),
        ("kubeflow-pipelines", "kubeflow-pipelines-profile-controller"),
        ("kubeflow-pipelines", "metadata-envoy-deployment"),
        ("kubeflow-pipelines", "metadata-grpc-deployment"),
        ("kubeflow-pipelines", "ml-pipeline-visualizationserver"),
        ("kubeflow-pipelines", "mysql"),
        ("kubeflow-pipelines", "seaweedfs"),
    }
)
# Katib's own MySQL: kubeflow/manifests 26.03 runs it at `mysql:8.0`, whose line ended in April 2026, beside the
# Pipelines MySQL at `mysql:8.4` (the LTS line). One image at one version (the `images` stage of `check`): Katib's
# database server moves to the Pipelines' image. Its arguments (`--datadir` only) and its clients (the Go MySQL driver
# with the caching_sha2_password login, the default of both lines) are the same on 8.4.
KATIB_MYSQL_IMAGE = "mysql:8.4"
# The PVC viewer and Tensorboard controllers put kube-rbac-proxy in front of their metrics at v0.13.1 and v0.8.0
# (kubeflow/manifests 26.03), KServe's chart at v0.18.0: one image at one version, the newest, which KServe runs
# with the same arguments (--secure-listen-address, --upstream, --logtostderr, --v). The `images` stage of `check`
# fails again if KServe's chart moves to another version and this one stays.
KUBE_RBAC_PROXY_IMAGE = "quay.io/brancz/kube-rbac-proxy:v0.18.0"
# Where each part runs kube-rbac-proxy: (kind, name, container index).
KUBE_RBAC_PROXIES = {
    "kubeflow-pvcviewer-controller": ("Deployment", "pvcviewer-controller-manager", 1),
    "kubeflow-tensorboard-controller": ("Deployment", "tensorboard-controller-deployment", 1),
}


def aggregated_roles(application: str, *roles: str) -> tuple[IgnoredDifference, ...]:
    """ClusterRoles that kubeflow/manifests 26.03 renders with `rules: []` beside an `aggregationRule`: Kubernetes
    fills their rules from the roles they select (writer `clusterrole-aggregation`), so Argo CD leaves `rules` to it."""
    return tuple(
        IgnoredDifference(
            application, "rbac.authorization.k8s.io", "ClusterRole", role, ("/rules",), "clusterrole-aggregation"
        )
        for role in roles
    )


# What controllers write into the parts' objects after each sync, which Argo CD must leave to them (the `convergence`
# stage of `check` fails on each one missing and on each one no writer needs).
CONTROLLER_WRITTEN: tuple[IgnoredDifference, ...] = (
    *aggregated_roles("kubeflow-roles", "kubeflow-admin", "kubeflow-edit", "kubeflow-view"),
    *aggregated_roles("kubeflow-istio-resources", "kubeflow-istio-admin"),
    *aggregated_roles(
        "kubeflow-poddefaults",
        "admission-webhook-kubeflow-poddefaults-admin",
        "admission-webhook-kubeflow-poddefaults-edit",
    ),
    *aggregated_roles("kubeflow-pipelines", "kubeflow-pipelines-edit", "kubeflow-pipelines-view"),
    *aggregated_roles("kubeflow-notebook-controller", "notebook-controller-kubeflow-notebooks-admin"),
    *aggregated_roles("kubeflow-katib", "kubeflow-katib-admin"),
    *aggregated_roles("kubeflow-training-operator", "kubeflow-training-admin"),
    # The PodDefaults webhook renders `caBundle: ""`, which cert-manager's CA injector fills (its
    # `cert-manager.io/inject-ca-from` annotation); written back empty, the webhook (failurePolicy Fail) would refuse
    # every pod it admits until the injector ran again.
    IgnoredDifference(
        "kubeflow-poddefaults",
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "admission-webhook-mutating-webhook-configuration",
        ("/webhooks/0/clientConfig/caBundle",),
        "cert-manager-cainjector",
    ),
)


class Kubeflow(PlatformComponent):
    spec = ComponentSpec(
        name="kubeflow",
        layer="ml",
        namespace="kubeflow",
        charts=tuple(part.key for part in PARTS),
        # With sign-in (components.kubeflow.auth), the gateway's checks exist before the dashboard is served.
        # CloudNativePG (on-prem): ML Metadata's database, and the store its login is copied through. KServe: its
        # CRDs, whose InferenceServices the models web app lists.
        depends_on=("istio", "cert-manager", "knative", "kserve", "oauth2-proxy", "cloudnative-pg"),
        provides_crds=("kubeflow.org",),
        # As upstream: restricted, which relies on the mesh's istio-cni (no privileged istio-init container).
        pod_security="restricted",
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, PODDEFAULTS_WEBHOOK, KUBEFLOW_OUT),
        # The Kubeflow Pipelines and Argo Workflows CRDs exceed the client-side apply annotation limit.
        server_side_apply=True,
        ignore_differences=CONTROLLER_WRITTEN,
    )
    # Every part comes from one upstream kubeflow/manifests release, path by path.
    sources = {
        f"kubeflow-{part}": git_source(KUBEFLOW_MANIFESTS, path, KUBEFLOW_RELEASE, "kubeflow")
        for part, path in KUBEFLOW_PARTS.items()
    }
    settings = ComponentSettings("kubeflow", KubeflowSettings, "Kubeflow and the teams' Profiles.")

    exported_families = {
        # The Pipelines API server's metrics merged into its Istio agent's (kubeflow_pipelines.py).
        "kubeflow/ml-pipeline": ("istio_*", "envoy_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        # The Pipelines API server (`ml-pipeline`, /metrics on its http port) is scraped; the other Kubeflow parts
        # serve no metrics upstream, so their health comes from kube-state-metrics.
        return [
            down("kubeflow", "kubeflow", "Kubeflow Pipelines"),
            deployments_unavailable("kubeflow", "kubeflow", "Kubeflow"),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.kubeflow.enabled

    def build(self) -> None:
        # The labels upstream's kubeflow namespace carries: sidecars for the mesh's mTLS and authorization,
        # and `control-plane` which Kubeflow's webhooks use to leave their own namespace alone.
        teams = tuple(team.name for team in self.env.components.kubeflow.teams)
        # Notebooks and pipeline steps in team namespaces call the Pipelines API, metadata and Katib services.
        clients = from_namespaces("kubeflow-clients", (*GATEWAY_NAMESPACES, *teams))
        metadata = metadata_login(self.ctx.facts)
        egress = metadata.egress if metadata is not None else ()
        self.namespace([clients, *egress], labels={"istio-injection": "enabled", "control-plane": "kubeflow"})
        options = {
            "kubeflow-pipelines": {"patches": pipelines_patches(self.ctx.facts, metadata, self.env.mirrors)},
            "kubeflow-jupyter-web-app": self.notebooks(),
            "kubeflow-istio-resources": self.gateway(),
            "kubeflow-profiles": self.team_namespaces(),
            "kubeflow-katib": {"patches": [katib_mysql_image()]},
        }
        for part_key, (kind, name, index) in KUBE_RBAC_PROXIES.items():
            options[part_key] = {
                "patches": [container_image(kind, name, index, "kube-rbac-proxy", KUBE_RBAC_PROXY_IMAGE)]
            }
        for key in (part.key for part in PARTS):
            extra = workload_patches(key)
            if extra:
                part = options.get(key, {})
                options[key] = {**part, "patches": [*part.get("patches", []), *extra]}
            # Every image of the part from the image mirror, when the environment has one.
            mirrored = mirror_options(key, self.env.mirrors)
            if mirrored:
                part = options.get(key, {})
                patches = [*part.get("patches", []), *mirrored.get("patches", [])]
                options[key] = {**part, **mirrored, **({"patches": patches} if patches else {})}
        notes = compat.advisories(
            dict(self.env.versions),
            self.env.kubernetes_version,
            compat.kubeflow_products(self.env),
            existing=compat.existing_versions(self.env),
        )
        if sign_in.sign_in(self.env) is None:
            notes.append(
                f"no sign-in (components.kubeflow.auth unset): Kubeflow trusts the {sign_in.USERID_HEADER} header "
                "it is sent; keep this environment off public networks"
            )
        pipeline_notes = [UPSTREAM_STORES]
        pipeline_notes += filter(
            None, [ui_endpoint_problem(self.ctx.facts.object_store), remote_bases_advisory(self.env.mirrors.git)]
        )
        if metadata is None:
            pipeline_notes.append("no cluster database yet: ML Metadata keeps the bundled MySQL too")
        elif metadata.credentials_secret is None:
            pipeline_notes.append(f"ML Metadata: {iam_grant_advisory()}")
        else:
            copy_notes = copy_database_login(self.ctx.facts, self.spec.namespace, self.custom_resource)
            pipeline_notes += [f"ML Metadata: {note}" for note in copy_notes]
        parts = self.parts()
        dashboard = options.get(DASHBOARD_PART, {})
        options[DASHBOARD_PART] = {
            **dashboard,
            "patches": [*dashboard.get("patches", []), dashboard_patch([part.key for part in parts])],
        }
        products = compat.kubeflow_products(self.env)
        for part in parts:
            own_notes = compat.advisories(dict(self.env.versions), self.env.kubernetes_version, products, part.key)
            self.application(
                options.get(part.key, {}),
                chart=part.key,
                stage=part.stage,
                installs_crds=part.key == CRD_PART,
                advisories=[*notes, *own_notes, *(pipeline_notes if part.key == "kubeflow-pipelines" else ())],
            )
        # The Pipelines API server serves /metrics on its REST port (8888); the other parts export nothing, and
        # kube-state-metrics covers their Deployments (alert_groups). Its pods carry a sidecar and the mesh
        # accepts only mutual TLS, which Prometheus (outside the mesh) cannot speak: the sidecar's agent merges
        # the server's metrics into its own on the status port, which the mesh leaves plain (pipelines_patches
        # points it at them). Pods, not the Service, are scraped: upstream's Service carries no `app` label.
        self.scrape("ml-pipeline", {"app": "ml-pipeline"}, MERGED_METRICS_PORT, MERGED_METRICS_PATH, pods=True)
        # The API server calls the cache server's webhook (with TLS of its own) from outside the mesh, which the
        # mesh-wide STRICT mode would refuse at the sidecar; upstream's AuthorizationPolicy admits every caller.
        self.custom_resource(
            "security.istio.io/v1",
            "PeerAuthentication",
            "cache-server-webhook",
            cache_webhook_peer_authentication(),
            namespace=self.spec.namespace,
        )
        # Not `self.expose`: Kubeflow's own VirtualServices (/, /pipeline, /jupyter, /katib, ...) bind to its
        # `kubeflow-gateway`, so that Gateway is patched to serve https://kubeflow.<domain> (self.gateway) with a
        # certificate the ingress gateway reads from its own namespace.
        self.custom_resource(
            "cert-manager.io/v1",
            "Certificate",
            DASHBOARD_HOST_LABEL,
            platform_certificate(self.env, DASHBOARD_TLS_SECRET, self.dashboard_host),
            namespace=gateway_namespace(self.env),
        )
        for team in self.env.components.kubeflow.teams:
            self.team(team)

    def parts(self) -> tuple[Part, ...]:
        """The parts this environment deploys: all but those whose component is off."""
        return tuple(part for part in PARTS if not part.needs or part.needs in self.ctx.waves)

    @property
    def dashboard_host(self) -> str:
        return f"{DASHBOARD_HOST_LABEL}.{self.env.domain}"

    def gateway(self) -> dict[str, Any]:
        """Upstream's kubeflow-gateway listens on plain HTTP for any host; here it serves the dashboard host over
        HTTPS, and port 80 only redirects (or, while ACME answers HTTP-01 challenges, is left to the solver)."""
        host = self.dashboard_host
        servers: list[dict[str, Any]] = [
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": [host],
                "tls": {"mode": "SIMPLE", "credentialName": DASHBOARD_TLS_SECRET},
            }
        ]
        if not http01_challenges(self.env):
            servers.append(
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": [host],
                    "tls": {"httpsRedirect": True},
                }
            )
        ops = [{"op": "replace", "path": "/spec/servers", "value": servers}]
        return {"patches": [json_patch("Gateway", "kubeflow-gateway", ops)]}

    def team_namespaces(self) -> dict[str, Any]:
        """The labels the profile controller puts on each team namespace: upstream's, with Pod Security levels
        pinned to the environment's Kubernetes version (upstream enforces `baseline` at `latest` and says nothing
        more). The controller adds only labels a namespace lacks: an existing team namespace gets the new version,
        warn and audit labels, and keeps its `enforce` value."""
        ops = [
            {"op": "replace", "path": f"/data/{TEAM_LABELS_FILE}", "value": yaml_text(team_namespace_labels(self.env))}
        ]
        return {"patches": [json_patch("ConfigMap", "namespace-labels-data", ops)]}

    def notebooks(self) -> dict[str, Any]:
        """The images users may pick for each server type (`notebook_server_images`), replacing upstream's spawner
        form."""
        form = {"spawnerFormDefaults": spawner_form(notebook_server_images(self.env))}
        ops = [{"op": "replace", "path": "/data/spawner_ui_config.yaml", "value": yaml_text(form)}]
        return {"patches": [json_patch("ConfigMap", "jupyter-web-app-config", ops)]}

    def team(self, team: Team) -> None:
        quota = team.quota
        spec: dict[str, Any] = {
            "owner": {"kind": "User", "name": team.owner},
            "resourceQuotaSpec": {
                "hard": {
                    "requests.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "requests.nvidia.com/gpu": str(quota.gpu),
                    "requests.storage": quota.storage,
                }
            },
        }
        # On GKE the team's pipeline steps and notebooks reach the artifact bucket as the Pipelines identity.
        identity = self.ctx.facts.identity.service_accounts.get("kubeflow-pipelines")
        if identity is not None:
            spec["plugins"] = [{"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": identity}}]
        profile = self.custom_resource("kubeflow.org/v1", "Profile", team.name, spec)
        # The Profile makes the team's namespace: what other components place there waits for it.
        self.ctx.namespace_resources[team.name] = profile
        # The Profile controller creates the team's namespace shortly after the Profile; what goes into that
        # namespace waits for the Profile (Pulumi cannot wait for the namespace itself, so the very first
        # `pulumi up` of a new team may need a second run).
        for member in team.members:
            self.contributor(team.name, member, profile)
        self.object_store_access(team.name, profile)
        self.pipeline_root(team.name, profile)

    def pipeline_root(self, namespace: str, profile: pulumi.Resource) -> None:
        """The team's runs keep their artifacts in the cluster's artifacts bucket, not in the SeaweedFS bundled
        with Pipelines. The Pipelines profile controller writes this ConfigMap once and never updates it
        (metacontroller `OnDelete`), so whichever of the two comes first, the stack's content stays: applied
        server-side with force, it takes over the controller's fields."""
        k8s.core.v1.ConfigMap(
            f"kubeflow-{namespace}-{LAUNCHER_CONFIG}",
            metadata={
                "name": LAUNCHER_CONFIG,
                "namespace": namespace,
                "labels": component_labels(self.spec.name, self.spec.layer),
                "annotations": {PATCH_FORCE: "true"},
            },
            data=launcher_config(self.ctx.facts.object_store, namespace),
            opts=self.opts(depends_on=[profile]),
        )

    def object_store_access(self, namespace: str, profile: pulumi.Resource) -> None:
        """A PodDefault that notebooks and steps opt into (label `access-object-store: "true"`): the DVC remote
        and artifacts bucket URLs, and on-prem the S3 endpoint and keys (on GKE the Profile's Workload
        Identity grants access instead). See docs/dvc.md."""
        store = self.ctx.facts.object_store
        env = [
            {"name": "DVC_REMOTE_URL", "value": object_store_url(store, "dvc")},
            {"name": "ARTIFACTS_URL", "value": object_store_url(store, "artifacts")},
        ]
        spec: dict[str, Any] = {
            "desc": "Access the object store (DVC remote, artifacts)",
            "selector": {"matchLabels": {OBJECT_STORE_LABEL: "true"}},
            "env": env,
        }
        if store.credentials == "secret":
            env.append({"name": "AWS_ENDPOINT_URL", "value": store.endpoint})
            spec["envFrom"] = [{"secretRef": {"name": store.credentials_secret}}]
        self.custom_resource(
            "kubeflow.org/v1alpha1",
            "PodDefault",
            "access-object-store",
            spec,
            namespace=namespace,
            after=[profile],
        )

    def contributor(self, namespace: str, email: str, profile: pulumi.Resource) -> None:
        """What Kubeflow's access management (KFAM) writes when an owner adds a contributor: an edit
        RoleBinding, and the Istio AuthorizationPolicy that lets the member's requests through the mesh."""
        name = f"user-{re.sub(r'[^a-z0-9]+', '-', email.lower())}-clusterrole-edit"
        k8s.rbac.v1.RoleBinding(
            f"kubeflow-{namespace}-{name}",
            metadata={"name": name, "namespace": namespace, "annotations": {"role": "edit", "user": email}},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": email}],
            opts=self.opts(depends_on=[profile]),
        )
        if "security.istio.io" in self.ctx.crd_owners:
            self.custom_resource(
                "security.istio.io/v1",
                "AuthorizationPolicy",
                name,
                {
                    "action": "ALLOW",
                    "rules": [{"when": [{"key": f"request.headers[{sign_in.USERID_HEADER}]", "values": [email]}]}],
                },
                namespace=namespace,
                after=[profile],
            )


def workload_patches(part: str) -> list[dict[str, Any]]:
    """Strategic merge patches giving a part's workloads requests and limits (WORKLOAD_RESOURCES), a pod
    securityContext where upstream has none (WITHOUT_POD_CONTEXT), and no API token where nothing uses one
    (WITHOUT_API); containers merge by name."""
    patches = []
    for (kind, name), containers in sorted(WORKLOAD_RESOURCES.get(part, {}).items()):
        pod: dict[str, Any] = {
            "containers": [
                {"name": container, "resources": resources(cpu, memory)}
                for container, (cpu, memory) in sorted(containers.items())
            ]
        }
        if (part, name) in WITHOUT_POD_CONTEXT:
            pod["securityContext"] = restricted_pod(non_root=False)
        if (part, name) in WITHOUT_API:
            pod["automountServiceAccountToken"] = False
        patches.append(merge_patch("apps/v1", kind, name, {"spec": {"template": {"spec": pod}}}))
    return patches


def katib_mysql_image() -> dict[str, Any]:
    """Katib's database server at the Pipelines' MySQL image (KATIB_MYSQL_IMAGE)."""
    return container_image("Deployment", "katib-mysql", 0, "katib-mysql", KATIB_MYSQL_IMAGE)


def container_image(kind: str, name: str, index: int, container: str, image: str) -> dict[str, Any]:
    """A JSON patch setting the image of a workload's container at `index`, named `container`."""
    path = f"/spec/template/spec/containers/{index}"
    # The test fails the build (and so `check`) if upstream ever reorders the containers.
    ops = [
        {"op": "test", "path": f"{path}/name", "value": container},
        {"op": "replace", "path": f"{path}/image", "value": image},
    ]
    return json_patch(kind, name, ops)


@dataclass(frozen=True)
class NotebookServerImages:
    """The images the notebook form offers per server type, the first of each preselected."""

    jupyter: tuple[str, ...]
    code_server: tuple[str, ...]
    rstudio: tuple[str, ...]


def notebook_server_images(env: Environment) -> NotebookServerImages:
    """JupyterLab: the environment's default notebook image (images/notebook, the build `defaultImages.tags` pins),
    then its `notebookImages`; VS Code: its default codeserver image (images/codeserver), then upstream's; RStudio:
    upstream's. An environment that pins no build of a default image offers the others only. With an image mirror,
    those not in the environment's own registry (or a mirror) already are pulled from it."""
    jupyter = (*_pinned(env, "notebook"), *env.components.kubeflow.notebook_images)
    code_server = (*_pinned(env, "codeserver"), *CODE_SERVER_IMAGES)

    def pulled(images: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(pulled_image(image, env) for image in images))

    return NotebookServerImages(pulled(jupyter), pulled(code_server), pulled(RSTUDIO_IMAGES))


def _pinned(env: Environment, name: str) -> tuple[str, ...]:
    image = default_image(env, name)
    return () if image is None else (image,)


def spawner_form(images: NotebookServerImages) -> dict[str, Any]:
    """The Jupyter web app's form defaults (upstream spawner_ui_config.yaml shape): the JupyterLab images (`image`),
    the code-server and RStudio images for the VS Code (`imageGroupOne`) and RStudio (`imageGroupTwo`) types."""
    editable = lambda value: {"readOnly": False, "value": value}  # noqa: E731
    choice = lambda options: {"value": options[0], "options": list(options)}  # noqa: E731
    return {
        "allowCustomImage": False,
        "hideRegistry": True,
        "hideTag": False,
        "imagePullPolicy": editable("IfNotPresent"),
        "image": choice(images.jupyter),
        "imageGroupOne": choice(images.code_server),
        "imageGroupTwo": choice(images.rstudio),
        "cpu": {**editable("0.5"), "limitFactor": "1.2"},
        "memory": {**editable("1.0Gi"), "limitFactor": "1.2"},
        "gpus": editable(
            {"vendor": "", "vendors": [{"limitsKey": "nvidia.com/gpu", "uiName": "NVIDIA"}], "num": "none"}
        ),
        "workspaceVolume": editable(
            {
                "mount": "/home/jovyan",
                "newPvc": {
                    "metadata": {"name": "{notebook-name}-workspace"},
                    "spec": {"resources": {"requests": {"storage": "5Gi"}}, "accessModes": ["ReadWriteOnce"]},
                },
            }
        ),
        "dataVolumes": editable([]),
        "affinityConfig": {**editable(""), "options": []},
        "tolerationGroup": {**editable(""), "options": []},
        "shm": editable(True),
        "configurations": editable([]),
        "environment": editable({}),
    }


def team_namespace_labels(env: Environment) -> dict[str, str]:
    """Every label the profile controller gives a team namespace."""
    labels = dict(UPSTREAM_TEAM_LABELS)
    for mode, level in TEAM_POD_SECURITY.items():
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{env.kubernetes_version}"
    return labels
