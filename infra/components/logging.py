"""The log stack as ECK custom resources: Elasticsearch, Kibana, Filebeat (container logs), Metricbeat (node
metrics), optionally Logstash, the Elasticsearch exporter for Prometheus and the policy reconciler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra.cluster import ClusterFacts
from infra.cluster.facts import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
from infra.components.eck import LOGGING_NAMESPACE, logging_wanted
from infra.config.formats import (
    ByteQuantity,
    CpuQuantity,
    ElasticAge,
    ElasticCron,
    ElasticVersion,
    JvmHeap,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability import beats
from infra.observability.elastic_policies import SCRIPT, api_objects, reconcile_files
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.labels import component_labels
from infra.platform.mirrors import mirrored_image
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, HTTPS_OUT, KUBE_API, Allow, from_namespaces
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

NAME = "logs"
"""Name of the Elasticsearch, Kibana and Logstash resources; ECK derives Service and Secret names from it."""
ES_URL = f"https://{NAME}-es-http.{LOGGING_NAMESPACE}.svc:9200"
ES_USER_SECRET = f"{NAME}-es-elastic-user"
ES_CA_SECRET = f"{NAME}-es-http-certs-public"
KIBANA_SERVICE, KIBANA_PORT = f"{NAME}-kb-http", 5601
LOGSTASH_BEATS_PORT = 5044
SNAPSHOT_WORKLOAD = "elasticsearch-snapshots"
# Keys of the cluster layer's object-store Secret (same as the CloudNativePG backups use).
S3_KEYS = {S3_ACCESS_KEY_ID: "s3.client.default.access_key", S3_SECRET_ACCESS_KEY: "s3.client.default.secret_key"}
# The stack's own Elasticsearch image (it ships curl): same version and supplier as the cluster, already
# pulled onto the nodes by ECK, and no third image to track.
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch"
ZONE_LABEL = "topology.kubernetes.io/zone"

# The object store: GCS on 443, an S3 endpoint on 80/443/9000, outside the cluster or in it (MinIO pods
# are matched by namespace, not by address, under Cilium).
OBJECT_STORE = Allow("object-store", "egress", (ANYWHERE, ANY_NAMESPACE), (80, 443, 9000))
# Metricbeat reads each node's kubelet.
KUBELET = Allow("kubelet", "egress", (ANYWHERE,), (10250,))
FROM_OPERATOR = from_namespaces("eck-operator", ("elastic-system",), (9200, 5601, 9600))


class Elasticsearch(Settings):
    count: Annotated[int, Field(ge=1, le=50)] = 1
    """Elasticsearch nodes (all roles). Highly available environments need at least 3 for a master quorum."""
    heap: JvmHeap = "1g"
    """JVM heap of each node, e.g. `1g` or `512m`; keep it at most half of `memory`."""
    memory: ByteQuantity = "2Gi"
    """Memory request and limit of each node."""
    cpu: CpuQuantity = "1"
    """CPU request of each node."""
    storage_size: ByteQuantity = "50Gi"
    """Data volume size of each node."""


class LogSnapshots(Settings):
    schedule: ElasticCron = "0 30 1 * * ?"
    """When the snapshot lifecycle policy takes a snapshot (Elasticsearch cron syntax, UTC)."""
    retention: ElasticAge = "30d"
    """How long snapshots are kept in the object store."""


class LoggingSettings(Settings):
    enabled: bool | None = None
    """Install ELK. Unset: on where the cluster has no built-in log pipeline (on-prem), off where it has one
    (GKE ships container logs to Cloud Logging already; a second collector would double the log volume)."""
    version: ElasticVersion = "9.4.3"
    """Elastic Stack version of Elasticsearch, Kibana, Beats and Logstash."""
    elasticsearch: Elasticsearch = Elasticsearch()
    """Elasticsearch sizing."""
    retention: ElasticAge = "14d"
    """How long log indices are kept before the index lifecycle policy deletes them."""
    snapshots: LogSnapshots = LogSnapshots()
    """Snapshots of the log indices into the object store."""
    kibana_replicas: Annotated[int, Field(ge=1, le=5)] = 1
    """Kibana instances."""
    metricbeat: bool = True
    """Ship node and host metrics to Elasticsearch with Metricbeat as well."""
    logstash: bool = False
    """Route logs through a Logstash processing pipeline (parsing, enrichment) instead of straight into
    Elasticsearch."""


class Logging(PlatformComponent):
    spec = ComponentSpec(
        name="logging",
        layer="observability",
        namespace=LOGGING_NAMESPACE,
        depends_on=("eck",),
        pod_security="privileged",
        privileged_reason=(
            "Filebeat reads container logs and Metricbeat host metrics from hostPath mounts as root on every node"
        ),
        network=(KUBE_API, HTTPS_OUT, OBJECT_STORE, KUBELET, FROM_OPERATOR),
    )
    sources = {
        # Not in ../shared/components.md: version read from prometheus-community/helm-charts at cf408a290aec.
        "prometheus-elasticsearch-exporter": Chart(
            "https://prometheus-community.github.io/helm-charts",
            "prometheus-elasticsearch-exporter",
            "7.4.0",
            "logging",
            images=(ImageValue("image.repository", "quay.io/prometheuscommunity/elasticsearch-exporter"),),
        ),
    }
    settings = ComponentSettings(
        "logging", LoggingSettings, "Logs in Elasticsearch (ELK) through Elastic's ECK operator."
    )

    exported_families = {
        "logging/elasticsearch-exporter": ("elasticsearch_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            group(
                "elasticsearch",
                [
                    alert(
                        "ElasticsearchClusterRed",
                        'elasticsearch_cluster_health_status{color="red"} == 1',
                        component="logging",
                        for_="5m",
                        severity="critical",
                        summary="Elasticsearch cluster {{ $labels.cluster }} is red",
                        description="A primary shard is unassigned: some logs cannot be written or searched.",
                    ),
                    alert(
                        "ElasticsearchClusterYellow",
                        'elasticsearch_cluster_health_status{color="yellow"} == 1',
                        component="logging",
                        for_="30m",
                        summary="Elasticsearch cluster {{ $labels.cluster }} is yellow",
                        description="Replica shards are unassigned, so one more node failure loses data.",
                    ),
                    alert(
                        "ElasticsearchDiskLow",
                        "elasticsearch_filesystem_data_available_bytes / elasticsearch_filesystem_data_size_bytes < "
                        "0.15",
                        component="logging",
                        summary="Elasticsearch node {{ $labels.name }} has less than 15% disk left",
                        description=(
                            "Above the 85% watermark shards stop being allocated to the node; shorten "
                            "components.logging.retention or grow components.logging.elasticsearch.storageSize."
                        ),
                    ),
                    alert(
                        "LogShipperUnavailable",
                        'kube_daemonset_status_number_unavailable{namespace="logging"} > 0',
                        component="logging",
                        for_="15m",
                        summary="{{ $value }} {{ $labels.daemonset }} pods are unavailable",
                        description="Logs or metrics of the nodes without a shipper are not collected.",
                    ),
                ],
            ),
        ]

    @classmethod
    def wanted(cls, env: Environment, facts: ClusterFacts) -> bool:
        return logging_wanted(env, facts)

    @property
    def logging_settings(self) -> LoggingSettings:
        return self.env.components.logging

    def build(self) -> None:
        self.namespace()
        snapshot_account = self.snapshot_service_account()
        es = self.custom_resource(
            "elasticsearch.k8s.elastic.co/v1",
            "Elasticsearch",
            NAME,
            self.elasticsearch(snapshot_account),
            LOGGING_NAMESPACE,
            annotations=self.elasticsearch_annotations(),
        )
        self.custom_resource("kibana.k8s.elastic.co/v1", "Kibana", NAME, self.kibana(), LOGGING_NAMESPACE)
        self.expose("kibana", KIBANA_SERVICE, KIBANA_PORT)
        if self.logging_settings.logstash:
            self.custom_resource(
                "logstash.k8s.elastic.co/v1alpha1", "Logstash", NAME, self.logstash(), LOGGING_NAMESPACE
            )
        for beat in self.beats():
            beats.rbac(beat, self.opts(depends_on=self._own_namespace()))
            spec = {**beat.spec, **self.eck_image(f"beats/{beat.spec['type']}")}
            self.custom_resource("beat.k8s.elastic.co/v1beta1", "Beat", beat.name, spec, LOGGING_NAMESPACE)
        self.policy_reconciler(es)
        if self.ctx.monitoring_enabled:
            self.application(self.exporter_values(), chart="prometheus-elasticsearch-exporter")
            self.scrape(
                "elasticsearch-exporter", {"app.kubernetes.io/name": "prometheus-elasticsearch-exporter"}, "http"
            )

    # --- Elasticsearch --------------------------------------------------------------------------------------

    def snapshot_service_account(self) -> str:
        """Pods of Elasticsearch run as this account; on GKE Workload Identity lets it write the bucket."""
        k8s.core.v1.ServiceAccount(
            SNAPSHOT_WORKLOAD,
            metadata={
                "name": SNAPSHOT_WORKLOAD,
                "namespace": LOGGING_NAMESPACE,
                "annotations": self.ctx.facts.identity.annotations(SNAPSHOT_WORKLOAD),
            },
            automount_service_account_token=False,
            opts=self.opts(depends_on=self._own_namespace()),
        )
        return SNAPSHOT_WORKLOAD

    def elasticsearch_annotations(self) -> dict[str, str]:
        # ECK copies these node labels onto the pods, so each node can learn its zone (zone awareness).
        return {"eck.k8s.elastic.co/downward-node-labels": ZONE_LABEL} if self.env.high_availability else {}

    def elasticsearch(self, service_account: str) -> dict[str, Any]:
        es = self.logging_settings.elasticsearch
        store = self.ctx.facts.object_store
        config: dict[str, Any] = {
            # No vm.max_map_count sysctl (which needs a privileged init container): use niofs instead of mmap.
            "node.store.allow_mmap": False,
        }
        env = [{"name": "ES_JAVA_OPTS", "value": f"-Xms{es.heap} -Xmx{es.heap}"}]
        pod_spec: dict[str, Any] = {"serviceAccountName": service_account, "automountServiceAccountToken": False}
        if self.env.high_availability:
            config["node.attr.zone"] = "${ZONE}"
            config["cluster.routing.allocation.awareness.attributes"] = "k8s_node_name,zone"
            env.append(
                {"name": "ZONE", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{ZONE_LABEL}']"}}}
            )
            pod_spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": ZONE_LABEL,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": NAME}},
                }
            ]
        spec: dict[str, Any] = {
            "version": self.logging_settings.version,
            **self.eck_image("elasticsearch/elasticsearch"),
        }
        if store.kind == "s3":
            config.update(
                {
                    "s3.client.default.endpoint": store.endpoint.split("://", 1)[-1],
                    "s3.client.default.protocol": store.endpoint.split("://", 1)[0]
                    if "://" in store.endpoint
                    else "https",
                    "s3.client.default.path_style_access": True,
                }
            )
            spec["secureSettings"] = [
                {
                    "secretName": store.credentials_secret,
                    "entries": [{"key": key, "path": path} for key, path in S3_KEYS.items()],
                }
            ]
        pod_spec["containers"] = [
            {"name": "elasticsearch", "env": env, "resources": resources(es.cpu, es.memory)},
        ]
        spec["nodeSets"] = [
            {
                "name": "default",
                "count": es.count,
                "config": config,
                "podTemplate": {"spec": pod_spec},
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "elasticsearch-data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": self.ctx.facts.storage.default,
                            "resources": {"requests": {"storage": es.storage_size}},
                        },
                    }
                ],
            }
        ]
        return spec

    def snapshot_repository(self) -> dict[str, Any]:
        store = self.ctx.facts.object_store
        settings = {"bucket": store.buckets["log-snapshots"], "base_path": "elasticsearch", "client": "default"}
        return {"type": store.kind, "settings": settings}

    # --- Kibana, Logstash, Beats ------------------------------------------------------------------------------

    def kibana(self) -> dict[str, Any]:
        return {
            "version": self.logging_settings.version,
            **self.eck_image("kibana/kibana"),
            "count": self.logging_settings.kibana_replicas,
            "elasticsearchRef": {"name": NAME},
            "config": {"server.publicBaseUrl": f"https://kibana.{self.env.domain}"},
            # TLS ends at the ingress (a cert-manager certificate for kibana.<domain>); ECK's self-signed
            # certificate would only make the ingress speak TLS to a certificate nobody trusts.
            "http": {"tls": {"selfSignedCertificate": {"disabled": True}}},
            "podTemplate": {
                "spec": {"containers": [{"name": "kibana", "resources": resources("200m", "1Gi", "1", "1Gi")}]}
            },
        }

    def logstash(self) -> dict[str, Any]:
        return {
            "version": self.logging_settings.version,
            **self.eck_image("logstash/logstash"),
            "count": 2 if self.env.high_availability else 1,
            "elasticsearchRefs": [{"name": NAME, "clusterName": NAME}],
            "pipelines": [{"pipeline.id": "main", "config.string": beats.logstash_pipeline(NAME, LOGSTASH_BEATS_PORT)}],
            "services": [
                {
                    "name": "beats",
                    "service": {
                        "spec": {
                            "type": "ClusterIP",
                            "ports": [
                                {"name": "beats", "port": LOGSTASH_BEATS_PORT, "targetPort": LOGSTASH_BEATS_PORT}
                            ],
                        }
                    },
                }
            ],
            "podTemplate": {
                "spec": {"containers": [{"name": "logstash", "resources": resources("500m", "1Gi", "1", "1Gi")}]}
            },
        }

    def eck_image(self, product: str) -> dict[str, str]:
        """`spec.image` of an Elastic stack resource where the environment has an image mirror; without one ECK picks
        `docker.elastic.co/<product>:<version>` itself."""
        upstream = f"docker.elastic.co/{product}:{self.logging_settings.version}"
        mirrored = mirrored_image(upstream, self.env.mirrors)
        return {"image": mirrored} if mirrored != upstream else {}

    def beats(self) -> list[beats.BeatSpec]:
        logstash = (
            f"{NAME}-ls-beats.{LOGGING_NAMESPACE}.svc:{LOGSTASH_BEATS_PORT}" if self.logging_settings.logstash else None
        )
        result = [beats.filebeat(self.logging_settings.version, NAME, logstash)]
        if self.logging_settings.metricbeat:
            result.append(beats.metricbeat(self.logging_settings.version, NAME))
        return result

    # --- policies and metrics -----------------------------------------------------------------------------------

    def policy_reconciler(self, es: pulumi.Resource) -> None:
        """ILM, SLM and the snapshot repository (see infra/observability/elastic_policies.py for why a CronJob)."""
        files = reconcile_files(api_objects(self.logging_settings, self.snapshot_repository()), ES_URL)
        labels = component_labels(self.spec.name, self.spec.layer)
        opts = self.opts(depends_on=[*self._own_namespace(), es])
        config = k8s.core.v1.ConfigMap(
            "elastic-policies",
            metadata={"name": "elastic-policies", "namespace": LOGGING_NAMESPACE, "labels": labels},
            data=files,
            opts=opts,
        )
        container = {
            "name": "apply",
            "image": mirrored_image(f"{ES_IMAGE}:{self.logging_settings.version}", self.env.mirrors),
            "imagePullPolicy": "Always",
            "command": ["/bin/sh", f"/policies/{SCRIPT}"],
            "resources": resources("10m", "32Mi", "100m", "64Mi"),
            "securityContext": restricted_container(run_as_user=10001),
            "volumeMounts": [
                {"name": "policies", "mountPath": "/policies", "readOnly": True},
                {"name": "certs", "mountPath": "/certs", "readOnly": True},
                {"name": "user", "mountPath": "/es-user", "readOnly": True},
            ],
        }
        k8s.batch.v1.CronJob(
            "elastic-policies",
            metadata={
                "name": "elastic-policies",
                "namespace": LOGGING_NAMESPACE,
                "labels": labels,
                "annotations": {
                    "checkov.io/skip1": "CKV_K8S_43=the Elastic image of the stack version the environment pins, "
                    "the tag ECK runs the cluster with; its digest cannot be resolved offline"
                },
            },
            spec={
                "schedule": "17 * * * *",
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 3,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "automountServiceAccountToken": False,
                                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                                "containers": [container],
                                "volumes": [
                                    {"name": "policies", "configMap": {"name": "elastic-policies"}},
                                    {"name": "certs", "secret": {"secretName": ES_CA_SECRET}},
                                    {"name": "user", "secret": {"secretName": ES_USER_SECRET}},
                                ],
                            },
                        },
                    }
                },
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[config])),
        )

    def exporter_values(self) -> dict[str, Any]:
        # TODO(least privilege): a dedicated monitoring user (ECK file realm) instead of `elastic`.
        return {
            "resources": resources("25m", "64Mi", "100m", "128Mi"),
            "es": {
                "uri": ES_URL,
                "ssl": {
                    "enabled": True,
                    "useExistingSecrets": True,
                    "ca": {"path": "/ssl/ca.crt"},
                    "client": {"enabled": False},
                },
                "slm": True,
                "ilm": True,
            },
            "env": {"ES_USERNAME": "elastic"},
            "extraEnvSecrets": {"ES_PASSWORD": {"secret": ES_USER_SECRET, "key": "elastic"}},
            "secretMounts": [{"name": "es-ca", "secretName": ES_CA_SECRET, "path": "/ssl"}],
            "serviceMonitor": {"enabled": False},
        }
