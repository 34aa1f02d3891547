"""Delivery: Argo CD (in the cluster or a hub; sign-in, RBAC, sync windows, the ML applications), the git repository
it follows, and the mirrors a cluster without internet access installs from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.catalog import CATALOG
from infra.config.formats import (
    ApplicationPattern,
    Claim,
    DataKey,
    Email,
    FiveFieldCron,
    GitRepository,
    GitRevision,
    GitUrlPrefix,
    GoDuration,
    Group,
    HttpsUrl,
    KubernetesName,
    Namespace,
    ObjectName,
    OciRegistry,
    PinnedVersion,
    RegistryAddress,
    Scope,
    TimeZone,
)
from infra.config.settings.cluster import Kubeconfig
from infra.config.settings.common import Settings


class SecretKeyRef(Settings):
    name: ObjectName
    """Name of a Secret in the `argocd` namespace. Create it out of band (e.g. by External Secrets) and label it
    `app.kubernetes.io/part-of: argocd` so Argo CD may read it."""
    key: DataKey
    """Key in that Secret holding the value."""


class ArgoCdOidc(Settings):
    issuer: HttpsUrl
    """OIDC issuer URL of the identity provider, e.g. `https://accounts.google.com`."""
    client_id: Annotated[str, Field(min_length=1)]
    """OAuth client ID registered for Argo CD (redirect URL `https://argocd.<domain>/auth/callback`)."""
    client_secret: SecretKeyRef
    """Where the OAuth client secret is: a reference to a Secret key, never the secret itself."""
    display_name: str = "SSO"
    """Label of the login button."""
    requested_scopes: tuple[Scope, ...] = ("openid", "profile", "email", "groups")
    """Scopes requested from the identity provider."""
    groups_claim: Claim = "groups"
    """Token claim that carries the user's groups, which the RBAC bindings match."""


class RbacBinding(Settings):
    group: Group
    """Group name as the identity provider reports it in the groups claim."""
    role: Literal["admin", "readonly", "ml-deployer"]
    """Argo CD role of the group's members: `admin` (everything), `readonly` (view), `ml-deployer` (view, sync,
    run resource actions and read logs of the ML applications of the `ml-apps` project)."""


class ArgoCdRbac(Settings):
    default_role: Literal["none", "readonly"] = "none"
    """Role of a logged-in user no binding matches."""
    bindings: tuple[RbacBinding, ...] = ()
    """Groups and their roles, written to Argo CD's policy.csv."""


class SyncWindow(Settings):
    kind: Literal["allow", "deny"]
    """`allow`: syncs happen only inside this window (and other allow windows); `deny`: no syncs inside it."""
    schedule: FiveFieldCron
    """Start of the window as a five-field cron expression, e.g. `0 22 * * 5` (Friday 22:00)."""
    duration: GoDuration
    """Length of the window, e.g. `1h` or `60h`."""
    projects: tuple[Literal["platform", "ml-apps"], ...] = ("platform", "ml-apps")
    """Argo CD projects the window applies to: the platform add-ons and/or the ML applications."""
    applications: tuple[ApplicationPattern, ...] = ("*",)
    """Application name patterns the window applies to."""
    manual_sync: bool = False
    """Allow a person to sync by hand while automated syncs are blocked (e.g. an emergency fix)."""
    time_zone: TimeZone = "UTC"
    """Time zone of the schedule."""


class ArgoCdHub(Settings):
    kubeconfig: Kubeconfig
    """How Pulumi reaches the hub cluster, whose Argo CD syncs this environment (a GKE hub too: a context made by
    `gcloud container clusters get-credentials`)."""
    namespace: Namespace = "argocd"
    """Namespace of the hub's Argo CD: the cluster Secret, AppProjects, Applications and ApplicationSet go there."""
    version: PinnedVersion = CATALOG["argo-cd"].version
    """Version of the argo-cd chart the hub runs: `check` judges the platform's Applications by its CRDs."""
    google_service_account: Email
    """Google service account the hub's Argo CD (application controller and server) runs as through Workload
    Identity. It reaches this GKE cluster with `argocd-k8s-auth gcp` (no stored credential): the stack grants it
    `roles/container.clusterViewer` in the cluster's project and binds it to `cluster-admin` in the cluster."""


class ArgoCdSettings(Settings):
    mode: Literal["in-cluster", "hub"] = "in-cluster"
    """`in-cluster`: the stack installs Argo CD in the cluster and declares the platform's Applications there.
    `hub`: an Argo CD elsewhere (`hub`) syncs the cluster; the stack installs no Argo CD, registers the cluster in
    the hub (a cluster Secret carrying the cluster's facts) and writes the AppProjects, Applications and
    ApplicationSet into the hub, prefixed with the environment's name. GKE targets only, so far."""
    hub: ArgoCdHub | None = None
    """The hub Argo CD; required with mode `hub`, and only with it."""
    admin_enabled: bool = True
    """Keep Argo CD's local `admin` user. Disable it once SSO is configured."""
    sso: ArgoCdOidc | None = None
    """Single sign-on through an OIDC identity provider; unset means local users only."""
    rbac: ArgoCdRbac = ArgoCdRbac()
    """Who may do what in Argo CD, by identity-provider group."""
    sync_windows: tuple[SyncWindow, ...] = ()
    """When Argo CD may sync automatically (prod typically denies weekends and nights)."""
    apps: tuple[KubernetesName, ...] = ("model-serving", "scheduled-notebooks")
    """ML applications of this environment: `apps/<name>/overlays/<env>` is synced into the namespace
    `ml-<name>`, which the platform creates (Pod Security `restricted`, default-deny network policy)."""
    apps_sync: Literal["automated", "manual"] = "automated"
    """How the ML applications sync: automatically with prune and self-heal, or only when someone presses sync."""


# --- installing without internet -------------------------------------------------------------------------


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


# --- the repository Argo CD follows ----------------------------------------------------------------------


class GitOps(Settings):
    repo_url: GitRepository = "https://github.com/example-org/mlops-platform.git"
    """Git repository Argo CD syncs the ML applications (`apps/`) from: this repository, where adopters host it."""
    revision: GitRevision = "main"
    """Branch or tag of that repository the environment follows."""
