"""Run the CrossGuard policies of policies/crossguard on recorded resources, without the Pulumi engine."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
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


# --- the Kubernetes rules over what the Applications and Helm releases apply ----------------------------------------

KUBERNETES_RULES = frozenset(
    {
        "images-pinned",
        "namespace-pod-security",
        "privileged-namespace-reason",
        "container-resources",
        "namespace-default-deny",
    }
)
"""The CrossGuard rules that judge Kubernetes objects and apply to the expanded ones too. Not applied to them:
`chart-versions-pinned` (it judges Applications and Helm releases, which only the stack declares) and
`kubernetes-stateful-protected` (`protect` is a Pulumi resource option: what Argo CD applies is guarded by its
Application's sync policy, whether it prunes, and Pulumi has no handle on it)."""


def resource_type(obj: Mapping[str, Any]) -> str:
    """The Pulumi type a Kubernetes object would have: `kubernetes:<group or core>/<version>:<kind>`."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.get('kind')}"


def object_policy_findings(
    stack: str,
    expanded: Sequence[Any],
    recorded: Sequence[Recorded],
    accepts: Any = None,
    policies: Sequence[Any] | None = None,
) -> list[Finding]:
    """CrossGuard's Kubernetes rules over the objects Applications and Helm releases apply (`expanded`: objects
    with `.owner`, `.object`, `.ref`, as infra.expand.platform.PlatformObject), the stack-wide ones together with the
    stack's own resources (`recorded`). A violation is an error unless `accepts(ref, policy)` accepts it."""
    if policies is None:
        from policies.crossguard.rules import POLICIES

        policies = POLICIES
    chosen = [p for p in policies if p.name in KUBERNETES_RULES and p.enforcement_level != EnforcementLevel.DISABLED]
    by_urn: dict[str, Any] = {}
    resources: list[PolicyResource] = []
    for item in expanded:
        kind = resource_type(item.object)
        metadata = item.object.get("metadata") or {}
        name = str(metadata.get("name"))
        urn = f"urn:pulumi:{stack}::expanded::{kind}::{item.owner}/{metadata.get('namespace') or '_cluster'}/{name}"
        by_urn[urn] = item
        resources.append(PolicyResource(kind, dict(item.object), urn, name, _EXPANDED_OPTIONS, None, None, [], {}))
    own = [_policy_resource(r) for r in recorded]
    findings: list[Finding] = []
    for policy in chosen:
        severity = "advisory" if policy.enforcement_level == EnforcementLevel.ADVISORY else "error"

        def report(message: str, urn: str | None = None, policy: Any = policy, severity: str = severity) -> None:
            item = by_urn.get(urn or "")
            if item is None:
                return  # about the stack's own resources: run_policies reports those
            if accepts is not None and accepts(item.ref, policy.name):
                return
            findings.append(Finding("policy", item.ref, f"{policy.name}: {message}", severity))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:

                def report_on(message: str, urn: str | None = None, resource: PolicyResource = resource) -> None:
                    report(message, urn or resource.urn)

                args = ResourceValidationArgs(
                    resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None
                )
                _await(policy.validate(args, report_on))
        elif isinstance(policy, StackValidationPolicy):
            _await(policy.validate(StackValidationArgs([*own, *resources]), report))
    return sorted(set(findings), key=lambda f: (f.object_ref, f.message))


_EXPANDED_OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
    parent=None,
)
