"""Labels and annotations the platform puts on what it creates, in one place."""

from __future__ import annotations

PART_OF = "mlops-platform"
# On every GKE node: the role of its pool (system, general, gpu); a pool's own labels may not replace it.
POOL_ROLE_LABEL = "mlops.io/pool-role"
# On every GKE GPU node, as a NoSchedule taint: only pods that tolerate it (GPU workloads) land there.
GPU_TAINT_KEY = "nvidia.com/gpu"
COMPONENT = "mlops.dev/component"
LAYER = "mlops.dev/layer"
DEPENDS_ON = "mlops.dev/depends-on"
PROVIDES_CRDS = "mlops.dev/provides-crds"
PRIVILEGED_REASON = "mlops.dev/privileged-reason"
# On a NetworkPolicy: the allowance behind each of its rules (`ingress: a, b; egress: c`).
ALLOWANCES_ANNOTATION = "mlops.dev/allowances"
# Untested-but-allowed choices a reviewer should see (e.g. versions outside a tested combination).
ADVISORY = "mlops.dev/advisory"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# pulumi-kubernetes waits for this before creating resources that depend on the Application, so custom
# resources are applied only once Argo CD has installed the chart (and its CRDs) and it is healthy.
WAIT_FOR = "pulumi.com/waitFor"
HEALTHY = "jsonpath={.status.health.status}=Healthy"
# Server-side apply takes over fields another manager (an operator) set first, instead of failing on the conflict.
PATCH_FORCE = "pulumi.com/patchForce"


def component_labels(component: str, layer: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        COMPONENT: component,
        LAYER: layer,
    }
