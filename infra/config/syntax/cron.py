"""Cron expressions in the dialects of their consumers.

- robfig/cron v3 (Go), five fields minute hour day-of-month month day-of-week: Velero Schedules and Longhorn
  RecurringJobs use `cron.ParseStandard`, which also takes descriptors (`@daily`, `@every 1h`); Argo CD sync
  windows use a parser without descriptors. Kubernetes CronJobs (which Longhorn creates) parse the same way.
- Quartz as forked by Elasticsearch (snapshot lifecycle policies): seconds first, six or seven fields, `?` in
  exactly one of day-of-month and day-of-week, `L`, `W` and `#`.
Time zone prefixes (`CRON_TZ=`) are refused everywhere: the settings say their time zone separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config.syntax import FormatError
from infra.config.syntax.durations import go_duration

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


def _named(names: tuple[str, ...], first: int) -> dict[str, int]:
    return {name: first + index for index, name in enumerate(names)}


# robfig/cron's bounds: day-of-week 0-6 (Sunday is 0; 7 is refused), names in any case.
ROBFIG_FIELDS = (
    Field("minute", 0, 59, {}),
    Field("hour", 0, 23, {}),
    Field("day of month", 1, 31, {}),
    Field("month", 1, 12, _named(_MONTHS, 1)),
    Field("day of week", 0, 6, _named(_DAYS, 0)),
)
# Elasticsearch's Quartz fork: seconds first, day-of-week 1-7 (Sunday is 1), an optional year.
QUARTZ_FIELDS = (
    Field("second", 0, 59, {}),
    Field("minute", 0, 59, {}),
    Field("hour", 0, 23, {}),
    Field("day of month", 1, 31, {}),
    Field("month", 1, 12, _named(_MONTHS, 1)),
    Field("day of week", 1, 7, _named(_DAYS, 1)),
    Field("year", 1970, 2199, {}),
)


def robfig(text: str, *, descriptors: bool) -> str:
    """A five-field cron line as robfig/cron reads it; `descriptors` admits `@daily` etc. and `@every <d>`."""
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise FormatError("a time zone prefix is not allowed here")
    if text.startswith("@"):
        if not descriptors:
            raise FormatError("descriptors such as @daily are not accepted here; write five fields")
        if text.startswith("@every "):
            go_duration(text.removeprefix("@every "))
        elif text not in DESCRIPTORS:
            raise FormatError(f"{text!r} is not one of {', '.join(DESCRIPTORS)} or @every <duration>")
        return text
    fields = text.split()
    if len(fields) != len(ROBFIG_FIELDS):
        raise FormatError(f"needs 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}")
    for field, spec in zip(ROBFIG_FIELDS, fields, strict=True):
        for item in spec.split(","):
            _robfig_item(item, field)
    return text


def _robfig_item(item: str, field: Field) -> None:
    where = f"{field.name} {item!r}"
    span, slash, step = item.partition("/")
    if slash:
        _number(step, where, "step", minimum=1)
    if span in ("*", "?"):
        return
    first, dash, last = span.partition("-")
    start = _value(first, field, where)
    # robfig: `N/step` means from N to the field's maximum.
    end = _value(last, field, where) if dash else (field.high if slash else start)
    if start > end:
        raise FormatError(f"{where}: the range starts after it ends")


def _value(text: str, field: Field, where: str) -> int:
    if text.lower() in field.names:
        return field.names[text.lower()]
    return _number(text, where, "value", minimum=field.low, maximum=field.high)


def _number(text: str, where: str, what: str, *, minimum: int, maximum: int | None = None) -> int:
    if not text.isdigit():
        raise FormatError(f"{where}: {text!r} is not a {what}")
    number = int(text)
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"{minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise FormatError(f"{where}: {what} {number} is outside {bounds}")
    return number


_QUARTZ_INCREMENT_MAX = {"second": 59, "minute": 59, "hour": 23, "day of month": 31, "month": 12, "day of week": 7}
_LAST_DAY = re.compile(r"^L(-(\d+))?W?$")


def quartz(text: str) -> str:
    """A cron expression as Elasticsearch reads it: second minute hour day-of-month month day-of-week [year]."""
    fields = text.upper().split()
    if len(fields) not in (6, 7):
        raise FormatError(
            f"needs 6 or 7 fields (second minute hour day-of-month month day-of-week [year]), found {len(fields)}"
        )
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise FormatError("exactly one of day-of-month and day-of-week must be '?'")
    # The year is optional: zip stops at the last field given.
    for field, spec in zip(QUARTZ_FIELDS, fields, strict=False):
        if spec == "?" and field.name in ("day of month", "day of week"):
            continue
        items = spec.split(",")
        if len(items) > 1 and field.name in ("day of month", "day of week") and "L" in spec:
            raise FormatError(f"{field.name} {spec!r}: 'L' cannot be combined with other days")
        if spec.count("#") > 1:
            raise FormatError(f"{field.name} {spec!r}: only one '#' is allowed")
        for item in items:
            _quartz_item(item, field)
    return text


def _quartz_item(item: str, field: Field) -> None:
    where = f"{field.name} {item!r}"
    if field.name == "day of month":
        last = _LAST_DAY.match(item)
        if last is not None:
            if last.group(2) is not None and int(last.group(2)) > 30:
                raise FormatError(f"{where}: the offset from the last day must be at most 30")
            return
        if item.endswith("W"):
            _value(item[:-1], field, where)
            return
    if field.name == "day of week":
        if item == "L":
            return
        if item.endswith("L"):
            _value(item[:-1], field, where)
            return
        day, hash_, nth = item.partition("#")
        if hash_:
            _value(day, field, where)
            _number(nth, where, "occurrence", minimum=1, maximum=5)
            return
    span, slash, step = item.partition("/")
    if slash:
        increment_max = _QUARTZ_INCREMENT_MAX.get(field.name)
        _number(step, where, "increment", minimum=1, maximum=increment_max)
    if span == "*" or (slash and span == ""):
        return
    first, dash, last_text = span.partition("-")
    start = _value(first, field, where)
    end = _value(last_text, field, where) if dash else start
    # Quartz wraps ranges that run backwards (22-2 is 22:00 to 02:00), except for years.
    if field.name == "year" and start > end:
        raise FormatError(f"{where}: the range of years starts after it ends")
