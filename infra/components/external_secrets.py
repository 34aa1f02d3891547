"""External Secrets Operator: Kubernetes Secrets come from a secret store, never from git.

One ClusterSecretStore named `platform` serves every namespace: GCP Secret Manager on GKE (the controller's
Kubernetes service account is bound to a Google service account by Workload Identity, so no key exists), and
on-prem either Secrets the platform team keeps in this namespace (Kubernetes provider) or HashiCorp Vault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field

from infra.config.formats import HttpUrl
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources
from infra.platform.secret_store import STORE_API, kubernetes_provider, secret_reader
from infra.platform.security import restricted_pod
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

STORE = "platform"
SERVICE_ACCOUNT = "external-secrets"
# The Kubernetes provider reads source Secrets with its own, narrower identity (get/list Secrets here only).
READER = "platform-secrets-reader"


POD_CONTEXT = {"enabled": True, **restricted_pod()}


class VaultStore(Settings):
    server: HttpUrl
    """URL of the Vault server, e.g. `https://vault.example.internal:8200`."""
    path: Annotated[str, Field(min_length=1)] = "secret"
    """Mount path of the KV secrets engine."""
    kv_version: Literal["v1", "v2"] = "v2"
    """Version of that KV secrets engine."""
    auth_mount: Annotated[str, Field(min_length=1)] = "kubernetes"
    """Mount path of Vault's Kubernetes auth method, which trusts this cluster's service account tokens."""
    role: Annotated[str, Field(min_length=1)] = "external-secrets"
    """Vault role bound to the `external-secrets` service account."""


class ExternalSecretsSettings(Settings):
    enabled: bool = True
    """Install External Secrets Operator: Kubernetes Secrets are created from GCP Secret Manager (GKE, through
    Workload Identity) or from the on-prem store, never written in git."""
    onprem_store: Literal["kubernetes", "vault"] = "kubernetes"
    """On-prem only: where secrets live. `kubernetes`: Secrets the platform team keeps in the `external-secrets`
    namespace; `vault`: a HashiCorp Vault (set `vault`)."""
    vault: VaultStore | None = None
    """The Vault server; required with onpremStore `vault`, and only with it."""


class ExternalSecrets(PlatformComponent):
    spec = ComponentSpec(
        name="external-secrets",
        layer="platform",
        namespace="external-secrets",
        provides_crds=("external-secrets.io", "generators.external-secrets.io"),
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER),
    )
    sources = {
        "external-secrets": Chart(
            "https://charts.external-secrets.io",
            "external-secrets",
            "2.9.0",
            "external-secrets",
            images=(
                ImageValue("image.repository", "ghcr.io/external-secrets/external-secrets"),
                ImageValue("webhook.image.repository", "ghcr.io/external-secrets/external-secrets"),
                ImageValue("certController.image.repository", "ghcr.io/external-secrets/external-secrets"),
            ),
        ),
    }
    settings = ComponentSettings(
        "external_secrets", ExternalSecretsSettings, "Secrets from a secret store instead of git."
    )

    exported_families = {
        "external-secrets/external-secrets": ("externalsecret_*", "clusterexternalsecret_*", "controller_runtime_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("external-secrets", "external-secrets", "External Secrets"),
            group(
                "external-secrets-sync",
                [
                    alert(
                        "ExternalSecretNotSynced",
                        'externalsecret_status_condition{condition="Ready",status="False"} == 1',
                        component="external-secrets",
                        for_="15m",
                        summary="ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} is not synced",
                        description="Its Secret keeps the last synced value; check the store and the secret's key.",
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.external_secrets.enabled

    def build(self) -> None:
        self.namespace(self._store_egress())
        self.application(self.values())
        self.custom_resource(STORE_API, "ClusterSecretStore", STORE, {"provider": self.provider()})
        self.scrape("external-secrets", {"app.kubernetes.io/name": "external-secrets"}, "metrics")

    def values(self) -> dict[str, Any]:
        replicas = 2 if self.env.high_availability else 1
        return {
            "installCRDs": True,
            "replicaCount": replicas,
            # Replicas must elect one reconciler, or they would all write the same Secrets.
            "leaderElect": self.env.high_availability,
            "podDisruptionBudget": {"enabled": self.env.high_availability},
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "annotations": self.ctx.facts.identity.annotations("external-secrets"),
            },
            "resources": resources("50m", "128Mi", "200m", "256Mi"),
            # The chart's containers run restricted already; its pods get the same (it renders `enabled` alone).
            "podSecurityContext": POD_CONTEXT,
            "metrics": {"service": {"enabled": self.ctx.monitoring_enabled}},
            "webhook": {
                "replicaCount": replicas,
                "resources": resources("25m", "64Mi", "100m", "128Mi"),
                "podSecurityContext": POD_CONTEXT,
                # The webhook only validates and converts what the API server sends it: no token in its pods.
                "serviceAccount": {"automount": False},
            },
            "certController": {
                "resources": resources("25m", "64Mi", "100m", "128Mi"),
                "podSecurityContext": POD_CONTEXT,
            },
        }

    def provider(self) -> dict[str, Any]:
        settings = self.env.components.external_secrets
        if self.env.gke is not None:
            # Without an auth block the provider uses the controller's own Workload Identity.
            return {"gcpsm": {"projectID": self.env.gke.project}}
        if settings.onprem_store == "vault" and settings.vault is not None:
            vault = settings.vault
            return {
                "vault": {
                    "server": vault.server,
                    "path": vault.path,
                    "version": vault.kv_version,
                    "auth": {
                        "kubernetes": {
                            "mountPath": vault.auth_mount,
                            "role": vault.role,
                            "serviceAccountRef": {"name": SERVICE_ACCOUNT, "namespace": self.spec.namespace},
                        }
                    },
                }
            }
        secret_reader(
            READER,
            self.spec.namespace,
            component_labels(self.spec.name, self.spec.layer),
            annotations={
                "checkov.io/skip1": "CKV2_K8S_5=reading the Secrets of this one namespace is the store's purpose: "
                "they are the source the operator copies from, and nothing else lives here"
            },
            opts=self.opts(self._own_namespace()),
        )
        return kubernetes_provider(self.spec.namespace, READER)

    def _store_egress(self) -> list[Allow]:
        vault = self.env.components.external_secrets.vault
        if vault is None or self.env.gke is not None:
            return []
        url = urlparse(vault.server)
        port = url.port or (443 if url.scheme == "https" else 80)
        return [Allow("vault", "egress", (ANYWHERE,), (port,))]
