"""NATS JetStream: the on-prem message broker that replaces Pub/Sub for Knative Eventing.

Why NATS: Knative's NatsJetStreamChannel (knative-extensions/eventing-natss) backs the channel-based Broker with
JetStream, so Triggers and Brokers work as on GKE. The official chart is Apache-2.0, a three-server cluster
replicates streams, and it is far lighter to run than Kafka (Strimzi) or RabbitMQ (two operators).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down
from infra.observability.promrules import Group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANY_NAMESPACE, Allow
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

NAMESPACE = "nats"
CLIENT_PORT = 4222
ENDPOINT = f"nats://nats.{NAMESPACE}.svc.cluster.local:{CLIENT_PORT}"
NON_ROOT = restricted_container(non_root=False)


class Nats(PlatformComponent):
    spec = ComponentSpec(
        name="nats",
        layer="platform",
        namespace=NAMESPACE,
        depends_on=("longhorn",),
        # Knative's channel dispatcher and event sources connect from their own namespaces.
        network=(Allow("nats-clients", "ingress", (ANY_NAMESPACE,), (CLIENT_PORT,)),),
    )
    sources = {
        # nats-io/k8s helm/charts/nats Chart.yaml 2.14.2 (tag nats-2.14.2, snapshot 2026-06-11).
        "nats": Chart(
            "https://nats-io.github.io/k8s/helm/charts/",
            "nats",
            "2.14.2",
            "nats",
            images=(
                ImageValue("container.image.repository", "nats"),
                ImageValue("reloader.image.repository", "natsio/nats-server-config-reloader"),
                ImageValue("promExporter.image.repository", "natsio/prometheus-nats-exporter"),
            ),
        ),
    }

    exported_families = {
        "nats/nats": ("gnatsd_*", "jetstream_*", "nats_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [down("nats", "nats", "NATS JetStream")]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.onprem is not None and env.onprem.eventing.broker == "nats"

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        # The exporter sidecar has no Service port: scrape the pods.
        self.scrape("nats", {"app.kubernetes.io/name": "nats"}, "prom-metrics", pods=True)

    def values(self) -> dict[str, Any]:
        assert self.env.onprem is not None
        ha = self.env.high_availability
        return {
            # The exporter sidecar's container gets no securityContext from the chart (the pod's covers only user
            # and seccomp): no privilege escalation and no capabilities, as `restricted` requires.
            "promExporter": {
                "enabled": True,
                "merge": {"securityContext": NON_ROOT, "resources": resources("10m", "32Mi", "50m", "64Mi")},
            },
            "config": {
                # JetStream replication needs at least three servers.
                "cluster": {"enabled": ha, "replicas": 3},
                "jetstream": {
                    "enabled": True,
                    "fileStore": {
                        "pvc": {
                            "size": self.env.onprem.eventing.storage_size,
                            "storageClassName": self.ctx.facts.storage.default,
                        }
                    },
                },
            },
            "container": {
                "resources": resources("100m", "256Mi", "500m", "512Mi"),
                "merge": {"securityContext": NON_ROOT},
            },
            "reloader": {"merge": {"resources": resources("10m", "32Mi", "50m", "64Mi"), "securityContext": NON_ROOT}},
            "podTemplate": {
                "merge": {
                    "spec": {
                        # Neither the server, the config reloader nor the exporter calls the Kubernetes API.
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "runAsGroup": 1000,
                            "fsGroup": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                }
            },
            # nats-box is an interactive debugging toolbox, not part of the service.
            "natsBox": {"enabled": False},
        }
