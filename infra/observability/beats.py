"""Filebeat and Metricbeat as ECK Beat resources (DaemonSets), their RBAC, and the Logstash pipeline.

Both read the host (container log files, /proc, cgroups), which is why the logging namespace is privileged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.resources import resources

NAMESPACE = "logging"
NODE_NAME_ENV = {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
# Run on every node, GPU and system pools included, whatever their taints.
EVERY_NODE = [{"operator": "Exists"}]
READ_WORKLOADS = [
    {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
]
READ_KUBELET = [
    {"apiGroups": [""], "resources": ["nodes/stats", "nodes/metrics"], "verbs": ["get"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
]
ILM = {"setup.ilm.enabled": True, "setup.ilm.policy_name": "platform-logs", "setup.ilm.overwrite": False}
HOST_METADATA = [{"add_cloud_metadata": {}}, {"add_host_metadata": {}}]


@dataclass(frozen=True)
class BeatSpec:
    name: str
    spec: dict[str, Any]
    cluster_rules: list[dict[str, Any]]


def rbac(beat: BeatSpec, opts: pulumi.ResourceOptions) -> None:
    """The Beat's ServiceAccount and what it may read cluster-wide (Kubernetes metadata for every event)."""
    k8s.core.v1.ServiceAccount(beat.name, metadata={"name": beat.name, "namespace": NAMESPACE}, opts=opts)
    k8s.rbac.v1.ClusterRole(
        f"{beat.name}-read", metadata={"name": f"logging-{beat.name}"}, rules=beat.cluster_rules, opts=opts
    )
    k8s.rbac.v1.ClusterRoleBinding(
        f"{beat.name}-read",
        metadata={"name": f"logging-{beat.name}"},
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"logging-{beat.name}"},
        subjects=[{"kind": "ServiceAccount", "name": beat.name, "namespace": NAMESPACE}],
        opts=opts,
    )


def _host_path(name: str, path: str, mount: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    volume = {"name": name, "hostPath": {"path": path}}
    return volume, {"name": name, "mountPath": mount or path, "readOnly": True}


def _daemon_set(beat: str, mounts: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    return {
        "podTemplate": {
            "spec": {
                "serviceAccountName": beat,
                "automountServiceAccountToken": True,
                "tolerations": EVERY_NODE,
                # Log files and /proc of other users' processes are readable by root only.
                "securityContext": {"runAsUser": 0},
                "containers": [
                    {
                        "name": beat,
                        "env": [NODE_NAME_ENV],
                        "resources": resources("100m", "200Mi", "500m", "400Mi"),
                        "volumeMounts": [mount for _, mount in mounts],
                    }
                ],
                "volumes": [volume for volume, _ in mounts],
            }
        }
    }


def filebeat(version: str, elasticsearch: str, logstash: str | None) -> BeatSpec:
    """Container logs of every pod, with Kubernetes metadata (namespace, pod, labels) on every line; to
    Logstash when a processing pipeline is asked for, else straight to Elasticsearch."""
    container_logs = {
        "type": "filestream",
        "id": "kubernetes-container-logs-${data.kubernetes.pod.name}-${data.kubernetes.container.id}",
        "paths": ["/var/log/containers/*-${data.kubernetes.container.id}.log"],
        "parsers": [{"container": {}}],
        "prospector": {"scanner": {"symlinks": True}},
    }
    config: dict[str, Any] = {
        "filebeat.autodiscover": {
            "providers": [
                {
                    "type": "kubernetes",
                    "node": "${NODE_NAME}",
                    "hints": {"enabled": True, "default_config": container_logs},
                }
            ]
        },
        "processors": HOST_METADATA,
    }
    spec: dict[str, Any] = {"type": "filebeat", "version": version, "config": config}
    if logstash is not None:
        config["output.logstash"] = {"hosts": [logstash]}
    else:
        config.update(ILM)
        spec["elasticsearchRef"] = {"name": elasticsearch}
        spec["kibanaRef"] = {"name": elasticsearch}
    mounts = [
        _host_path("varlogcontainers", "/var/log/containers"),
        _host_path("varlogpods", "/var/log/pods"),
    ]
    spec["daemonSet"] = _daemon_set("filebeat", mounts)
    return BeatSpec("filebeat", spec, READ_WORKLOADS)


def metricbeat(version: str, elasticsearch: str) -> BeatSpec:
    """Host metrics (CPU, memory, disks, network) and the kubelet's node/pod/container statistics."""
    config = {
        "metricbeat.modules": [
            {
                "module": "system",
                "period": "30s",
                "hostfs": "/hostfs",
                "metricsets": ["cpu", "load", "memory", "process_summary", "filesystem", "fsstat"],
            },
            {
                "module": "kubernetes",
                "period": "30s",
                "metricsets": ["node", "system", "pod", "container", "volume"],
                "node": "${NODE_NAME}",
                "hosts": ["https://${NODE_NAME}:10250"],
                "bearer_token_file": "/var/run/secrets/kubernetes.io/serviceaccount/token",
                # Kubelet serving certificates are self-signed per node unless the cluster rotates them
                # through the CSR API, so there is no CA to verify them against.
                "ssl.verification_mode": "none",
            },
        ],
        "processors": HOST_METADATA,
        **ILM,
    }
    mounts = [
        _host_path("proc", "/proc", "/hostfs/proc"),
        _host_path("cgroup", "/sys/fs/cgroup", "/hostfs/sys/fs/cgroup"),
    ]
    spec = {
        "type": "metricbeat",
        "version": version,
        "config": config,
        "elasticsearchRef": {"name": elasticsearch},
        "kibanaRef": {"name": elasticsearch},
        # Not on the host network: the namespace's NetworkPolicies then still apply to it. Node interface
        # traffic is in Prometheus (node-exporter); the `network` metricset reports the pod's own.
        "daemonSet": _daemon_set("metricbeat", mounts),
    }
    return BeatSpec("metricbeat", spec, READ_WORKLOADS + READ_KUBELET)


def logstash_pipeline(cluster: str, port: int) -> str:
    """Beats in; JSON log lines parsed into fields; out to the `logs-kubernetes-default` data stream."""
    env = cluster.upper()
    return f"""input {{ beats {{ port => {port} }} }}
filter {{
  if [message] =~ /^\\{{.*\\}}$/ {{
    json {{ source => "message" target => "app" skip_on_invalid_json => true }}
  }}
}}
output {{
  elasticsearch {{
    hosts => [ "${{{env}_ES_HOSTS}}" ]
    user => "${{{env}_ES_USER}}"
    password => "${{{env}_ES_PASSWORD}}"
    ssl_certificate_authorities => "${{{env}_ES_SSL_CERTIFICATE_AUTHORITY}}"
    data_stream => "true"
    data_stream_dataset => "kubernetes"
  }}
}}
"""
