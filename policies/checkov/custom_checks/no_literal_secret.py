"""CKV_MLOPS_4: no Secret with literal data in git; secrets come from External Secrets or Pulumi secret config."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

# How `infra.cli render` writes values that come from Pulumi secrets or cloud outputs: never the value itself.
PULUMI_PLACEHOLDERS = frozenset({"[secret]", "[computed]"})


class NoLiteralSecret(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Secret carries no literal data (use an ExternalSecret or Pulumi secret config)",
            id="CKV_MLOPS_4",
            categories=(CheckCategories.SECRETS,),
            supported_entities=("Secret",),
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        # checkov's parser adds __startline__/__endline__ bookkeeping keys to every mapping. A whole field may be a
        # placeholder itself (data made at apply time, such as a service account token's), holding no literal.
        fields = [conf.get("data") or {}, conf.get("stringData") or {}]
        values: list[Any] = [field for field in fields if not isinstance(field, dict)]
        entries = [entry for field in fields if isinstance(field, dict) for entry in field.items()]
        values += [value for key, value in entries if not str(key).startswith("__")]
        literal = [value for value in values if value not in PULUMI_PLACEHOLDERS]
        return CheckResult.FAILED if literal else CheckResult.PASSED


check = NoLiteralSecret()
