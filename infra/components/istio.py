"""Istio: the service mesh (mTLS STRICT between every meshed workload) and the ingress gateway that serves
every platform UI. Four charts, synced in order within the component's wave: base (the CRDs), the CNI node
agent, istiod, and the gateway.

The CNI node agent sets up each meshed pod's traffic redirection from the node, so injected pods carry no
`istio-init` container with NET_ADMIN and NET_RAW and still pass the `restricted` Pod Security level. It
needs host access, so it runs in kube-system (privileged, and where GKE lets node-critical pods run) rather
than making istio-system privileged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pulumi_kubernetes as k8s
from pydantic import Field

from infra.config.formats import (
    LabelKey,
    LabelValue,
    Namespace,
)
from infra.config.settings.common import ComponentSettings, ExistingComponent, Settings
from infra.observability.platform_alerts import down
from infra.observability.promrules import Group
from infra.platform import sign_in
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.expose import ISTIO_GATEWAY_LABELS, ISTIO_GATEWAY_NAME, load_balancer_annotations
from infra.platform.namespace import MESH_NAMESPACE
from infra.platform.network import ANY_NAMESPACE, ANYWHERE, API_SERVER_ENTITIES, KUBE_API, Allow
from infra.platform.resources import resources
from infra.sources import Chart, registry_values

if TYPE_CHECKING:
    from infra.config import Environment

ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"

GATEWAY_PODS = tuple(ISTIO_GATEWAY_LABELS.items())
# The gateway's pods listen on 80/443 themselves (no port remapping), and load balancer health checks
# probe its status port.
GATEWAY_FROM_ANYWHERE = Allow("gateway-from-anywhere", "ingress", (ANYWHERE,), (80, 443, 15021), pods=GATEWAY_PODS)
GATEWAY_TO_BACKENDS = Allow("gateway-to-backends", "egress", (ANY_NAMESPACE,), pods=GATEWAY_PODS)
ISTIOD_PODS = (("app", "istiod"),)
# Sidecars of every meshed namespace fetch configuration and certificates from istiod.
MESH_CONTROL_PLANE = Allow("mesh-control-plane", "ingress", (ANY_NAMESPACE,), (15012,), pods=ISTIOD_PODS)
# The API server (whose address is not a namespace) calls istiod's injection and validation webhooks; where Cilium
# runs, its CIDR rules do not match the API server, which is allowed by entity as well.
WEBHOOKS_FROM_API_SERVER = Allow(
    "istiod-webhooks", "ingress", (ANYWHERE,), (15017,), pods=ISTIOD_PODS, cluster_entities=API_SERVER_ENTITIES
)
# Envoy's unprivileged ports start at 0 so the gateway binds 80/443 without NET_BIND_SERVICE (a safe sysctl).
UNPRIVILEGED_PORTS = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}
CNI_NAMESPACE = "kube-system"
INGRESS_CLASS = "istio"
# The identity Kubeflow's AuthorizationPolicies admit from the ingress gateway (kubeflow/manifests 26.03 writes
# `cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account` into every UI's policy and the Profile
# controller's). The gateway chart would otherwise name the account after the gateway, `istio-ingressgateway`.
GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"
# Istio's platform profile by the cluster's CNI: GKE nodes keep CNI binaries in a non-standard directory.
ISTIO_PLATFORM_BY_CNI = {"dataplane-v2": "gke"}
# That directory, set explicitly: the CNI chart's `gke` profile leaves it to detection from a `-gke` suffix in the
# cluster's Kubernetes version (templates/daemonset.yaml), which the version string Argo CD or Helm renders with
# need not carry; without it the agent would install its plugin into /opt/cni/bin, where GKE's kubelet never looks.
# Set under `cni`: the chart copies `cni.*` over the top-level values after applying the platform profile
# (templates/zzy_descope_legacy.yaml), and the `gke` profile's empty `cni.cniBinDir` would erase a top-level one.
CNI_BIN_DIR_BY_PLATFORM = {"gke": "/home/kubernetes/bin"}
# istiod switches its validation webhooks to `Fail` once they serve (writer `istiod-validation`); rendering `Fail`
# from the start keeps Argo CD from setting `Ignore` back at every sync. Both charts read the same value (their
# values.yaml: "Set to Fail to avoid the flip-flop"). Nothing creates Istio configuration before istiod is healthy:
# the stack's and Kubeflow's wait for the istiod Application.
VALIDATION_FAILS_CLOSED = {"validationFailurePolicy": "Fail"}


class ExistingIstio(ExistingComponent):
    """version: the Istio release, e.g. `1.30.3` (the version of its `base` and `istiod` charts)."""

    namespace: Namespace = "istio-system"
    """Namespace of its control plane (istiod), which sidecars reach on port 15012."""
    gateway_namespace: Namespace = "istio-system"
    """Namespace of its ingress gateway: the platform's Gateways, and the certificates the gateway serves, go
    there."""
    gateway_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1)] = {"istio": "ingressgateway"}
    """Labels of the ingress gateway's pods, which the platform's Gateways select."""


class IstioSettings(Settings):
    existing: ExistingIstio | None = None
    """The cluster already runs Istio (with `ingress.provider` istio): the stack installs none of its charts and
    uses this one's ingress gateway. Unset: the stack installs Istio (base, CNI node agent, istiod, gateway)."""


class Istio(PlatformComponent):
    spec = ComponentSpec(
        name="istio",
        layer="platform",
        namespace=MESH_NAMESPACE,
        charts=("istio-base", "istio-cni", "istiod", "istio-gateway"),
        provides_crds=("networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io"),
        network=(KUBE_API, GATEWAY_FROM_ANYWHERE, GATEWAY_TO_BACKENDS, MESH_CONTROL_PLANE, WEBHOOKS_FROM_API_SERVER),
    )
    sources = {
        "istio-base": Chart(ISTIO_CHARTS, "base", "1.30.3", "istio-system"),
        "istio-cni": Chart(
            ISTIO_CHARTS,
            "cni",
            "1.30.3",
            "kube-system",
            images=registry_values("global.hub", upstream="registry.istio.io/release"),
        ),
        # Istio names every image `<hub>/<name>:<tag>`, the sidecar proxy the injector adds included.
        "istiod": Chart(
            ISTIO_CHARTS,
            "istiod",
            "1.30.3",
            "istio-system",
            images=registry_values("global.hub", upstream="registry.istio.io/release"),
        ),
        "istio-gateway": Chart(ISTIO_CHARTS, "gateway", "1.30.3", "istio-system"),
    }
    settings = ComponentSettings(
        "istio",
        IstioSettings,
        "Istio, when `ingress.provider` is istio: installed by the stack, or one the cluster already runs.",
    )

    exported_families = {
        "istio-system/istio-gateway": ("istio_*", "envoy_*"),
        "istio-system/istiod": ("pilot_*", "citadel_*", "galley_*"),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [down("istio", "istio-system", "Istio control plane")]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        """With the Istio ingress provider, unless the cluster runs an Istio already (components.istio.existing)."""
        return env.ingress.provider == "istio" and env.components.istio.existing is None

    def build(self) -> None:
        auth = sign_in.sign_in(self.env)
        # istiod fetches the signing keys of the issuer whose ID tokens the gateway verifies (sign-in in front of
        # Kubeflow). Declared even where KUBE_API's port 443 would cover it, so the reason stays visible.
        self.namespace([sign_in.to_identity_provider(auth.issuer, ISTIOD_PODS)] if auth else [])
        self.application(self.base_values(), chart="istio-base", stage=0, installs_crds=True)
        self.application(self.cni_values(), chart="istio-cni", stage=1, installs_crds=False, namespace=CNI_NAMESPACE)
        self.application(self.istiod_values(), chart="istiod", stage=2, installs_crds=False)
        self.application(self.gateway_values(), chart="istio-gateway", stage=3, installs_crds=False)
        # Every workload with a sidecar accepts only mutual TLS from other workloads of the mesh.
        self.custom_resource(
            "security.istio.io/v1",
            "PeerAuthentication",
            "default",
            {"mtls": {"mode": "STRICT"}},
            namespace=self.spec.namespace,
        )
        self.ingress_class()
        self.scrape("istiod", {"app": "istiod"}, "http-monitoring")
        # The gateway's Envoy serves its metrics on a container port that no Service names: scrape the pods.
        self.scrape("istio-gateway", dict(GATEWAY_PODS), "http-envoy-prom", "/stats/prometheus", pods=True)

    def ingress_class(self) -> None:
        """The `istio` IngressClass: istiod serves an Ingress naming it (cert-manager's HTTP-01 solver) only
        when the class exists and names Istio's controller."""
        k8s.networking.v1.IngressClass(
            "istio-ingressclass",
            metadata={"name": INGRESS_CLASS},
            spec={"controller": "istio.io/ingress-controller"},
            opts=self.opts(),
        )

    @property
    def replicas(self) -> int:
        return 2 if self.env.high_availability else 1

    def base_values(self) -> dict[str, Any]:
        return {
            "defaultRevision": "default",
            "global": {"istioNamespace": self.spec.namespace},
            "base": VALIDATION_FAILS_CLOSED,
        }

    def cni_values(self) -> dict[str, Any]:
        platform = ISTIO_PLATFORM_BY_CNI.get(self.ctx.facts.cni, "")
        values: dict[str, Any] = {
            "global": {"platform": platform},
            "resources": resources("50m", "100Mi", "200m", "200Mi"),
            "seccompProfile": RUNTIME_DEFAULT_SECCOMP,
        }
        if platform in CNI_BIN_DIR_BY_PLATFORM:
            values["cni"] = {"cniBinDir": CNI_BIN_DIR_BY_PLATFORM[platform]}
        return values

    def istiod_values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        return {
            # Injected pods rely on the CNI node agent instead of a privileged init container.
            "cni": {"enabled": True},
            "base": VALIDATION_FAILS_CLOSED,
            "autoscaleEnabled": ha,
            "autoscaleMin": self.replicas,
            "replicaCount": self.replicas,
            "resources": resources("250m", "512Mi", "1", "1Gi"),
            "seccompProfile": RUNTIME_DEFAULT_SECCOMP,
            "meshConfig": {
                "accessLogFile": "/dev/stdout",
                "enablePrometheusMerge": True,
                # Kubernetes Ingresses of class istio (cert-manager's HTTP-01 solver) are served by the gateway.
                "ingressClass": INGRESS_CLASS,
                "ingressControllerMode": "STRICT",
                "ingressService": ISTIO_GATEWAY_NAME,
                "ingressSelector": ISTIO_GATEWAY_LABELS["istio"],
                **self.extension_providers(),
            },
            "global": {
                "istioNamespace": self.spec.namespace,
                "defaultPodDisruptionBudget": {"enabled": ha},
                "proxy": {
                    "resources": resources("50m", "128Mi", "500m", "256Mi"),
                    # The injected istio-validation and istio-proxy containers carry the runtime's seccomp profile
                    # themselves (as upstream Kubeflow sets it): a pod that sets seccomp per container and not for
                    # the whole pod (Kubeflow's katib-ui) is otherwise refused in a `restricted` namespace.
                    "seccompProfile": RUNTIME_DEFAULT_SECCOMP,
                },
            },
        }

    def extension_providers(self) -> dict[str, Any]:
        """oauth2-proxy as the ext_authz provider the gateway's CUSTOM AuthorizationPolicy for Kubeflow calls."""
        if sign_in.sign_in(self.env) is None:
            return {}
        return {"extensionProviders": [sign_in.ext_authz_provider()]}

    def gateway_values(self) -> dict[str, Any]:
        ha = self.env.high_availability
        return {
            # The name sets the pods' `istio: ingressgateway` label that Gateways select.
            "name": ISTIO_GATEWAY_NAME,
            "serviceAccount": {"name": GATEWAY_SERVICE_ACCOUNT},
            "replicaCount": self.replicas,
            "autoscaling": {"enabled": ha, "minReplicas": self.replicas, "maxReplicas": 5},
            "podDisruptionBudget": {"minAvailable": 1} if ha else {},
            "resources": resources("100m", "128Mi", "1", "512Mi"),
            "securityContext": {"seccompProfile": RUNTIME_DEFAULT_SECCOMP, "sysctls": [UNPRIVILEGED_PORTS]},
            "service": {
                "type": "LoadBalancer",
                "annotations": load_balancer_annotations(self.ctx.facts.load_balancer),
                # Keeps the client address visible to the gateway (access logs, rate limits).
                "externalTrafficPolicy": "Local",
            },
        }
