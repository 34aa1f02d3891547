"""Alerting rules for each platform component, keyed by component name (its ComponentSpec.name).

The monitoring component emits one PrometheusRule per entry whose component is installed, so rules for
components that are not installed never reach a cluster. A component added later gets its alerts by adding
an entry here under its ComponentSpec name (tests/test_observability.py fails for an installed component
without alerts).
"""

from __future__ import annotations

from infra.observability.promrules import Group, alert, group

NODE_CONDITIONS = "MemoryPressure|DiskPressure|PIDPressure"


def _down(component: str, namespace: str, what: str) -> Group:
    return group(
        f"{component}-availability",
        [
            alert(
                f"{_camel(component)}TargetDown",
                f'up{{namespace="{namespace}"}} == 0',
                component=component,
                summary=f"A {what} metrics target is down",
                description=(
                    f"Prometheus cannot scrape {{{{ $labels.job }}}} ({{{{ $labels.instance }}}}) in {namespace} "
                    "for 10 minutes: the pod is down or its metrics port is blocked."
                ),
            )
        ],
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def _deployments_unavailable(component: str, namespace: str, what: str) -> Group:
    """kube-state-metrics' view of a namespace's Deployments: replicas that stay unavailable."""
    return group(
        f"{component}-deployments",
        [
            alert(
                f"{_camel(component)}DeploymentUnavailable",
                f'kube_deployment_status_replicas_unavailable{{namespace="{namespace}"}} > 0',
                component=component,
                for_="15m",
                summary=f"{what}: {{{{ $labels.deployment }}}} has unavailable replicas",
                description=(
                    "Pods of the Deployment have not become ready for 15 minutes: read their events and logs "
                    "(image pull, crash loop, or a dependency such as the database unreachable)."
                ),
            )
        ],
    )


def _reconcile_errors(component: str, namespace: str, what: str) -> Group:
    """controller-runtime's reconcile error counter, served by every operator built on it."""
    return group(
        f"{component}-reconcile",
        [
            alert(
                f"{_camel(component)}ReconcileErrors",
                f"sum by (controller) "
                f'(rate(controller_runtime_reconcile_errors_total{{namespace="{namespace}"}}[10m])) > 0',
                component=component,
                for_="15m",
                summary=f"{what} fails to reconcile {{{{ $labels.controller }}}} objects",
                description="Read the controller's log: its objects stay in their last state until it succeeds.",
            )
        ],
    )


ARGO_CD = [
    _down("argo-cd", "argocd", "Argo CD"),
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

CERT_MANAGER = [
    _down("cert-manager", "cert-manager", "cert-manager"),
    group(
        "certificates",
        [
            alert(
                "CertificateExpiresSoon",
                "certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 24 * 3600",
                component="cert-manager",
                for_="1h",
                summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within 14 days",
                description=(
                    "cert-manager renews 30 days ahead by default, so a certificate this close to expiry "
                    "failed to renew: check its CertificateRequest and the issuer."
                ),
            ),
            alert(
                "CertificateNotReady",
                'certmanager_certificate_ready_status{condition="False"} == 1',
                component="cert-manager",
                for_="30m",
                severity="critical",
                summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} is not ready",
                description="The certificate could not be issued; services using it serve an old or no certificate.",
            ),
        ],
    ),
]

KUBE_PROMETHEUS_STACK = [
    group(
        "monitoring-stack",
        [
            alert(
                "PrometheusRuleFailures",
                "increase(prometheus_rule_evaluation_failures_total[10m]) > 0",
                component="kube-prometheus-stack",
                summary="Prometheus fails to evaluate rules in {{ $labels.rule_group }}",
                description="Alerts and recorded series of this group are missing until the rule is fixed.",
            ),
            alert(
                "AlertmanagerNotificationsFailing",
                "rate(alertmanager_notifications_failed_total[10m]) > 0",
                component="kube-prometheus-stack",
                severity="critical",
                summary="Alertmanager cannot deliver to {{ $labels.integration }}",
                description="Check the receiver's Secret (URL or key) and egress from the monitoring namespace.",
            ),
        ],
    ),
    group(
        "nodes",
        [
            alert(
                "NodeUnderPressure",
                f'kube_node_status_condition{{condition=~"{NODE_CONDITIONS}",status="true"}} == 1',
                component="kube-prometheus-stack",
                summary="Node {{ $labels.node }} reports {{ $labels.condition }}",
                description=(
                    "The kubelet evicts pods from a node under pressure. Add capacity, or find the pod that "
                    "uses the resource (see the resource-optimisation dashboard)."
                ),
            ),
            alert(
                "NodeNotReady",
                'kube_node_status_condition{condition="Ready",status="true"} == 0',
                component="kube-prometheus-stack",
                for_="15m",
                severity="critical",
                summary="Node {{ $labels.node }} is not ready",
                description="Its pods are being rescheduled; check the kubelet and the machine.",
            ),
        ],
    ),
]

METRICS_SERVER = [
    group(
        "metrics-server",
        [
            # The API server's own view of the aggregated API (kube-state-metrics has no APIService metrics).
            alert(
                "MetricsServerUnavailable",
                'max(aggregator_unavailable_apiservice{name="v1beta1.metrics.k8s.io"}) == 1'
                ' or absent(up{job="metrics-server"} == 1)',
                component="metrics-server",
                severity="critical",
                summary="The resource metrics API is unavailable",
                description="HorizontalPodAutoscalers and `kubectl top` stop working until metrics-server is back.",
            )
        ],
    ),
]

ECK = [
    _down("eck", "elastic-system", "ECK operator"),
    group(
        "eck-reconcile",
        [
            alert(
                "ECKReconcileErrors",
                'sum by (controller) (rate(controller_runtime_reconcile_errors_total{namespace="elastic-system"}'
                "[15m])) > 0",
                component="eck",
                for_="30m",
                summary="ECK fails to reconcile {{ $labels.controller }} resources",
                description="Changes to Elasticsearch, Kibana or Beats are not applied; read the operator log.",
            )
        ],
    ),
]

LOGGING = [
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
                "elasticsearch_filesystem_data_available_bytes / elasticsearch_filesystem_data_size_bytes < 0.15",
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

# Components other parts of the platform add; emitted only when a component of that name is installed.
LONGHORN = [
    group(
        "longhorn",
        [
            alert(
                "LonghornVolumeDegraded",
                "longhorn_volume_robustness == 2",
                component="longhorn",
                summary="Longhorn volume {{ $labels.volume }} is degraded",
                description="A replica is missing; Longhorn rebuilds it if a node with space is schedulable.",
            ),
            alert(
                "LonghornVolumeFaulted",
                "longhorn_volume_robustness == 3",
                component="longhorn",
                for_="2m",
                severity="critical",
                summary="Longhorn volume {{ $labels.volume }} is faulted",
                description="No healthy replica is left; the workload using it cannot read its data.",
            ),
            alert(
                "LonghornNodeDown",
                'longhorn_node_status{condition="ready"} == 0',
                component="longhorn",
                summary="Longhorn node {{ $labels.node }} is not ready",
                description="Replicas on the node are unavailable until it returns.",
            ),
        ],
    ),
]

KNATIVE = [
    group(
        "knative-serving",
        [
            alert(
                "KnativeRevisionErrorRate",
                """sum by (namespace, revision_name) (rate(revision_app_request_count{response_code_class="5xx"}[5m]))
                / sum by (namespace, revision_name) (rate(revision_app_request_count[5m])) > 0.05""",
                component="knative",
                summary="Revision {{ $labels.namespace }}/{{ $labels.revision_name }} answers 5xx to >5% of requests",
                description="Compare with the previous revision and roll traffic back if the new one is at fault.",
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

KSERVE = [
    _down("kserve", "kserve", "KServe controller"),
    _reconcile_errors("kserve", "kserve", "The KServe controller"),
    group(
        "kserve",
        [
            alert(
                "InferenceServiceErrorRate",
                """sum by (destination_service_namespace, destination_service_name)
                (rate(istio_requests_total{reporter="destination",response_code=~"5..",destination_service_name=~".*-predictor.*"}[5m]))
                / sum by (destination_service_namespace, destination_service_name)
                (rate(istio_requests_total{reporter="destination",destination_service_name=~".*-predictor.*"}[5m]))
                > 0.05""",
                component="kserve",
                summary="Model {{ $labels.destination_service_name }} fails >5% of predictions",
                description="Read the predictor's log; a new model version may reject current inputs.",
            ),
            alert(
                "InferenceServiceSlow",
                """histogram_quantile(0.95, sum by (le, namespace) (rate(request_predict_seconds_bucket[5m]))) > 1""",
                component="kserve",
                summary="Model servers in {{ $labels.namespace }} take over 1s (p95) to predict",
                description="Scale out the predictor, or check whether it runs on CPU where a GPU was expected.",
            ),
        ],
    ),
]

ISTIO = [_down("istio", "istio-system", "Istio control plane")]
TRAEFIK = [
    _down("traefik", "traefik", "Traefik"),
    group(
        "traefik",
        [
            alert(
                "TraefikBackendErrorsHigh",
                'sum by (service) (rate(traefik_service_requests_total{code=~"5.."}[5m]))'
                " / sum by (service) (rate(traefik_service_requests_total[5m])) > 0.05",
                component="traefik",
                summary="More than 5% of requests to {{ $labels.service }} fail with 5xx",
                description="Traefik reaches the backend but it answers with server errors; check its pods and logs.",
            )
        ],
    ),
]
EXTERNAL_DNS = [
    _down("external-dns", "external-dns", "external-dns"),
    group(
        "external-dns",
        [
            alert(
                "ExternalDnsSyncFailing",
                "increase(external_dns_controller_verified_records_errors_total[30m]) > 0"
                " or increase(external_dns_source_errors_total[30m]) > 0",
                component="external-dns",
                summary="external-dns fails to read sources or update the DNS zone",
                description="New or moved platform UIs keep stale DNS records until the provider answers again.",
            )
        ],
    ),
]
KEDA = [
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


# The Pipelines API server (`ml-pipeline`, /metrics on its http port) is scraped; the other Kubeflow parts
# serve no metrics upstream, so their health comes from kube-state-metrics.
KUBEFLOW = [
    _down("kubeflow", "kubeflow", "Kubeflow Pipelines"),
    _deployments_unavailable("kubeflow", "kubeflow", "Kubeflow"),
]


def server_error_ratio(requests_total: str, namespace: str, status_label: str) -> str:
    """PromQL: the share of a namespace's requests (counter `requests_total`) answered with a 5xx status."""
    selector = f'namespace="{namespace}"'
    return (
        f'sum(rate({requests_total}{{{selector},{status_label}=~"5.."}}[5m]))'
        f" / sum(rate({requests_total}{{{selector}}}[5m]))"
    )


# oauth2-proxy answers the ingress gateway's checks for Kubeflow: 401/403 and redirects are its normal answers to
# signed-out users, 5xx means it cannot complete a sign-in (identity provider unreachable, wrong client secret).
OAUTH2_PROXY = [
    _down("oauth2-proxy", "oauth2-proxy", "Kubeflow sign-in (oauth2-proxy)"),
    group(
        "oauth2-proxy-sign-in",
        [
            alert(
                "KubeflowSignInErrors",
                f"{server_error_ratio('oauth2_proxy_requests_total', 'oauth2-proxy', 'code')} > 0.05",
                component="oauth2-proxy",
                summary="oauth2-proxy answers >5% of requests with a server error",
                description=(
                    "Users cannot sign in to Kubeflow or are signed out: read oauth2-proxy's log for the identity "
                    "provider's answer (unreachable issuer, rejected client secret, expired refresh tokens)."
                ),
            )
        ],
    ),
]
MLFLOW = [
    _down("mlflow", "mlflow", "MLflow"),
    group(
        "mlflow-requests",
        [
            # prometheus_flask_exporter, which `mlflow server --expose-prometheus` turns on.
            alert(
                "MlflowServerErrors",
                f"{server_error_ratio('flask_http_request_total', 'mlflow', 'status')} > 0.05",
                component="mlflow",
                summary="MLflow answers >5% of requests with a server error",
                description="Runs fail to log: check the tracking server's log and its database connection.",
            )
        ],
    ),
]
FEAST = [
    _down("feast", "feast", "Feast online store"),
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
                description="Features materialized since then are lost on restart: check the volume's free space.",
            ),
        ],
    ),
]
VELERO = [
    _down("velero", "velero", "Velero"),
    group(
        "velero-backups",
        [
            alert(
                "VeleroBackupFailed",
                "increase(velero_backup_failure_total[1h]) > 0",
                component="velero",
                summary="A Velero backup of schedule {{ $labels.schedule }} failed",
                description="Read `velero backup describe --details` for the failed backup; restores rely on it.",
            ),
            alert(
                "VeleroBackupTooOld",
                'time() - velero_backup_last_successful_timestamp{schedule!=""} > 2 * 86400',
                component="velero",
                severity="critical",
                summary="Schedule {{ $labels.schedule }} has had no successful backup for two days",
                description="Data written since the last good backup cannot be restored (docs/restore.md).",
            ),
        ],
    ),
]
EXTERNAL_SECRETS = [
    _down("external-secrets", "external-secrets", "External Secrets"),
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

CLOUDNATIVE_PG = [
    _down("cloudnative-pg", "cnpg-system", "PostgreSQL"),
    group(
        "cloudnative-pg",
        [
            alert(
                "PostgresReplicationLagHigh",
                "max by (namespace, pod) (cnpg_pg_replication_lag) > 300",
                component="cloudnative-pg",
                summary="PostgreSQL replica {{ $labels.pod }} is more than 5 minutes behind",
                description="A failover now would lose recent writes of MLflow and Kubeflow metadata.",
            )
        ],
    ),
]
METALLB = [
    _down("metallb", "metallb-system", "MetalLB"),
    group(
        "metallb",
        [
            alert(
                "MetalLBAddressPoolExhausted",
                "sum by (pool) (metallb_allocator_addresses_in_use_total)"
                " >= sum by (pool) (metallb_allocator_addresses_total)",
                component="metallb",
                summary="MetalLB pool {{ $labels.pool }} has no free address",
                description="New LoadBalancer Services stay pending: widen onprem.loadBalancer.addresses.",
            )
        ],
    ),
]
# GPU telemetry: the exporter itself, and the GPUs it reports on (gpu_alerts), wherever one of them runs.
DCGM_EXPORTER = [_down("dcgm-exporter", "dcgm-exporter", "DCGM exporter (GPU metrics)")]
GPU_OPERATOR = [
    _down("gpu-operator", "gpu-operator", "GPU operator DCGM exporter (GPU metrics)"),
    _deployments_unavailable("gpu-operator", "gpu-operator", "NVIDIA GPU operator"),
    group(
        "gpu-operator-nodes",
        [
            alert(
                "GpuOperatorStackUnavailable",
                'kube_daemonset_status_number_unavailable{namespace="gpu-operator"} > 0',
                component="gpu-operator",
                for_="30m",
                summary="{{ $value }} {{ $labels.daemonset }} pods are unavailable",
                description=(
                    "GPU nodes without a ready driver, container toolkit or device plugin offer no GPUs to pods "
                    "(and without the exporter, no GPU metrics): read the pod's log, often the driver build."
                ),
            )
        ],
    ),
]
# Long-term metrics: the sidecars in Prometheus' pods upload, the compactor and store gateway read the bucket.
THANOS = [
    _down("thanos", "thanos", "Thanos"),
    group(
        "thanos-long-term-metrics",
        [
            alert(
                "ThanosSidecarUploadsFailing",
                "increase(thanos_shipper_upload_failures_total[1h]) > 0",
                component="thanos",
                summary="Prometheus {{ $labels.pod }} fails to upload its blocks to the metrics bucket",
                description=(
                    "Blocks that are not uploaded exist only on the Prometheus volume and are gone after its "
                    "retention: check the sidecar's log (bucket permissions, the object store's reachability)."
                ),
            ),
            alert(
                "ThanosCompactorHalted",
                "thanos_compact_halted == 1",
                component="thanos",
                for_="30m",
                summary="The Thanos compactor has halted",
                description=(
                    "It stops on overlapping or corrupt blocks: nothing is compacted, downsampled or deleted past "
                    "its retention until the block named in its log is repaired or removed."
                ),
            ),
            alert(
                "ThanosBucketOperationsFailing",
                "sum by (job) (rate(thanos_objstore_bucket_operation_failures_total[5m])) > 0",
                component="thanos",
                for_="15m",
                summary="{{ $labels.job }} fails operations on the metrics bucket",
                description="Long-term queries miss data or the compactor falls behind: check credentials and quota.",
            ),
        ],
    ),
]
# The operator, and the teams' Ray clusters (a PodMonitor `ray-cluster` in each team namespace, kuberay.py).
KUBERAY = [
    _down("kuberay-operator", "kuberay", "KubeRay operator"),
    _reconcile_errors("kuberay-operator", "kuberay", "The KubeRay operator"),
    group(
        "ray-clusters",
        [
            alert(
                "RayClusterNotProvisioned",
                'kuberay_cluster_condition_provisioned{condition="false"} == 1',
                component="kuberay-operator",
                for_="30m",
                summary="Ray cluster {{ $labels.namespace }}/{{ $labels.name }} has not had all its pods ready",
                description=(
                    "Its head or workers do not start: read the pods' events (image pull, the team's quota, no "
                    "node with a free GPU) and the operator's log."
                ),
            ),
            alert(
                "RayClusterMetricsDown",
                'up{job=~".+/ray-cluster"} == 0',
                component="kuberay-operator",
                summary="Prometheus cannot scrape Ray pod {{ $labels.pod }} in {{ $labels.namespace }}",
                description=(
                    "The Ray process in the pod is down or its metrics port is blocked (the team namespace's "
                    "NetworkPolicy admits Prometheus on 8080)."
                ),
            ),
        ],
    ),
]
MINIO = [_down("minio", "minio", "MinIO")]
HARBOR = [_down("harbor", "harbor", "Harbor registry")]
NATS = [_down("nats", "nats", "NATS JetStream")]

COMPONENT_ALERTS: dict[str, list[Group]] = {
    "argo-cd": ARGO_CD,
    "cert-manager": CERT_MANAGER,
    "kube-prometheus-stack": KUBE_PROMETHEUS_STACK,
    "metrics-server": METRICS_SERVER,
    "eck": ECK,
    "logging": LOGGING,
    "longhorn": LONGHORN,
    "knative": KNATIVE,
    "kserve": KSERVE,
    "istio": ISTIO,
    "traefik": TRAEFIK,
    "external-dns": EXTERNAL_DNS,
    "keda": KEDA,
    "kubeflow": KUBEFLOW,
    "oauth2-proxy": OAUTH2_PROXY,
    "mlflow": MLFLOW,
    "feast": FEAST,
    "cloudnative-pg": CLOUDNATIVE_PG,
    "metallb": METALLB,
    "minio": MINIO,
    "harbor": HARBOR,
    "nats": NATS,
    "velero": VELERO,
    "external-secrets": EXTERNAL_SECRETS,
    "dcgm-exporter": DCGM_EXPORTER,
    "gpu-operator": GPU_OPERATOR,
    "thanos": THANOS,
    "kuberay-operator": KUBERAY,
}

GPU_EXPORTERS = ("dcgm-exporter", "gpu-operator")
"""The components that export GPU metrics (DCGM_FI_*): where one is installed, the GPU alerts, AIOps GPU rules and
GPU dashboard panels are too."""


def gpu_alerts() -> list[Group]:
    """Where a GPU exporter (GPU_EXPORTERS) runs: DCGM_FI_DEV_GPU_UTIL comes from NVIDIA's DCGM exporter."""
    return [
        group(
            "gpu",
            [
                alert(
                    "GpuUnderutilised",
                    "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[2h])) < 10",
                    component="gpu",
                    for_="1h",
                    severity="info",
                    summary="GPU {{ $labels.gpu }} on {{ $labels.Hostname }} averaged under 10% for 2 hours",
                    description=(
                        "GPUs are the most expensive nodes: move the workload to CPU, share the GPU, or let the "
                        "pool scale down (see the resource-optimisation panels)."
                    ),
                ),
                alert(
                    "GpuSaturated",
                    "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[30m])) > 95",
                    component="gpu",
                    for_="30m",
                    summary="GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is saturated",
                    description="Requests queue behind it; add GPU replicas or raise the pool's maxNodes.",
                ),
            ],
        )
    ]
