"""What the API server calls: admission webhooks, aggregated APIs (APIService) and CRD conversion webhooks. Each
backend Service must exist with the port named, select pods, and the policies of the pods' namespace must admit
the API server (which is outside the pod network, cluster.py) on the port the Service leads to.

An unreachable backend of a webhook with `failurePolicy: Fail` (the default of admissionregistration/v1) refuses
every request it intercepts; of an APIService, every request for its group and version fails (and namespace
deletion waits on discovery); of a conversion webhook, every read or write at another version. Those are errors.
With `failurePolicy: Ignore` the webhook's checks and defaults are silently skipped: an advisory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.expand.platform import PlatformObject
from infra.expand.wiring.index import ServiceView, WiringIndex
from infra.expand.wiring.runtime import ServicePort
from infra.offline.validate import Finding

STAGE = "wiring"
DEFAULT_PORT = 443
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


@dataclass(frozen=True)
class Backend:
    item: PlatformObject
    where: str
    """Field path of the service reference inside the object."""
    service: Mapping[str, Any]
    consequence: str
    blocking: bool


def backend_findings(index: WiringIndex) -> tuple[list[Finding], int]:
    backends = list(_backends(index))
    findings = [finding for backend in backends for finding in _check(index, backend)]
    return findings, len(backends)


def _backends(index: WiringIndex) -> Iterator[Backend]:
    for kind in WEBHOOK_KINDS:
        for item in index.of_kind("admissionregistration.k8s.io", kind):
            for i, webhook in enumerate(item.object.get("webhooks") or []):
                service = (webhook.get("clientConfig") or {}).get("service")
                if not isinstance(service, Mapping):
                    continue  # a URL outside the cluster: not a path through the cluster's policies
                policy = str(webhook.get("failurePolicy") or "Fail")
                blocking = policy == "Fail"
                consequence = (
                    f"failurePolicy {policy}: the API server refuses every request it intercepts"
                    if blocking
                    else f"failurePolicy {policy}: its checks and defaults are silently skipped"
                )
                yield Backend(item, f"webhooks[{i}].clientConfig.service", service, consequence, blocking)
    for item in index.of_kind("apiregistration.k8s.io", "APIService"):
        service = (item.object.get("spec") or {}).get("service")
        if isinstance(service, Mapping):
            consequence = f"every request for {item.name} fails, and namespace deletion waits on its discovery"
            yield Backend(item, "spec.service", service, consequence, True)
    for item in index.of_kind("apiextensions.k8s.io", "CustomResourceDefinition"):
        conversion = (item.object.get("spec") or {}).get("conversion") or {}
        service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
        if conversion.get("strategy") == "Webhook" and isinstance(service, Mapping):
            consequence = f"every read or write of {item.name} at a version other than the stored one fails"
            yield Backend(item, "spec.conversion.webhook.clientConfig.service", service, consequence, True)


def _check(index: WiringIndex, backend: Backend) -> Iterator[Finding]:
    namespace, name = str(backend.service.get("namespace") or ""), str(backend.service.get("name") or "")
    number = backend.service.get("port", DEFAULT_PORT)
    severity = "error" if backend.blocking else "advisory"

    def finding(message: str) -> Finding:
        return Finding(STAGE, backend.item.ref, f"{backend.where}: {message}; {backend.consequence}", severity)

    service = index.service(namespace, name)
    if service is None:
        yield finding(f"Service {namespace}/{name} is not in the platform")
        return
    port = next((p for p in service.ports or () if p.port == number), None)
    if port is None:
        yield finding(f"Service {namespace}/{name} has no port {number} (it has {service.port_names()})")
        return
    yield from (finding(m) for m in _reachability(index, service, port))


def _reachability(index: WiringIndex, service: ServiceView, port: ServicePort) -> Iterator[str]:
    """Why the API server cannot reach `service` on `port`, if it cannot."""
    described = str(service)
    resolution = index.resolve(service, port)
    yield from resolution.problems
    api_server = index.cluster.api_server
    for target in resolution.targets:
        pod = target.pod
        if pod is None:
            continue  # on the host's network: no NetworkPolicy applies to it
        verdict = index.policies.ingress(pod, target.port, api_server)
        if not verdict.allowed:
            yield (
                f"{described} port {port.port} leads to {pod.source} on {target.port}, where the policies of "
                f"{pod.namespace} selecting it for ingress ({verdict.policies()}) admit none from "
                f"{api_server.description}"
            )
        strict = index.mesh.plain_text_refused(pod, target.port.number)
        if strict is not None:
            yield (
                f"{described} port {port.port} leads to {pod.source} on {target.port}, whose Istio sidecar accepts "
                f"only mutual TLS there ({strict.policy}, {strict.mode}), which the API server, outside the mesh, "
                "does not speak"
            )
