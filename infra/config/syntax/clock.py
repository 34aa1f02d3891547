"""Times of day and time zones."""

from __future__ import annotations

import re
import zoneinfo

from infra.config.syntax import FormatError

_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# The shape of IANA zone names (Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+1), at most 64 long.
_ZONE_NAME = re.compile(r"^(?=.{1,64}$)[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


def time_of_day(text: str) -> str:
    """`HH:MM` on a 24-hour clock, as GKE's maintenance window takes it."""
    if not _TIME_OF_DAY.match(text):
        raise FormatError("needs HH:MM from 00:00 to 23:59")
    return text


def time_zone(text: str) -> str:
    """An IANA time zone name such as UTC or Europe/Berlin. Argo CD replaces one it cannot load by UTC with
    nothing but a log line, so a typo would move the window silently."""
    if not _ZONE_NAME.match(text):
        raise FormatError("is not a time zone name (letters, digits, '_', '-', '+' in '/'-separated parts)")
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise FormatError("is not an IANA time zone name such as UTC or Europe/Berlin") from None
    return text
