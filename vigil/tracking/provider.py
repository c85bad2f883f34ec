"""The experiment API and the contract every tracking provider fulfils.

``om.runtime.experiment(name, provider=...)`` returns an instance of a
:class:`TrackingProvider` subclass; users call its ``log_*``/``data``
methods. The base class validates every argument once, at this boundary,
and turns calls into event rows; a provider decides where rows go through
a handful of primitives:

=====================  ====================================================
primitive              duty
=====================  ====================================================
``_new_run()``         allocate the next run number (atomic), mark STARTED
``_end_run(run, st)``  record the end and status of a run
``_find_run(run)``     a :class:`~vigil.store.base.RunRecord` or None
``_list_runs()``       all runs
``_write(rows)``       accept event rows (durable soon after, see the store)
``_read(query)``       events matching a query as an Arrow table
``_put_object``        store bytes for an artifact; ``_get_object`` reads
``flush()``            make everything written so far durable
``_clear()``           delete every event, run and object of the experiment
=====================  ====================================================

:class:`DefaultProvider` implements them on the workspace's stores.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import math
import numbers
import socket
import sys
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from vigil.errors import InvalidInput, NotFound, StoreError, describe, invalid
from vigil.store.base import EVENT_SCHEMA, EventQuery, RunRecord
from vigil.store.names import check_field, check_name, key_path
from vigil.store.serializers import EXTENSIONS, decode, encode, is_array_like, to_json
from vigil.tracking import context
from vigil.tracking.frames import BASE_COLUMNS, to_frame, to_records
from vigil.tracking.query import build_query, check_batchsize, resolve_runs

CORE_FIELDS = frozenset(BASE_COLUMNS)
_MAX_KEY_CHARS = 1024
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PAGE_ROWS = 10_000
_NODE = socket.gethostname()

_active: weakref.WeakSet[TrackingProvider] = weakref.WeakSet()
_atexit_registered = False


def _stop_active_runs() -> None:
    for exp in list(_active):
        try:
            if exp._run is not None:
                exp.stop()
        except Exception:  # noqa: BLE001 - at exit, never raise
            pass


def _check_key(who: str, key: Any, arg: str = "key") -> str:
    if type(key) is not str or not key or len(key) > _MAX_KEY_CHARS or "\x00" in key:
        raise invalid(who, arg, key, f"a non-empty str of at most {_MAX_KEY_CHARS} characters without NUL")
    return key


def _check_step(who: str, step: Any) -> int | None:
    if step is None:
        return None
    if isinstance(step, numbers.Integral) and not isinstance(step, bool) and _INT64_MIN <= int(step) <= _INT64_MAX:
        return int(step)
    raise invalid(who, "step", step, "an int in the 64-bit range, or None")


def _metric_value(who: str, value: Any, arg: str = "value") -> float:
    if type(value) is float:
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            pass
    raise invalid(who, arg, value, "a real number within the float range (NaN and inf are kept)")


def _ref(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict) and set(value) == {"$ref"} and isinstance(value["$ref"], dict):
        return value["$ref"]
    return None


def _ref_bytes(ref: Mapping[str, Any], get_object: Callable[[str], bytes]) -> bytes:
    """The bytes a reference names: kept in the event itself (``inline``, base64) or an object's."""
    inline = ref.get("inline")
    if inline is None:
        return get_object(ref["key"])
    try:
        return base64.b64decode(inline, validate=True)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise StoreError(f"a stored reference holds damaged inline bytes: {exc}") from None


class TrackingProvider:
    """An experiment: a named log of runs and their events.

    Subclass it (or :class:`DefaultProvider`) and register the class to add a
    provider; see :mod:`vigil.tracking.registry`.

    Parameters
    ----------
    experiment : str
        Name of the experiment; nested names use ``/`` (``monitors/housing/california``).
    stores : vigil.store.Stores
        Where the default provider keeps events and artifacts.
    options
        Provider-specific settings (e.g. ``interval_s`` for ``profiling``).
    """

    name = "base"

    def __init__(self, experiment: str, stores: Any = None, **options: Any) -> None:
        self.experiment = check_name(experiment, type(self).__name__, "experiment")
        self._stores = stores
        self.options = options
        self._run: int | None = None       # the run events are logged to
        self._last_run: int | None = None  # the run data() reads by default
        self._sticky: dict[str, Any] = {}
        self._sticky_json: str | None = None
        self._tokens: list[Any] = []  # one per open with block (the same object may be re-entered)
        self._checked_fields: set[str] = set()
        self._keys_ok: set[Any] = set()
        self.autotrack = False
        #: set by the runtime: creates the monitor job of ``track(..., monitor=True)``
        self.track_hook: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.experiment!r}, run={self._run or self._last_run})"

    # -- primitives (a provider implements these) ------------------------------------------
    @property
    def _exp_id(self) -> int:
        return 0

    @property
    def _uid(self) -> str:
        return "0"

    @property
    def _read_id(self) -> int:
        """The experiment id for queries (no side effects; -1 if it does not exist)."""
        return self._exp_id

    def _new_run(self) -> int:
        raise NotImplementedError

    def _end_run(self, run: int, status: str) -> None:
        raise NotImplementedError

    def _find_run(self, run: int) -> RunRecord | None:
        raise NotImplementedError

    def _list_runs(self) -> list[RunRecord]:
        raise NotImplementedError

    def _write(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def _read(self, query: EventQuery) -> pa.Table:
        raise NotImplementedError

    def _put_object(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _get_object(self, key: str) -> bytes:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make every event logged so far durable."""

    # -- runs ------------------------------------------------------------------------------
    def start(self) -> int:
        """Start a new run and make it the active one; returns its number."""
        global _atexit_registered
        if self._run is not None:
            self.stop()
        self._run = self._last_run = self._new_run()
        _active.add(self)
        if not _atexit_registered:
            _atexit_registered = True
            atexit.register(_stop_active_runs)
        return self._run

    def stop(self, status: str = "STOPPED") -> None:
        """End the active run (``STOPPED`` or ``FAILED``) and flush its events."""
        if status not in ("STOPPED", "FAILED"):
            raise invalid("stop", "status", status, "'STOPPED' or 'FAILED'")
        if self._run is None:
            return
        run, self._run = self._run, None
        self.flush()
        self._end_run(run, status)
        _active.discard(self)

    def use(self, run: int | None = None) -> TrackingProvider:
        """Select an existing run (default: the latest) for reading, and for logging if it is still STARTED."""
        number = self.latest_run if run is None else run
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise invalid("use", "run", run, "an int run number or None")
        number = int(number)
        if number < 0:
            number = self.latest_run + 1 + number
        record = self._find_run(number) if number > 0 else None
        if record is None:
            raise InvalidInput(
                f"use: run must be an existing run of experiment {self.experiment!r} "
                f"(1..{self.latest_run}); got {describe(run)}"
            )
        self._last_run = number
        self._run = number if record.status == "STARTED" else None
        return self

    def active_run(self) -> int | None:
        """Number of the run events are logged to, or None if no run is active."""
        return self._run

    @property
    def latest_run(self) -> int:
        runs = self._list_runs()
        return runs[-1].run if runs else 0

    def status(self, run: int | None = None) -> str:
        """Status of a run (default: the active or last used one): STARTED, STOPPED or FAILED."""
        number = run if run is not None else (self._run or self._last_run or self.latest_run)
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise invalid("status", "run", run, "an int run number or None")
        record = self._find_run(int(number)) if number else None
        if record is None:
            raise InvalidInput(f"status: run must be an existing run of {self.experiment!r}; got {describe(run)}")
        return record.status

    def runs(self):
        """A DataFrame of the runs: number, status, start, end, duration, node, user."""
        import pandas as pd

        records = self._list_runs()
        frame = pd.DataFrame(
            [(r.run, r.status, r.started, r.ended, r.node, r.userid) for r in records],
            columns=["run", "status", "started", "ended", "node", "userid"],
        )
        frame["duration_s"] = frame["ended"] - frame["started"]
        for col in ("started", "ended"):
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
        return frame

    def __enter__(self) -> TrackingProvider:
        self.start()
        self._tokens.append(context.enter(self))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None and self._run is not None:
                self.log_event("exception", exc_type.__name__, {
                    "type": f"{exc_type.__module__}.{exc_type.__qualname__}",
                    "message": str(exc),
                    "traceback": "".join(traceback.format_exception(exc_type, exc, tb))[-8000:],
                })
            self.stop("FAILED" if exc_type is not None else "STOPPED")
        finally:
            if self._tokens:
                context.leave(self._tokens.pop())

    # -- logging ---------------------------------------------------------------------------
    def _active(self, who: str) -> int:
        if self._run is not None:
            return self._run
        if self._last_run is not None and self._find_run(self._last_run) is not None:
            status = self.status(self._last_run)
            if status != "STARTED":
                raise InvalidInput(
                    f"{who}: run {self._last_run} of {self.experiment!r} is {status} and its log is "
                    "immutable; start a new run with exp.start() or a with block"
                )
        return self.start()

    def _extra(self, who: str, extra: dict[str, Any]) -> str | None:
        if not extra:
            return self._sticky_json
        for field, value in extra.items():
            if field not in self._checked_fields:
                if field in CORE_FIELDS:
                    raise invalid(who, field, value, f"an extra field; {field!r} is a core field and cannot be overridden")
                check_field(field, who, "extra field")
                self._checked_fields.add(field)
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise invalid(who, field, value, "a str, int, float, bool or None (extra fields are scalars)")
            if isinstance(value, float) and not math.isfinite(value):
                raise invalid(who, field, value, "a finite number (extra fields are filterable)")
            if isinstance(value, str) and "\x00" in value:
                raise invalid(who, field, value, "a str without NUL characters")
        merged = {**self._sticky, **extra} if self._sticky else extra
        return to_json(merged, who, "extra fields")

    def _row(self, run: int, event: str, key: str, value: Any, step: int | None,
             extra: str | None, name: str | None = None, who: str = "log_event") -> tuple:
        if type(value) is float:
            num, text = (value, None) if value == value else (None, "NaN")
        else:
            num, text = None, to_json(value, who, "value")
        return (self._exp_id, run, event, key, num, text, step, time.time(), _NODE,
                self._userid, name, extra)

    @property
    def _userid(self) -> str:
        return self._stores.settings.userid if self._stores is not None else "unknown"

    def log_metric(self, key: str, value: float, step: int | None = None, **extra: Any) -> None:
        """Log a numeric metric (NaN and inf are kept).

        Examples
        --------
        >>> import vigil as om
        >>> with om.runtime.experiment('doc-metric') as exp:
        ...     exp.log_metric('accuracy', 0.5, step=1)
        >>> float(exp.data(key='accuracy')['value'].iloc[-1])
        0.5
        """
        if type(key) is not str or key not in self._keys_ok:  # an unhashable key is no set member
            self._remember_key(_check_key("log_metric", key))
        v = value if type(value) is float else _metric_value("log_metric", value)
        if step is not None:
            step = _check_step("log_metric", step)
        run = self._run or self._active("log_metric")
        x = self._extra("log_metric", extra) if extra else self._sticky_json
        self._write([(self._exp_id, run, "metric", key, v if v == v else None, None if v == v else "NaN",
                      step, time.time(), _NODE, self._userid, None, x)])

    def _remember_key(self, key: str) -> None:
        if len(self._keys_ok) < 10_000:
            self._keys_ok.add(key)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None, **extra: Any) -> None:
        """Log several metrics at once (one event each, same step)."""
        if not isinstance(metrics, dict):
            raise invalid("log_metrics", "metrics", metrics, "a dict of key -> number")
        step = _check_step("log_metrics", step)
        rows = []
        run = self._active("log_metrics")
        x = self._extra("log_metrics", extra)
        now = time.time()
        for key, value in metrics.items():
            _check_key("log_metrics", key, "metrics key")
            v = _metric_value("log_metrics", value, f"metrics[{key!r}]")
            rows.append((self._exp_id, run, "metric", key, v if v == v else None,
                         None if v == v else "NaN", step, now, _NODE, self._userid, None, x))
        self._write(rows)

    def log_param(self, key: str, value: Any, step: int | None = None, **extra: Any) -> None:
        """Log a parameter: any JSON-able value."""
        _check_key("log_param", key)
        text = to_json(value, "log_param", "value")
        self._write([(self._exp_id, self._active("log_param"), "param", key, None, text,
                      _check_step("log_param", step), time.time(), _NODE, self._userid, None,
                      self._extra("log_param", extra))])

    def log_event(self, event: str, key: str, value: Any, step: int | None = None, **extra: Any) -> None:
        """Log one event of any kind; floats go to the numeric column, the rest as JSON."""
        _check_key("log_event", event, "event")
        _check_key("log_event", key)
        value = float(value) if isinstance(value, numbers.Real) and not isinstance(value, (bool, int)) else value
        self._write([self._row(self._active("log_event"), event, key, value,
                               _check_step("log_event", step), self._extra("log_event", extra))])

    def log_events(self, event: str, key: str, values: Iterable[Any], step: int | list[int] | None = None,
                   **extra: Any) -> None:
        """Log many values of one event and key; ``step`` is a start step or a list of steps."""
        _check_key("log_events", event, "event")
        _check_key("log_events", key)
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise invalid("log_events", "values", values, "a list (or iterable) of values")
        values = list(values)
        if isinstance(step, (list, tuple)):
            if len(step) != len(values):
                raise invalid("log_events", "step", step, f"a list of {len(values)} steps, one per value")
            steps = [_check_step("log_events", s) for s in step]
        else:
            start = _check_step("log_events", step)
            steps = [None] * len(values) if start is None else list(range(start, start + len(values)))
        run = self._active("log_events")
        x = self._extra("log_events", extra)
        rows = []
        for v, s in zip(values, steps):
            v = float(v) if isinstance(v, numbers.Real) and not isinstance(v, (bool, int)) else v
            rows.append(self._row(run, event, key, v, s, x, who="log_events"))
        self._write(rows)

    def log_extra(self, remove: bool = False, **fields: Any) -> None:
        """Add sticky fields to every later event (``remove=True`` drops them; no fields: all)."""
        if remove:
            for f in fields or list(self._sticky):
                self._sticky.pop(f, None)
        else:
            if not fields:
                raise InvalidInput("log_extra: give at least one field=value")
            self._extra("log_extra", fields)
            self._sticky.update(fields)
        self._sticky_json = to_json(self._sticky, "log_extra", "fields") if self._sticky else None

    def log_system(self) -> None:
        """Log the platform, the Python version and the installed packages as a ``system`` event."""
        import platform
        from importlib.metadata import distributions

        packages = {}
        for dist in distributions():
            name = dist.metadata["Name"]
            if name:
                packages[name] = dist.version
        self.log_event("system", "system", {
            "platform": platform.platform(), "machine": platform.machine(),
            "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "node": _NODE, "packages": dict(sorted(packages.items())),
        })

    # -- artifacts and data ------------------------------------------------------------------
    def _object_key(self, run: int, kind: str, name: str, fmt: str) -> str:
        return f"experiments/{self._uid}/runs/{run}/{kind}/{key_path(name)}/{uuid.uuid4().hex}.{EXTENSIONS[fmt]}"

    def _store_object(self, run: int, kind: str, name: str, obj: Any, allow_pickle: bool, who: str) -> dict:
        return self._put_encoded(run, kind, name, encode(obj, allow_pickle=allow_pickle, who=who))

    def _put_encoded(self, run: int, kind: str, name: str, encoded: Any) -> dict:
        key = self._object_key(run, kind, name, encoded.format)
        self._put_object(key, encoded.data)
        return {"$ref": {"key": key, "format": encoded.format, "size": len(encoded.data),
                         "sha256": hashlib.sha256(encoded.data).hexdigest(), **encoded.info}}

    def log_artifact(self, obj: Any, name: str, step: int | None = None, allow_pickle: bool = False,
                     **extra: Any) -> None:
        """Store an object as an artifact of the active run.

        ``obj`` may be bytes, a file path, a JSON-able value, a DataFrame, a
        numpy array or a scikit-learn estimator (skops); anything else needs
        ``allow_pickle=True``.
        """
        check_name(name, "log_artifact", "name")
        step = _check_step("log_artifact", step)
        x = self._extra("log_artifact", extra)
        run = self._active("log_artifact")
        ref = self._store_object(run, "artifacts", name, obj, allow_pickle, "log_artifact")
        self._write([self._row(run, "artifact", name, ref, step, x, name=name)])

    def log_data(self, key: str, value: Any, step: int | None = None, **extra: Any) -> None:
        """Log data: DataFrames and arrays (also inside a dict) go to the object store as
        Parquet/npy with a reference in the event; JSON-able values are kept inline."""
        check_name(key, "log_data", "key")
        step = _check_step("log_data", step)
        x = self._extra("log_data", extra)

        def encoded(v: Any) -> Any:
            return encode(v, who="log_data") if is_array_like(v) else None

        if isinstance(value, dict):
            parts = {}
            for k, v in value.items():
                if is_array_like(v):
                    check_name(k, "log_data", "value key")
                elif not isinstance(k, str):
                    raise invalid("log_data", "value key", k, "a str")
                parts[k] = (v, encoded(v))
        else:
            parts = {None: (value, encoded(value))}
        inline = {k: v for k, (v, enc) in parts.items() if enc is None}
        to_json({str(k): v for k, v in inline.items()}, "log_data", "value")  # refuse before writing anything
        run = self._active("log_data")
        stored = {k: self._put_encoded(run, "data", key if k is None else f"{key}/{k}", enc)
                  for k, (v, enc) in parts.items() if enc is not None}
        if isinstance(value, dict):
            payload = {k: stored.get(k, inline.get(k)) for k in parts}
        else:
            payload = stored.get(None, value)
        self._write([self._row(run, "data", key, payload, step, x, name=key, who="log_data")])

    def _resolve(self, value: Any, allow_pickle: bool = False, trusted: Iterable[str] = ()) -> Any:
        ref = _ref(value)
        if ref is not None:
            return decode(_ref_bytes(ref, self._get_object), ref["format"], ref,
                          allow_pickle=allow_pickle, trusted=trusted)
        if isinstance(value, dict):
            return {k: self._resolve(v, allow_pickle, trusted) for k, v in value.items()}
        return value

    def _named(self, event: str, name: str, run: Any, who: str) -> list[dict[str, Any]]:
        self.flush()
        runs = None if run is None else resolve_runs(run, self.latest_run, None)
        query = build_query(self._read_id, runs=runs, event=event, key=name)
        return to_records(self._read(query), self.experiment)

    def restore_artifact(self, name: str, run: Any = None, allow_pickle: bool = False,
                         trusted: Iterable[str] = ()) -> Any:
        """The latest version of an artifact (in ``run`` if given)."""
        check_name(name, "restore_artifact", "name")
        records = self._named("artifact", name, run, "restore_artifact")
        if not records:
            raise NotFound(f"restore_artifact: no artifact {name!r} in experiment {self.experiment!r}"
                           + (f" run {run}" if run is not None else ""))
        return self._resolve(records[-1]["value"], allow_pickle, trusted)

    def restore_artifacts(self, name: str | None = None, run: Any = None, allow_pickle: bool = False,
                          trusted: Iterable[str] = ()) -> list[Any]:
        """Every stored version of the artifacts (of ``name`` / ``run`` if given), oldest first."""
        if name is not None:
            check_name(name, "restore_artifacts", "name")
        self.flush()
        runs = None if run is None else resolve_runs(run, self.latest_run, None)
        query = build_query(self._read_id, runs=runs, event="artifact", key=name)
        return [self._resolve(r["value"], allow_pickle, trusted)
                for r in to_records(self._read(query), self.experiment)]

    def restore_data(self, key: str, run: Any = None, latest: bool = True, allow_pickle: bool = False) -> Any:
        """Data logged with :meth:`log_data`, dtypes intact: the latest value, or all (``latest=False``)."""
        check_name(key, "restore_data", "key")
        records = self._named("data", key, run, "restore_data")
        if not records:
            raise NotFound(f"restore_data: no data {key!r} in experiment {self.experiment!r}"
                           + (f" run {run}" if run is not None else ""))
        if latest:
            return self._resolve(records[-1]["value"], allow_pickle)
        return [self._resolve(r["value"], allow_pickle) for r in records]

    # -- reading ---------------------------------------------------------------------------
    def data(self, run: Any = None, event: Any = None, key: Any = None, step: Any = None,
             since: Any = None, end: Any = None, batchsize: int | None = None, raw: bool = False,
             lazy: bool = False, **fields: Any) -> Any:
        """Events of this experiment, filtered in the store.

        Parameters
        ----------
        run : int, list, slice, 'all' or '*', optional
            Default: the active or last used run, else all runs. Negative
            numbers count back from the latest run.
        event, key : str or list of str, optional
        step : int or list of int, optional
        since, end : datetime, timedelta, ISO string, '2h'/'30m'/'1d' or epoch seconds
        batchsize : int, optional
            Return a generator of DataFrames (or lists of dicts with ``raw``) of that size.
        raw : bool
            Dicts instead of DataFrames.
        lazy : bool
            A cursor yielding ``{'_id': ..., 'data': {...}}`` one event at a time.
        **fields
            Equality filters on ``node``, ``userid``, ``name`` or extra fields.

        Examples
        --------
        >>> import vigil as om
        >>> with om.runtime.experiment('doc-data') as exp:
        ...     exp.log_param('batchsize', 1)
        >>> exp.data(raw=True)[0]['value']
        1
        """
        size = check_batchsize(batchsize)
        self.flush()
        runs = resolve_runs(run, self.latest_run, self._run or self._last_run)
        query = build_query(self._read_id, runs=runs, event=event, key=key, step=step,
                            since=since, end=end, fields=fields)
        if lazy:
            return self._cursor(query)
        if size is not None:
            return self._batches(query, size, raw)
        table = self._read(query)
        return to_records(table, self.experiment) if raw else to_frame(table, self.experiment)

    def _pages(self, query: EventQuery, size: int) -> Iterator[pa.Table]:
        after = 0
        while True:
            page = self._read(EventQuery(**{**query.__dict__, "after_id": after, "limit": size}))
            if page.num_rows == 0:
                return
            yield page
            after = page.column("id")[-1].as_py()
            if page.num_rows < size:
                return

    def _batches(self, query: EventQuery, size: int, raw: bool) -> Iterator[Any]:
        for page in self._pages(query, size):
            yield to_records(page, self.experiment) if raw else to_frame(page, self.experiment)

    def _cursor(self, query: EventQuery) -> Iterator[dict[str, Any]]:
        for page in self._pages(query, _PAGE_ROWS):
            ids = page.column("id").to_pylist()
            for _id, record in zip(ids, to_records(page, self.experiment)):
                yield {"_id": _id, "data": record}

    # -- models ----------------------------------------------------------------------------
    def _model_store(self) -> Any:
        from vigil.store.models import Models

        stores = self._stores
        if stores is None:
            from vigil.store import default_stores

            stores = default_stores()
        return Models(stores)

    def track(self, model: str, monitor: bool = False, schedule: str | None = None, alerts: Any = None,
              provider: str | None = None) -> dict[str, Any]:
        """Link a stored model to this experiment: later runtime calls of the model are tracked here.

        With ``monitor=True`` the runtime also creates the drift monitor job
        ``monitors/<experiment>/<model>`` (scheduled if ``schedule`` is given, with
        the alert rules ``alerts``). The link is kept with the model (``om.models.metadata(model)['links']``).
        Returns the link.

        Examples
        --------
        >>> import vigil as om
        >>> from sklearn.linear_model import LinearRegression
        >>> _ = om.models.put(LinearRegression(), 'doc-tracked')
        >>> with om.runtime.experiment('doc-track') as exp:
        ...     exp.track('doc-tracked', monitor=True, schedule='daily')['job']
        'monitors/doc-track/doc-tracked'
        >>> [link['experiment'] for link in om.models.metadata('doc-tracked')['links']]
        ['doc-track']
        """
        check_name(model, "track", "model")
        if not isinstance(monitor, bool):
            raise invalid("track", "monitor", monitor, "True or False")
        if not monitor and (schedule is not None or alerts is not None):
            raise InvalidInput("track: schedule and alerts are settings of the monitor job; pass monitor=True")
        models = self._model_store()
        if models.find(model) is None:
            raise NotFound(f"track: model {model!r} does not exist; store it with om.models.put(model, {model!r})")
        link: dict[str, Any] = {"provider": self.name, "autotrack": True, "monitor": monitor,
                                "monitor_provider": provider, "schedule": schedule, "job": None}
        if monitor:
            if self.track_hook is None:
                raise InvalidInput("track: monitor=True needs an experiment opened by om.runtime.experiment(...), "
                                   "which creates the monitor job")
            link["job"] = self.track_hook(self, model, schedule=schedule, alerts=alerts, provider=provider)
        models.link(model, self.experiment, **link)
        return {"experiment": self.experiment, **link}

    def as_monitor(self, name: str, store: Any = None, provider: str | None = None, **options: Any) -> Any:
        """A :class:`vigil.drift.ModelDriftMonitor` of model ``name`` on the traffic logged in this experiment."""
        from vigil.drift.model import ModelDriftMonitor

        return ModelDriftMonitor(name, store=store, experiment=self, provider=provider, **options)

    # -- clearing --------------------------------------------------------------------------
    def clear(self, force: bool = False) -> None:
        """Delete every event, run and artifact of this experiment (needs ``force=True``)."""
        if force is not True:
            raise invalid("clear", "force", force,
                          f"True to delete all runs, events and artifacts of {self.experiment!r} (irreversible)")
        if self._run is not None:
            self.stop()
        self.flush()
        self._clear()
        self._run = self._last_run = None


class DefaultProvider(TrackingProvider):
    """Stores every event in the workspace's event store and artifacts in its object store."""

    name = "default"

    def __init__(self, experiment: str, stores: Any = None, **options: Any) -> None:
        super().__init__(experiment, stores, **options)
        self._record: Any = None

    @property
    def stores(self) -> Any:
        if self._stores is None:
            from vigil.store import default_stores

            self._stores = default_stores()
        return self._stores

    @property
    def _userid(self) -> str:
        return self.stores.settings.userid

    def _experiment_record(self) -> Any:
        if self._record is None:
            self._record = self.stores.events.ensure_experiment(self.experiment)
        return self._record

    @property
    def _read_id(self) -> int:
        record = self._existing()
        return -1 if record is None else record.id

    def _existing(self) -> Any:
        """The experiment's record if it exists; reading never creates an experiment."""
        if self._record is None:
            self._record = self.stores.events.find_experiment(self.experiment)
        return self._record

    @property
    def _exp_id(self) -> int:
        return self._experiment_record().id

    @property
    def _uid(self) -> str:
        return self._experiment_record().uid

    def _new_run(self) -> int:
        return self.stores.events.start_run(self._exp_id, time.time(), _NODE, self._userid)

    def _end_run(self, run: int, status: str) -> None:
        self.stores.events.set_run_status(self._exp_id, run, status, time.time())

    def _find_run(self, run: int) -> RunRecord | None:
        record = self._existing()
        return None if record is None else self.stores.events.find_run(record.id, run)

    def _list_runs(self) -> list[RunRecord]:
        record = self._existing()
        return [] if record is None else self.stores.events.list_runs(record.id)

    @property
    def latest_run(self) -> int:
        record = self._existing()
        return 0 if record is None else self.stores.events.latest_run(record.id)

    def _write(self, rows: list[tuple]) -> None:
        writer = self.stores.writer
        if len(rows) == 1:
            writer.append(rows[0])
        else:
            writer.extend(rows)

    def _read(self, query: EventQuery) -> pa.Table:
        if self._existing() is None:
            return EVENT_SCHEMA.empty_table()
        return self.stores.events.query(query)

    def _put_object(self, key: str, data: bytes) -> None:
        self.stores.objects.put(key, data)

    def _get_object(self, key: str) -> bytes:
        return self.stores.objects.get(key)

    def flush(self) -> None:
        if self._stores is not None:
            self._stores.writer.flush()

    def _clear(self) -> None:
        record = self.stores.events.find_experiment(self.experiment)
        if record is None:
            return
        self.stores.objects.delete_prefix(f"experiments/{record.uid}")
        self.stores.events.delete_experiment(record.id)
        self._record = None


class NoTrackProvider(TrackingProvider):
    """Accepts every call, validates it, stores nothing; ``data()`` is empty."""

    name = "notrack"

    def __init__(self, experiment: str, stores: Any = None, **options: Any) -> None:
        super().__init__(experiment, stores, **options)
        self._runs: dict[int, RunRecord] = {}

    def _new_run(self) -> int:
        run = len(self._runs) + 1
        self._runs[run] = RunRecord(run, "STARTED", time.time(), None, _NODE, self._userid)
        return run

    def _end_run(self, run: int, status: str) -> None:
        r = self._runs[run]
        self._runs[run] = RunRecord(run, status, r.started, time.time(), r.node, r.userid)

    def _find_run(self, run: int) -> RunRecord | None:
        return self._runs.get(run)

    def _list_runs(self) -> list[RunRecord]:
        return list(self._runs.values())

    def _write(self, rows: list[tuple]) -> None:
        pass

    def _read(self, query: EventQuery) -> pa.Table:
        return EVENT_SCHEMA.empty_table()

    def _put_object(self, key: str, data: bytes) -> None:
        pass

    def _get_object(self, key: str) -> bytes:
        raise NotFound(f"the notrack provider keeps no objects ({key!r})")

    def _clear(self) -> None:
        self._runs.clear()
