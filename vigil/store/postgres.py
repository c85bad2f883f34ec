"""An event store in a PostgreSQL database, on SQLAlchemy Core and psycopg 3.

SQLAlchemy builds every statement and pools the connections; the two bulk
paths use the pooled psycopg connection directly:

- writes: ``COPY vigil_events (...) FROM STDIN``, one statement (so one
  transaction) per batch. The server's work dominates (JSONB parsing and
  three indexes: about 4 s of server CPU per million events, against 1.2 s
  for the client).
- reads: the server packs the rows of a query by column (``string_agg`` of
  ``int8send``/``float8send`` and of the text, with lengths and null flags),
  in chunks of consecutive ids; numpy and pyarrow unpack a chunk without a
  Python object per value. A big result is packed by two server processes
  at once (the lower and upper halves of its ids). For a million events
  this costs the client 0.1 s of CPU and the server about 1.2 s (split over
  two cores); streaming the same rows with ``COPY ... TO STDOUT`` and
  parsing the CSV with pyarrow costs the client 2.8 s, fetching them as
  tuples and building the columns 1.9 s.

Several processes may open a new database at once: the tables are created
under a transaction-scoped advisory lock. After ``os.fork`` the child gets a
fresh pool and never touches the connections it inherited.

Errors: a failing server or connection raises :class:`~vigil.errors.StoreError`
(worth retrying); an event row the table cannot take (wrong type, NULL in a
required column, invalid JSON in ``extra``) raises
:class:`~vigil.errors.InvalidInput`, so a write-behind buffer drops that row
instead of retrying it forever. Messages name the store by its URL with the
password masked.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.schema import CreateIndex

from vigil.errors import InvalidInput, MissingDependency, StoreConflict, StoreError, StoreFull
from vigil.store import schema as s
from vigil.store.base import EVENT_COLUMNS, EVENT_SCHEMA
from vigil.store.sql import Runner, SqlEventStore, empty_events

log = logging.getLogger(__name__)

SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
_DRIVER = "postgresql+psycopg"
_DIALECT = PGDialect_psycopg()
#: Key of the advisory lock that serialises schema creation ("vigil" in ASCII).
_SCHEMA_LOCK_KEY = 0x766967696C
_COPY_IN = f"COPY {s.events.name} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&]*")

# -- the read path: rows packed by column ------------------------------------------------
# A query's rows come back in chunks of consecutive ids; each chunk is ONE result
# row: the count, the last id and, per column, the values packed by the server
# with string_agg: fixed-width columns as big-endian binary (int8send,
# float8send) plus null flags where the column is nullable, text columns as the
# lengths (-1 for NULL) and the UTF-8 bytes. numpy and pyarrow unpack these
# without creating a Python object per value.
_FIXED = {  # column: its PostgreSQL type (for the send function) and its big-endian numpy type
    "id": ("int8", ">i8"), "run": ("int4", ">i4"), "value_num": ("float8", ">f8"),
    "step": ("int8", ">i8"), "dt": ("float8", ">f8"),
}
_NULLABLE_FIXED = ("value_num", "step")
_ZERO8 = "'\\x0000000000000000'::bytea"


def _aggregates(name: str, utf8: bool) -> list[str]:
    col = f'c."{name}"'
    if name not in _FIXED:
        # On a UTF-8 server, text is packed as text and sent as bytes once per
        # chunk (textsend); elsewhere each value is converted to UTF-8 first.
        data = f"textsend(string_agg({col}, ''))" if utf8 else f"string_agg({col}, ''::bytea)"
        return [f"string_agg(int4send(coalesce(octet_length({col}), -1)), ''::bytea)", data]
    send = f"{_FIXED[name][0]}send({col})"
    if name not in _NULLABLE_FIXED:
        return [f"string_agg({send}, ''::bytea)"]
    return [f"string_agg(coalesce({send}, {_ZERO8}), ''::bytea)",
            f"string_agg(CASE WHEN {col} IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea END, ''::bytea)"]


def _pack_head(utf8: bool) -> str:
    columns = [f's."{n}"' if n in _FIXED or utf8 else f"""convert_to(s."{n}", 'UTF8') AS "{n}\""""
               for n in EVENT_SCHEMA.names]
    aggregates = [a for n in EVENT_SCHEMA.names for a in _aggregates(n, utf8)]
    return f"SELECT count(*), max(c.id), {', '.join(aggregates)} FROM (SELECT {', '.join(columns)} FROM ("


_PACK_HEADS = {True: _pack_head(utf8=True), False: _pack_head(utf8=False)}  # by: is the server UTF-8?
_PACK_TAIL = (
    ") AS s WHERE s.id > %(vigil_after)s AND s.id <= %(vigil_upto)s ORDER BY s.id LIMIT %(vigil_rows)s) AS c"
)
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1
_FIRST_CHUNK_ROWS = 65_536
_MAX_CHUNK_ROWS = 1_048_576
_CHUNK_TEXT_BYTES = 64 << 20  # per chunk; PostgreSQL caps one value at 1 GB


def _unpack(count: int, packed: Sequence[bytes | None], shown: str) -> tuple[pa.RecordBatch, int]:
    """One chunk as a record batch, and how many bytes of text it held."""
    arrays, text_bytes, parts = [], 0, iter(packed)
    for field in EVENT_SCHEMA:
        if field.name in _FIXED:
            values = np.frombuffer(next(parts) or b"", dtype=_FIXED[field.name][1])
            values = values.astype(values.dtype.newbyteorder("="))
            mask = None
            if field.name in _NULLABLE_FIXED:
                mask = np.frombuffer(next(parts) or b"", dtype=np.uint8) == 0
            arrays.append(pa.array(values, type=field.type, mask=mask if mask is not None and mask.any() else None))
        else:
            lengths = np.frombuffer(next(parts) or b"", dtype=">i4").astype(np.int64)
            data = next(parts) or b""
            valid = lengths >= 0
            offsets = np.zeros(count + 1, dtype=np.int64)
            np.cumsum(np.where(valid, lengths, 0), out=offsets[1:])
            if offsets[-1] != len(data) or len(data) >= 2**31:
                raise StoreError(f"PostgreSQL store {shown}: column {field.name} came back with "
                                 f"{len(data)} bytes for a length of {offsets[-1]}")
            validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
            arrays.append(pa.StringArray.from_buffers(
                count, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data), validity))
            text_bytes += len(data)
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA), text_bytes


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL (psycopg 3 driver) of a PostgreSQL store URL.

    Accepts the schemes ``postgresql``, ``postgres`` and ``postgresql+psycopg``.

    Examples
    --------
    >>> engine_url('postgres://me:secret@db:5432/vigil').render_as_string(hide_password=True)
    'postgresql+psycopg://me:***@db:5432/vigil'
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise InvalidInput(
            f"PostgresEventStore: url must look like postgresql://user@host:port/database "
            f"(schemes {', '.join(SCHEMES)}); got {masked_url(url)!r}"
        )
    try:
        parsed = sa.make_url(f"{_DRIVER}://{rest}")
    except sa.exc.ArgumentError:
        raise InvalidInput(f"PostgresEventStore: cannot parse url {masked_url(url)!r}") from None
    if not parsed.database:
        raise InvalidInput(
            f"PostgresEventStore: url must name a database (postgresql://host/database); "
            f"got {masked_url(url)!r}"
        )
    return parsed


def masked_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``.

    Examples
    --------
    >>> masked_url('postgresql://me:secret@db/vigil')
    'postgresql://me:***@db/vigil'
    >>> masked_url('postgresql://db/vigil?user=me&password=secret')
    'postgresql://db/vigil?user=me&password=***'
    """
    url = _PASSWORD_PARAM.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{slash}{tail}"


class PostgresEventStore(SqlEventStore):
    """Event store in a PostgreSQL database (needs the ``postgres`` extra).

    The constructor only checks the URL; the engine and its connection pool
    are created on first use. One store may be shared by threads; after
    ``os.fork`` the child opens connections of its own.

    Examples
    --------
    >>> import time
    >>> store = PostgresEventStore('postgresql://postgres@127.0.0.1:5432/test')
    >>> store.open()  # doctest: +SKIP
    >>> exp = store.ensure_experiment('demo')  # doctest: +SKIP
    >>> store.start_run(exp.id, time.time(), 'node', 'me')  # doctest: +SKIP
    1
    >>> store.close()

    Errors name the store, never its password:

    >>> PostgresEventStore('postgres://me:secret@127.0.0.1:1/vigil').open()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vigil.errors.StoreError: PostgreSQL store postgres://me:***@127.0.0.1:1/vigil: OperationalError: ...
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._engine_url = engine_url(url)
        self._shown = masked_url(url)
        self._engine: sa.Engine | None = None
        self._autocommit: sa.Engine | None = None
        self._engine_lock = threading.Lock()
        self._fork_hook = False

    # -- engine ------------------------------------------------------------------------
    def _engines(self) -> tuple[sa.Engine, sa.Engine]:
        """The engine (for transactions) and its autocommit twin (single statements)."""
        engine, autocommit = self._engine, self._autocommit
        if engine is not None and autocommit is not None:
            return engine, autocommit
        with self._engine_lock:
            if self._engine is None or self._autocommit is None:
                try:
                    import psycopg  # noqa: F401 - what the engine will load
                except ImportError:
                    raise MissingDependency("psycopg", "postgres", "the PostgreSQL event store") from None
                # pre-ping: a pooled connection that died with a server restart
                # is replaced instead of failing the next statement
                self._engine = sa.create_engine(
                    self._engine_url, pool_pre_ping=True, connect_args={"client_encoding": "utf8"},
                )
                self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
                if not self._fork_hook:
                    ref = weakref.ref(self)
                    os.register_at_fork(after_in_child=lambda: _after_fork(ref))
                    self._fork_hook = True
            return self._engine, self._autocommit

    def _forget_connections(self) -> None:
        # In a forked child: a new pool, without closing the inherited
        # connections (they belong to the parent; psycopg does not close
        # them from another process when they are garbage collected).
        if self._engine is not None:
            self._engine.dispose(close=False)

    def close(self) -> None:
        """Close every pooled connection; the store reconnects on next use."""
        with self._engine_lock:
            engine, self._engine, self._autocommit = self._engine, None, None
        if engine is not None:
            engine.dispose()
        super().close()

    def _error(self, exc: BaseException) -> StoreError:
        detail = getattr(exc, "orig", None) or exc
        text = " ".join(str(detail).split()) or "(no message)"
        cls = StoreConflict if type(detail).__name__ in ("UniqueViolation", "IntegrityError") else StoreError
        if type(detail).__name__ == "DiskFull" or "no space left on device" in text.lower():
            cls = StoreFull
        return cls(f"PostgreSQL store {self._shown}: {type(detail).__name__}: {text}")

    # -- primitives --------------------------------------------------------------------
    def _floor(self, expr: Any) -> Any:
        return sa.cast(sa.func.floor(expr), sa.Integer)  # PostgreSQL's CAST rounds

    def _statement(self, stmt: sa.Executable) -> list[tuple]:
        _, autocommit = self._engines()
        try:
            with autocommit.connect() as conn:
                return _rows(conn.execute(stmt))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[Runner]:
        engine, _ = self._engines()
        try:
            with engine.begin() as conn:
                yield lambda stmt: _rows(conn.execute(stmt))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from exc

    def _create_schema(self) -> None:
        # Concurrent first opens take turns on the lock; DDL is transactional
        # in PostgreSQL, so whoever comes second finds the tables.
        engine, _ = self._engines()
        try:
            with engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
                s.metadata.create_all(conn, checkfirst=True)
                # indexes added since the tables were created (create_all skips existing tables)
                for table in s.metadata.sorted_tables:
                    for index in table.indexes:
                        conn.execute(CreateIndex(index, if_not_exists=True))
                if conn.execute(sa.select(s.schema_info.c.version)).first() is None:
                    conn.execute(sa.insert(s.schema_info).values(version=s.SCHEMA_VERSION))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from exc

    def _insert_ignore(self, table: sa.Table) -> Any:
        return pg.insert(table).on_conflict_do_nothing()

    @contextmanager
    def _driver_connection(self, writing: bool) -> Iterator[Any]:
        """A pooled psycopg connection in autocommit mode (for COPY).

        Writing, an error in the data (not in the store) becomes InvalidInput.
        """
        import psycopg

        _, autocommit = self._engines()
        try:
            with autocommit.connect() as conn:
                driver: Any = conn.connection.driver_connection
                try:
                    yield driver
                except psycopg.Error:
                    if driver.broken:
                        conn.invalidate()
                    raise
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from exc
        except psycopg.Error as exc:
            if writing and (isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)) or (
                isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None  # cannot adapt
            )):
                raise InvalidInput(
                    f"PostgreSQL store {self._shown}: an event row does not fit the events table "
                    f"(fields {', '.join(EVENT_COLUMNS)}): {' '.join(str(exc).split())}"
                ) from exc
            raise self._error(exc) from exc

    def _append_rows(self, rows: Sequence[tuple]) -> None:
        with self._driver_connection(writing=True) as conn, conn.cursor() as cur, cur.copy(_COPY_IN) as copy:
            for row in rows:
                copy.write_row(row)

    def _event_columns(self) -> list[Any]:
        cols = super()._event_columns()
        return [sa.cast(c, sa.Text).label(c.name) if c.name == "extra" else c for c in cols]

    def _fetch_arrow(self, stmt: sa.Select) -> pa.Table:
        sql, params = _compile(stmt)
        with self._driver_connection(writing=False) as conn:
            query = _PACK_HEADS[conn.info.parameter_status("server_encoding") == "UTF8"] + sql + _PACK_TAIL
            first = _PackedReader(conn, query, params, self._shown)
            batches = first.read(after=_MIN_ID, upto=_MAX_ID, max_chunks=1)
            if not first.done:
                # A big result: the server packs the two halves of the remaining ids
                # on two connections at once (packing is the server's work, and the
                # bottleneck; unpacking is cheap).
                top = conn.execute(f"SELECT max(id) FROM {s.events.name}").fetchone()[0]
                middle = first.after + max(0, (top or 0) - first.after) // 2
                with ThreadPoolExecutor(1, thread_name_prefix="vigil-pg-read") as pool:
                    upper = pool.submit(self._read_packed, query, params, middle, first.rows)
                    batches += first.read(after=first.after, upto=middle)
                    batches += upper.result()
        if not batches:
            return empty_events()
        table = pa.Table.from_batches(batches, schema=EVENT_SCHEMA)
        ids = table.column("id").to_numpy()
        if not (ids[1:] > ids[:-1]).all():  # never seen: aggregates fed out of order
            table = table.take(pc.sort_indices(table, [("id", "ascending")]))
        return table

    def _read_packed(self, query: str, params: dict[str, Any], after: int, rows: int) -> list[pa.RecordBatch]:
        with self._driver_connection(writing=False) as conn:
            reader = _PackedReader(conn, query, params, self._shown, rows)
            return reader.read(after=after, upto=_MAX_ID)


class _PackedReader:
    """Reads the rows of one query with ``after < id <= upto``, in chunks packed by column.

    A chunk starts at 65,536 rows and then holds about 64 MB of text (at most
    a million rows); if a packed column still outgrows what PostgreSQL lets
    one value hold (1 GB), the chunk is halved and read again.
    """

    def __init__(self, conn: Any, query: str, params: dict[str, Any], shown: str,
                 rows: int = _FIRST_CHUNK_ROWS) -> None:
        self.conn, self.query, self.params, self.shown = conn, query, params, shown
        self.rows = rows  # per chunk, adapted to the bytes of text seen
        self.after = _MIN_ID
        self.done = False

    def read(self, after: int, upto: int, max_chunks: int | None = None) -> list[pa.RecordBatch]:
        batches: list[pa.RecordBatch] = []
        self.after, self.done = after, False
        with self.conn.cursor(binary=True) as cur:
            while max_chunks is None or len(batches) < max_chunks:
                args = {**self.params, "vigil_after": self.after, "vigil_upto": upto, "vigil_rows": self.rows}
                try:
                    cur.execute(self.query, args)
                except _too_big() as exc:
                    if self.rows == 1:
                        raise
                    self.rows //= 2  # a packed column outgrew what one value may hold
                    log.info("%s: %s; reading %d events at a time", self.shown, exc, self.rows)
                    continue
                count, last, *packed = cur.fetchone()
                if count:
                    batch, text_bytes = _unpack(count, packed, self.shown)
                    batches.append(batch)
                    self.after = last
                if count < self.rows:
                    self.done = True
                    break
                self.rows = int(min(_MAX_CHUNK_ROWS, max(1, _CHUNK_TEXT_BYTES * count / (text_bytes + 1))))
        return batches


def _rows(result: sa.CursorResult) -> list[tuple]:
    return [tuple(row) for row in result] if result.returns_rows else []


def _compile(stmt: sa.Select) -> tuple[str, dict[str, Any]]:
    """SQL with ``%(name)s`` placeholders and its parameters, as psycopg takes them."""
    compiled = stmt.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    processors: dict[str, Any] = dict(compiled._bind_processors)
    params = {}
    for name, value in compiled.params.items():
        process = processors.get(name)
        params[name] = process(value) if process is not None else value
    return str(compiled), params


def _too_big() -> tuple[type[BaseException], ...]:
    from psycopg import errors

    return (errors.ProgramLimitExceeded, errors.OutOfMemory)


def _after_fork(ref: weakref.ref[PostgresEventStore]) -> None:
    store = ref()
    if store is not None:
        store._forget_connections()
