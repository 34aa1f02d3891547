"""Knative through its operator: Serving (scale-to-zero model serving) with the networking layer that matches
the ingress choice, and Eventing with a default broker backed by the cluster's messaging."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from infra.config.formats import GoDuration
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, ExtraNamespace, PlatformComponent
from infra.platform.config_text import yaml_text
from infra.platform.expose import TRAEFIK_SECURE_ENTRYPOINT, http01_challenges, platform_certificate
from infra.platform.network import ANY_NAMESPACE, HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER, Allow
from infra.platform.resources import resources
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

SERVING_NAMESPACE = "knative-serving"
EVENTING_NAMESPACE = "knative-eventing"
OPERATOR_API = "operator.knative.dev/v1beta1"
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

# Gateways (Istio's or Traefik's) and in-cluster callers reach the activator and Kourier from any namespace;
# the activator and autoscaler reach the revisions' pods in the namespaces that run them.
FROM_ANY_NAMESPACE = Allow("from-any-namespace", "ingress", (ANY_NAMESPACE,))
TO_ANY_NAMESPACE = Allow("to-any-namespace", "egress", (ANY_NAMESPACE,))
SERVING = ExtraNamespace(
    SERVING_NAMESPACE,
    # HTTPS: the controller resolves image tags to digests at the registries.
    (KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER, FROM_ANY_NAMESPACE, TO_ANY_NAMESPACE),
)
EVENTING = ExtraNamespace(
    # Any namespace: the channel dispatchers reach subscribers everywhere, and the event broker (NATS) too.
    EVENTING_NAMESPACE,
    (KUBE_API, WEBHOOK_FROM_API_SERVER, FROM_ANY_NAMESPACE, TO_ANY_NAMESPACE),
)

# The networking layer per ingress provider. Traefik has no Knative integration of its own: it routes the
# serving domain to Kourier's ClusterIP gateway, which does Knative's routing.
NETWORKING = {
    "istio": ("istio", "istio.ingress.networking.knative.dev"),
    "traefik": ("kourier", "kourier.ingress.networking.knative.dev"),
}
IN_MEMORY_CHANNEL = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}
JETSTREAM_CHANNEL = {"apiVersion": "messaging.knative.dev/v1alpha1", "kind": "NatsJetStreamChannel"}


class Autoscaling(Settings):
    scale_to_zero: bool = True
    """Let idle Knative services scale down to no pods (the activator buffers the first request)."""
    scale_to_zero_grace_period: GoDuration = "30s"
    """How long the last pod of an idle service is kept before it is removed, e.g. `30s`."""
    min_scale: Annotated[int, Field(ge=0, le=100)] = 0
    """Default lower bound of pods per revision; services may set their own."""
    max_scale: Annotated[int, Field(ge=0, le=1000)] = 0
    """Default upper bound of pods per revision; 0 means unbounded."""


class Eventing(Settings):
    enabled: bool = True
    """Install Knative Eventing (brokers, triggers, sources)."""
    broker_channel: Literal["cluster", "in-memory"] = "cluster"
    """What backs the default broker: `cluster` uses the event broker the cluster layer provides (NATS JetStream
    on-prem, `onprem.eventing.broker`) and falls back to the in-memory channel when it provides none;
    `in-memory` always uses it (events are lost on restart, fine for dev)."""


class KnativeSettings(Settings):
    enabled: bool = True
    """Install Knative through its operator: Serving (with the networking layer matching `ingress.provider`:
    net-istio for Istio, Kourier behind Traefik) and Eventing."""
    autoscaling: Autoscaling = Autoscaling()
    """Cluster-wide defaults of the Knative autoscaler."""
    eventing: Eventing = Eventing()
    """Knative Eventing."""


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
        # HTTPS: the operator downloads the NATS JetStream channel manifests when the cluster provides NATS.
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER),
        extra_namespaces=(SERVING, EVENTING),
    )
    sources = {
        # The Knative operator's Helm repository publishes its versions with a leading "v".
        "knative": Chart(
            "https://knative.github.io/operator",
            "knative-operator",
            "v1.23.0",
            "knative-operator",
            images=(
                ImageValue(
                    "knative_operator.knative_operator.image",
                    "gcr.io/knative-releases/knative.dev/operator/cmd/operator",
                ),
                ImageValue(
                    "knative_operator.operator_webhook.image",
                    "gcr.io/knative-releases/knative.dev/operator/cmd/webhook",
                ),
            ),
        ),
    }
    settings = ComponentSettings(
        "knative", KnativeSettings, "Knative Serving and Eventing (serverless model serving, scale to zero, events)."
    )

    exported_families = {
        # Knative's control planes (the Knative operator makes them); nothing of the platform reads their families.
        "knative-eventing/knative-eventing": (),
        "knative-serving/knative-serving": (),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            group(
                "knative-serving",
                [
                    alert(
                        "KnativeRevisionErrorRate",
                        """sum by (namespace, revision_name)
                        (rate(revision_app_request_count{response_code_class="5xx"}[5m]))
                        / sum by (namespace, revision_name) (rate(revision_app_request_count[5m])) > 0.05""",
                        component="knative",
                        summary=(
                            "Revision {{ $labels.namespace }}/{{ $labels.revision_name }} answers 5xx to >5% of "
                            "requests"
                        ),
                        description=(
                            "Compare with the previous revision and roll traffic back if the new one is at fault."
                        ),
                    ),
                    alert(
                        "KnativeRevisionSlow",
                        """histogram_quantile(0.99, sum by (le, namespace, revision_name)
                        (rate(revision_app_request_latencies_bucket[5m]))) > 2000""",
                        component="knative",
                        summary="Revision {{ $labels.namespace }}/{{ $labels.revision_name }} p99 latency above 2s",
                        description="Check cold starts (min scale), concurrency limits and the container's CPU limit.",
                    ),
                ],
            ),
        ]

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
        network = {"ingress-class": ingress_class}
        if layer == "kourier":
            ingress[layer]["service-type"] = "ClusterIP"
            # One label under the domain, so one wildcard route and certificate cover every Knative service.
            network["domain-template"] = "{{.Name}}-{{.Namespace}}.{{.Domain}}"
            self.route_services_through_traefik()
        scaling = self.env.components.knative.autoscaling
        spec = {
            "high-availability": {"replicas": self.ha_replicas},
            "ingress": ingress,
            "config": {
                "network": network,
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

    def route_services_through_traefik(self) -> None:
        """Traefik hands every `<service>-<namespace>.<domain>` host to Kourier, which does Knative's routing.
        The UIs' own routes name their hosts exactly and win over this catch-all (lowest priority)."""
        tls: dict[str, Any] = {}
        if wildcard_certificates(self.env):
            tls["secretName"] = "knative-services-tls"
            self.custom_resource(
                "cert-manager.io/v1",
                "Certificate",
                "knative-services",
                platform_certificate(self.env, tls["secretName"], f"*.{self.env.domain}"),
                namespace=SERVING_NAMESPACE,
            )
        host = re.escape(self.env.domain)
        self.custom_resource(
            "traefik.io/v1alpha1",
            "IngressRoute",
            "knative-services",
            {
                "entryPoints": [TRAEFIK_SECURE_ENTRYPOINT],
                "routes": [
                    {
                        "kind": "Rule",
                        "match": f"HostRegexp(`^[a-z0-9-]+\\.{host}$`)",
                        "priority": 1,
                        "services": [{"name": "kourier", "port": 80}],
                    }
                ],
                # Without a wildcard certificate (ACME over HTTP-01 cannot issue one) Traefik's default applies.
                "tls": tls,
            },
            namespace=SERVING_NAMESPACE,
        )

    def eventing(self) -> None:
        """The default broker is channel-based; its channel is the cluster's event broker where the cluster
        layer runs one Knative can use (NATS JetStream on-prem), else the in-memory channel (events are lost
        on restart). GKE's Pub/Sub topics are for applications: Knative's Pub/Sub integration is archived."""
        broker = self.ctx.facts.event_broker
        use_jetstream = (
            broker is not None
            and broker.kind == "nats-jetstream"
            and self.env.components.knative.eventing.broker_channel == "cluster"
        )
        channel = JETSTREAM_CHANNEL if use_jetstream else IN_MEMORY_CHANNEL
        cluster_default = {
            "clusterDefault": {
                "brokerClass": "MTChannelBasedBroker",
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "config-br-default-channel",
                "namespace": EVENTING_NAMESPACE,
            }
        }
        config: dict[str, Any] = {
            "br-defaults": {"default-br-config": yaml_text(cluster_default)},
            "br-default-channel": {"channel-template-spec": yaml_text(channel)},
            "observability": {"metrics-protocol": "prometheus"},
        }
        spec: dict[str, Any] = {
            "high-availability": {"replicas": self.ha_replicas},
            "defaultBrokerClass": "MTChannelBasedBroker",
            "config": config,
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
        if use_jetstream:
            assert broker is not None
            # The JetStream channel is a Knative extension the operator does not bundle: it applies its release,
            # and the channel finds the server through the config-nats ConfigMap the operator writes.
            release = f"knative-v{self.ctx.chart_version(self.spec.name).removeprefix('v')}"
            base = f"https://github.com/knative-extensions/eventing-natss/releases/download/{release}"
            spec["additionalManifests"] = [{"URL": f"{base}/eventing-jsm.yaml"}]
            config["nats"] = {"eventing-nats": yaml_text({"url": broker.endpoint})}
        self.custom_resource(OPERATOR_API, "KnativeEventing", EVENTING_NAMESPACE, spec, namespace=EVENTING_NAMESPACE)


def workload(deployment: str, container: str, cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict:
    """An operator override that sets one control-plane container's requests and limits."""
    return {
        "name": deployment,
        "resources": [{"container": container, **resources(cpu, memory, cpu_limit, memory_limit)}],
    }


def wildcard_certificates(env: Environment) -> bool:
    """The platform issuer can sign `*.<domain>`: its own CA, or ACME answering DNS-01 challenges."""
    return env.components.cert_manager.enabled and not http01_challenges(env)
