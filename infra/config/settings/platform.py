"""Settings of the whole platform that no one component owns: how traffic comes in, where objects are stored, the
platform's default images, the git repository Argo CD follows and the mirrors a cluster without internet access
installs from. A component's own settings live in its module (infra/components/<name>.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    BucketPrefix,
    GitRepository,
    GitRevision,
    GitUrlPrefix,
    HttpUrl,
    ImageBuild,
    OciRegistry,
    RegistryAddress,
    S3Endpoint,
)
from infra.config.settings.common import Settings

# The platform's default images: images/<name>/Dockerfile, built by .github/workflows/images.yaml into each
# environment's registry and tagged with the git commit of their sources (images/README.md). The stack offers the
# first three (pinned per environment under `defaultImages.tags`); apps pin theirs in their overlays' `images:`.
STACK_IMAGES = ("notebook", "codeserver", "model-server")
APP_IMAGES = ("papermill-runner",)
DEFAULT_IMAGES = (*STACK_IMAGES, *APP_IMAGES)

StackImageName = Literal[STACK_IMAGES]  # type: ignore[valid-type]


class Ingress(Settings):
    provider: Literal["istio", "traefik"] = "istio"
    """What carries traffic into the cluster: Istio (ingress gateway and mesh) or Traefik."""
    rate_limit_average: Annotated[int, Field(ge=1, le=100000)] = 100
    """Traefik only: requests per second each client may send to a platform UI, on average."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=100000)] = 200
    """Traefik only: requests a client may send in a burst above the average."""
    forward_auth_url: HttpUrl | None = None
    """Traefik only: URL of an authentication service (e.g. oauth2-proxy's `/oauth2/auth`) every platform UI
    asks before serving a request; unset, the UIs use their own login."""


class ObjectStore(Settings):
    provider: Literal["gcs", "minio", "s3"]
    """Where ML artifacts, backups and log snapshots go: Cloud Storage (GKE), an in-cluster MinIO, or an
    existing S3-compatible endpoint (on-prem)."""
    endpoint: S3Endpoint | None = None
    """URL of an existing S3-compatible endpoint; only with provider `s3`."""
    bucket_prefix: BucketPrefix = "mlops"
    """Prefix of every bucket name, so environments sharing an endpoint do not collide."""


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


class MirrorException(Settings):
    image: RegistryAddress
    """Images under this registry (and path) prefix that the platform cannot point at the image mirror (named in
    an operator's built-in defaults, e.g. `gcr.io/knative-releases`), e.g. because the cluster's container runtime
    mirrors them (containerd's registry mirror: docs/installing-without-internet.md)."""
    reason: Annotated[str, Field(min_length=20)]
    """Why, and how the cluster gets them without internet."""


class Mirrors(Settings):
    charts: OciRegistry | None = None
    """OCI registry (and path) that holds every Helm chart the platform installs, e.g.
    `oci://registry.corp.example.net/charts`: each chart at `<charts>/<chart>` with its version as tag (what `helm
    push` of the chart archive makes). Argo CD's Applications and the Pulumi Helm releases (Argo CD, the CNI) take
    their charts from there. Unset: from each chart's upstream repository."""
    images: RegistryAddress | None = None
    """Registry (and path) prefix of the image mirror: an image `<registry>/<repository>:<tag>` is pulled as
    `<images>/<registry>/<repository>:<tag>` (e.g. `quay.io/jetstack/cert-manager-controller:v1.21.1` as
    `registry.corp.example.net/mirror/quay.io/jetstack/cert-manager-controller:v1.21.1`): Harbor proxy-cache
    projects named after each upstream registry, or the layout `python -m infra.cli mirror` copies into. The
    platform points every image it can set there (chart values, its own workloads and custom resources)."""
    image_registries: dict[RegistryAddress, RegistryAddress] = {}
    """A mirror of its own for some upstream registries, by registry: `<mirror>/<repository>:<tag>`, e.g.
    `{"docker.io": "europe-docker.pkg.dev/mlops-prod/docker-hub"}` (an Artifact Registry remote repository per
    upstream, or Harbor proxy-cache projects named otherwise). The others go to `images`."""
    git: dict[GitUrlPrefix, GitUrlPrefix] = {}
    """Git mirrors by upstream URL prefix, e.g. `{"https://github.com/": "https://git.example.com/github/"}`.
    Both end with `/`, and the mirror keeps each repository at the same `<owner>/<repo>` path and with its tags.
    Argo CD's repo server gets `url.<mirror>.insteadOf <upstream>` in its system git config (`/etc/gitconfig`), so
    every git command it runs goes to the mirror, including the remote kustomize bases Kubeflow Pipelines reads at
    sync (`github.com/argoproj/argo-workflows` at v3.7.3). Argo CD resolves an Application's tag with a built-in git
    client that reads no git config, so Applications of git repositories under a prefix (Kubeflow's
    `github.com/kubeflow/manifests`, and `gitops.repoUrl` if it is there) name the mirror themselves. Mirror what
    the platform reads: `kubeflow/manifests` and `argoproj/argo-workflows` with Kubeflow on. Empty: Argo CD reaches
    the upstream hosts."""
    exceptions: tuple[MirrorException, ...] = ()
    """Images that stay outside the mirrors, each with its reason. With `charts`, `images` or `git` set, `check`
    fails on any chart, image or git reference the platform applies outside the mirrors' hosts (and the
    environment's own registry) that no exception names, and on an exception that names nothing."""

    @property
    def enabled(self) -> bool:
        return bool(self.charts or self.images or self.image_registries or self.git)


class GitOps(Settings):
    repo_url: GitRepository = "https://github.com/example-org/mlops-platform.git"
    """Git repository Argo CD syncs the ML applications (`apps/`) from: this repository, where adopters host it."""
    revision: GitRevision = "main"
    """Branch or tag of that repository the environment follows."""
