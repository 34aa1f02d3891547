"""Which kinds are cluster-scoped: the built-in ones of Kubernetes, and custom ones as their CRDs declare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# (API group, kind) of every cluster-scoped built-in kind that can be applied (Kubernetes 1.30-1.36).
BUILTIN_CLUSTER_SCOPED = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceSlice"),
        ("policy", "PodSecurityPolicy"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
    }
)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class Scopes:
    """Answers whether a kind is cluster-scoped, from the built-in table and the CRDs given."""

    def __init__(self, crds: Iterable[Mapping[str, Any]]) -> None:
        self.custom: dict[tuple[str, str], bool] = {}
        for crd in crds:
            spec = crd.get("spec") or {}
            names = spec.get("names") or {}
            if spec.get("group") and names.get("kind"):
                self.custom[(spec["group"], names["kind"])] = spec.get("scope") == "Cluster"

    def cluster_scoped(self, api_version: str, kind: str) -> bool | None:
        """True or False, or None for a custom kind no given CRD declares."""
        key = (group_of(api_version), kind)
        if key in BUILTIN_CLUSTER_SCOPED:
            return True
        if key in self.custom:
            return self.custom[key]
        group = key[0]
        if "." not in group or group.endswith(".k8s.io"):
            return False
        return None


def is_crd(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "CustomResourceDefinition" and group_of(str(obj.get("apiVersion"))) == (
        "apiextensions.k8s.io"
    )
