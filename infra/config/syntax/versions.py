"""Versions: Semantic Versioning 2.0 (Helm chart versions), Elastic Stack versions, calendar release tags."""

from __future__ import annotations

import re

from infra.config.syntax import FormatError

_NUMBER = r"(0|[1-9]\d*)"
_PRERELEASE_PART = r"(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"^v?{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(-{_PRERELEASE_PART}(\.{_PRERELEASE_PART})*)?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_RELEASE_TAG = re.compile(r"^\d{2}\.\d{2}(\.\d+)?$")


def semver(text: str, *, leading_v: bool = True) -> str:
    """MAJOR.MINOR.PATCH with optional -prerelease and +build, no leading zeros; `v1.2.3` when `leading_v`."""
    if not _SEMVER.match(text) or (text.startswith("v") and not leading_v):
        form = "1.2.3 or v1.2.3" if leading_v else "1.2.3 (no leading v)"
        raise FormatError(f"is not a semantic version such as {form}")
    return text


def release_tag(text: str) -> str:
    """A calendar release tag such as 26.03 or 26.03.1 (kubeflow/manifests), or a semantic version tag."""
    if _RELEASE_TAG.match(text):
        return text
    try:
        return semver(text)
    except FormatError:
        raise FormatError("is not a release tag such as 26.03, 26.03.1 or v1.10.0") from None
