"""Argo CD: bootstrapped by Pulumi (a Helm release, since nothing can sync it before it exists), with the
AppProjects that bound what the platform add-ons and the ML applications may deploy, single sign-on and RBAC
from the environment, and the ApplicationSet that syncs `apps/*/overlays/<env>` into the ML namespaces."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra import catalog
from infra.cluster.facts import ObjectStore
from infra.components.logging import OBJECT_STORE
from infra.config.formats import (
    ApplicationPattern,
    Claim,
    DataKey,
    Email,
    FiveFieldCron,
    GoDuration,
    HttpsUrl,
    KubernetesName,
    Namespace,
    ObjectName,
    PinnedVersion,
    Scope,
    TimeZone,
)
from infra.config.formats import (
    Group as GroupName,
)
from infra.config.settings.cluster import Kubeconfig
from infra.config.settings.common import Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform import hub, labels
from infra.platform.argocd_app import (
    ARGOCD_NAMESPACE,
    PLATFORM_PROJECT,
    SOURCE_KEY,
    mirrored_source,
    mirrored_url,
    sync_policy,
)
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.config_text import yaml_text
from infra.platform.existing import gateway_namespace, mesh_namespace, prometheus_namespace
from infra.platform.mirrors import release_chart, release_values
from infra.platform.namespace import secured_namespace
from infra.platform.network import HTTPS_OUT, KUBE_API, Allow, from_namespaces
from infra.platform.resources import resources
from infra.platform.secrets import SecretToCreate
from infra.platform.security import restricted_pod
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

ML_PROJECT = "ml-apps"
ML_NAMESPACE_PREFIX = "ml-"
APPS_DIR = "apps"
# Where traffic to the ML services comes from, by ingress provider.
INGRESS_NAMESPACES = {"istio": ("istio-system", "knative-serving"), "traefik": ("traefik",)}
# Argo CD's built-in roles, and the one the platform defines for the teams that ship ML applications.
ML_DEPLOYER_POLICY = (
    f"p, role:ml-deployer, applications, get, {ML_PROJECT}/*, allow",
    f"p, role:ml-deployer, applications, sync, {ML_PROJECT}/*, allow",
    f"p, role:ml-deployer, applications, action/*, {ML_PROJECT}/*, allow",
    f"p, role:ml-deployer, logs, get, {ML_PROJECT}/*, allow",
    f"p, role:ml-deployer, projects, get, {ML_PROJECT}, allow",
)


ARGO_CD_CHART = Chart(
    "https://argoproj.github.io/argo-helm",
    "argo-cd",
    "10.1.1",
    "argocd",
    images=(
        ImageValue("global.image.repository", "quay.io/argoproj/argocd"),
        ImageValue("redis.image.repository", "ecr-public.aws.com/docker/library/redis"),
        ImageValue("redis-ha.image.repository", "ecr-public.aws.com/docker/library/redis"),
        ImageValue("redis-ha.haproxy.image.repository", "ecr-public.aws.com/docker/library/haproxy"),
    ),
)


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
    group: GroupName
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
    version: PinnedVersion = ARGO_CD_CHART.version
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


def object_store_egress(store: ObjectStore) -> tuple[Allow, ...]:
    """How ML apps reach their models and data: GCS over HTTPS (HTTPS_OUT), an S3 endpoint also over plain HTTP
    or on MinIO's port, in the cluster (MinIO's pods listen on 9000 behind the Service's 80) or outside it."""
    return (OBJECT_STORE,) if store.kind == "s3" else ()


def ml_namespace(app: str) -> str:
    return f"{ML_NAMESPACE_PREFIX}{app}"


# The chart names the server after its release ("argo-cd"); port 80 serves plain HTTP when insecure.
SERVER_SERVICE = "argo-cd-server"
GIT_CONFIG = "argocd-git-mirrors"
"""ConfigMap (key GIT_CONFIG_KEY) with the repo server's system git config when mirrors.git is set."""
GIT_CONFIG_KEY = "gitconfig"
# Argo CD runs git with HOME=/dev/null, so only the system file is read (its docs, "Git Configuration").
SYSTEM_GIT_CONFIG = "/etc/gitconfig"
GIT_CONFIG_CHECKSUM = "mlops.dev/git-mirrors-sha256"
SMALL_JOB = resources("10m", "32Mi", "100m", "64Mi")
# Highly available Redis (the redis-ha subchart): its servers, sentinels, HAProxy and their init containers.
REDIS_HA_RESOURCES: dict[str, Any] = {
    "redis": {"resources": resources("50m", "128Mi", "200m", "256Mi")},
    "sentinel": {"resources": resources("20m", "32Mi", "100m", "64Mi")},
    "init": {"resources": SMALL_JOB},
    "splitBrainDetection": {"resources": resources("10m", "32Mi", "50m", "64Mi")},
    "haproxy": {"resources": resources("50m", "64Mi", "200m", "128Mi"), "init": {"resources": SMALL_JOB}},
}


class ArgoCD(PlatformComponent):
    spec = ComponentSpec(
        name="argo-cd",
        layer="delivery",
        namespace=ARGOCD_NAMESPACE,
        provides_crds=("argoproj.io/Application", "argoproj.io/ApplicationSet", "argoproj.io/AppProject"),
        network=(KUBE_API, HTTPS_OUT),
    )
    sources = {"argo-cd": ARGO_CD_CHART}

    exported_families = {
        "argocd/argo-cd": ("argocd_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("argo-cd", "argocd", "Argo CD"),
            group(
                "argo-cd-applications",
                [
                    alert(
                        "ArgoCDApplicationOutOfSync",
                        'argocd_app_info{sync_status="OutOfSync"} == 1',
                        component="argo-cd",
                        for_="30m",
                        summary="Argo CD application {{ $labels.name }} is out of sync",
                        description=(
                            "The cluster differs from git for 30 minutes: a sync is failing or self-heal is off. "
                            "Open the application in Argo CD and read the sync result."
                        ),
                    ),
                    alert(
                        "ArgoCDApplicationUnhealthy",
                        'argocd_app_info{health_status!~"Healthy|Progressing|Suspended"} == 1',
                        component="argo-cd",
                        for_="15m",
                        severity="critical",
                        summary="Argo CD application {{ $labels.name }} is {{ $labels.health_status }}",
                        description="Some resource of the application is degraded or missing; check its resource tree.",
                    ),
                ],
            ),
        ]

    @classmethod
    def secrets_to_create(cls, env: Environment) -> tuple[SecretToCreate, ...]:
        sso = env.argocd.sso
        if sso is None:
            return ()
        purpose = "the OIDC client's secret for Argo CD's sign-in (label it `app.kubernetes.io/part-of: argocd`)"
        return (SecretToCreate(cls.spec.namespace, sso.client_secret.name, (sso.client_secret.key,), purpose),)

    def build(self) -> None:
        if self.ctx.delivery.hub:
            self.build_in_hub()
            return
        namespace = self.namespace()
        self.release = k8s.helm.v3.Release(
            "argo-cd",
            name="argo-cd",
            **release_chart(self.spec.name, self.env.mirrors),
            version=self.ctx.chart_version(self.spec.name),
            namespace=self.spec.namespace,
            create_namespace=False,
            atomic=True,
            values=release_values(self.spec.name, self.values(), self.env.mirrors),
            opts=self.opts(depends_on=[namespace]),
        )
        self.expose("argocd", SERVER_SERVICE, 80)
        self.delivery_objects()

    def delivery_objects(self) -> None:
        """What Argo CD needs wherever it runs: the projects, the ML apps' namespaces and ApplicationSet, and the
        OCI chart repositories."""
        self.projects = [
            self.project(PLATFORM_PROJECT, self.platform_project()),
            self.project(ML_PROJECT, self.ml_project()),
        ]
        app_namespaces = [self.app_namespace(app) for app in self.env.argocd.apps]
        if self.env.argocd.apps:
            self.application_set(app_namespaces)
        self.repositories = self.oci_repositories()

    def build_in_hub(self) -> None:
        """Hub mode: no Argo CD here. The cluster is registered in the hub, and the projects, the ApplicationSet and
        the repositories are written there (the components write their Applications there too)."""
        # What every Argo CD object waits for: the Helm release in-cluster, the cluster's registration in a hub.
        self.release = self.register_cluster()
        self.delivery_objects()

    def register_cluster(self) -> pulumi.Resource:
        """The hub's identity bound to cluster-admin here (what `argocd cluster add` would make), and the hub's cluster
        Secret naming this cluster, how to reach it and its facts. The hub authenticates as its Google service account
        (`argocd-k8s-auth gcp`): no credential is stored."""
        settings = self.env.argocd.hub
        assert settings is not None  # hub delivery exists only with argocd.hub (rules.hub_mode_has_its_hub)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            "argocd-hub",
            metadata={"name": hub.MANAGER},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": settings.google_service_account}
            ],
            opts=self.opts(),
        )
        facts = self.ctx.facts
        config = pulumi.Output.from_input(facts.api_server_ca).apply(hub.cluster_config)
        installed = [name for name in self.ctx.namespaces if name != self.spec.name]
        return k8s.core.v1.Secret(
            "argocd-hub-cluster",
            metadata={
                "name": self.ctx.delivery.name("cluster"),
                "namespace": self.ctx.delivery.namespace,
                "labels": hub.fact_labels(self.env, facts, installed),
                "annotations": hub.fact_annotations(self.env, facts),
            },
            string_data={"name": self.ctx.delivery.cluster, "server": facts.api_server, "config": config},
            opts=self.delivery_opts(depends_on=[binding]),
        )

    @property
    def bootstrap(self) -> list[pulumi.Resource]:
        return [self.release, *self.projects, *self.repositories]

    def values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        replicas = 2 if ha else 1
        # Metrics Services only; their ServiceMonitor comes from the monitoring component (CRDs come later).
        metrics = {"metrics": {"enabled": self.ctx.monitoring_enabled}}
        return {
            # The chart's containers run restricted already; its pods get the runtime's seccomp profile and no root.
            "global": {"domain": f"argocd.{self.env.domain}", "securityContext": restricted_pod()},
            "configs": {
                "params": {
                    # TLS ends at the ingress gateway, which reaches the server over the cluster network.
                    "server.insecure": True,
                    "application.namespaces": ARGOCD_NAMESPACE,
                    # Lets the ApplicationSet's own syncPolicy (create-update when apps sync by hand) apply.
                    "applicationsetcontroller.enable.policy.override": True,
                },
                "cm": self.config_map(),
                "rbac": self.rbac(),
            },
            "controller": {"replicas": 1, "resources": resources("250m", "512Mi", "1", "1Gi"), **metrics},
            "server": {"replicas": replicas, "resources": resources("100m", "128Mi", "500m", "256Mi"), **metrics},
            "repoServer": {
                "replicas": replicas,
                "resources": resources("100m", "256Mi", "1", "512Mi"),
                **metrics,
                **git_mirror_mount(self.env.mirrors.git),
            },
            "applicationSet": {"replicas": replicas, "resources": resources("50m", "64Mi", "250m", "128Mi"), **metrics},
            "notifications": {"resources": resources("50m", "64Mi", "100m", "128Mi")},
            "dex": {"enabled": False},
            # Redis never calls the Kubernetes API: no token in its pods.
            "redis": {"resources": resources("50m", "64Mi", "200m", "128Mi"), "automountServiceAccountToken": False},
            # The Job that writes Redis' password before the first sync.
            "redisSecretInit": {"resources": SMALL_JOB, "securityContext": restricted_pod()},
            "redis-ha": {"enabled": ha, **(REDIS_HA_RESOURCES if ha else {})},
            **git_mirror_config(self.env.mirrors.git),
        }

    def config_map(self) -> dict[str, Any]:
        settings = self.env.argocd
        cm: dict[str, Any] = {
            "url": f"https://argocd.{self.env.domain}",
            "exec.enabled": False,
            "admin.enabled": settings.admin_enabled,
            "statusbadge.enabled": False,
        }
        if settings.sso is not None:
            sso = settings.sso
            cm["oidc.config"] = yaml_text(
                {
                    "name": sso.display_name,
                    "issuer": sso.issuer,
                    "clientID": sso.client_id,
                    # `$<secret>:<key>` makes Argo CD read the value from that Secret; it never sits in values.
                    "clientSecret": f"${sso.client_secret.name}:{sso.client_secret.key}",
                    "requestedScopes": list(sso.requested_scopes),
                },
                sort_keys=False,
            )
        return cm

    def rbac(self) -> dict[str, Any]:
        rbac = self.env.argocd.rbac
        bindings = [f"g, {binding.group}, role:{binding.role}" for binding in rbac.bindings]
        groups_claim = self.env.argocd.sso.groups_claim if self.env.argocd.sso else "groups"
        return {
            "policy.default": "" if rbac.default_role == "none" else f"role:{rbac.default_role}",
            "policy.csv": "\n".join([*ML_DEPLOYER_POLICY, *bindings]) + "\n",
            "scopes": f"[{groups_claim}]",
        }

    def project(self, name: str, spec: dict[str, Any]) -> pulumi.Resource:
        delivery = self.ctx.delivery
        if delivery.hub:
            # The hub's own RBAC is global: this environment's groups get roles on its projects instead.
            spec = {**spec, "roles": self.project_roles(name)}
        return k8s.apiextensions.CustomResource(
            f"appproject-{name}",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata={"name": delivery.name(name), "namespace": delivery.namespace, **self.hub_labels()},
            spec=spec,
            opts=self.delivery_opts(depends_on=[self.release]),
        )

    def hub_labels(self) -> dict[str, Any]:
        """Metadata labels of what is written into a hub: the environment it belongs to."""
        return {"labels": self.ctx.delivery.labels} if self.ctx.delivery.hub else {}

    def project_roles(self, project: str) -> list[dict[str, Any]]:
        """argocd.rbac.bindings as roles of one project of the hub: `admin` may do anything with its
        Applications, `readonly` view them, `ml-deployer` what ML_DEPLOYER_POLICY allows (ML project only)."""
        name = self.ctx.delivery.name(project)
        actions = {
            "admin": ("*",),
            "readonly": ("get",),
            "ml-deployer": ("get", "sync", "action/*") if project == ML_PROJECT else (),
        }
        roles = []
        for role, allowed in actions.items():
            groups = sorted({b.group for b in self.env.argocd.rbac.bindings if b.role == role})
            if not groups or not allowed:
                continue
            policies = [f"p, proj:{name}:{role}, applications, {action}, {name}/*, allow" for action in allowed]
            policies.append(f"p, proj:{name}:{role}, logs, get, {name}/*, allow")
            roles.append({"name": role, "policies": policies, "groups": groups})
        return roles

    def enabled_sources(self) -> list[Chart]:
        """Catalog entries of the enabled components (a component may deliver several), as their Applications name
        them (git sources from their mirror, if any)."""
        keys = {key for charts in self.ctx.charts.values() for key in charts}
        return [
            mirrored_source(catalog.CATALOG[key], self.env.mirrors) for key in sorted(keys) if key in catalog.CATALOG
        ]

    @property
    def gitops_repo(self) -> str:
        """The repository of `apps/`, from its mirror when it is under a mirrored prefix (as Argo CD's git would
        fetch it there anyway)."""
        return mirrored_url(self.env.gitops.repo_url, self.env.mirrors.git)

    def oci_repositories(self) -> list[pulumi.Resource]:
        """Argo CD reads a Helm chart from an OCI registry only when the registry is declared with enableOCI;
        public registries need no credentials, so the declaration holds none."""
        urls = sorted({chart.repo_url for chart in self.enabled_sources() if chart.is_oci})
        return [
            k8s.core.v1.Secret(
                f"argocd-repository-{_slug(url)}",
                metadata={
                    "name": self.ctx.delivery.name(f"repository-{_slug(url)}"),
                    "namespace": self.ctx.delivery.namespace,
                    "labels": {
                        "argocd.argoproj.io/secret-type": "repository",
                        **self.ctx.delivery.labels,
                    },
                },
                string_data={"name": _slug(url), "url": url, "type": "helm", "enableOCI": "true"},
                opts=self.delivery_opts(depends_on=[self.release]),
            )
            for url in urls
        ]

    def platform_project(self) -> dict[str, Any]:
        repos = sorted({chart.repo_url for chart in self.enabled_sources()})
        namespaces = sorted({*self.ctx.namespaces.values(), "kube-system"} - {ARGOCD_NAMESPACE})
        return {
            "description": "Platform add-ons declared by the Pulumi stack: upstream sources at pinned versions.",
            "sourceRepos": repos,
            "destinations": [self.ctx.delivery.destination(ns) for ns in namespaces],
            # Charts install CRDs, ClusterRoles and webhooks.
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "syncWindows": self.sync_windows(PLATFORM_PROJECT),
        }

    def ml_project(self) -> dict[str, Any]:
        return {
            "description": "ML applications from apps/ in this repository; namespaced objects only.",
            "sourceRepos": [self.gitops_repo],
            # Exactly the namespaces the platform created: an app nobody declared has nowhere to go.
            "destinations": [self.ctx.delivery.destination(ml_namespace(app)) for app in sorted(self.env.argocd.apps)],
            "clusterResourceWhitelist": [],
            # Guardrails set by the platform stay with the platform.
            "namespaceResourceBlacklist": [
                {"group": "", "kind": "ResourceQuota"},
                {"group": "", "kind": "LimitRange"},
                {"group": "networking.k8s.io", "kind": "NetworkPolicy"},
            ],
            "syncWindows": self.sync_windows(ML_PROJECT),
        }

    def sync_windows(self, project: str) -> list[dict[str, Any]]:
        """The windows of one project; in a hub, Application patterns match the environment's prefixed names."""
        return [
            _sync_window(window, self.ctx.delivery.prefix)
            for window in self.env.argocd.sync_windows
            if project in window.projects
        ]

    def app_namespace(self, app: str) -> pulumi.Resource:
        """The namespace an ML application syncs into: restricted, default-deny, reachable from the ingress."""
        ingress = from_namespaces("from-ingress", self.ingress_namespaces())
        return secured_namespace(
            ml_namespace(app),
            pod_security="restricted",
            kubernetes_version=self.env.kubernetes_version,
            allows=[HTTPS_OUT, ingress, *object_store_egress(self.ctx.facts.object_store)],
            scraped_by_prometheus=self.ctx.monitoring_enabled,
            opts=self.opts(),
            cluster_egress=self.ctx.facts.namespace_egress,
            mesh_namespace=mesh_namespace(self.env),
            prometheus_namespace=prometheus_namespace(self.env),
        )

    def ingress_namespaces(self) -> tuple[str, ...]:
        """Where traffic to the ML services comes from: the ingress (an existing Istio's gateway namespace)."""
        if self.env.ingress.provider == "istio":
            return (gateway_namespace(self.env), *INGRESS_NAMESPACES["istio"][1:])
        return INGRESS_NAMESPACES[self.env.ingress.provider]

    def application_set(self, namespaces: list[pulumi.Resource]) -> pulumi.Resource:
        """One Application per `apps/<app>/overlays/<env>` directory in git, into the namespace `ml-<app>`."""
        gitops = self.env.gitops
        delivery = self.ctx.delivery
        app = "{{ index .path.segments 1 }}"
        sync_options = ["CreateNamespace=false", "PruneLast=true"]
        return k8s.apiextensions.CustomResource(
            "applicationset-ml-apps",
            api_version="argoproj.io/v1alpha1",
            kind="ApplicationSet",
            metadata={
                "name": delivery.name(ML_PROJECT),
                "namespace": delivery.namespace,
                "labels": {
                    **labels.component_labels(self.spec.name, self.spec.layer),
                    **self.hub_labels().get("labels", {}),
                },
            },
            spec={
                "goTemplate": True,
                "goTemplateOptions": ["missingkey=error"],
                "generators": [
                    {
                        "git": {
                            "repoURL": self.gitops_repo,
                            "revision": gitops.revision,
                            # The listed apps only: an overlay of an app this environment does not list would sync
                            # into a namespace the stack never made, which the project does not allow.
                            "directories": [
                                {"path": f"{APPS_DIR}/{app}/overlays/{self.env.name}"} for app in self.env.argocd.apps
                            ],
                        }
                    }
                ],
                "template": {
                    "metadata": {
                        "name": delivery.name(app),
                        **({"annotations": {SOURCE_KEY: app}} if delivery.hub else {}),
                        "labels": {
                            "app.kubernetes.io/part-of": labels.PART_OF,
                            labels.LAYER: "ml-apps",
                            **delivery.labels,
                        },
                        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                    },
                    "spec": {
                        "project": delivery.name(ML_PROJECT),
                        "source": {
                            "repoURL": self.gitops_repo,
                            "targetRevision": gitops.revision,
                            "path": "{{ .path.path }}",
                        },
                        "destination": delivery.destination(ml_namespace(app)),
                        "syncPolicy": sync_policy(self.env.argocd.apps_sync, sync_options),
                    },
                },
                # Removing an app directory deletes its Application only when sync is automated.
                "syncPolicy": {
                    "applicationsSync": "sync" if self.env.argocd.apps_sync == "automated" else "create-update"
                },
            },
            opts=self.delivery_opts(depends_on=[self.release, *self.projects, *namespaces]),
        )


def git_config(mirrors: Mapping[str, str]) -> str:
    """Git's `url.<mirror>.insteadOf <upstream>` for each mirrored prefix."""
    return "".join(f'[url "{mirror}"]\n\tinsteadOf = {upstream}\n' for upstream, mirror in sorted(mirrors.items()))


def git_mirror_config(mirrors: Mapping[str, str]) -> dict[str, Any]:
    """Chart values adding the ConfigMap that holds the repo server's git config; none without mirrors."""
    if not mirrors:
        return {}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": GIT_CONFIG, "namespace": ARGOCD_NAMESPACE},
        "data": {GIT_CONFIG_KEY: git_config(mirrors)},
    }
    return {"extraObjects": [config_map]}


def git_mirror_mount(mirrors: Mapping[str, str]) -> dict[str, Any]:
    """Repo server values mounting that git config as the system one. A file mounted by subPath is never updated
    in place, so the pods carry its checksum: a changed mirror list rolls them."""
    if not mirrors:
        return {}
    checksum = hashlib.sha256(git_config(mirrors).encode()).hexdigest()
    return {
        "volumes": [{"name": GIT_CONFIG, "configMap": {"name": GIT_CONFIG}}],
        "volumeMounts": [
            {"name": GIT_CONFIG, "mountPath": SYSTEM_GIT_CONFIG, "subPath": GIT_CONFIG_KEY, "readOnly": True}
        ],
        "podAnnotations": {GIT_CONFIG_CHECKSUM: checksum},
    }


def _sync_window(window: SyncWindow, prefix: str = "") -> dict[str, Any]:
    return {
        "kind": window.kind,
        "schedule": window.schedule,
        "duration": window.duration,
        "applications": [f"{prefix}{pattern}" for pattern in window.applications],
        "manualSync": window.manual_sync,
        "timeZone": window.time_zone,
    }


def _slug(url: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-")
