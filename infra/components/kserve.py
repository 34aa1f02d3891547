"""KServe in serverless mode: InferenceServices become Knative Services behind the platform's Istio, with a
set of ClusterServingRuntimes every team can use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.config.derived import default_image
from infra.config.settings.common import ComponentSettings, Settings
from infra.config.settings.platform import Mirrors
from infra.observability.platform_alerts import down, reconcile_errors
from infra.observability.promrules import Group, alert, group
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.existing import existing_components
from infra.platform.mirrors import mirrored_image
from infra.platform.network import HTTPS_OUT, KUBE_API, WEBHOOK_FROM_API_SERVER
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.config import Environment

RUNTIME_VERSION = "v0.20.0"


class KserveSettings(Settings):
    enabled: bool = False
    """Install KServe in serverless mode (on Knative) with the platform's ClusterServingRuntimes."""


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str
    formats: tuple[tuple[str, str], ...]
    """(model format, major version) pairs it serves and auto-selects."""
    args: tuple[str, ...]
    protocols: tuple[str, ...] = ("v1", "v2")
    metrics: bool = True
    """The server exports Prometheus metrics on 8080 /metrics (KServe's model servers do; MLflow's does not)."""


RUNTIMES = (
    Runtime(
        "platform-sklearn",
        f"kserve/sklearnserver:{RUNTIME_VERSION}",
        (("sklearn", "1"),),
        ("--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"),
    ),
    Runtime(
        "platform-xgboost",
        f"kserve/xgbserver:{RUNTIME_VERSION}",
        (("xgboost", "2"),),
        ("--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080", "--nthread=1"),
    ),
    Runtime(
        "platform-huggingface",
        f"kserve/huggingfaceserver:{RUNTIME_VERSION}",
        (("huggingface", "1"), ("pytorch", "2")),
        ("--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"),
    ),
)


MLFLOW_RUNTIME = "platform-mlflow"


def mlflow_runtime(env: Environment) -> Runtime | None:
    """Models logged with MLflow, served by the platform's model-server image (images/model-server: MLflow's scoring
    server at the tracking server's version, its entrypoint serving /mnt/models on 8080) at the build the
    environment pins; None where it pins none."""
    image = default_image(env, "model-server")
    if image is None:
        return None
    return Runtime(MLFLOW_RUNTIME, image, (("mlflow", "3"),), (), ("v1",), metrics=False)


class Kserve(PlatformComponent):
    spec = ComponentSpec(
        name="kserve",
        layer="ml",
        namespace="kserve",
        charts=("kserve-crd", "kserve"),
        depends_on=("istio", "knative", "cert-manager"),
        provides_crds=("serving.kserve.io",),
        network=(KUBE_API, HTTPS_OUT, WEBHOOK_FROM_API_SERVER),
        # The InferenceService CRD exceeds the client-side apply annotation limit.
        server_side_apply=True,
    )
    sources = {
        # Argo CD's Helm-over-OCI form: registry path without oci://, chart named separately.
        "kserve-crd": Chart("ghcr.io/kserve/charts", "kserve-crd", "v0.20.0", "kserve"),
        # KServe's controller writes the agent, router and storage-initializer images into the pods it makes.
        "kserve": Chart(
            "ghcr.io/kserve/charts",
            "kserve-resources",
            "v0.20.0",
            "kserve",
            images=(
                ImageValue("kserve.controller.image", "kserve/kserve-controller"),
                ImageValue("kserve.controller.rbacProxyImage", "quay.io/brancz/kube-rbac-proxy:v0.18.0", "image"),
                ImageValue("kserve.agent.image", "kserve/agent"),
                ImageValue("kserve.router.image", "kserve/router"),
                ImageValue("kserve.storage.image", "kserve/storage-initializer"),
                ImageValue("kserve.servingruntime.art.image", "kserve/art-explainer"),
                ImageValue("kserve.localmodel.controller.image", "kserve/kserve-localmodel-controller"),
                ImageValue("kserve.localmodel.defaultJobImage", "kserve/storage-initializer"),
                ImageValue("kserve.localmodel.agent.image", "kserve/kserve-localmodelnode-agent"),
            ),
        ),
    }
    settings = ComponentSettings("kserve", KserveSettings, "Model serving.")

    exported_families = {
        "kserve/kserve-controller": ("controller_runtime_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        return [
            down("kserve", "kserve", "KServe controller"),
            reconcile_errors("kserve", "kserve", "The KServe controller"),
            group(
                "kserve",
                [
                    *cls.mesh_alerts(env),
                    alert(
                        "InferenceServiceSlow",
                        """histogram_quantile(0.95, sum by (le, namespace)
                        (rate(request_predict_seconds_bucket[5m]))) > 1""",
                        component="kserve",
                        summary="Model servers in {{ $labels.namespace }} take over 1s (p95) to predict",
                        description=(
                            "Scale out the predictor, or check whether it runs on CPU where a GPU was expected."
                        ),
                    ),
                ],
            ),
        ]

    @classmethod
    def mesh_alerts(cls, env: Environment) -> list[Any]:
        """Alerts on the mesh's request metrics, which the platform scrapes only from an Istio it installs."""
        if existing_components(env).get("istio") is not None:
            return []
        return [
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
        ]

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.kserve.enabled

    def build(self) -> None:
        self.namespace()
        self.application({}, chart="kserve-crd", stage=0)
        self.application(self.values(), stage=1, installs_crds=False)
        mlflow = mlflow_runtime(self.env)
        for runtime in (*RUNTIMES, *((mlflow,) if mlflow is not None else ())):
            self.custom_resource(
                "serving.kserve.io/v1alpha1",
                "ClusterServingRuntime",
                runtime.name,
                runtime_spec(runtime, self.env.mirrors),
            )
        # The controller's metrics Service (port `https`, 8443) sits behind an authenticating proxy: Prometheus
        # presents its own service account token (kube-prometheus-stack grants it `get` on /metrics) and accepts
        # the proxy's self-signed certificate. The other Service with this label names no `https` port.
        self.scrape(
            "kserve-controller",
            {"control-plane": "kserve-controller-manager"},
            "https",
            endpoint={
                "scheme": "https",
                "tlsConfig": {"insecureSkipVerify": True},
                "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
            },
        )

    def values(self) -> dict[str, Any]:
        store = self.ctx.facts.object_store
        s3 = {
            "endpoint": store.endpoint.split("://", 1)[-1],
            "useHttps": str(store.endpoint.startswith("https")).lower(),
        }
        return {
            "kserve": {
                "controller": {
                    "deploymentMode": "Knative",
                    "gateway": {"domain": f"serving.{self.env.domain}", "urlScheme": "https"},
                    "resources": resources("100m", "300Mi", "500m", "512Mi"),
                },
                "storage": {"s3": s3 if store.kind == "s3" else {}},
                "metricsaggregator": {"enablePrometheusScraping": str(self.ctx.monitoring_enabled).lower()},
            }
        }


def runtime_spec(runtime: Runtime, mirrors: Mirrors) -> dict[str, Any]:
    metrics = {"prometheus.kserve.io/port": "8080", "prometheus.kserve.io/path": "/metrics"}
    return {
        **({"annotations": metrics} if runtime.metrics else {}),
        "supportedModelFormats": [
            {"name": name, "version": version, "autoSelect": True, "priority": 1} for name, version in runtime.formats
        ],
        "protocolVersions": list(runtime.protocols),
        "containers": [
            {
                "name": "kserve-container",
                "image": mirrored_image(runtime.image, mirrors),
                **({"args": list(runtime.args)} if runtime.args else {}),
                "resources": resources("500m", "1Gi", "1", "2Gi"),
                "securityContext": restricted_container(read_only_root=False),
            }
        ],
    }
