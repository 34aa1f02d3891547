"""Every Secret the platform reads exists at sync: made by the platform (a Secret it applies, an ExternalSecret's
target, a Certificate's Secret, one an operator or a chart's Job makes at run time), or declared by the component
that reads it as one the adopter creates (`PlatformComponent.secrets_to_create`, the cluster layer's for what its
facts name). docs/environments/<env>.md lists the declared ones with their readers, so that list cannot drift from
what the workloads read.

Read are: pod templates' `secretKeyRef`, `envFrom.secretRef` and secret volumes (projected too), a custom
resource's `{name, key}` Secret selectors (CNPG's backup keys, Velero's credential, Alertmanager receivers) and
the few custom-resource fields that name a whole Secret, settings in ConfigMaps that name one (Argo CD's
`$<secret>:<key>`, Longhorn's backup credentials), and the Secrets a ServiceAccount lists (KServe's storage
initializer takes its S3 keys from those of the predictor's service account).
A reference marked `optional` is not a need.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.expand.admission import pod_template
from infra.expand.platform import Platform, PlatformObject
from infra.expand.scope import group_of
from infra.offline.validate import Finding
from infra.platform.secrets import ANY_NAMESPACE, SecretToCreate

STAGE = "wiring"
# ConfigMaps whose settings name Secrets their controller reads: the pattern's first group is the Secret's name,
# the second (if any) its key.
CONFIG_READS: Mapping[tuple[str, str], re.Pattern[str]] = {
    ("argocd", "argocd-cm"): re.compile(r"\$([a-z0-9][a-z0-9.-]*):([A-Za-z0-9_.-]+)"),  # Argo CD's `$secret:key`
    ("longhorn-system", "longhorn-default-resource"): re.compile(r"backup-target-credential-secret:\s*([a-z0-9.-]+)"),
}
# Custom-resource fields that name a whole Secret (no key), by (group, kind).
WHOLE_SECRET_FIELDS: Mapping[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("minio.min.io", "Tenant"): (("spec", "configuration", "name"),),
}


@dataclass(frozen=True)
class SecretRead:
    namespace: str
    name: str
    key: str | None
    reader: PlatformObject
    field: str


@dataclass(frozen=True)
class RuntimeSecret:
    """A Secret that something in the platform makes once it runs, by the Application that installs the maker."""

    owner: str
    name: str
    maker: str


# Made at run time by a chart's own Job or controller (the charts render no Secret for them).
RUNTIME_SECRETS: tuple[RuntimeSecret, ...] = (
    RuntimeSecret("argo-cd", "argocd-redis", "Argo CD's redis-secret-init Job (the Redis password)"),
    RuntimeSecret("keda", "kedaorg-certs", "KEDA's operator (its webhook and metrics-server certificates)"),
    RuntimeSecret(
        "kube-prometheus-stack", "kube-prometheus-stack-admission", "the chart's admission-create Job (webhook TLS)"
    ),
    RuntimeSecret("cilium", "hubble-relay-client-certs", "Cilium's hubble-generate-certs CronJob"),
    RuntimeSecret("metallb", "metallb-memberlist", "MetalLB's controller (the speakers' memberlist key)"),
)


def _eck_secrets(item: PlatformObject) -> tuple[str, ...]:
    suffixes = {"Elasticsearch": ("es-elastic-user", "es-http-certs-public", "es-http-certs-internal")}
    return tuple(f"{item.name}-{suffix}" for suffix in suffixes.get(item.kind, ()))


def _cnpg_secrets(item: PlatformObject) -> tuple[str, ...]:
    suffixes = ("app", "superuser", "ca", "server", "replication")
    return tuple(f"{item.name}-{suffix}" for suffix in suffixes) if item.kind == "Cluster" else ()


# Secrets an operator makes for each of its custom resources, by API group.
OPERATOR_SECRETS: Mapping[str, Callable[[PlatformObject], tuple[str, ...]]] = {
    "elasticsearch.k8s.elastic.co": _eck_secrets,
    "postgresql.cnpg.io": _cnpg_secrets,
}


def made_secrets(objects: Sequence[PlatformObject]) -> dict[tuple[str, str], str]:
    """(namespace, name) of every Secret the platform makes, with what makes it."""
    made: dict[tuple[str, str], str] = {}
    owners = {item.owner for item in objects}
    for item in objects:
        spec = item.object.get("spec") or {}
        group = group_of(str(item.object.get("apiVersion", "")))
        if (group, item.kind) == ("", "Secret"):
            made[(item.namespace, item.name)] = item.ref
        elif (group, item.kind) == ("external-secrets.io", "ExternalSecret"):
            target = (spec.get("target") or {}).get("name") or item.name
            made[(item.namespace, str(target))] = item.ref
        elif (group, item.kind) == ("cert-manager.io", "Certificate") and spec.get("secretName"):
            made[(item.namespace, str(spec["secretName"]))] = item.ref
        elif group in OPERATOR_SECRETS:
            for name in OPERATOR_SECRETS[group](item):
                made[(item.namespace, name)] = f"the operator of {item.ref}"
    for runtime in RUNTIME_SECRETS:
        if runtime.owner in owners:
            for item in objects:
                if item.owner == runtime.owner and item.namespace:
                    made.setdefault((item.namespace, runtime.name), runtime.maker)
    return made


def secret_reads(objects: Sequence[PlatformObject]) -> Iterator[SecretRead]:
    for item in objects:
        group = group_of(str(item.object.get("apiVersion", "")))
        template = pod_template(item.object)
        if template is not None:
            yield from _pod_reads(item, template[1].get("spec") or {})
        elif (group, item.kind) == ("", "ServiceAccount"):
            for index, ref in enumerate(item.object.get("secrets") or []):
                yield SecretRead(item.namespace, str(ref.get("name")), None, item, f"secrets[{index}]")
        elif item.kind == "ConfigMap" and (item.namespace, item.name) in CONFIG_READS:
            yield from _config_reads(item, CONFIG_READS[(item.namespace, item.name)])
        elif group not in ("", "apps", "batch", "apiextensions.k8s.io", "argoproj.io"):
            # Custom resources (an Application's spec holds chart values, not references).
            yield from _selector_reads(item, item.object.get("spec"), "spec")
            for path in WHOLE_SECRET_FIELDS.get((group, item.kind), ()):
                node: Any = item.object
                for key in path:
                    node = node.get(key) if isinstance(node, Mapping) else None
                if isinstance(node, str):
                    yield SecretRead(item.namespace, node, None, item, ".".join(path))


def _pod_reads(reader: PlatformObject, spec: Mapping[str, Any]) -> Iterator[SecretRead]:
    namespace = reader.namespace
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        where = f"container {container.get('name')}"
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                yield SecretRead(namespace, str(ref["name"]), str(ref.get("key")), reader, f"{where} env")
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref and not ref.get("optional"):
                yield SecretRead(namespace, str(ref["name"]), None, reader, f"{where} envFrom")
    for volume in spec.get("volumes") or []:
        secret = volume.get("secret")
        if isinstance(secret, Mapping) and not secret.get("optional"):
            yield SecretRead(namespace, str(secret.get("secretName")), None, reader, f"volume {volume.get('name')}")
        for source in (volume.get("projected") or {}).get("sources") or []:
            secret = source.get("secret")
            if isinstance(secret, Mapping) and not secret.get("optional"):
                yield SecretRead(namespace, str(secret.get("name")), None, reader, f"volume {volume.get('name')}")


def _selector_reads(item: PlatformObject, node: Any, path: str) -> Iterator[SecretRead]:
    """`{name, key}` Secret selectors anywhere in a custom resource's spec (a ConfigMap's are under `configMap`)."""
    if isinstance(node, Mapping):
        keys = set(node)
        if {"name", "key"} <= keys <= {"name", "key", "optional"} and "configmap" not in path.lower():
            if not node.get("optional"):
                yield SecretRead(item.namespace, str(node["name"]), str(node["key"]), item, path)
            return
        for key, value in node.items():
            yield from _selector_reads(item, value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _selector_reads(item, value, f"{path}[{index}]")


def _config_reads(item: PlatformObject, pattern: re.Pattern[str]) -> Iterator[SecretRead]:
    for key, value in sorted((item.object.get("data") or {}).items()):
        for match in pattern.finditer(str(value)):
            secret_key = match.group(2) if pattern.groups > 1 else None
            yield SecretRead(item.namespace, match.group(1), secret_key, item, f"data.{key}")


def declared(platform: Platform) -> list[tuple[str, SecretToCreate]]:
    """(who declares it, the Secret) for everything deployed in this environment."""
    from infra.cluster import cluster_secrets_to_create
    from infra.platform.deployed import deployed_components

    found = [(f"the {platform.env.target} cluster layer", s) for s in cluster_secrets_to_create(platform.env)]
    for component in deployed_components(platform.rendered):
        found += [(f"component {component.spec.name}", s) for s in component.secrets_to_create(platform.env)]
    return found


def _matches(secret: SecretToCreate, namespace: str, name: str) -> bool:
    return secret.name == name and secret.namespace in (namespace, ANY_NAMESPACE)


def secrets_findings(platform: Platform) -> tuple[list[Finding], int]:
    objects = platform.objects
    made = made_secrets(objects)
    declarations = declared(platform)
    reads = list(secret_reads(objects))
    findings: list[Finding] = []
    for read in reads:
        if (read.namespace, read.name) in made or any(_matches(s, read.namespace, read.name) for _, s in declarations):
            continue
        key = f" (key {read.key})" if read.key else ""
        findings.append(
            Finding(
                STAGE,
                read.reader.ref,
                f"{read.field}: reads Secret {read.namespace}/{read.name}{key}, which nothing in the platform makes "
                "and no component declares as one the adopter creates (PlatformComponent.secrets_to_create): the "
                "pod would not start",
            )
        )
    for who, secret in declarations:
        readers = [r for r in reads if _matches(secret, r.namespace, r.name)]
        if not readers:
            findings.append(
                Finding(
                    STAGE,
                    f"{platform.stack}: Secret {secret.namespace}/{secret.name}",
                    f"secrets_to_create: {who} declares it as one the adopter creates, but nothing in this "
                    "environment reads it (a stale declaration would ask adopters for a Secret nobody uses)",
                )
            )
    return findings, len(reads)


def secrets_to_create(platform: Platform) -> list[tuple[SecretToCreate, tuple[str, ...], tuple[SecretRead, ...]]]:
    """Each declared Secret with the namespaces it is needed in and the reads that need it, for the docs."""
    reads = list(secret_reads(platform.objects))
    made = made_secrets(platform.objects)
    rows = []
    for _, secret in declared(platform):
        readers = tuple(r for r in reads if _matches(secret, r.namespace, r.name) and (r.namespace, r.name) not in made)
        namespaces = tuple(sorted({r.namespace for r in readers}))
        rows.append((secret, namespaces, readers))
    return rows
