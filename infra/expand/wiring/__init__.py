"""The `wiring` stage: what can be proven offline about the platform's connections. Every scrape target resolves
to something and Prometheus may reach it (scrape.py); every webhook, aggregated API and conversion webhook
resolves to pods the API server may reach (backends.py); every Secret read exists at sync (secrets.py). Network
policies are evaluated as Kubernetes (and Cilium, where it runs) evaluate them (policies.py); what only exists at
run time is listed in one place (runtime.py)."""

from __future__ import annotations

from infra.expand.platform import Platform
from infra.expand.wiring.backends import backend_findings
from infra.expand.wiring.index import WiringIndex
from infra.expand.wiring.scrape import STAGE, scrape_findings
from infra.expand.wiring.secrets import secrets_findings
from infra.offline.validate import Finding

__all__ = ["STAGE", "wiring_findings"]


def wiring_findings(platform: Platform) -> tuple[list[Finding], int]:
    """Findings of every scrape endpoint and API server backend of one environment, and how many were checked."""
    index = WiringIndex(platform)
    findings = [
        Finding(STAGE, problem.policy.ref, f"{problem.message}: the policy is not evaluated")
        for problem in index.policies.problems
    ]
    if index.mesh.problem:
        findings.append(Finding(STAGE, "sidecar injection", f"{index.mesh.problem}: mutual TLS is not evaluated"))
    scrape, scraped = scrape_findings(index)
    backends, called = backend_findings(index)
    secrets, read = secrets_findings(platform)
    return [*findings, *scrape, *backends, *secrets], scraped + called + read
