"""NVIDIA's GPU operator on on-prem clusters with GPU nodes (`components.gpuOperator`): the NVIDIA driver, the
container toolkit and the device plugin make the GPUs schedulable (`nvidia.com/gpu`), and its DCGM exporter
exports the GPU metrics (DCGM_FI_*) the platform's GPU alerts, dashboard panels and AIOps rules read.

The operator makes all of these at run time from its ClusterPolicy (the chart renders one from these values), in
this namespace, and labels GPU nodes with node-feature-discovery (a subchart). The DCGM exporter's Service
(`nvidia-dcgm-exporter`, port `gpu-metrics`) is one of them; the platform's ServiceMonitor selects it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import deployments_unavailable, down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import ANYWHERE, HTTPS_OUT, KUBE_API, Allow
from infra.platform.resources import resources
from infra.sources import Chart

if TYPE_CHECKING:
    from infra.config import Environment

NAMESPACE = "gpu-operator"
DCGM_EXPORTER_LABELS = {"app": "nvidia-dcgm-exporter"}
"""Labels of the DCGM exporter's pods and Service, as the operator makes them (assets/state-dcgm-exporter)."""
DCGM_EXPORTER_PORT = "gpu-metrics"
# Without precompiled drivers the driver container installs the node kernel's headers from its distribution's
# package repositories, over HTTP or HTTPS.
PACKAGE_REPOSITORIES = Allow("package-repositories", "egress", (ANYWHERE,), (80, 443))


class GpuOperatorSettings(Settings):
    enabled: bool = False
    """On-prem clusters with NVIDIA GPU nodes: install NVIDIA's GPU operator, which makes the GPUs schedulable
    (driver, container toolkit, device plugin) and observed (its DCGM exporter, which Prometheus scrapes for the
    GPU alerts and dashboards). Not on GKE: GKE installs the driver and device plugin on GPU pools itself, and the
    platform adds the DCGM exporter there wherever a node pool has GPUs."""
    driver: bool = True
    """Let the operator install the NVIDIA driver on the GPU nodes (a container that builds it for the node's
    kernel); false where the nodes come with a driver installed."""
    toolkit: bool = True
    """Let the operator install and configure NVIDIA's container toolkit in the nodes' container runtime; false
    where the nodes come with it configured."""


class GpuOperator(PlatformComponent):
    spec = ComponentSpec(
        name="gpu-operator",
        layer="platform",
        namespace=NAMESPACE,
        provides_crds=("nvidia.com", "resource.nvidia.com", "nfd.k8s-sigs.io"),
        pod_security="privileged",
        privileged_reason=(
            "the GPU operator's driver, container toolkit, device plugin and DCGM exporter pods load kernel "
            "modules, configure the container runtime and read the GPUs as privileged containers with host PID and "
            "host paths on every GPU node; node-feature-discovery reads the nodes' hardware from host paths"
        ),
        network=(KUBE_API, HTTPS_OUT),
        # NVIDIA's ClusterPolicy and NVIDIADriver CRDs exceed the annotation size limit of client-side apply.
        server_side_apply=True,
    )
    sources = {
        "gpu-operator": Chart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0", "gpu-operator"),
    }
    settings = ComponentSettings("gpu_operator", GpuOperatorSettings, "NVIDIA GPU operator for on-prem GPU nodes.")

    exported_families = {
        # The operator's exporter runs DCGM's list with profiling fields (dcp-metrics-included.csv).
        "gpu-operator/gpu-operator-dcgm-exporter": ("DCGM_FI_DEV_*", "DCGM_FI_PROF_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("gpu-operator", "gpu-operator", "GPU operator DCGM exporter (GPU metrics)"),
            deployments_unavailable("gpu-operator", "gpu-operator", "NVIDIA GPU operator"),
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
                            "GPU nodes without a ready driver, container toolkit or device plugin offer no GPUs to "
                            "pods "
                            "(and without the exporter, no GPU metrics): read the pod's log, often the driver build."
                        ),
                    )
                ],
            ),
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.target == "onprem" and env.components.gpu_operator.enabled

    def build(self) -> None:
        driver = self.env.components.gpu_operator.driver
        self.namespace([PACKAGE_REPOSITORIES] if driver else [])
        self.application(self.values())
        self.scrape("gpu-operator-dcgm-exporter", DCGM_EXPORTER_LABELS, DCGM_EXPORTER_PORT)

    def values(self) -> dict[str, Any]:
        settings = self.env.components.gpu_operator
        return {
            # The namespace is labelled privileged by the platform, with its reason.
            "psa": {"enabled": False},
            "operator": {
                "resources": resources("200m", "256Mi", "500m", "512Mi"),
                # Argo CD applies the chart's CRDs itself (server-side) at every sync; the pre-upgrade hook Job
                # that would do it for Helm is not needed.
                "upgradeCRD": False,
            },
            "driver": {"enabled": settings.driver},
            "toolkit": {"enabled": settings.toolkit},
            "devicePlugin": {"enabled": True},
            # The Service is scraped by the platform's ServiceMonitor (self.scrape), not one the operator makes.
            "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}},
            "node-feature-discovery": node_feature_discovery(),
        }


def node_feature_discovery() -> dict[str, Any]:
    """The subchart's master, worker and garbage collector with CPU limits beside its requests and memory limits
    (kept as the chart has them), and the runtime's seccomp profile: merged by Helm into the chart's restricted
    container securityContext (no escalation, no capabilities, read-only root, non-root) of the master, which its
    post-delete prune Job shares; in the pod's for the garbage collector, whose container's the chart hard-codes."""
    seccomp = {"seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "master": {"resources": resources("100m", "128Mi", "1", "4Gi"), "securityContext": seccomp},
        "worker": {"resources": resources("5m", "64Mi", "200m", "512Mi"), "podSecurityContext": seccomp},
        "gc": {"resources": resources("10m", "128Mi", "100m", "1Gi"), "podSecurityContext": seccomp},
    }
