"""MetalLB: LoadBalancer Services on a cluster without a cloud load balancer (on-prem replacement)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.config.settings.cluster import MetalLB as MetalLBSettings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.network import KUBE_API, WEBHOOK_FROM_API_SERVER
from infra.platform.resources import resources
from infra.platform.security import RUNTIME_DEFAULT
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

POOL = "platform"
METRICS_PORT = 9120
"""Where the controller and the speakers serve metrics (HTTPS); the speakers on the nodes' network."""
API = "metallb.io/v1beta1"


class MetalLB(PlatformComponent):
    spec = ComponentSpec(
        name="metallb",
        layer="platform",
        namespace="metallb-system",
        provides_crds=("metallb.io", "frrk8s.metallb.io"),
        pod_security="privileged",
        privileged_reason="the speaker DaemonSet answers ARP / speaks BGP with hostNetwork and NET_RAW "
        "(MetalLB's install docs require the privileged label on metallb-system)",
        network=(KUBE_API, WEBHOOK_FROM_API_SERVER),
    )
    sources = {
        "metallb": Chart(
            "https://metallb.github.io/metallb",
            "metallb",
            "0.16.1",
            "metallb-system",
            images=(
                ImageValue("controller.image.repository", "quay.io/metallb/controller"),
                ImageValue("speaker.image.repository", "quay.io/metallb/speaker"),
            ),
        ),
    }

    exported_families = {
        "metallb-system/metallb-controller-monitor": ("metallb_*",),
        "metallb-system/metallb-speaker-monitor": ("metallb_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("metallb", "metallb-system", "MetalLB"),
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

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.onprem is not None

    @classmethod
    def requires(cls, env: Environment) -> tuple[str, ...]:
        # Its chart's ServiceMonitors need the monitoring CRDs when it syncs.
        monitoring = ("kube-prometheus-stack",) if env.components.monitoring.enabled else ()
        return (*super().requires(env), *monitoring)

    @property
    def metallb_settings(self) -> MetalLBSettings:
        assert self.env.onprem is not None
        return self.env.onprem.load_balancer

    def build(self) -> None:
        self.namespace()
        self.application(self.values())
        self.address_pool()

    def values(self) -> dict[str, Any]:
        bgp = self.metallb_settings.mode == "bgp"
        return {
            "crds": {"enabled": True},
            # The runtime's seccomp profile for both pods (merged into the chart's own pod contexts): the speaker's
            # raw sockets need its NET_RAW capability, which the profile does not take away.
            "controller": {
                "resources": resources("50m", "64Mi", "200m", "128Mi"),
                "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT)},
            },
            "speaker": {
                "resources": resources("50m", "64Mi", "200m", "128Mi"),
                "frr": {"enabled": False},
                "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT)},
            },
            "prometheus": self.prometheus_values(),
            # frr-k8s is the supported BGP implementation; layer 2 mode needs none of it.
            "frrk8s": {"enabled": bgp},
        }

    def prometheus_values(self) -> dict[str, Any]:
        """The chart's own ServiceMonitors (and the Services they select), not the platform's `scrape`: MetalLB
        serves metrics over HTTPS to authorized callers only (controller-runtime's WithAuthenticationAndAuthorization),
        so Prometheus must send its service account's token, which only a ServiceMonitor's `bearerTokenFile` can
        (kube-prometheus-stack lets that account get /metrics). The speakers serve it on the nodes' network."""
        monitored = self.ctx.monitoring_enabled
        return {
            "metricsPort": METRICS_PORT,
            "serviceMonitor": {"enabled": monitored},
            # The Role it would add duplicates what kube-prometheus-stack's ClusterRole already grants Prometheus.
            "rbacPrometheus": False,
        }

    def address_pool(self) -> None:
        ns = self.spec.namespace
        self.custom_resource(
            API, "IPAddressPool", POOL, {"addresses": list(self.metallb_settings.addresses)}, namespace=ns
        )
        if self.metallb_settings.mode == "l2":
            self.custom_resource(API, "L2Advertisement", POOL, {"ipAddressPools": [POOL]}, namespace=ns)
            return
        for index, peer in enumerate(self.metallb_settings.peers):
            self.custom_resource(
                "metallb.io/v1beta2",
                "BGPPeer",
                f"router-{index}",
                {"peerAddress": peer.address, "peerASN": peer.asn, "myASN": peer.my_asn},
                namespace=ns,
            )
        self.custom_resource(API, "BGPAdvertisement", POOL, {"ipAddressPools": [POOL]}, namespace=ns)
