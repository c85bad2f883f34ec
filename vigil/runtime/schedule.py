"""Schedules: cron expressions and friendly phrases, parsed into cron and validated.

===================================  =================
phrase                               cron
===================================  =================
``hourly``                           ``0 * * * *``
``daily``                            ``0 0 * * *``
``daily at 06:00``                   ``0 6 * * *``
``weekly`` / ``weekly on monday``    ``0 0 * * 1``
``weekly on monday at 08:30``        ``30 8 * * 1``
``monthly``                          ``0 0 1 * *``
``every 5 minutes``                  ``*/5 * * * *``
``every 2 hours``                    ``0 */2 * * *``
``every day at 18:15``               ``15 18 * * *``
``*/10 * * * *`` (any cron)          as given
===================================  =================
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from vigil.errors import InvalidInput, MissingDependency

EXAMPLES = ("hourly", "daily", "daily at 06:00", "weekly on monday at 08:30", "monthly",
            "every 5 minutes", "every 2 hours", "every day at 18:15", "0 6 * * 1-5")
_DAYS = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 0,
         "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
_AT = r"(?:\s+at\s+(?P<hh>\d{1,2}):(?P<mm>\d{2}))?"


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:
        raise MissingDependency("croniter", "runtime", "schedules") from None
    return croniter


def _time(m: re.Match[str]) -> tuple[int, int]:
    hh, mm = m.group("hh"), m.group("mm")
    if hh is None:
        return 0, 0
    h, mi = int(hh), int(mm)
    if not (0 <= h <= 23 and 0 <= mi <= 59):
        raise ValueError("time out of range")
    return h, mi


def to_cron(schedule: str) -> str:
    """The cron expression of a schedule phrase (or of a cron expression, validated).

    Examples
    --------
    >>> to_cron('daily')
    '0 0 * * *'
    >>> to_cron('weekly on monday at 08:30')
    '30 8 * * 1'
    >>> to_cron('every 5 minutes')
    '*/5 * * * *'
    >>> to_cron('0 0 31 2 *')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: schedule: '0 0 31 2 *' never comes due (no such date); use a date that exists, like '0 0 28 2 *'
    >>> to_cron('sometimes')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: schedule: 'sometimes' is not a schedule; use a cron expression or a phrase like 'hourly', 'daily', 'daily at 06:00', 'weekly on monday at 08:30', 'monthly', 'every 5 minutes', 'every 2 hours', 'every day at 18:15', '0 6 * * 1-5'
    """
    error = InvalidInput(
        f"schedule: {schedule!r} is not a schedule; use a cron expression or a phrase like "
        + ", ".join(repr(e) for e in EXAMPLES))
    if not isinstance(schedule, str) or not schedule.strip() or len(schedule) > 200:
        raise error
    text = " ".join(schedule.strip().lower().split())
    try:
        if text == "hourly":
            return "0 * * * *"
        if text == "monthly":
            return "0 0 1 * *"
        m = re.fullmatch(r"(?:daily|every day)" + _AT, text)
        if m:
            h, mi = _time(m)
            return f"{mi} {h} * * *"
        m = re.fullmatch(r"weekly(?:\s+on\s+(?P<day>[a-z]+))?" + _AT, text)
        if m:
            day = m.group("day") or "monday"
            if day not in _DAYS:
                raise ValueError(day)
            h, mi = _time(m)
            return f"{mi} {h} * * {_DAYS[day]}"
        m = re.fullmatch(r"every\s+(?P<n>\d+)\s+(?P<unit>minutes?|hours?)", text)
        if m:
            n = int(m.group("n"))
            if m.group("unit").startswith("minute"):
                if not 1 <= n <= 59:
                    raise ValueError(n)
                return "* * * * *" if n == 1 else f"*/{n} * * * *"
            if not 1 <= n <= 23:
                raise ValueError(n)
            return "0 * * * *" if n == 1 else f"0 */{n} * * *"
    except ValueError:
        raise error from None
    fields = text.split()
    if len(fields) == 5 and _croniter().is_valid(text):
        try:  # valid syntax may still name no date at all ('0 0 31 2 *'): such a job would never run
            _croniter()(text, _dt.datetime.now(_dt.UTC)).get_next(float)
        except ValueError:  # croniter's CroniterBadDateError
            raise InvalidInput(f"schedule: {schedule!r} never comes due (no such date); use a date that exists, "
                               "like '0 0 28 2 *'") from None
        return text
    raise error


def next_runs(schedule: str, after: _dt.datetime | None = None, count: int = 1) -> list[_dt.datetime]:
    """The next ``count`` run times (UTC) of a schedule after ``after`` (default now).

    Examples
    --------
    >>> start = _dt.datetime(2026, 1, 1, 12, 0, tzinfo=_dt.timezone.utc)
    >>> [t.isoformat() for t in next_runs('daily', start, 2)]
    ['2026-01-02T00:00:00+00:00', '2026-01-03T00:00:00+00:00']
    """
    cron = to_cron(schedule)
    start = after or _dt.datetime.now(_dt.UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=_dt.UTC)
    it = _croniter()(cron, start)
    return [it.get_next(_dt.datetime) for _ in range(count)]
