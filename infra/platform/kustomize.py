"""Kustomize patches in the form Argo CD takes them (`spec.source.kustomize.patches`), for git-sourced parts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi


def json_patch(kind: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """An RFC 6902 patch of one object."""
    return {"target": {"kind": kind, "name": name}, "patch": json.dumps(ops)}


def merge_patch(api_version: str, kind: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A strategic merge patch of one object: lists of containers and env entries merge by name, and `$patch`
    directives (replace, delete) apply. `body` may hold Pulumi outputs (addresses and identities known only once
    the cloud resources exist); the patch text is then an output too."""
    metadata = {**body.get("metadata", {}), "name": name}
    document = {"apiVersion": api_version, "kind": kind, **body, "metadata": metadata}
    patch = pulumi.Output.from_input(document).apply(lambda resolved: json.dumps(resolved, sort_keys=True))
    return {"target": {"kind": kind, "name": name}, "patch": patch}


def config_map_ops(settings: Mapping[str, str]) -> list[dict[str, Any]]:
    """JSON patch operations setting ConfigMap keys; `add` sets a key whether or not upstream has it."""
    return [{"op": "add", "path": f"/data/{key}", "value": value} for key, value in sorted(settings.items())]
