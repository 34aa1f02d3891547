"""ECK (Elastic Cloud on Kubernetes) operator: manages Elasticsearch, Kibana, Beats and Logstash from custom
resources. Source-available under the Elastic License 2.0 (see docs/observability.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.cluster import ClusterFacts
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import KUBE_API, WEBHOOK_FROM_API_SERVER, Allow, Peer
from infra.platform.resources import resources
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

LOGGING_NAMESPACE = "logging"
METRICS_PORT = 9090
OPERATOR_NAME = "elastic-operator"
# The operator calls the Elasticsearch, Kibana and Logstash APIs of the stack it manages.
MANAGE_STACK = Allow("manage-stack", "egress", (Peer(namespace=LOGGING_NAMESPACE),), (9200, 5601, 9600))


def logging_wanted(env: Environment, facts: ClusterFacts) -> bool:
    """ELK is installed when the environment says so; unset, where the cluster has no log pipeline of its own."""
    enabled = env.components.logging.enabled
    return enabled if enabled is not None else not facts.has_managed_logging


class Eck(PlatformComponent):
    spec = ComponentSpec(
        name="eck",
        layer="observability",
        namespace="elastic-system",
        provides_crds=(
            "elasticsearch.k8s.elastic.co",
            "kibana.k8s.elastic.co",
            "beat.k8s.elastic.co",
            "logstash.k8s.elastic.co",
            "agent.k8s.elastic.co",
            "apm.k8s.elastic.co",
            "stackconfigpolicy.k8s.elastic.co",
        ),
        network=(KUBE_API, WEBHOOK_FROM_API_SERVER, MANAGE_STACK),
    )
    sources = {
        # ECK is source-available under the Elastic License 2.0, not an OSI license (see docs/observability.md).
        "eck": Chart(
            "https://helm.elastic.co",
            "eck-operator",
            "3.5.0",
            "elastic-system",
            license="Elastic-2.0",
            images=(ImageValue("image.repository", "docker.elastic.co/eck/eck-operator"),),
        ),
    }

    exported_families = {
        "elastic-system/eck-operator": ("controller_runtime_*", "elasticsearch_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("eck", "elastic-system", "ECK operator"),
            group(
                "eck-reconcile",
                [
                    alert(
                        "ECKReconcileErrors",
                        "sum by (controller) "
                        '(rate(controller_runtime_reconcile_errors_total{namespace="elastic-system"}[15m])) > 0',
                        component="eck",
                        for_="30m",
                        summary="ECK fails to reconcile {{ $labels.controller }} resources",
                        description="Changes to Elasticsearch, Kibana or Beats are not applied; read the operator log.",
                    )
                ],
            ),
        ]

    @classmethod
    def wanted(cls, env: Environment, facts: ClusterFacts) -> bool:
        return logging_wanted(env, facts)

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        self.scrape("eck-operator", {"app.kubernetes.io/name": OPERATOR_NAME}, "metrics", pods=True)

    def values(self) -> dict[str, Any]:
        return {
            # Pinned so the PodMonitor's selector (app.kubernetes.io/name) cannot drift with a chart default.
            "nameOverride": OPERATOR_NAME,
            "installCRDs": True,
            "replicaCount": 1,
            "resources": resources("100m", "256Mi", "1", "512Mi"),
            # The chart's operator pod sets runAsNonRoot but no seccomp profile, which `restricted` requires.
            "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            # Manage only the platform's stack namespace, not every namespace of the cluster.
            "managedNamespaces": [LOGGING_NAMESPACE],
            "createClusterScopedResources": True,
            "webhook": {"enabled": True},
            # Plain-HTTP metrics inside the cluster, scraped by the PodMonitor above (the chart's secure mode
            # and its own PodMonitor are mutually exclusive; ours keeps the one `scrape` helper).
            "config": {
                "metrics": {
                    "port": METRICS_PORT if self.ctx.monitoring_enabled else 0,
                    "secureMode": {"enabled": False},
                }
            },
            "podMonitor": {"enabled": False},
        }
