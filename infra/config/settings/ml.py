"""The ML platform: Kubeflow and its teams (quotas, Ray clusters, sign-in), KServe, MLflow, Feast, the GPU operator,
KubeRay, and the platform's default images."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.catalog import STACK_IMAGES
from infra.config.formats import (
    ByteQuantity,
    ByteQuota,
    Claim,
    CpuQuantity,
    DataKey,
    Email,
    EmailDomain,
    FeastProject,
    HttpsUrl,
    Image,
    ImageBuild,
    KubernetesName,
    ObjectName,
    RayVersion,
    RefreshMinutes,
    RegistryAddress,
    Scope,
)
from infra.config.settings.common import Settings

StackImageName = Literal[STACK_IMAGES]  # type: ignore[valid-type]
NOTEBOOK_IMAGES = (
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.10.0",
    "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-tensorflow-full:v1.10.0",
)


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


class Kubeflow(Settings):
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


class Kserve(Settings):
    enabled: bool = False
    """Install KServe in serverless mode (on Knative) with the platform's ClusterServingRuntimes."""


class Mlflow(Settings):
    enabled: bool = False
    """Install the MLflow tracking server and model registry (needs the cluster's database)."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Tracking server replicas; highly available environments need at least 2."""


class Feast(Settings):
    enabled: bool = False
    """Install the Feast feature server, with its registry in the object store and a Redis online store in
    the cluster."""
    project: FeastProject = "platform"
    """Feast project name."""
    online_store_size: ByteQuantity = "10Gi"
    """Persistent volume size of the in-cluster Redis online store."""


class GpuOperator(Settings):
    enabled: bool = False
    """On-prem clusters with NVIDIA GPU nodes: install NVIDIA's GPU operator, which makes the GPUs schedulable
    (driver, container toolkit, device plugin) and observed (its DCGM exporter, which Prometheus scrapes for the
    GPU alerts and dashboards). Not on GKE: GKE installs the driver and device plugin on GPU pools itself, and the
    platform adds the DCGM exporter there wherever a node pool has GPUs."""
    driver: bool = True
    """Let the operator install the NVIDIA driver on the GPU nodes (a container that builds it for the node's
    kernel); false where the nodes come with a driver installed."""
    toolkit: bool = True
    """Let the operator install and configure NVIDIA's container toolkit in the nodes' container runtime; false
    where the nodes come with it configured."""


class KubeRay(Settings):
    enabled: bool = False
    """Install the KubeRay operator. Teams opt in to a Ray cluster in their namespace with
    `kubeflow.teams[].ray`."""
    ray_version: RayVersion = "2.52.0"
    """Ray version of the teams' clusters, as KubeRay needs to know it; the images must contain this version, and
    so must the Ray client of notebooks that connect to the clusters."""
    image: Image = "rayproject/ray:2.52.0"
    """Image of the Ray head and of CPU workers."""
    gpu_image: Image = "rayproject/ray:2.52.0-gpu"
    """Image of GPU workers (Ray with CUDA)."""


class DefaultImages(Settings):
    registry: RegistryAddress | None = None
    """Where the environment's nodes pull the default images from, and where .github/workflows/images.yaml pushes
    them. Unset: the environment's own registry, Artifact Registry `<region>-docker.pkg.dev/<project>/mlops-<env>`
    on GKE; on-prem `harbor.<domain>/mlops` (a Harbor project named `mlops`) or the existing registry's url."""
    tags: dict[StackImageName, ImageBuild] = {}  # type: ignore[valid-type]
    """Which build of each default image (images/<name> in this repository) the environment offers: `notebook` and
    `codeserver` first in the notebook form's JupyterLab and VS Code groups, `model-server` as the
    `platform-mlflow` serving runtime. A build is named by the git commit of its sources, the tag the images
    workflow gives it (optionally with its digest). An image without a tag here is not offered. Promotion copies
    these from one environment to the next, like `versions`."""
