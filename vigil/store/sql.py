"""What every SQL event store shares: statements, filters, run allocation.

A dialect subclass supplies four primitives (:meth:`SqlEventStore._statement`,
:meth:`SqlEventStore._transaction`, :meth:`SqlEventStore._append_rows`,
:meth:`SqlEventStore._fetch_arrow`); everything else is written once here
with SQLAlchemy Core, so each filter means the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from vigil.errors import InvalidInput, StoreConflict, StoreError
from vigil.store import schema as s
from vigil.store.base import (
    CORE_FILTER_FIELDS,
    EVENT_SCHEMA,
    EventQuery,
    ExperimentRecord,
    RunRecord,
)

Runner = Callable[[sa.Executable], list[tuple]]


class SqlEventStore:
    """Base of the SQL event stores; see :class:`vigil.store.base.EventStore`."""

    url: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._opened = False

    # -- primitives a dialect provides -------------------------------------------------
    def _statement(self, stmt: sa.Executable) -> list[tuple]:
        """Run one statement in its own transaction; return its rows."""
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Runner]:
        """A write transaction; yields a function that runs statements inside it."""
        raise NotImplementedError

    def _append_rows(self, rows: Sequence[tuple]) -> None:
        """Insert event rows (EVENT_COLUMNS order) in one transaction."""
        raise NotImplementedError

    def _fetch_arrow(self, stmt: sa.Select) -> pa.Table:
        """Run a select of event columns; return a table with EVENT_SCHEMA."""
        raise NotImplementedError

    def _create_schema(self) -> None:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> None:
        """Create the tables if the store is new and check the schema version."""
        if self._opened:
            return
        self._create_schema()
        rows = self._statement(sa.select(s.schema_info.c.version))
        if not rows:
            with self._transaction() as run:
                if not run(sa.select(s.schema_info.c.version)):
                    run(sa.insert(s.schema_info).values(version=s.SCHEMA_VERSION))
        elif rows[0][0] > s.SCHEMA_VERSION:
            raise StoreError(
                f"store {self.url} has schema version {rows[0][0]}, newer than this vigil "
                f"understands ({s.SCHEMA_VERSION}); upgrade vigil"
            )
        self._opened = True

    def close(self) -> None:
        self._opened = False

    # -- experiments and runs ----------------------------------------------------------
    def _insert_ignore(self, table: sa.Table) -> Any:
        raise NotImplementedError

    def ensure_experiment(self, name: str) -> ExperimentRecord:
        found = self.find_experiment(name)
        if found is not None:
            return found
        stmt = self._insert_ignore(s.experiments).values(
            name=name, uid=uuid.uuid4().hex, created=time.time(), last_run=0
        )
        self._statement(stmt)
        found = self.find_experiment(name)
        if found is None:  # pragma: no cover - only if deleted concurrently
            raise StoreError(f"experiment {name!r} vanished while being created")
        return found

    def find_experiment(self, name: str) -> ExperimentRecord | None:
        e = s.experiments.c
        rows = self._statement(sa.select(e.id, e.name, e.uid, e.created).where(e.name == name))
        return ExperimentRecord(*rows[0]) if rows else None

    def list_experiments(self) -> list[dict[str, Any]]:
        e, r = s.experiments.c, s.runs.c
        stmt = (
            sa.select(
                e.name, e.created, e.last_run,
                sa.select(sa.func.max(sa.func.coalesce(r.ended, r.started)))
                .where(r.exp_id == e.id).scalar_subquery(),
            ).order_by(e.name)
        )
        return [
            {"name": n, "created": c, "runs": lr, "last_activity": la if la is not None else c}
            for n, c, lr, la in self._statement(stmt)
        ]

    def start_run(self, exp_id: int, dt: float, node: str, userid: str) -> int:
        e = s.experiments
        with self._transaction() as run:
            rows = run(
                sa.update(e).where(e.c.id == exp_id)
                .values(last_run=e.c.last_run + 1).returning(e.c.last_run)
            )
            if not rows:
                raise StoreError(f"experiment id {exp_id} does not exist (cleared meanwhile?)")
            number = int(rows[0][0])
            run(sa.insert(s.runs).values(
                exp_id=exp_id, run=number, status="STARTED", started=dt, node=node, userid=userid
            ))
        return number

    def set_run_status(self, exp_id: int, run: int, status: str, dt: float) -> None:
        r = s.runs.c
        self._statement(
            sa.update(s.runs).where(r.exp_id == exp_id, r.run == run)
            .values(status=status, ended=dt if status != "STARTED" else None)
        )

    def _runs_select(self) -> sa.Select:
        r = s.runs.c
        return sa.select(r.run, r.status, r.started, r.ended, r.node, r.userid)

    def find_run(self, exp_id: int, run: int) -> RunRecord | None:
        r = s.runs.c
        rows = self._statement(self._runs_select().where(r.exp_id == exp_id, r.run == run))
        return RunRecord(*rows[0]) if rows else None

    def list_runs(self, exp_id: int) -> list[RunRecord]:
        r = s.runs.c
        rows = self._statement(self._runs_select().where(r.exp_id == exp_id).order_by(r.run))
        return [RunRecord(*row) for row in rows]

    def latest_run(self, exp_id: int) -> int:
        e = s.experiments.c
        rows = self._statement(sa.select(e.last_run).where(e.id == exp_id))
        return int(rows[0][0]) if rows else 0

    def delete_experiment(self, exp_id: int) -> None:
        with self._transaction() as run:
            run(sa.delete(s.events).where(s.events.c.exp_id == exp_id))
            run(sa.delete(s.runs).where(s.runs.c.exp_id == exp_id))
            run(sa.delete(s.experiments).where(s.experiments.c.id == exp_id))

    # -- events ------------------------------------------------------------------------
    def append(self, rows: Sequence[tuple]) -> None:
        if rows:
            self._append_rows(rows)

    def _event_columns(self) -> list[Any]:
        e = s.events.c
        return [e.id, e.run, e.event, e.key, e.value_num, e.value_json, e.step,
                e.dt, e.node, e.userid, e.name, e.extra]

    def _where(self, q: EventQuery) -> list[Any]:
        e = s.events.c
        # Integers a column cannot hold match nothing (PostgreSQL would reject them).
        conds: list[Any] = [_equals_any(e.exp_id, (q.experiment_id,), _INT32)]
        if q.after_id:
            conds.append(e.id > q.after_id if q.after_id <= _INT64 else sa.false())
        for col, values, limit in (
            (e.run, q.runs, _INT32), (e.event, q.events, None), (e.key, q.keys, None), (e.step, q.steps, _INT64),
        ):
            if values is not None:
                conds.append(_equals_any(col, values, limit))
        if q.since is not None:
            conds.append(e.dt >= q.since)
        if q.end is not None:
            conds.append(e.dt <= q.end)
        for name, values in q.fields:
            conds.append(sa.or_(sa.false(), *[_field_equals(name, v) for v in values]))
        return conds

    def query(self, q: EventQuery) -> pa.Table:
        e = s.events.c
        if q.latest and q.limit is not None:  # the last `limit` ids, read back in id order
            last = sa.select(e.id).where(*self._where(q)).order_by(e.id.desc()).limit(q.limit).subquery()
            stmt = sa.select(*self._event_columns()).where(e.id.in_(sa.select(last.c.id))).order_by(e.id)
            return self._fetch_arrow(stmt)
        stmt = sa.select(*self._event_columns()).where(*self._where(q)).order_by(e.id)
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        return self._fetch_arrow(stmt)

    def has_event(self, exp_id: int, event: str, key: str) -> bool:
        """True if experiment ``exp_id`` has an event ``event`` with key ``key`` (any run).

        A point lookup for ``event='window'`` (the partial index
        ``ix_vigil_events_window_key``: the collector's exactly-once check);
        for other events it scans the experiment's events of that kind.
        """
        e = s.events.c
        # 'window' as a literal: a partial index applies only to a query naming its constant
        kind: Any = sa.literal_column("'window'") if event == "window" else sa.literal(event, sa.String)
        stmt: Any = sa.select(sa.literal_column("1")).where(e.exp_id == exp_id, e.event == kind, e.key == key).limit(1)
        return bool(self._statement(stmt))

    def count(self, q: EventQuery) -> int:
        rows = self._statement(sa.select(sa.func.count()).select_from(s.events).where(*self._where(q)))
        return int(rows[0][0])

    # -- aggregates (dashboards) -----------------------------------------------------------
    def _floor(self, expr: Any) -> Any:
        """floor() of a non-negative number as an integer (SQLite's CAST truncates)."""
        return sa.cast(expr, sa.Integer)

    def metric_summary(self, exp_id: int, event: str = "metric") -> list[tuple]:
        """Per run and key of ``event`` rows: ``(run, key, count, min, max, last)``, computed in the store.

        ``last`` is the value of the latest row (highest id). One grouped scan
        of the ``(exp_id, event, run)`` index, whatever the number of events.
        """
        e = s.events.c
        grouped = (
            sa.select(e.run, e.key, sa.func.count().label("n"), sa.func.min(e.value_num).label("lo"),
                      sa.func.max(e.value_num).label("hi"), sa.func.max(e.id).label("last_id"))
            .where(e.exp_id == exp_id, e.event == event).group_by(e.run, e.key).subquery()
        )
        last = s.events.alias("last")
        stmt = (
            sa.select(grouped.c.run, grouped.c.key, grouped.c.n, grouped.c.lo, grouped.c.hi, last.c.value_num)
            .join(last, last.c.id == grouped.c.last_id).order_by(grouped.c.run, grouped.c.key)
        )
        return [tuple(r) for r in self._statement(stmt)]

    def metric_series(self, exp_id: int, key: str, runs: Sequence[int] | None = None, buckets: int = 1000,
                      event: str = "metric") -> list[tuple]:
        """A metric's values per run, reduced in the store to at most ``buckets`` rows per run.

        The x axis is the step, or the time (``dt``) where a row has no step.
        Returns ``(run, x, mean, min, max, count)`` rows ordered by run and x.
        A run with at most ``buckets`` rows comes back row by row (count 1);
        a longer one is cut into ``buckets`` equal spans of x, each giving its
        mean x, mean, min and max value: the extremes survive the reduction.
        """
        if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= 100_000:
            raise InvalidInput(f"metric_series: buckets must be an int in 1..100000; got {buckets!r}")
        e = s.events.c
        x = sa.func.coalesce(sa.cast(e.step, sa.Float(precision=53)), e.dt)
        conds: list[Any] = [e.exp_id == exp_id, e.event == event, e.key == key, e.value_num.is_not(None)]
        if runs is not None:
            conds.append(_equals_any(e.run, tuple(runs), _INT32))
        bounds = self._statement(
            sa.select(e.run, sa.func.count(), sa.func.min(x), sa.func.max(x)).where(*conds).group_by(e.run))
        out: list[tuple] = []
        short = [int(r) for r, n, _lo, _hi in bounds if n <= buckets]
        if short:
            rows = self._statement(sa.select(e.run, x, e.value_num, e.value_num, e.value_num, sa.literal(1))
                                   .where(*conds, e.run.in_(short)).order_by(e.run, x, e.id))
            out.extend(tuple(r) for r in rows)
        for run, n, lo, hi in bounds:
            if n <= buckets:
                continue
            span = (float(hi) - float(lo)) or 1.0
            bucket = self._floor((x - float(lo)) * ((buckets - 1e-6) / span))
            rows = self._statement(
                sa.select(e.run, sa.func.avg(x), sa.func.avg(e.value_num), sa.func.min(e.value_num),
                          sa.func.max(e.value_num), sa.func.count())
                .where(*conds, e.run == int(run)).group_by(e.run, bucket).order_by(sa.func.avg(x)))
            out.extend(tuple(r) for r in rows)
        out.sort(key=lambda r: (r[0], r[1]))
        return out

    # -- metadata ----------------------------------------------------------------------
    def put_meta(self, kind: str, name: str, record: dict[str, Any]) -> int:
        m = s.meta.c
        text = json.dumps(record, allow_nan=False)
        for _attempt in range(20):
            try:
                with self._transaction() as run:
                    rows = run(sa.select(sa.func.max(m.version)).where(m.kind == kind, m.name == name))
                    version = int(rows[0][0] or 0) + 1
                    run(sa.insert(s.meta).values(
                        kind=kind, name=name, version=version, created=time.time(), record=text
                    ))
                return version
            except StoreConflict:
                time.sleep(0.01)  # a concurrent put took this version number: take the next
        raise StoreError(f"could not store metadata of {kind} {name!r}: too many concurrent writers")

    def find_meta(self, kind: str, name: str, version: int | None = None) -> dict[str, Any] | None:
        m = s.meta.c
        stmt = sa.select(m.version, m.created, m.record).where(m.kind == kind, m.name == name)
        stmt = stmt.where(m.version == version) if version is not None else stmt.order_by(m.version.desc()).limit(1)
        rows = self._statement(stmt)
        if not rows:
            return None
        version_, created, record = rows[0]
        return {**json.loads(record), "name": name, "version": version_, "created": created}

    def list_meta(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        m = s.meta.c
        latest = (
            sa.select(m.name, sa.func.max(m.version).label("version"))
            .where(m.kind == kind).group_by(m.name).subquery()
        )
        stmt = (
            sa.select(m.name, m.version, m.created, m.record)
            .join(latest, sa.and_(m.name == latest.c.name, m.version == latest.c.version))
            .where(m.kind == kind).order_by(m.name)
        )
        if prefix:  # not LIKE: SQLite's LIKE ignores case
            stmt = stmt.where(sa.func.substr(m.name, 1, len(prefix)) == prefix)
        return [
            {**json.loads(rec), "name": n, "version": v, "created": c}
            for n, v, c, rec in self._statement(stmt)
        ]

    def drop_meta(self, kind: str, name: str) -> int:
        m = s.meta.c
        with self._transaction() as run:
            n = len(run(sa.select(m.version).where(m.kind == kind, m.name == name)))
            run(sa.delete(s.meta).where(m.kind == kind, m.name == name))
        return n


_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


def _equals_any(col: Any, values: Sequence[Any], limit: int | None) -> Any:
    """``col`` equals one of ``values`` (integers beyond ``+/-limit`` left out)."""
    kept = list(values) if limit is None else [v for v in values if -limit - 1 <= v <= limit]
    if not kept:
        return sa.false()
    return col == kept[0] if len(kept) == 1 else col.in_(kept)


def _field_equals(name: str, value: Any) -> Any:
    """Equality on a core column (node, userid, name) or on an extra field."""
    if name in CORE_FILTER_FIELDS:
        col = s.events.c[name]
        return col.is_(None) if value is None else col == value
    return ExtraFieldEquals(name, value)


class ExtraFieldEquals(ColumnElement[bool]):
    """``extra[name]`` equals ``value``, in type and value, on every dialect.

    A string matches a JSON string, a bool a JSON boolean, an int or float a
    JSON number (numerically, so ``1`` matches ``1.0``) and ``None`` a missing
    field or a JSON null. A field of another type never matches (and never
    raises, as a cast of ``"abc"`` to a number would on PostgreSQL).
    """

    type = sa.Boolean()
    inherit_cache = False  # holds plain values, not bound parameters

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def kind(self) -> str:
        """One of 'null', 'bool', 'number', 'string', 'never' (NaN, inf: not JSON)."""
        v = self.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)):
            return "number"
        return "never" if isinstance(v, float) else "string"


@compiles(ExtraFieldEquals)
def _extra_equals_unknown(element: ExtraFieldEquals, compiler: Any, **kw: Any) -> str:
    raise sa.exc.CompileError(f"no JSON field comparison for dialect {compiler.dialect.name!r}")


@compiles(ExtraFieldEquals, "postgresql")
def _extra_equals_postgresql(element: ExtraFieldEquals, compiler: Any, **kw: Any) -> str:
    # jsonb equality is type-strict and numeric-aware: '1'::jsonb = '1.0'::jsonb
    item = sa.type_coerce(s.events.c.extra, JSONB).op("->")(sa.literal(element.name, sa.Text))
    kind = element.kind()
    if kind == "null":
        expr = sa.func.coalesce(sa.func.jsonb_typeof(item), "null") == "null"
    elif kind == "never":
        expr = sa.false()
    else:
        value = element.value if kind != "string" else str(element.value)
        expr = item == sa.cast(sa.literal(json.dumps(value), sa.Text), JSONB)
    return f"({compiler.process(expr, **kw)})"


@compiles(ExtraFieldEquals, "sqlite")
def _extra_equals_sqlite(element: ExtraFieldEquals, compiler: Any, **kw: Any) -> str:
    extra = s.events.c.extra
    path = sa.literal("$." + json.dumps(element.name), sa.Text)  # a quoted, escaped label
    json_type = sa.func.json_type(extra, path)
    json_value = sa.func.json_extract(extra, path)
    kind = element.kind()
    if kind == "null":
        expr = sa.func.coalesce(json_type, "null") == "null"
    elif kind == "bool":
        expr = json_type == ("true" if element.value else "false")
    elif kind == "number":
        expr = sa.and_(json_type.in_(["integer", "real"]), json_value == element.value)
    elif kind == "string":
        expr = sa.and_(json_type == "text", json_value == str(element.value))
    else:
        expr = sa.false()
    return f"({compiler.process(expr, **kw)})"


def empty_events() -> pa.Table:
    return EVENT_SCHEMA.empty_table()
