"""NVIDIA's DCGM exporter on GKE GPU node pools: the GPU metrics (DCGM_FI_DEV_*) the platform's GPU alerts, GPU
dashboard panels and AIOps GPU rules read, scraped by the platform's Prometheus.

GKE installs the NVIDIA driver and device plugin on GPU pools itself (infra/cluster/gke.py), so only the exporter is
installed here. GKE also offers managed DCGM metrics ("Collect and view DCGM metrics" in GKE's docs): GKE then runs
its own exporter and a ClusterPodMonitoring that sends the metrics to Google Cloud Managed Service for Prometheus,
which needs managed collection on and keeps them in Cloud Monitoring, where the platform's PrometheusRules and
Grafana dashboards do not look. The same docs name a self-managed DCGM exporter as the way for clusters that do
not use that package, which this cluster does not enable (its monitoring_config lists SYSTEM_COMPONENTS only).

On GKE the driver's libraries are not in the exporter's image and no NVIDIA container runtime adds them: GKE
installs them on the node under /home/kubernetes/bin/nvidia, which is mounted read-only at /usr/local/nvidia and
put on LD_LIBRARY_PATH. Without a GPU request the device plugin gives the container no /dev/nvidia* devices either,
so the exporter runs privileged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.observability.platform_alerts import down
from infra.observability.promrules import Group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.labels import GPU_TAINT_KEY
from infra.platform.resources import resources
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

NAMESPACE = "dcgm-exporter"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
"""GKE labels every node of a pool with accelerators with the accelerator type."""
GKE_NVIDIA_HOST_DIR = "/home/kubernetes/bin/nvidia"
"""Where GKE's driver installer puts the NVIDIA driver's libraries and tools on the node."""
NVIDIA_DIR = "/usr/local/nvidia"
DRIVER_VOLUME = "nvidia-install-dir-host"
# The chart mounts its metrics list (a ConfigMap it renders) with these; a list of volume mounts in the values
# replaces the chart's, so it is repeated beside the driver's.
METRICS_LIST_MOUNT = {
    "name": "exporter-metrics-volume",
    "mountPath": "/etc/dcgm-exporter/default-counters.csv",
    "subPath": "default-counters.csv",
}
METRICS_PORT = "metrics"


class DcgmExporter(PlatformComponent):
    spec = ComponentSpec(
        name="dcgm-exporter",
        layer="observability",
        namespace=NAMESPACE,
        pod_security="privileged",
        privileged_reason=(
            "the DCGM exporter runs privileged on GKE GPU nodes: it reads the GPUs (no device is handed to a pod "
            "that requests none), the NVIDIA libraries GKE installs under /home/kubernetes/bin/nvidia and the "
            "kubelet's pod-resources socket, both host paths"
        ),
    )
    sources = {
        # GPU telemetry (../shared/components.md, "Added for the rest of the seeds' platform"). GKE installs the NVIDIA
        # driver and device plugin itself, so GPU pools there get only the exporter; on-prem GPU nodes get NVIDIA's
        # operator (driver, container toolkit, device plugin, DCGM exporter). NVIDIA publishes the operator's chart
        # version with a leading "v".
        "dcgm-exporter": Chart(
            "https://nvidia.github.io/dcgm-exporter/helm-charts",
            "dcgm-exporter",
            "4.8.2",
            "dcgm-exporter",
            images=(ImageValue("image.repository", "nvcr.io/nvidia/k8s/dcgm-exporter"),),
        ),
    }

    exported_families = {
        "dcgm-exporter/dcgm-exporter": ("DCGM_FI_DEV_*", "DCGM_FI_PROF_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [down("dcgm-exporter", "dcgm-exporter", "DCGM exporter (GPU metrics)")]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        """Where GKE node pools have GPUs and Prometheus is there to read what it exports."""
        pools = env.gke.node_pools if env.gke is not None else ()
        return env.components.monitoring.enabled and any(pool.gpu is not None for pool in pools)

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        self.scrape("dcgm-exporter", {"app.kubernetes.io/name": "dcgm-exporter"}, METRICS_PORT)

    def values(self) -> dict[str, Any]:
        return {
            # The chart's own metrics list: device fields (DCGM_FI_DEV_*) and a few profiling ones (DCGM_FI_PROF_*),
            # which need SYS_ADMIN (a privileged container has it) and which a GPU serves to one reader at a time:
            # GKE's managed DCGM package would be a second reader, and the cluster does not enable it (gke.py).
            "arguments": ["-f", METRICS_LIST_MOUNT["mountPath"]],
            # Helm merges this over the chart's securityContext, whose allowPrivilegeEscalation: false the API server
            # refuses beside privileged (a privileged container may escalate anyway, and has every capability).
            "securityContext": {
                "privileged": True,
                "allowPrivilegeEscalation": True,
                "runAsUser": 0,
                "runAsNonRoot": False,
            },
            # GKE admits the system-*-critical priority classes in kube-system only (a ResourceQuota elsewhere).
            "priorityClassName": "",
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": GKE_ACCELERATOR_LABEL, "operator": "Exists"}]}
                        ]
                    }
                }
            },
            "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "extraHostVolumes": [{"name": DRIVER_VOLUME, "hostPath": GKE_NVIDIA_HOST_DIR}],
            "extraVolumeMounts": [
                METRICS_LIST_MOUNT,
                {"name": DRIVER_VOLUME, "mountPath": NVIDIA_DIR, "readOnly": True},
            ],
            "extraEnv": [{"name": "LD_LIBRARY_PATH", "value": f"{NVIDIA_DIR}/lib64"}],
            "resources": resources("100m", "128Mi", "200m", "512Mi"),
            # The ServiceMonitor comes from self.scrape, like every other component's.
            "serviceMonitor": {"enabled": False},
        }
