"""KubeRay: the operator (`components.kuberay`), and a Ray cluster in the namespace of each team that opts in
(`kubeflow.teams[].ray`), for distributed training and tuning.

Each team's RayCluster (`ray`) is written by the stack:
- sized from the team's settings: the head, and worker groups the Ray autoscaler (in-tree, a container KubeRay adds
  to the head) scales between their minReplicas and maxReplicas; at its largest it fits the team's quota (a rule in
  infra/config/rules.py); GPU worker groups run the GPU image on the GPU nodes (GKE's `gpu` pools), tolerating
  their taint;
- with object store access as the team's pipeline steps have it: the pods run as the team's `default-editor`
  service account (on GKE the Profile gives it the Pipelines' Workload Identity) and carry the label of the team's
  `access-object-store` PodDefault (DVC remote and artifacts URLs; on-prem the S3 endpoint and keys);
- outside the mesh: Ray's processes reach each other on ports they pick at run time, on pod addresses no Service
  names, which the mesh's STRICT mutual TLS refuses between sidecars. A NetworkPolicy admits, to Ray's pods, only
  the team's own pods, the ingress gateway (the dashboard), Prometheus (metrics) and the KubeRay operator;
- its dashboard at https://kubeflow.<domain>/ray/<team>/, routed by the Kubeflow gateway and so behind the
  platform's sign-in (infra/platform/sign_in.py), with a DENY policy at the ingress gateway for everyone but the
  team's owner and members (the pods have no sidecar to hold Kubeflow's per-team policies);
- scraped (a PodMonitor on every Ray pod's metrics port) and alerted on (alert_groups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from infra.config.derived import RAY_AUTOSCALER_CPU, RAY_AUTOSCALER_MEMORY
from infra.config.formats import (
    Image,
    RayVersion,
)
from infra.config.settings.common import ComponentSettings, Settings
from infra.observability.platform_alerts import down, reconcile_errors
from infra.observability.promrules import Group, alert, group
from infra.platform import sign_in
from infra.platform.component import ComponentSpec, PlatformComponent
from infra.platform.expose import ISTIO_GATEWAY_LABELS
from infra.platform.labels import GPU_TAINT_KEY, POOL_ROLE_LABEL
from infra.platform.mirrors import pulled_image
from infra.platform.namespace import MESH_NAMESPACE, MONITORING_NAMESPACE, allowance_policies
from infra.platform.network import ANY_NAMESPACE, KUBE_API, Allow, Peer
from infra.platform.resources import resources
from infra.platform.security import restricted_container
from infra.sources import Chart, ImageValue

if TYPE_CHECKING:
    from infra.components.kubeflow import RayWorkerGroup, Team
    from infra.config import Environment

NAMESPACE = "kuberay"
CLUSTER = "ray"
"""Name of each team's RayCluster; KubeRay names its head Service `<cluster>-head-svc`."""
CLUSTER_LABEL = "ray.io/cluster"
"""KubeRay labels every pod (and Service) of a RayCluster with its name."""
DASHBOARD_PORT = 8265
METRICS_PORT = 8080
PORTS = (("gcs-server", 6379), ("dashboard", DASHBOARD_PORT), ("client", 10001), ("metrics", METRICS_PORT))
"""The head's ports as KubeRay names them; workers serve `metrics` only."""
PATH_PREFIX = "/ray"
"""Each team's dashboard is at <prefix>/<team>/ on the Kubeflow host."""
# Kubeflow's names (kubeflow.py): the service account pipeline steps run as, the PodDefault label of object access.
TEAM_SERVICE_ACCOUNT = "default-editor"
OBJECT_STORE_LABEL = "access-object-store"
# rayproject/ray images run as user `ray`, uid 1000 in group `users` (100).
RAY_USER, RAY_GROUP = 1000, 100
# The operator reads the dashboard of the clusters it runs jobs on (RayJob, RayService).
TO_RAY_DASHBOARDS = Allow("ray-dashboards", "egress", (ANY_NAMESPACE,), (DASHBOARD_PORT,))


class KubeRaySettings(Settings):
    enabled: bool = False
    """Install the KubeRay operator. Teams opt in to a Ray cluster in their namespace with
    `kubeflow.teams[].ray`."""
    ray_version: RayVersion = "2.52.0"
    """Ray version of the teams' clusters, as KubeRay needs to know it; the images must contain this version, and
    so must the Ray client of notebooks that connect to the clusters."""
    image: Image = "rayproject/ray:2.52.0"
    """Image of the Ray head and of CPU workers."""
    gpu_image: Image = "rayproject/ray:2.52.0-gpu"
    """Image of GPU workers (Ray with CUDA)."""


class KubeRay(PlatformComponent):
    spec = ComponentSpec(
        name="kuberay-operator",
        layer="ml",
        namespace=NAMESPACE,
        # The teams' clusters live in the namespaces Kubeflow's Profiles make.
        depends_on=("kubeflow",),
        provides_crds=("ray.io",),
        network=(KUBE_API, TO_RAY_DASHBOARDS),
        # The RayCluster, RayJob, RayService and RayCronJob CRDs are 0.8-1.4 MB each.
        server_side_apply=True,
    )
    sources = {
        # Distributed training and tuning: the operator; each team's RayCluster is written by the stack.
        # Longhorn's `global.imageRegistry` is the registry of every image it runs (docker.io's longhornio/*), the
        # engine, instance and share managers the manager starts included.
        "kuberay-operator": Chart(
            "https://ray-project.github.io/kuberay-helm/",
            "kuberay-operator",
            "1.7.0",
            "kuberay",
            images=(ImageValue("image.repository", "quay.io/kuberay/operator"),),
        ),
    }
    settings = ComponentSettings("kuberay", KubeRaySettings, "The KubeRay operator and the teams' Ray clusters.")

    exported_families = {
        "kuberay/kuberay-operator": ("kuberay_*", "controller_runtime_*"),
        # Each team's Ray cluster: Ray's own metrics from the head and the workers.
        "*/ray-cluster": ("ray_*",),
    }

    @classmethod
    def alert_groups(cls, env: Environment) -> list[Group]:
        # The operator, and the teams' Ray clusters (a PodMonitor `ray-cluster` in each team namespace).
        return [
            down("kuberay-operator", "kuberay", "KubeRay operator"),
            reconcile_errors("kuberay-operator", "kuberay", "The KubeRay operator"),
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

    @classmethod
    def enabled(cls, env: Environment) -> bool:
        return env.components.kuberay.enabled

    def build(self) -> None:
        self.namespace()
        notes = []
        if self.teams and sign_in.sign_in(self.env) is None:
            notes.append(
                f"no sign-in (components.kubeflow.auth unset): the teams' Ray dashboards admit whoever sends a "
                f"{sign_in.USERID_HEADER} header of the team"
            )
        self.application(self.values(), advisories=notes)
        self.scrape("kuberay-operator", {"app.kubernetes.io/name": "kuberay-operator"}, "http")
        for team in self.teams:
            self.team_cluster(team)

    @property
    def teams(self) -> tuple[Team, ...]:
        """The teams with a Ray cluster; their namespaces exist only where Kubeflow makes them."""
        kubeflow = self.env.components.kubeflow
        return tuple(team for team in kubeflow.teams if team.ray is not None) if kubeflow.enabled else ()

    def values(self) -> dict[str, Any]:
        return {
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            # Its ServiceMonitor comes from self.scrape; the metrics endpoint stays on.
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        }

    # --- a team's cluster ---------------------------------------------------------------------------------------

    def team_cluster(self, team: Team) -> None:
        namespace = team.name
        profile = self.ctx.namespace_resources.get(namespace)
        after = [profile] if profile is not None else []
        cluster = self.custom_resource(
            "ray.io/v1", "RayCluster", CLUSTER, self.ray_cluster(team), namespace=namespace, after=after
        )
        allowance_policies(namespace, self.ray_allowances(), self.opts(depends_on=[*after, cluster]))
        self.scrape("ray-cluster", {CLUSTER_LABEL: CLUSTER}, "metrics", namespace=namespace, pods=True)
        self.dashboard_route(team, after)

    def ray_cluster(self, team: Team) -> dict[str, Any]:
        assert team.ray is not None
        settings = self.env.components.kuberay
        head = team.ray.head
        return {
            "rayVersion": settings.ray_version,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {
                "upscalingMode": "Default",
                "idleTimeoutSeconds": team.ray.idle_timeout_seconds,
                "resources": resources(RAY_AUTOSCALER_CPU, RAY_AUTOSCALER_MEMORY, RAY_AUTOSCALER_CPU),
                "securityContext": restricted_container(run_as_user=RAY_USER),
            },
            "headGroupSpec": {
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
                "template": self.pod_template(
                    "ray-head", settings.image, resources(head.cpu, head.memory, head.cpu), PORTS
                ),
            },
            "workerGroupSpecs": [self.worker_group(group) for group in team.ray.worker_groups],
        }

    def worker_group(self, group: RayWorkerGroup) -> dict[str, Any]:
        settings = self.env.components.kuberay
        size = resources(group.cpu, group.memory, group.cpu)
        image = settings.image
        if group.gpu:
            image = settings.gpu_image
            for bound in ("requests", "limits"):
                size[bound]["nvidia.com/gpu"] = str(group.gpu)
        template = self.pod_template("ray-worker", image, size, PORTS[-1:])
        if group.gpu:
            pod = template["spec"]
            pod["tolerations"] = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
            if self.env.gke is not None:
                pod["nodeSelector"] = {POOL_ROLE_LABEL: "gpu"}
        return {
            "groupName": group.name,
            "replicas": group.min_replicas,
            "minReplicas": group.min_replicas,
            "maxReplicas": group.max_replicas,
            "rayStartParams": {},
            "template": template,
        }

    def pod_template(
        self, container: str, image: str, size: dict[str, Any], ports: tuple[tuple[str, int], ...]
    ) -> dict[str, Any]:
        """A Ray pod: the team's identity and object store access, out of the mesh, restricted, logs on a
        scratch volume (Ray writes its session under /tmp/ray)."""
        return {
            "metadata": {
                "labels": {OBJECT_STORE_LABEL: "true", "sidecar.istio.io/inject": "false"},
            },
            "spec": {
                "serviceAccountName": TEAM_SERVICE_ACCOUNT,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RAY_USER,
                    "runAsGroup": RAY_GROUP,
                    "fsGroup": RAY_GROUP,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": container,
                        # The team's image, from the image mirror unless the environment's registry holds it.
                        "image": pulled_image(image, self.env),
                        "resources": size,
                        "ports": [{"name": name, "containerPort": number} for name, number in ports],
                        "securityContext": restricted_container(read_only_root=False),
                        "volumeMounts": [{"name": "ray-logs", "mountPath": "/tmp/ray"}],
                    }
                ],
                "volumes": [{"name": "ray-logs", "emptyDir": {}}],
            },
        }

    def ray_allowances(self) -> list[Allow]:
        """Ingress to the Ray pods of a team namespace (which has no default deny of its own)."""
        pods = ((CLUSTER_LABEL, CLUSTER),)
        return [
            Allow("ray-team-pods", "ingress", (Peer(same_namespace=True),), pods=pods),
            Allow("ray-dashboard", "ingress", (Peer(namespace=MESH_NAMESPACE),), (DASHBOARD_PORT,), pods=pods),
            Allow("ray-operator", "ingress", (Peer(namespace=NAMESPACE),), (DASHBOARD_PORT,), pods=pods),
            Allow("ray-metrics", "ingress", (Peer(namespace=MONITORING_NAMESPACE),), (METRICS_PORT,), pods=pods),
        ]

    # --- the dashboard --------------------------------------------------------------------------------------

    def dashboard_route(self, team: Team, after: list[pulumi.Resource]) -> None:
        """https://kubeflow.<domain>/ray/<team>/ to the head's dashboard, on the Kubeflow gateway (signed-in users
        only), for the team's owner and members only. Ray's dashboard works behind a path prefix when it is
        requested with the trailing slash, so the bare prefix redirects there."""
        prefix = f"{PATH_PREFIX}/{team.name}"
        host = sign_in.host(self.env)
        self.custom_resource(
            "networking.istio.io/v1",
            "VirtualService",
            "ray-dashboard",
            {
                "hosts": [host],
                "gateways": [sign_in.KUBEFLOW_GATEWAY],
                "http": [
                    {"match": [{"uri": {"exact": prefix}}], "redirect": {"uri": f"{prefix}/"}},
                    {
                        "match": [{"uri": {"prefix": f"{prefix}/"}}],
                        "rewrite": {"uri": "/"},
                        "route": [
                            {
                                "destination": {
                                    "host": f"{CLUSTER}-head-svc.{team.name}.svc.cluster.local",
                                    "port": {"number": DASHBOARD_PORT},
                                }
                            }
                        ],
                    },
                ],
            },
            namespace=team.name,
            after=after,
        )
        self.custom_resource(
            "security.istio.io/v1",
            "AuthorizationPolicy",
            f"ray-dashboard-{team.name}",
            {
                "selector": {"matchLabels": dict(ISTIO_GATEWAY_LABELS)},
                "action": "DENY",
                "rules": [
                    {
                        "to": [{"operation": {"hosts": [host, f"{host}:*"], "paths": [prefix, f"{prefix}/*"]}}],
                        "when": [{"key": self.user_key(), "notValues": [team.owner, *team.members]}],
                    }
                ],
            },
            namespace=MESH_NAMESPACE,
        )

    def user_key(self) -> str:
        """Who the request is from, at the ingress gateway: the verified ID token's e-mail claim with sign-in,
        else the user header Kubeflow trusts (a client sets it)."""
        auth = sign_in.sign_in(self.env)
        if auth is None:
            return f"request.headers[{sign_in.USERID_HEADER}]"
        return f"request.auth.claims[{auth.email_claim}]"
