"""The on-prem CNI: a Pulumi Helm release, since no pod (Argo CD included) can start before it exists."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import CATALOG, effective_version
from infra.config import Environment
from infra.platform.namespace import secured_namespace
from infra.platform.network import HTTPS_OUT, KUBE_API
from infra.platform.resources import resources


class ClusterNetwork(pulumi.ComponentResource):
    """Parent of the CNI release(s); `releases` is what the rest of the platform waits for."""

    def __init__(self, env: Environment, provider: k8s.Provider) -> None:
        super().__init__("mlops:platform:ClusterNetwork", "cni")
        assert env.onprem is not None
        self.env = env
        self.opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.releases = self._cilium() if env.onprem.cni == "cilium" else self._calico()
        self.register_outputs({})

    def _release(self, key: str, values: dict[str, Any], depends_on: list[pulumi.Resource]) -> k8s.helm.v3.Release:
        chart = CATALOG[key]
        return k8s.helm.v3.Release(
            key,
            name=key,
            chart=chart.chart,
            version=effective_version(key, dict(self.env.versions)),
            repository_opts={"repo": chart.repo_url},
            namespace=chart.namespace,
            create_namespace=False,
            atomic=True,
            values=values,
            opts=pulumi.ResourceOptions.merge(self.opts, pulumi.ResourceOptions(depends_on=depends_on)),
        )

    def _cilium(self) -> list[pulumi.Resource]:
        ha = self.env.high_availability
        values = {
            # Pod CIDRs come from the nodes' spec.podCIDR (kubeadm's --pod-network-cidr), not a second allocator.
            "ipam": {"mode": "kubernetes"},
            # The existing cluster keeps kube-proxy; replacing it is a separate, disruptive migration.
            "kubeProxyReplacement": False,
            "resources": resources("100m", "256Mi", "1", "1Gi"),
            "operator": {"replicas": 2 if ha else 1, "resources": resources("50m", "128Mi", "200m", "256Mi")},
            "hubble": {
                "enabled": True,
                "relay": {"enabled": True, "resources": resources("50m", "64Mi", "200m", "128Mi")},
            },
            # ServiceMonitor CRDs do not exist yet when the CNI installs; metrics are scraped by annotation.
            "prometheus": {"enabled": True, "serviceMonitor": {"enabled": False}},
        }
        return [self._release("cilium", values, [])]

    def _calico(self) -> list[pulumi.Resource]:
        namespace = secured_namespace(
            CATALOG["tigera-operator"].namespace,
            pod_security="privileged",
            privileged_reason="calico-node runs privileged on the host network and writes CNI files to hosts",
            kubernetes_version=self.env.kubernetes_version,
            allows=[KUBE_API, HTTPS_OUT],
            scraped_by_prometheus=self.env.components.monitoring.enabled,
            opts=self.opts,
        )
        # Calico 3.32 ships its CRDs as a separate chart (too large for client-side apply in the operator chart).
        crds = self._release("calico-crds", {}, [namespace])
        operator = self._release(
            "tigera-operator",
            {
                "installation": {"enabled": True, "cni": {"type": "Calico"}},
                "apiServer": {"enabled": True},
                "resources": resources("100m", "128Mi", "500m", "256Mi"),
            },
            [namespace, crds],
        )
        return [crds, operator]
