"""Feast feature store: the feature server chart, its registry in the object store and a Redis online store
in the cluster (a small StatefulSet: no maintained Redis chart is in the platform's catalog)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.config.formats import (
    ByteQuantity,
    FeastProject,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.config.settings.platform import Mirrors
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.config_text import yaml_text
from infra.platform.labels import component_labels
from infra.platform.mirrors import mirrored_image
from infra.platform.network import HTTPS_OUT, KUBE_API, Allow, Peer
from infra.platform.object_store import object_store_url
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

WORKLOAD = "feast"
REDIS = "feast-redis"
REDIS_PORT = 6379
REDIS_IMAGE = "redis:7.4-alpine"
# The feature server is not scraped: its chart passes `--metrics` only under a misspelt value
# (`metrics.enlabled`) and names no metrics port, so there is nothing a PodMonitor can select. The online store
# is what lookups depend on; oliver006/redis_exporter (the exporter the Prometheus docs list for Redis) serves
# its `redis_*` metrics beside it.
REDIS_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.67.0"
REDIS_EXPORTER_PORT = 9121
# Any non-root UID works: the image needs only the data volume, which fsGroup makes writable.
REDIS_UID = 10001
# Models and pipeline steps in any namespace look features up online.
CLIENTS = Allow("feast-clients", "ingress", (Peer(any_namespace=True),), (80,))
OBJECT_STORE_OUT = Allow("object-store-out", "egress", (Peer(any_namespace=True),), (80, 9000))
RESTRICTED_CONTAINER = restricted_container()


class FeastSettings(Settings):
    enabled: bool = False
    """Install the Feast feature server, with its registry in the object store and a Redis online store in
    the cluster."""
    project: FeastProject = "platform"
    """Feast project name."""
    online_store_size: ByteQuantity = "10Gi"
    """Persistent volume size of the in-cluster Redis online store."""


class Feast(PlatformComponent):
    spec = ComponentSpec(
        name="feast",
        layer="ml",
        namespace="feast",
        network=(KUBE_API, HTTPS_OUT, CLIENTS, OBJECT_STORE_OUT),
    )
    sources = {
        "feast": Chart(
            "https://feast-helm-charts.storage.googleapis.com",
            "feast-feature-server",
            "0.66.0",
            "feast",
            images=(ImageValue("image.repository", "quay.io/feastdev/feature-server"),),
        ),
    }
    settings = ComponentSettings("feast", FeastSettings, "Feature store.")

    exported_families = {
        "feast/feast-redis": ("redis_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("feast", "feast", "Feast online store"),
            group(
                "feast-online-store",
                [
                    # redis_exporter beside the online store's Redis.
                    alert(
                        "FeastOnlineStoreDown",
                        'redis_up{namespace="feast"} == 0',
                        component="feast",
                        severity="critical",
                        summary="The Feast online store (Redis) does not answer",
                        description="Online feature lookups fail: models that read features online return errors.",
                        for_="5m",
                    ),
                    alert(
                        "FeastOnlineStorePersistenceFailing",
                        'redis_aof_last_write_status{namespace="feast"} == 0',
                        component="feast",
                        summary="The Feast online store cannot write its append-only file",
                        description=(
                            "Features materialized since then are lost on restart: check the volume's free space."
                        ),
                    ),
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.feast.enabled

    def build(self) -> None:
        namespace = self.namespace()
        k8s.core.v1.ServiceAccount(
            "feast-serviceaccount",
            metadata={
                "name": WORKLOAD,
                "namespace": self.spec.namespace,
                "labels": component_labels(self.spec.name, self.spec.layer),
                "annotations": self.ctx.facts.identity.annotations(WORKLOAD),
            },
            automount_service_account_token=False,
            opts=self.opts(depends_on=[namespace]),
        )
        self.online_store([namespace])
        self.application(self.values(), installs_crds=False)

    def feature_store_yaml(self) -> str:
        settings = self.env.components.feast
        config = {
            "project": settings.project,
            "provider": "local",
            "registry": {
                "path": object_store_url(self.ctx.facts.object_store, "artifacts", "feast/registry.db"),
                "cache_ttl_seconds": 60,
            },
            "online_store": {
                "type": "redis",
                "connection_string": f"{REDIS}.{self.spec.namespace}.svc.cluster.local:{REDIS_PORT}",
            },
            "entity_key_serialization_version": 3,
        }
        return yaml_text(config, sort_keys=False)

    def values(self) -> dict[str, Any]:
        store = self.ctx.facts.object_store
        env: list[dict[str, Any]] = []
        if store.credentials == "secret":
            env = [
                {"name": "AWS_ENDPOINT_URL", "value": store.endpoint},
                {"name": "FEAST_S3_ENDPOINT_URL", "value": store.endpoint},
                *(
                    {"name": key, "valueFrom": {"secretKeyRef": {"name": store.credentials_secret, "key": key}}}
                    for key in (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)
                ),
            ]
        return {
            "feature_store_yaml_base64": base64.b64encode(self.feature_store_yaml().encode()).decode(),
            "feast_mode": "online",
            "replicaCount": 2 if self.env.high_availability else 1,
            "serviceAccount": {"name": WORKLOAD},
            "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": False},
            "resources": resources("250m", "512Mi", "1", "1Gi"),
            "extraEnvs": env,
        }

    def online_store(self, after: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """Redis with append-only persistence on the cluster's default block storage, reachable only from
        this namespace (the feature server)."""
        selector = {"app.kubernetes.io/name": REDIS}
        metadata = {
            "name": REDIS,
            "namespace": self.spec.namespace,
            "labels": {**component_labels(self.spec.name, self.spec.layer), **selector},
        }
        service = k8s.core.v1.Service(
            "feast-redis-service",
            metadata=metadata,
            spec={"selector": selector, "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": REDIS_PORT}]},
            opts=self.opts(depends_on=after),
        )
        probe = {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 10}
        statefulset = k8s.apps.v1.StatefulSet(
            "feast-redis-statefulset",
            metadata={
                **metadata,
                "annotations": {
                    "checkov.io/skip1": "CKV_K8S_43=redis is pinned by tag; the platform has no digest source",
                    "checkov.io/skip2": "CKV_K8S_35=redis has no credentials; the namespace admits only its pods",
                },
            },
            spec={
                "serviceName": REDIS,
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": metadata["labels"]},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": REDIS_UID,
                            "runAsGroup": REDIS_UID,
                            "fsGroup": REDIS_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "redis",
                                "image": mirrored_image(REDIS_IMAGE, self.env.mirrors),
                                "imagePullPolicy": "Always",
                                "args": ["--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"],
                                "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                                "resources": resources("100m", "256Mi", "500m", "512Mi"),
                                "securityContext": RESTRICTED_CONTAINER,
                                "livenessProbe": probe,
                                "readinessProbe": probe,
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            },
                            redis_exporter(self.env.mirrors),
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": self.ctx.facts.storage.default,
                            "resources": {"requests": {"storage": self.env.components.feast.online_store_size}},
                        },
                    }
                ],
            },
            opts=self.opts(depends_on=[*after, service]),
        )
        self.scrape(REDIS, selector, "metrics", pods=True)
        return [service, statefulset]


def redis_exporter(mirrors: Mirrors) -> dict[str, Any]:
    """The metrics sidecar: reads Redis over localhost, serves /metrics on a named port for the PodMonitor."""
    probe = {"httpGet": {"path": "/health", "port": REDIS_EXPORTER_PORT}, "periodSeconds": 30}
    return {
        "name": "metrics",
        "image": mirrored_image(REDIS_EXPORTER_IMAGE, mirrors),
        "imagePullPolicy": "Always",
        "env": [{"name": "REDIS_ADDR", "value": f"redis://localhost:{REDIS_PORT}"}],
        "ports": [{"name": "metrics", "containerPort": REDIS_EXPORTER_PORT}],
        "resources": resources("10m", "32Mi", "100m", "64Mi"),
        "securityContext": RESTRICTED_CONTAINER,
        "livenessProbe": probe,
        "readinessProbe": probe,
    }
