"""Knative through its operator: Serving (scale-to-zero model serving) with the networking layer that matches
the ingress choice, and Eventing with a default broker backed by the cluster's messaging."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import yaml

from infra.config import Environment
from infra.platform.component import ComponentSpec, ExtraNamespace, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources

SERVING_NAMESPACE = "knative-serving"
EVENTING_NAMESPACE = "knative-eventing"
OPERATOR_API = "operator.knative.dev/v1beta1"
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

# Gateways (Istio's or Traefik's) and in-cluster callers reach the activator and Kourier from any namespace;
# the activator and autoscaler reach the revisions' pods in the namespaces that run them.
FROM_ANY_NAMESPACE = Allow("from-any-namespace", "ingress", (ANY_NAMESPACE,))
TO_ANY_NAMESPACE = Allow("to-any-namespace", "egress", (ANY_NAMESPACE,))
KAFKA_OUT = Allow("kafka", "egress", (ANYWHERE,), (9092, 9093))
SERVING = ExtraNamespace(
    SERVING_NAMESPACE,
    # HTTPS: the controller resolves image tags to digests at the registries.
    (KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, FROM_ANY_NAMESPACE, TO_ANY_NAMESPACE),
)
EVENTING = ExtraNamespace(
    EVENTING_NAMESPACE, (KUBE_API, WEBHOOK_FROM_API_SERVER, FROM_ANY_NAMESPACE, TO_ANY_NAMESPACE, KAFKA_OUT)
)

# The networking layer per ingress provider. Traefik has no Knative integration of its own: it routes the
# serving domain to Kourier's ClusterIP gateway, which does Knative's routing.
NETWORKING = {
    "istio": ("istio", "istio.ingress.networking.knative.dev"),
    "traefik": ("kourier", "kourier.ingress.networking.knative.dev"),
}
IN_MEMORY_CHANNEL = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}
KAFKA_BROKER_CONFIG = "kafka-broker-config"


class Knative(PlatformComponent):
    spec = ComponentSpec(
        name="knative",
        layer="platform",
        namespace="knative-operator",
        depends_on=("istio",),
        # The chart installs operator.knative.dev; the operator installs the others when it reconciles
        # KnativeServing/KnativeEventing, which sync in this component's resource wave, before any dependent.
        provides_crds=(
            "operator.knative.dev",
            "serving.knative.dev",
            "autoscaling.internal.knative.dev",
            "networking.internal.knative.dev",
            "eventing.knative.dev",
            "messaging.knative.dev",
            "sources.knative.dev",
        ),
        # HTTPS: the operator downloads the Kafka broker manifests when the cluster provides Kafka.
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER),
        extra_namespaces=(SERVING, EVENTING),
    )

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.knative.enabled

    @property
    def eventing_enabled(self) -> bool:
        return self.env.components.knative.eventing.enabled

    def extra_namespaces(self) -> tuple[ExtraNamespace, ...]:
        return tuple(ns for ns in self.spec.extra_namespaces if ns is not EVENTING or self.eventing_enabled)

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        self.serving()
        self.scrape(
            "knative-serving",
            {"app.kubernetes.io/name": "knative-serving"},
            "http-metrics",
            namespace=SERVING_NAMESPACE,
        )
        if self.eventing_enabled:
            self.eventing()
            self.scrape(
                "knative-eventing",
                {"app.kubernetes.io/name": "knative-eventing"},
                "http-metrics",
                namespace=EVENTING_NAMESPACE,
            )

    def values(self) -> dict[str, Any]:
        def deployment(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
            return {"resources": resources(cpu, memory, cpu_limit, memory_limit), "securityContext": RESTRICTED_POD}

        return {
            "knative_operator": {
                "knative_operator": deployment("100m", "128Mi", "500m", "512Mi"),
                "operator_webhook": deployment("50m", "64Mi", "200m", "256Mi"),
            }
        }

    @property
    def ha_replicas(self) -> int:
        return 2 if self.env.high_availability else 1

    def serving(self) -> None:
        layer, ingress_class = NETWORKING[self.env.ingress.provider]
        ingress: dict[str, Any] = {layer: {"enabled": True}}
        if layer == "kourier":
            ingress[layer]["service-type"] = "ClusterIP"
        scaling = self.env.components.knative.autoscaling
        spec = {
            "high-availability": {"replicas": self.ha_replicas},
            "ingress": ingress,
            "config": {
                "network": {"ingress-class": ingress_class},
                "domain": {self.env.domain: ""},
                "autoscaler": {
                    "enable-scale-to-zero": str(scaling.scale_to_zero).lower(),
                    "scale-to-zero-grace-period": scaling.scale_to_zero_grace_period,
                    "min-scale": str(scaling.min_scale),
                    "max-scale": str(scaling.max_scale),
                },
                "observability": {"metrics-protocol": "prometheus"},
            },
            "workloads": [
                workload("activator", "activator", "300m", "128Mi", "1", "600Mi"),
                workload("autoscaler", "autoscaler", "100m", "128Mi", "1", "512Mi"),
                workload("controller", "controller", "100m", "128Mi", "1", "512Mi"),
                workload("webhook", "webhook", "100m", "128Mi", "500m", "512Mi"),
            ],
        }
        self.custom_resource(OPERATOR_API, "KnativeServing", SERVING_NAMESPACE, spec, namespace=SERVING_NAMESPACE)

    def eventing(self) -> None:
        messaging = self.ctx.facts.messaging
        use_kafka = messaging is not None and self.env.components.knative.eventing.broker_channel == "cluster"
        if use_kafka:
            assert messaging is not None
            broker_class, broker_config = "Kafka", KAFKA_BROKER_CONFIG
            self.kafka_broker_config(messaging.bootstrap_servers)
        else:
            broker_class, broker_config = "MTChannelBasedBroker", "config-br-default-channel"
        cluster_default = {
            "clusterDefault": {
                "brokerClass": broker_class,
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": broker_config,
                "namespace": EVENTING_NAMESPACE,
            }
        }
        spec: dict[str, Any] = {
            "high-availability": {"replicas": self.ha_replicas},
            "defaultBrokerClass": broker_class,
            "config": {
                "br-defaults": {"default-br-config": yaml.safe_dump(cluster_default, sort_keys=True)},
                "br-default-channel": {"channel-template-spec": yaml.safe_dump(IN_MEMORY_CHANNEL, sort_keys=True)},
                "observability": {"metrics-protocol": "prometheus"},
            },
            "workloads": [
                workload("eventing-controller", "eventing-controller", "100m", "128Mi", "500m", "512Mi"),
                workload("eventing-webhook", "eventing-webhook", "100m", "128Mi", "500m", "256Mi"),
                workload("imc-controller", "controller", "50m", "64Mi", "200m", "256Mi"),
                workload("imc-dispatcher", "dispatcher", "100m", "64Mi", "500m", "256Mi"),
                workload("mt-broker-controller", "mt-broker-controller", "50m", "64Mi", "200m", "256Mi"),
                workload("mt-broker-filter", "filter", "100m", "64Mi", "500m", "256Mi"),
                workload("mt-broker-ingress", "ingress", "100m", "64Mi", "500m", "256Mi"),
            ],
        }
        if use_kafka:
            # The Kafka broker is a Knative extension the operator does not bundle: it applies its release.
            release = f"knative-v{self.ctx.chart_version(self.spec.name).removeprefix('v')}"
            base = f"https://github.com/knative-extensions/eventing-kafka-broker/releases/download/{release}"
            spec["additionalManifests"] = [
                {"URL": f"{base}/eventing-kafka-controller.yaml"},
                {"URL": f"{base}/eventing-kafka-broker.yaml"},
            ]
        self.custom_resource(OPERATOR_API, "KnativeEventing", EVENTING_NAMESPACE, spec, namespace=EVENTING_NAMESPACE)

    def kafka_broker_config(self, bootstrap_servers: str) -> None:
        replication = "3" if self.env.high_availability else "1"
        k8s.core.v1.ConfigMap(
            f"configmap-{KAFKA_BROKER_CONFIG}",
            metadata={
                "name": KAFKA_BROKER_CONFIG,
                "namespace": EVENTING_NAMESPACE,
                "labels": component_labels(self.spec.name, self.spec.layer),
            },
            data={
                "bootstrap.servers": bootstrap_servers,
                "default.topic.partitions": "10",
                "default.topic.replication.factor": replication,
            },
            opts=self.opts(depends_on=self._own_namespace()),
        )


def workload(deployment: str, container: str, cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict:
    """An operator override that sets one control-plane container's requests and limits."""
    return {
        "name": deployment,
        "resources": [{"container": container, **resources(cpu, memory, cpu_limit, memory_limit)}],
    }
