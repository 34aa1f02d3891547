"""Rendered text to Kubernetes objects: split as Helm splits a template's output, parsed as Argo CD parses it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

_SEPARATOR = re.compile(r"^---", re.MULTILINE)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestLoader(_Loader):  # type: ignore[misc, valid-type]
    """YAML 1.1's `=` (the "value key" type) read as the plain string it is in Kubernetes manifests: the
    AlertmanagerConfig CRD of kube-prometheus-stack lists it among the matcher operators."""


ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class DocumentError(Exception):
    pass


def split_documents(text: str) -> list[str]:
    """Documents of one rendered file, split at every line that starts with `---` (Helm's rule: cert-manager renders
    a `---# comment` line); documents of only comments and blank lines are dropped."""
    return [part for part in _SEPARATOR.split(text) if _has_content(part)]


def _has_content(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


_parsed: dict[str, Any] = {}


def _load(document: str) -> Any:
    """A document's data, parsed once per text: the same CRDs and objects recur in every environment and render
    (callers treat parsed objects as read-only)."""
    if document not in _parsed:
        _parsed[document] = yaml.load(document, Loader=ManifestLoader)  # noqa: S506 (a safe loader)
    return _parsed[document]


def parse_objects(text: str, origin: str) -> Iterator[dict[str, Any]]:
    """The Kubernetes objects in rendered text (a `kind: *List` is its items, as kubectl and Argo CD read it)."""
    for document in split_documents(text):
        try:
            data = _load(document)
        except yaml.YAMLError as error:
            raise DocumentError(f"{origin}: not valid YAML: {' '.join(str(error).split())}") from error
        if data is None:
            continue
        if not isinstance(data, dict) or "kind" not in data or "apiVersion" not in data:
            raise DocumentError(f"{origin}: a document that is no Kubernetes object (no apiVersion and kind)")
        if str(data["kind"]).endswith("List") and isinstance(data.get("items"), list):
            yield from (item for item in data["items"] if isinstance(item, dict))
        else:
            yield data
