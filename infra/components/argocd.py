"""Argo CD: bootstrapped by Pulumi (a Helm release, since nothing can sync it before it exists), with the
AppProjects that bound what the platform add-ons and the ML applications may deploy."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import CATALOG, Chart
from infra.platform.argocd_app import ARGOCD_NAMESPACE, IN_CLUSTER, PLATFORM_PROJECT
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import HTTPS_OUT, KUBE_API
from infra.platform.resources import resources

ML_PROJECT = "ml-apps"
ML_NAMESPACE_PATTERN = "ml-*"


class ArgoCD(PlatformComponent):
    spec = ComponentSpec(
        name="argo-cd",
        layer="delivery",
        namespace=ARGOCD_NAMESPACE,
        provides_crds=("argoproj.io/Application", "argoproj.io/ApplicationSet", "argoproj.io/AppProject"),
        network=(KUBE_API, HTTPS_OUT),
    )

    def build(self) -> None:
        namespace = self.namespace()
        self.release = k8s.helm.v3.Release(
            "argo-cd",
            name="argo-cd",
            chart=self.chart.chart,
            version=self.ctx.chart_version(self.spec.name),
            repository_opts={"repo": self.chart.repo_url},
            namespace=self.spec.namespace,
            create_namespace=False,
            atomic=True,
            values=self.values(),
            opts=self.opts(depends_on=[namespace]),
        )
        self.projects = [
            self.project(PLATFORM_PROJECT, self.platform_project()),
            self.project(ML_PROJECT, self.ml_project()),
        ]
        self.repositories = self.oci_repositories()

    @property
    def bootstrap(self) -> list[pulumi.Resource]:
        return [self.release, *self.projects, *self.repositories]

    def values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        replicas = 2 if ha else 1
        return {
            "global": {"domain": f"argocd.{self.env.domain}"},
            "configs": {
                "params": {"server.insecure": False, "application.namespaces": ARGOCD_NAMESPACE},
                "cm": {"exec.enabled": False, "admin.enabled": True, "statusbadge.enabled": False},
            },
            "controller": {"replicas": 1, "resources": resources("250m", "512Mi", "1", "1Gi")},
            "server": {"replicas": replicas, "resources": resources("100m", "128Mi", "500m", "256Mi")},
            "repoServer": {"replicas": replicas, "resources": resources("100m", "256Mi", "1", "512Mi")},
            "applicationSet": {"replicas": replicas, "resources": resources("50m", "64Mi", "250m", "128Mi")},
            "notifications": {"resources": resources("50m", "64Mi", "100m", "128Mi")},
            "dex": {"enabled": False},
            "redis": {"resources": resources("50m", "64Mi", "200m", "128Mi")},
            "redis-ha": {"enabled": ha},
        }

    def project(self, name: str, spec: dict[str, Any]) -> pulumi.Resource:
        return k8s.apiextensions.CustomResource(
            f"appproject-{name}",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata={"name": name, "namespace": ARGOCD_NAMESPACE},
            spec=spec,
            opts=self.opts(depends_on=[self.release]),
        )

    def enabled_sources(self) -> list[Chart]:
        """Catalog entries of the enabled components (a component may deliver several)."""
        enabled = set(self.ctx.namespaces)
        return [chart for key, chart in CATALOG.items() if (chart.component or key) in enabled]

    def oci_repositories(self) -> list[pulumi.Resource]:
        """Argo CD reads a Helm chart from an OCI registry only when the registry is declared with enableOCI;
        public registries need no credentials, so the declaration holds none."""
        urls = sorted({chart.repo_url for chart in self.enabled_sources() if chart.is_oci})
        return [
            k8s.core.v1.Secret(
                f"argocd-repository-{_slug(url)}",
                metadata={
                    "name": f"repository-{_slug(url)}",
                    "namespace": ARGOCD_NAMESPACE,
                    "labels": {"argocd.argoproj.io/secret-type": "repository"},
                },
                string_data={"name": _slug(url), "url": url, "type": "helm", "enableOCI": "true"},
                opts=self.opts(depends_on=[self.release]),
            )
            for url in urls
        ]

    def platform_project(self) -> dict[str, Any]:
        repos = sorted({chart.repo_url for chart in self.enabled_sources()})
        namespaces = sorted({*self.ctx.namespaces.values(), "kube-system"} - {ARGOCD_NAMESPACE})
        return {
            "description": "Platform add-ons declared by the Pulumi stack: upstream sources at pinned versions.",
            "sourceRepos": repos,
            "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in namespaces],
            # Charts install CRDs, ClusterRoles and webhooks.
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        }

    def ml_project(self) -> dict[str, Any]:
        return {
            "description": "ML applications from apps/ in this repository; namespaced objects only.",
            "sourceRepos": [self.env.gitops.repo_url],
            "destinations": [{"server": IN_CLUSTER, "namespace": ML_NAMESPACE_PATTERN}],
            "clusterResourceWhitelist": [],
            # Guardrails set by the platform stay with the platform.
            "namespaceResourceBlacklist": [
                {"group": "", "kind": "ResourceQuota"},
                {"group": "", "kind": "LimitRange"},
                {"group": "networking.k8s.io", "kind": "NetworkPolicy"},
            ],
        }


def _slug(url: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-")
