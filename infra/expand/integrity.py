"""The `integrity` stage: every namespaced object lands in a namespace that exists, and every object has one owner.

A namespace exists when the platform creates it (a Namespace of the stack or of an Application), when a Kubeflow
Profile names it (its controller creates the team's namespace), when an Application creates its destination
(`CreateNamespace=true`), or when every cluster has it. An object applied by two Applications, or by an
Application and the stack, is fought over: each sync of one undoes the other, and deleting either deletes it.
"""

from __future__ import annotations

from collections import defaultdict

from infra.expand.platform import STACK, Platform, PlatformObject
from infra.expand.scope import group_of
from infra.offline.validate import Finding
from infra.platform.existing import namespaces_of_existing

STAGE = "integrity"
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Custom resources whose controller creates a namespace of the object's name.
NAMESPACE_MAKERS = frozenset({("kubeflow.org", "Profile")})


def existing_namespaces(platform: Platform) -> set[str]:
    names = set(BUILTIN_NAMESPACES) | namespaces_of_existing(platform.env)
    for item in platform.objects:
        group = group_of(str(item.object.get("apiVersion", "")))
        if (group, item.kind) == ("", "Namespace") or (group, item.kind) in NAMESPACE_MAKERS:
            names.add(item.name)
        if item.kind == "Application" and group == "argoproj.io":
            spec = item.object.get("spec") or {}
            if "CreateNamespace=true" in ((spec.get("syncPolicy") or {}).get("syncOptions") or []):
                names.add(str((spec.get("destination") or {}).get("namespace") or ""))
    return names


def integrity_findings(platform: Platform) -> tuple[list[Finding], int]:
    namespaces = existing_namespaces(platform)
    findings: list[Finding] = []
    owners: dict[tuple[str, str, str, str], list[PlatformObject]] = defaultdict(list)
    for item in platform.objects:
        owners[(group_of(str(item.object.get("apiVersion", ""))), item.kind, item.namespace, item.name)].append(item)
        if item.namespace and item.namespace not in namespaces:
            findings.append(
                Finding(
                    STAGE,
                    item.ref,
                    f"metadata.namespace: {item.namespace!r} does not exist: nothing in the platform creates it "
                    f"(no Namespace of the stack or of an Application, no Profile, no CreateNamespace=true)",
                )
            )
    for (_, kind, namespace, name), items in sorted(owners.items()):
        distinct = sorted({item.owner for item in items})
        if len(distinct) > 1:
            where = f"{namespace}/{name}" if namespace else name
            described = ", ".join("the stack" if owner == STACK else f"Application {owner}" for owner in distinct)
            findings.append(
                Finding(
                    STAGE,
                    items[0].ref,
                    f"{kind} {where} is applied by {described}: each sync of one undoes the other, and deleting one "
                    "deletes it for all; keep it in one place",
                )
            )
    return findings, len(platform.objects)
