"""Run the CrossGuard policies of policies/crossguard on recorded resources, without the Pulumi engine."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.offline.engine import Recorded
from infra.offline.serialize import plain
from infra.offline.validate import Finding


def run_policies(resources: Sequence[Recorded], policies: Sequence[Any] | None = None) -> list[Finding]:
    if policies is None:
        from policies.crossguard.rules import POLICIES

        policies = POLICIES
    findings: list[Finding] = []
    by_urn = {r.urn: r for r in resources}
    for policy in policies:
        severity = "advisory" if policy.enforcement_level == EnforcementLevel.ADVISORY else "error"
        if policy.enforcement_level == EnforcementLevel.DISABLED:
            continue

        def report(message: str, urn: str | None = None, policy: Any = policy, severity: str = severity) -> None:
            where = by_urn[urn].ref if urn in by_urn else "stack"
            findings.append(Finding("policy", where, f"{policy.name}: {message}", severity))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                # A resource policy's violation is about that resource unless it names another.
                def report_on(message: str, urn: str | None = None, resource: Recorded = resource) -> None:
                    report(message, urn or resource.urn)

                _await(policy.validate(_resource_args(resource), report_on))
        elif isinstance(policy, StackValidationPolicy):
            _await(policy.validate(StackValidationArgs([_policy_resource(r) for r in resources]), report))
    return findings


def _await(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.new_event_loop().run_until_complete(result)


def _options(resource: Recorded) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent or None,
    )


def _provider(resource: Recorded) -> PolicyProviderResource | None:
    if not resource.provider:
        return None
    kind, name = resource.provider.split("::", 1)
    return PolicyProviderResource(kind, {}, resource.provider, name)


def _resource_args(resource: Recorded) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.type, plain(resource.inputs), resource.urn, resource.name, _options(resource), _provider(resource)
    )


def _policy_resource(resource: Recorded) -> PolicyResource:
    return PolicyResource(
        resource.type,
        plain(resource.inputs),
        resource.urn,
        resource.name,
        _options(resource),
        _provider(resource),
        None,
        [],
        {},
    )
