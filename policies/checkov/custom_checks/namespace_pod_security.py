"""CKV_MLOPS_1: every Namespace enforces a Pod Security Standard level (our rule; checkov has none)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

ENFORCE = "pod-security.kubernetes.io/enforce"
LEVELS = ("restricted", "baseline", "privileged")


class NamespacePodSecurity(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Namespace enforces a Pod Security Standard level (pod-security.kubernetes.io/enforce)",
            id="CKV_MLOPS_1",
            categories=(CheckCategories.KUBERNETES,),
            supported_entities=("Namespace",),
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        labels = (conf.get("metadata") or {}).get("labels") or {}
        return CheckResult.PASSED if labels.get(ENFORCE) in LEVELS else CheckResult.FAILED


check = NamespacePodSecurity()
