"""Names as Kubernetes, DNS and Google Cloud validate them."""

from __future__ import annotations

import re

from infra.config.syntax import FormatError

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_TOP_LEVEL_DOMAIN = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_DNS_NAME_LABEL = re.compile(r"^[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?$")


def dns1123_label(text: str, max_length: int = 63) -> str:
    """A Kubernetes object name that must be a DNS label: namespaces, and names that become one."""
    if not 1 <= len(text) <= max_length:
        raise FormatError(f"must have 1 to {max_length} characters")
    if not _DNS1123_LABEL.match(text):
        raise FormatError("lowercase letters, digits and '-' only, starting and ending with a letter or digit")
    return text


def rfc1035_label(text: str, max_length: int = 63) -> str:
    """A DNS label that starts with a letter: what GKE node pools and Cloud DNS zones are named by."""
    if not 1 <= len(text) <= max_length:
        raise FormatError(f"must have 1 to {max_length} characters")
    if not _RFC1035_LABEL.match(text):
        raise FormatError("lowercase letters, digits and '-' only, from a letter, ending with a letter or digit")
    return text


def dns1123_subdomain(text: str) -> str:
    """A Kubernetes object name such as a Secret's: dot-separated DNS labels, at most 253 characters."""
    if not 1 <= len(text) <= 253:
        raise FormatError("must have 1 to 253 characters")
    if not _DNS1123_SUBDOMAIN.match(text):
        raise FormatError("lowercase letters, digits, '-' and '.' only, each part starting and ending alphanumeric")
    return text


def label_key(text: str) -> str:
    """A Kubernetes label or taint key: an optional DNS subdomain prefix and `/`, then a name of at most 63."""
    prefix, slash, name = text.rpartition("/")
    if slash:
        try:
            dns1123_subdomain(prefix)
        except FormatError as error:
            raise FormatError(f"prefix {prefix!r}: {error}") from None
    if not 1 <= len(name) <= 63 or not _QUALIFIED_NAME.match(name):
        raise FormatError(
            "the name needs 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return text


def label_value(text: str) -> str:
    """A Kubernetes label or taint value: empty, or at most 63 letters, digits, '-', '_', '.' inside."""
    if text and (len(text) > 63 or not _QUALIFIED_NAME.match(text)):
        raise FormatError("at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    return text


def config_map_key(text: str) -> str:
    """A key of a Secret or ConfigMap."""
    if not 1 <= len(text) <= 253 or not _CONFIG_MAP_KEY.match(text):
        raise FormatError("needs 1 to 253 letters, digits, '-', '_' or '.'")
    if text in (".", "..") or text.startswith(".."):
        raise FormatError("must not be '.' or start with '..'")
    return text


def domain(text: str) -> str:
    """A lowercase DNS domain of at least two labels, each at most 63, 253 in all, ending in a real top-level
    domain (letters, or an `xn--` IDN)."""
    if len(text) > 253:
        raise FormatError("has more than 253 characters")
    labels = text.split(".")
    if len(labels) < 2:
        raise FormatError("needs at least two labels, such as example.com")
    for label in labels:
        if not 1 <= len(label) <= 63 or not _DNS1123_LABEL.match(label):
            raise FormatError(f"{label!r} is not a lowercase DNS label (letters, digits, inner '-', at most 63)")
    if not _TOP_LEVEL_DOMAIN.match(labels[-1]):
        raise FormatError(f"{labels[-1]!r} is not a top-level domain")
    return text


def dns_name(text: str) -> str:
    """Any DNS name (one label or more, `_` allowed, optional trailing dot): what TSIG keys are named by."""
    name = text.removesuffix(".")
    if not 1 <= len(name) <= 253:
        raise FormatError("must have 1 to 253 characters")
    for label in name.split("."):
        if not _DNS_NAME_LABEL.match(label):
            raise FormatError(f"{label!r} is not a DNS label (letters, digits, '_', inner '-', at most 63)")
    return text


# --- Google Cloud ------------------------------------------------------------------------------------------

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_PROJECT_ID_RESTRICTED = ("google", "ssl", "null", "undefined")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_PUBSUB_TOPIC = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[-a-z0-9]*[a-z0-9]$")
_SQL_TIER = re.compile(r"^db-[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")
_SQL_CUSTOM_TIER = re.compile(r"^db-custom-(\d+)-(\d+)$")
_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{2,40}$")


def gcp_project_id(text: str) -> str:
    """6 to 30 lowercase letters, digits or '-', starting with a letter, not ending with '-', without the
    strings Google reserves."""
    if not _PROJECT_ID.match(text):
        raise FormatError("needs 6 to 30 lowercase letters, digits or '-', starting with a letter, not ending in '-'")
    reserved = [word for word in _PROJECT_ID_RESTRICTED if word in text]
    if reserved:
        raise FormatError(f"contains {reserved[0]!r}, which Google reserves")
    return text


def gcp_region(text: str) -> str:
    if not _REGION.match(text):
        raise FormatError("a region looks like europe-west4 or us-central1")
    return text


def pubsub_topic(text: str) -> str:
    """A topic the platform names resources after: 3 to 63 lowercase letters, digits or '-' from a letter, and
    never `goog...` (Pub/Sub reserves it)."""
    if not _PUBSUB_TOPIC.match(text):
        raise FormatError("needs 3 to 63 lowercase letters, digits or '-', starting with a letter")
    if text.startswith("goog"):
        raise FormatError("must not start with 'goog' (reserved by Pub/Sub)")
    return text


def bucket_prefix(text: str) -> str:
    """The start of every bucket name: Cloud Storage and S3 take lowercase letters, digits and '-', and Cloud
    Storage refuses names that begin with `goog` or contain `google`."""
    if not _BUCKET_PREFIX.match(text):
        raise FormatError("needs 3 to 41 lowercase letters, digits or '-', starting with a letter or digit")
    if text.startswith("goog") or "google" in text:
        raise FormatError("Cloud Storage refuses bucket names that begin with 'goog' or contain 'google'")
    return text


def machine_type(text: str) -> str:
    """A Compute Engine machine type such as e2-standard-4 or n2-custom-4-16384."""
    if not _MACHINE_TYPE.match(text):
        raise FormatError("a machine type looks like e2-standard-4 (lowercase family, '-', shape)")
    return text


def cloud_sql_tier(text: str) -> str:
    """A Cloud SQL tier; a custom one (`db-custom-<vCPUs>-<MB>`) has 1 or an even number of vCPUs up to 96 and
    0.9 to 6.5 GB of memory per vCPU, a multiple of 256 MB and at least 3840 MB."""
    if not _SQL_TIER.match(text):
        raise FormatError("a tier looks like db-custom-2-7680 or db-perf-optimized-N-4")
    custom = _SQL_CUSTOM_TIER.match(text)
    if custom is None:
        return text
    cpus, memory = int(custom.group(1)), int(custom.group(2))
    if not (cpus == 1 or (cpus % 2 == 0 and 2 <= cpus <= 96)):
        raise FormatError(f"{cpus} vCPUs: a custom tier has 1 or an even number up to 96")
    if memory % 256 or memory < 3840:
        raise FormatError(f"{memory} MB: the memory must be a multiple of 256 MB and at least 3840 MB")
    if not 0.9 * 1024 * cpus <= memory <= 6.5 * 1024 * cpus:
        raise FormatError(f"{memory} MB for {cpus} vCPUs: a custom tier has 0.9 to 6.5 GB per vCPU")
    return text


# --- identities read from an identity provider's tokens --------------------------------------------------

_CLAIM = re.compile(r"^[^\s]+$")
_SLACK_CHANNEL = re.compile(r"^([#@][a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,})$")


def group(text: str) -> str:
    """A group as the identity provider names it, written into Argo CD's policy.csv: no comma, quote or line
    break (they would end the CSV field), no spaces around it."""
    if not text or text != text.strip() or any(character in text for character in ',"\n\r'):
        raise FormatError("must be non-empty, without commas, quotes, line breaks or surrounding spaces")
    return text


def grafana_group(text: str) -> str:
    """A group Grafana matches: its allowed_groups setting is split on spaces and commas, and the admin
    groups go into a JMESPath string in single quotes."""
    if not text or any(character.isspace() or character in ",'\"\\" for character in text):
        raise FormatError("must be non-empty, without spaces, commas, quotes or backslashes")
    return text


def claim(text: str) -> str:
    """The name of an ID token claim, such as email or groups."""
    if not _CLAIM.match(text):
        raise FormatError("must be non-empty, without spaces")
    return text


def slack_channel(text: str) -> str:
    """`#channel` (lowercase, at most 80), `@user`, or a channel ID such as C0123456789."""
    if not _SLACK_CHANNEL.match(text):
        raise FormatError("#name (lowercase letters, digits, '-', '_', '.'), @user, or an ID like C0123456789")
    return text


def application_pattern(text: str) -> str:
    """An Argo CD application name or glob (`*`, `?`, `[...]`) that Argo CD's glob matcher can compile."""
    if not re.match(r"^[a-z0-9.*?!\[\]-]+$", text):
        raise FormatError("lowercase letters, digits, '-', '.' and the glob characters * ? [ ] only")
    depth = 0
    for character in text:
        depth += {"[": 1, "]": -1}.get(character, 0)
        if depth not in (0, 1):
            raise FormatError("has unbalanced or nested [ ]")
    if depth:
        raise FormatError("has an unclosed [")
    return text
