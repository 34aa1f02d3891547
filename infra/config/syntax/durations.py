"""Durations in the syntax of each consumer: Go's time.ParseDuration (Argo CD, Knative), Prometheus' model
durations, Elasticsearch ages as the platform writes them, CloudNativePG retention policies."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from infra.config.syntax import FormatError

_GO_UNITS_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_GO_UNITS_NS["h"] = 60 * _GO_UNITS_NS["m"]
_GO_TERM = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_GO_MAX_NS = 2**63 - 1

_PROMETHEUS = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_PROMETHEUS_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)

_ELASTIC_AGE = re.compile(r"^(\d+)([hdwy])$")
_CNPG_RETENTION = re.compile(r"^[1-9][0-9]*[dwm]$")


def go_duration(text: str) -> int:
    """Nanoseconds of a positive Go duration such as `30s`, `1h30m` or `1.5h` (time.ParseDuration's syntax;
    zero and negative durations are refused: nothing that takes one here can use them)."""
    if text.startswith(("-", "+")):
        raise FormatError("must be positive, without a sign")
    if text == "0":
        raise FormatError("must be longer than zero")
    position, total = 0, Decimal(0)
    while position < len(text):
        term = _GO_TERM.match(text, position)
        if term is None or term.group(1) in ("", "."):
            raise FormatError("needs numbers with units ns, us, ms, s, m or h, such as 90s or 1h30m")
        try:
            total += Decimal(term.group(1)) * _GO_UNITS_NS[term.group(2)]
        except InvalidOperation:
            raise FormatError(f"{term.group(1)!r} is not a number") from None
        position = term.end()
    if total > _GO_MAX_NS:
        raise FormatError("is longer than Go durations go (about 292 years)")
    nanoseconds = int(total)
    if nanoseconds <= 0:
        raise FormatError("must be longer than zero")
    return nanoseconds


def prometheus_duration(text: str) -> int:
    """Milliseconds of a positive Prometheus duration: units y, w, d, h, m, s, ms, largest first, each once,
    such as `15d` or `1w3d`."""
    match = _PROMETHEUS.match(text)
    if not text or match is None:
        raise FormatError("needs numbers with units y, w, d, h, m, s, ms, largest first, such as 15d or 12h30m")
    amounts = (int(amount or 0) for amount in match.groups())
    milliseconds = sum(amount * unit for amount, unit in zip(amounts, _PROMETHEUS_UNITS_MS, strict=True))
    if milliseconds <= 0:
        raise FormatError("must be longer than zero")
    return milliseconds


def elastic_age(text: str) -> str:
    """A positive whole number of hours, days, weeks or years (`12h`, `30d`, `2w`, `1y`): infra/observability
    turns weeks and years into days, the largest unit Elasticsearch knows."""
    match = _ELASTIC_AGE.match(text)
    if match is None:
        raise FormatError("needs a whole number and one unit of h, d, w or y, such as 30d")
    if int(match.group(1)) == 0:
        raise FormatError("must be longer than zero")
    return text


def cnpg_retention(text: str) -> str:
    """CloudNativePG's retentionPolicy: a positive number of days, weeks or months (`30d`, `4w`, `6m`)."""
    if not _CNPG_RETENTION.match(text):
        raise FormatError("needs a positive whole number and d (days), w (weeks) or m (months), such as 30d")
    return text
