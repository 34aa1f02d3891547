"""CKV_MLOPS_3: an Argo CD Application that installs a Helm chart names an exact chart version."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


class ApplicationChartPinned(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Argo CD Application chart targetRevision is an exact version (no latest, ranges or branches)",
            id="CKV_MLOPS_3",
            categories=(CheckCategories.SUPPLY_CHAIN,),
            supported_entities=("Application",),
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        spec = conf.get("spec") or {}
        sources = [spec["source"]] if isinstance(spec.get("source"), dict) else []
        sources += [s for s in spec.get("sources") or [] if isinstance(s, dict)]
        for source in sources:
            if "chart" in source and not EXACT_VERSION.match(str(source.get("targetRevision", ""))):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = ApplicationChartPinned()
