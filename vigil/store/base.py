"""Contracts of the storage floor: an event store and an object store.

Both are small protocols; backends register under a URL scheme
(:mod:`vigil.store.registry`). Every event-store backend passes
``tests/contracts/test_event_store.py``.

Events travel as plain tuples in :data:`EVENT_COLUMNS` order on the write
path (cheap to build in a hot loop) and come back as a :class:`pyarrow.Table`
with :data:`EVENT_SCHEMA` on the read path (cheap to turn into columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

#: Order of the fields of one event row on the write path.
EVENT_COLUMNS: tuple[str, ...] = (
    "exp_id", "run", "event", "key", "value_num", "value_json",
    "step", "dt", "node", "userid", "name", "extra",
)

#: Schema of the table an event query returns (``id`` first, no ``exp_id``).
EVENT_SCHEMA = pa.schema([
    ("id", pa.int64()), ("run", pa.int64()), ("event", pa.string()), ("key", pa.string()),
    ("value_num", pa.float64()), ("value_json", pa.string()), ("step", pa.int64()),
    ("dt", pa.float64()), ("node", pa.string()), ("userid", pa.string()),
    ("name", pa.string()), ("extra", pa.string()),
])

#: Columns of an event that a query may filter on by equality, besides extras.
CORE_FILTER_FIELDS = ("node", "userid", "name")

RUN_STATUSES = ("STARTED", "STOPPED", "FAILED")


@dataclass(frozen=True)
class ExperimentRecord:
    id: int
    name: str
    uid: str
    created: float


@dataclass(frozen=True)
class RunRecord:
    run: int
    status: str
    started: float
    ended: float | None
    node: str
    userid: str


@dataclass(frozen=True)
class EventQuery:
    """A filter on the events of one experiment, evaluated inside the store.

    ``None`` means "no filter" for every tuple field. ``since``/``end`` are
    epoch seconds (inclusive). ``fields`` filters core columns (node, userid,
    name) or extra fields by equality with any of the given values.
    Results are ordered by ``id`` and start after ``after_id``; with ``limit``,
    ``latest=True`` gives the last ``limit`` matching events (still in ``id`` order).
    """

    experiment_id: int
    runs: tuple[int, ...] | None = None
    events: tuple[str, ...] | None = None
    keys: tuple[str, ...] | None = None
    steps: tuple[int, ...] | None = None
    since: float | None = None
    end: float | None = None
    fields: tuple[tuple[str, tuple[Any, ...]], ...] = field(default_factory=tuple)
    after_id: int = 0
    limit: int | None = None
    latest: bool = False


@runtime_checkable
class EventStore(Protocol):
    """Append-only event log plus experiments, runs and object metadata."""

    url: str

    def open(self) -> None: ...
    def close(self) -> None: ...

    # experiments and runs
    def ensure_experiment(self, name: str) -> ExperimentRecord: ...
    def find_experiment(self, name: str) -> ExperimentRecord | None: ...
    def list_experiments(self) -> list[dict[str, Any]]: ...
    def start_run(self, exp_id: int, dt: float, node: str, userid: str) -> int: ...
    def set_run_status(self, exp_id: int, run: int, status: str, dt: float) -> None: ...
    def find_run(self, exp_id: int, run: int) -> RunRecord | None: ...
    def list_runs(self, exp_id: int) -> list[RunRecord]: ...
    def latest_run(self, exp_id: int) -> int: ...
    def delete_experiment(self, exp_id: int) -> None: ...

    # events
    def append(self, rows: Sequence[tuple]) -> None: ...
    def query(self, q: EventQuery) -> pa.Table: ...
    def count(self, q: EventQuery) -> int: ...
    def metric_summary(self, exp_id: int, event: str = "metric") -> list[tuple]: ...
    def metric_series(self, exp_id: int, key: str, runs: Sequence[int] | None = None, buckets: int = 1000,
                      event: str = "metric") -> list[tuple]: ...

    # metadata of stored objects (datasets, models, jobs ...)
    def put_meta(self, kind: str, name: str, record: dict[str, Any]) -> int: ...
    def find_meta(self, kind: str, name: str, version: int | None = None) -> dict[str, Any] | None: ...
    def list_meta(self, kind: str, prefix: str = "") -> list[dict[str, Any]]: ...
    def drop_meta(self, kind: str, name: str) -> int: ...


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes under validated keys (``a/b/c``), below one root."""

    url: str

    def put(self, key: str, data: bytes) -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, keys: Iterable[str]) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def list(self, prefix: str = "") -> list[str]: ...
