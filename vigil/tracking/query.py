"""Turn the filters of ``exp.data()`` into an :class:`~vigil.store.base.EventQuery`.

Every filter is validated here, at the public boundary, and evaluated in
the store (indexed), never in pandas.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import re
import time
from typing import Any

from vigil.errors import invalid
from vigil.store.base import CORE_FILTER_FIELDS, EventQuery
from vigil.store.names import check_field

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "w": 604800}


def parse_time(value: Any, arg: str, now: float | None = None) -> float | None:
    """Epoch seconds of a ``since``/``end`` filter.

    Accepts a datetime (naive means UTC), a timedelta or a relative string
    like ``'2h'``, ``'30m'``, ``'1d'`` (both counted back from now), an ISO
    8601 string, or epoch seconds.

    Examples
    --------
    >>> parse_time('2h', 'since', now=10_000.0)
    2800.0
    >>> parse_time('1970-01-01T00:01:00Z', 'since')
    60.0
    >>> parse_time([1], 'since')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: data: since must be a datetime, timedelta, ISO string, relative string like '2h'/'30m'/'1d', or epoch seconds; got [1] (list)
    """
    if value is None:
        return None
    now = time.time() if now is None else now
    expected = ("a datetime, timedelta, ISO string, relative string like '2h'/'30m'/'1d', "
                "or epoch seconds")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC).timestamp()
    if isinstance(value, _dt.timedelta):
        return now - value.total_seconds()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value != value:  # NaN would select nothing, silently
            raise invalid("data", arg, value, expected)
        return float(value)
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        if m:
            return now - float(m.group(1)) * _UNIT_S[m.group(2).lower()]
        try:
            parsed = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise invalid("data", arg, value, expected) from None
        return parse_time(parsed, arg, now)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return parse_time(value.to_pydatetime(), arg, now)
    raise invalid("data", arg, value, expected)


#: Longest list a filter accepts (SQL drivers cap the number of bound parameters).
MAX_FILTER_VALUES = 10_000


def _strings(value: Any, arg: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not items or len(items) > MAX_FILTER_VALUES:
        raise invalid("data", arg, value, f"a str or a non-empty list of at most {MAX_FILTER_VALUES} str")
    if not all(isinstance(v, str) for v in items):
        raise invalid("data", arg, value, "a str or a non-empty list of str")
    return tuple(items)


def _ints(value: Any, arg: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, numbers.Integral) else value
    ok = isinstance(items, (list, tuple, set, frozenset, range)) and 0 < len(items) <= MAX_FILTER_VALUES and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items
    )
    if not ok:
        raise invalid("data", arg, value, f"an int or a non-empty list of at most {MAX_FILTER_VALUES} int")
    return tuple(int(v) for v in items)


def resolve_runs(run: Any, latest: int, default: int | None) -> tuple[int, ...] | None:
    """The run numbers a ``run=`` filter selects, ``None`` meaning all runs.

    ``None`` selects ``default`` (the current or last used run) or all;
    an int selects that run, a negative int counts back from the latest
    (``-1`` is the latest); ``'all'``/``'*'`` selects every run; a list mixes
    ints; a slice ``slice(a, b)`` selects run numbers ``a`` to ``b``
    inclusive (negative bounds count back from the latest).

    Examples
    --------
    >>> resolve_runs(None, 5, 3)
    (3,)
    >>> resolve_runs(-1, 5, None)
    (5,)
    >>> resolve_runs(slice(2, -2), 5, None)
    (2, 3, 4)
    >>> resolve_runs('*', 5, 3) is None
    True
    """
    def absolute(n: int) -> int:
        return latest + 1 + n if n < 0 else n

    if run is None:
        return (default,) if default else None
    if isinstance(run, str):
        if run in ("all", "*"):
            return None
        raise invalid("data", "run", run, "an int, a list of int, a slice, 'all' or '*'")
    if isinstance(run, slice):
        if run.step not in (None, 1):
            raise invalid("data", "run", run, "a slice without a step")
        for bound in (run.start, run.stop):
            if bound is not None and (not isinstance(bound, numbers.Integral) or isinstance(bound, bool)):
                raise invalid("data", "run", run, "a slice of int run numbers")
        lo = 1 if run.start is None else absolute(int(run.start))
        # runs above the latest do not exist: clamp, so slice(1, 10**9) stays a short list
        hi = latest if run.stop is None else min(absolute(int(run.stop)), latest)
        return tuple(range(max(lo, 1), hi + 1)) or (0,)
    return tuple(absolute(n) for n in _ints(run, "run") or ())


def extra_filters(fields: dict[str, Any]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Validate keyword filters on core columns (node, userid, name) or extra fields."""
    out = []
    for name, value in fields.items():
        if name not in CORE_FILTER_FIELDS:
            check_field(name, "data", f"filter {name!r}")
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not values:
            raise invalid("data", name, value, "a value or a non-empty list of values")
        for v in values:
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise invalid("data", name, value, "str, int, float, bool or None values")
            if type(v) is int and not -(2**63) <= v < 2**63:  # the store compares 64-bit integers
                raise invalid("data", name, value, "int values in the 64-bit range")
        out.append((name, tuple(values)))
    return tuple(out)


def build_query(
    experiment_id: int, *, runs: tuple[int, ...] | None, event: Any = None, key: Any = None,
    step: Any = None, since: Any = None, end: Any = None, fields: dict[str, Any] | None = None,
) -> EventQuery:
    """Validate every filter and build the store query."""
    since_s = parse_time(since, "since")
    end_s = parse_time(end, "end")
    return EventQuery(
        experiment_id=experiment_id,
        runs=runs,
        events=_strings(event, "event"),
        keys=_strings(key, "key"),
        steps=_ints(step, "step"),
        since=since_s,
        end=end_s,
        fields=extra_filters(fields or {}),
    )


def check_batchsize(batchsize: Any) -> int | None:
    if batchsize is None:
        return None
    if not isinstance(batchsize, numbers.Integral) or isinstance(batchsize, bool) or batchsize < 1:
        raise invalid("data", "batchsize", batchsize, "an int >= 1")
    return int(batchsize)


__all__ = ["build_query", "check_batchsize", "extra_filters", "parse_time", "resolve_runs"]
