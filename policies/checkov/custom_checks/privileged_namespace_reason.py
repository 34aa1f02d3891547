"""CKV_MLOPS_2: a Namespace that allows privileged pods says why (mlops.dev/privileged-reason annotation)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

ENFORCE = "pod-security.kubernetes.io/enforce"
REASON = "mlops.dev/privileged-reason"


class PrivilegedNamespaceReason(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Privileged Namespace carries a mlops.dev/privileged-reason annotation",
            id="CKV_MLOPS_2",
            categories=(CheckCategories.KUBERNETES,),
            supported_entities=("Namespace",),
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        metadata = conf.get("metadata") or {}
        if (metadata.get("labels") or {}).get(ENFORCE) != "privileged":
            return CheckResult.PASSED
        return CheckResult.PASSED if _annotation(metadata, REASON).strip() else CheckResult.FAILED


def _annotation(metadata: dict[str, Any], key: str) -> str:
    # checkov's parser hands annotations over as a list of one-key mappings; a plain mapping is accepted too.
    annotations = metadata.get("annotations") or {}
    items = annotations if isinstance(annotations, list) else [annotations]
    return next((str(item[key]) for item in items if isinstance(item, dict) and key in item), "")


check = PrivilegedNamespaceReason()
