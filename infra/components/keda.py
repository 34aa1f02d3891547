"""KEDA: event-driven autoscaling of Deployments and Jobs from queues, streams and metrics (to and from zero),
with an optional example: a queue-driven worker and the ScaledObject that scales it on its Redis list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pulumi_kubernetes as k8s
from pydantic import Field

from infra.config.formats import HostPort, ImageByDigest
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, ExtraNamespace, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.mirrors import mirrored_image
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
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, registry_values

if TYPE_CHECKING:
    from infra.config import Environment

EXAMPLES_NAMESPACE = "ml-examples"
EXAMPLE_WORKER = "queue-worker"
# The API server calls KEDA's external-metrics API server (port 6443) from outside the pod network.
METRICS_API_FROM_API_SERVER = Allow(
    "metrics-api", "ingress", (ANYWHERE,), (6443,), cluster_entities=API_SERVER_ENTITIES
)
# Scalers read queue lengths and metrics wherever the workloads' event sources are.
SCALERS_OUT = Allow("scalers", "egress", (ANY_NAMESPACE,))
REDIS_OUT = Allow("redis", "egress", (ANY_NAMESPACE,), (6379,))
EXAMPLES = ExtraNamespace(EXAMPLES_NAMESPACE, (REDIS_OUT, from_namespaces("keda-scalers", ("keda",), (6379,))))


class ExampleWorker(Settings):
    enabled: bool = False
    """Declare an example queue-driven worker in namespace `ml-examples`: a Deployment that KEDA scales (from
    zero) on the length of a Redis list."""
    image: ImageByDigest = (
        "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
    )
    """Worker image, pinned by digest. The default is a placeholder that does nothing; use your worker's image."""
    redis_address: HostPort = "redis.ml-examples.svc.cluster.local:6379"
    """`host:port` of the Redis server holding the work queue."""
    list_name: Annotated[str, Field(min_length=1)] = "jobs"
    """Redis list the worker consumes."""
    items_per_replica: Annotated[int, Field(ge=1, le=10000)] = 5
    """Queue items per worker replica KEDA aims for."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    """Upper bound of worker replicas."""


class KedaSettings(Settings):
    enabled: bool = True
    """Install KEDA for event-driven autoscaling of Deployments and Jobs (queues, streams, metrics)."""
    example_worker: ExampleWorker = ExampleWorker()
    """An example ScaledObject and the worker it scales."""


class Keda(PlatformComponent):
    spec = ComponentSpec(
        name="keda",
        layer="platform",
        namespace="keda",
        provides_crds=("keda.sh", "eventing.keda.sh"),
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, METRICS_API_FROM_API_SERVER, SCALERS_OUT),
        extra_namespaces=(EXAMPLES,),
    )
    sources = {
        "keda": Chart(
            "https://kedacore.github.io/charts",
            "keda",
            "2.20.2",
            "keda",
            images=registry_values(
                "image.keda.registry", "image.metricsApiServer.registry", "image.webhooks.registry", upstream="ghcr.io"
            ),
        ),
    }
    settings = ComponentSettings("keda", KedaSettings, "KEDA event-driven autoscaling.")

    exported_families = {
        "keda/keda-operator": ("keda_*", "controller_runtime_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            group(
                "keda",
                [
                    alert(
                        "KedaScalerErrors",
                        "sum by (namespace, scaledObject) (rate(keda_scaler_errors_total[5m])) > 0",
                        component="keda",
                        summary="KEDA cannot read the scaler of {{ $labels.namespace }}/{{ $labels.scaledObject }}",
                        description="The workload stays at its current size until the trigger source answers again.",
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.keda.enabled

    @property
    def example_enabled(self) -> bool:
        return self.env.components.keda.example_worker.enabled

    def extra_namespaces(self) -> tuple[ExtraNamespace, ...]:
        return self.spec.extra_namespaces if self.example_enabled else ()

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        self.scrape("keda-operator", {"app.kubernetes.io/name": "keda-operator"}, "metrics")
        if self.example_enabled:
            self.example_worker()

    def values(self) -> dict[str, Any]:
        replicas = 2 if self.env.high_availability else 1
        monitored = {"enabled": self.ctx.monitoring_enabled}
        return {
            "operator": {"replicaCount": replicas},
            "metricsServer": {"replicaCount": replicas},
            "webhooks": {"replicaCount": replicas},
            "podDisruptionBudget": {
                part: {"minAvailable": 1} if self.env.high_availability else {}
                for part in ("operator", "metricServer", "webhooks")
            },
            "resources": {
                "operator": resources("100m", "128Mi", "500m", "512Mi"),
                "metricServer": resources("100m", "128Mi", "500m", "512Mi"),
                "webhooks": resources("50m", "64Mi", "200m", "256Mi"),
            },
            "podSecurityContext": {
                part: {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
                for part in ("operator", "metricServer", "webhooks")
            },
            # Expose the operator's metrics port; the ServiceMonitor comes from self.scrape.
            "prometheus": {"operator": monitored},
        }

    def example_worker(self) -> None:
        settings = self.env.components.keda.example_worker
        labels = {**component_labels(self.spec.name, self.spec.layer), "app.kubernetes.io/name": EXAMPLE_WORKER}
        selector = {"app.kubernetes.io/name": EXAMPLE_WORKER}
        worker = k8s.apps.v1.Deployment(
            f"deployment-{EXAMPLE_WORKER}",
            metadata={
                "name": EXAMPLE_WORKER,
                "namespace": EXAMPLES_NAMESPACE,
                "labels": labels,
                "annotations": {
                    "checkov.io/skip1": "CKV_K8S_9=a queue worker is behind no Service, so readiness gates nothing",
                    "checkov.io/skip2": "CKV_K8S_8=the placeholder image has no health check; add your worker's",
                },
            },
            spec={
                # No `replicas`: KEDA owns the count (writer `keda-scaler`), scaling to zero when the queue is empty.
                # A count here would be applied again by every `pulumi up` that updates the Deployment, stopping
                # workers mid-item. `ignore_changes` is no way out: it keeps the old value in the inputs, which
                # server-side apply sends again (at best a field conflict with the scaler, pulumi-kubernetes#2542).
                # Kubernetes creates the Deployment with one replica, which KEDA scales down after its cooldown.
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "worker",
                                "image": mirrored_image(settings.image, self.env.mirrors),
                                "imagePullPolicy": "Always",
                                "env": [
                                    {"name": "QUEUE_ADDRESS", "value": settings.redis_address},
                                    {"name": "QUEUE_LIST", "value": settings.list_name},
                                ],
                                "resources": resources("100m", "128Mi", "500m", "256Mi"),
                                "securityContext": restricted_container(),
                            }
                        ],
                    },
                },
            },
            opts=self.opts(depends_on=self._own_namespace()),
        )
        self.custom_resource(
            "keda.sh/v1alpha1",
            "ScaledObject",
            EXAMPLE_WORKER,
            {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": EXAMPLE_WORKER},
                "minReplicaCount": 0,
                "maxReplicaCount": settings.max_replicas,
                "pollingInterval": 15,
                "cooldownPeriod": 120,
                "triggers": [
                    {
                        "type": "redis",
                        "metadata": {
                            "address": settings.redis_address,
                            "listName": settings.list_name,
                            "listLength": str(settings.items_per_replica),
                        },
                    }
                ],
            },
            namespace=EXAMPLES_NAMESPACE,
            after=[worker],
        )
