"""Group commit of whole windows: the write path behind the collector's ack.

The tracking API logs a window as many event rows (one per metric point, the
sample, the window itself). :class:`UnitWriter` stands in for the store's
:class:`~vigil.store.writer.BufferedWriter` in the collector's workspace:
rows logged inside :meth:`UnitWriter.capture` are kept together as one
:class:`Unit`, and a background thread commits every waiting unit in one
transaction (group commit), never splitting a unit. So a window is in the
store entirely or not at all, and :meth:`Unit.wait` returning True means its
rows are committed: that is when the collector acknowledges it.

If the store refuses a commit, the thread keeps the units and retries with
backoff; waiting requests time out (the collector answers 503) and the units
are committed once the store is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from vigil.errors import StoreError

log = logging.getLogger(__name__)


class Unit:
    """Rows that are committed together; ``payload`` travels along for after-commit work.

    Once committed (and its after-commit work handed over), a unit drops its
    rows and payload: the collector keeps committed units to answer
    duplicates, and they should cost no memory. Light: a unit makes no lock
    or event unless someone :meth:`wait` s on it.
    """

    __slots__ = ("rows", "payload", "_event", "_callbacks", "committed_at")

    def __init__(self, rows: list[tuple] | None = None, payload: Any = None) -> None:
        self.rows: list[tuple] = rows if rows is not None else []
        self.payload = payload
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[], object]] | None = []  # None once committed
        self.committed_at: float | None = None

    @property
    def committed(self) -> bool:
        return self._callbacks is None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the unit is committed; False if ``timeout_s`` passed first."""
        with _callbacks_lock:
            if self._callbacks is None:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout_s)

    def add_done_callback(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` once the unit is committed (at once if it is), on the writer thread."""
        with _callbacks_lock:
            if self._callbacks is not None:
                self._callbacks.append(fn)
                return
        fn()

    def _set_committed(self, when: float) -> None:
        self.committed_at = when
        with _callbacks_lock:
            callbacks, self._callbacks = self._callbacks, None
            event = self._event
        if event is not None:
            event.set()
        for fn in callbacks or ():
            try:
                fn()
            except Exception:  # noqa: BLE001 - a waiter's callback must not stop the writer
                log.exception("vigil: a commit callback failed")


_callbacks_lock = threading.Lock()


class UnitWriter:
    """Commit :class:`Unit` s in batches on a background thread.

    Duck-compatible with :class:`~vigil.store.writer.BufferedWriter`
    (``append``, ``extend``, ``flush``, ``close``, ``pending``), so a
    :class:`~vigil.store.Stores` built with it works with the tracking API.

    Parameters
    ----------
    sink : callable
        Inserts a list of event rows in one transaction (``EventStore.append``).
    max_rows_per_commit : int
        A commit takes waiting units until it holds this many rows (one unit at least).
    max_pending_rows : int
        :attr:`overloaded` is true beyond this many uncommitted rows.
    on_commit : callable, optional
        Called on the writer thread with each list of committed units.
    linger_s : float
        Group commit: a commit waits this long after its first unit arrived
        for more (unless ``max_rows_per_commit`` rows are already waiting).
        A commit has a fixed cost (two statements, a WAL write) that bigger
        batches share; the price is at most this much latency.

    Examples
    --------
    >>> out = []
    >>> w = UnitWriter(out.extend).start()
    >>> with w.capture() as unit:
    ...     w.append((1,)); w.extend([(2,), (3,)])
    >>> w.submit(unit)
    >>> unit.wait(5), out
    (True, [(1,), (2,), (3,)])
    >>> w.close()
    """

    def __init__(self, sink: Callable[[Sequence[tuple]], None], max_rows_per_commit: int = 50_000,
                 max_pending_rows: int = 2_000_000,
                 on_commit: Callable[[list[Unit]], None] | None = None, linger_s: float = 0.0) -> None:
        self._sink = sink
        self.linger_s = linger_s
        self.max_rows_per_commit = max_rows_per_commit
        self.max_pending_rows = max_pending_rows
        self._on_commit = on_commit
        self._local = threading.local()
        self._cond = threading.Condition()
        self._queue: deque[Unit] = deque()
        self._queued_rows = 0
        self._submitted = 0   # units ever submitted
        self._committed = 0   # units ever committed
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lingering = False
        self.last_error: BaseException | None = None
        self.commits = 0

    # -- caller side ---------------------------------------------------------------------
    def start(self) -> UnitWriter:
        with self._cond:
            if self._thread is None:
                self._closed = False
                self._thread = threading.Thread(target=self._loop, name="vigil-unit-writer", daemon=True)
                self._thread.start()
        return self

    @contextmanager
    def capture(self, payload: Any = None) -> Iterator[Unit]:
        """Collect the rows appended by this thread inside the block into a new unit (not yet submitted)."""
        unit = Unit(payload=payload)
        outer = getattr(self._local, "unit", None)
        self._local.unit = unit
        try:
            yield unit
        finally:
            self._local.unit = outer

    def append(self, row: tuple) -> None:
        unit = getattr(self._local, "unit", None)
        if unit is not None:
            unit.rows.append(row)
        else:
            self.submit(Unit([row]))

    def extend(self, rows: Sequence[tuple]) -> None:
        unit = getattr(self._local, "unit", None)
        if unit is not None:
            unit.rows.extend(rows)
        else:
            self.submit(Unit(list(rows)))

    def submit(self, unit: Unit) -> None:
        """Queue a unit for the next commit."""
        with self._cond:
            if self._closed and self._thread is None:
                raise StoreError("UnitWriter: closed; no more units are accepted")
            self._queue.append(unit)
            self._queued_rows += len(unit.rows)
            self._submitted += 1
            if not self._lingering or self._queued_rows >= self.max_rows_per_commit:
                self._cond.notify_all()  # (a lingering writer wakes by itself: fewer thread switches)
        if self._thread is None:
            self.start()

    @property
    def units_committed(self) -> int:
        """Units committed so far (``commits`` counts the transactions)."""
        return self._committed

    @property
    def pending(self) -> int:
        """Rows waiting for a commit."""
        return self._queued_rows

    @property
    def overloaded(self) -> bool:
        return self._queued_rows > self.max_pending_rows

    def flush(self, timeout_s: float | None = 120.0) -> None:
        """Block until every unit submitted before this call is committed.

        Inside :meth:`capture` it returns at once: the captured rows are
        committed with their unit, and waiting for other units there would
        only stall the caller (the tracking API flushes before it reads).
        """
        if getattr(self._local, "unit", None) is not None:
            return
        with self._cond:
            target = self._submitted
            if self._committed >= target:
                return
            if self._thread is None or not self._thread.is_alive():
                pass  # committed below on the caller
            else:
                deadline = None if timeout_s is None else time.monotonic() + timeout_s
                while self._committed < target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise StoreError(f"flush timed out after {timeout_s}s with {self._queued_rows} rows "
                                         f"pending" + (f"; last error: {self.last_error}" if self.last_error else ""))
                    self._cond.wait(timeout=min(0.5, left) if left is not None else 0.5)
                return
        self._drain()

    def close(self, timeout_s: float = 120.0) -> None:
        """Commit everything queued and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout_s)
        with self._cond:
            self._thread = None
        self._drain()

    # -- thread side ---------------------------------------------------------------------
    def _take(self) -> list[Unit]:
        units: list[Unit] = []
        rows = 0
        while self._queue and (not units or rows + len(self._queue[0].rows) <= self.max_rows_per_commit):
            unit = self._queue.popleft()
            units.append(unit)
            rows += len(unit.rows)
        return units

    def _commit(self, units: list[Unit]) -> None:
        rows = [row for unit in units for row in unit.rows]
        if rows:
            self._sink(rows)
        now = time.time()
        with self._cond:
            self._queued_rows -= len(rows)
            self.commits += 1
            self.last_error = None
        for unit in units:
            unit._set_committed(now)
        if self._on_commit is not None:
            try:
                self._on_commit(units)
            except Exception:  # noqa: BLE001 - after-commit work must not stop the writer
                log.exception("vigil: after-commit processing failed")
        for unit in units:
            unit.rows = []
            unit.payload = None
        # flush() returns only once the after-commit work of these units is queued, so
        # a shutdown that flushes and then stops the export thread cannot overtake it
        with self._cond:
            self._committed += len(units)
            self._cond.notify_all()

    def _drain(self) -> None:
        while True:
            with self._cond:
                units = self._take()
            if not units:
                return
            try:
                self._commit(units)
            except BaseException:
                with self._cond:
                    self._queue.extendleft(reversed(units))
                raise

    def _loop(self) -> None:
        backoff = 0.05
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                if self.linger_s > 0:
                    deadline = time.monotonic() + self.linger_s
                    self._lingering = True
                    try:
                        while not self._closed and self._queued_rows < self.max_rows_per_commit:
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            self._cond.wait(left)
                    finally:
                        self._lingering = False
                units = self._take()
            try:
                self._commit(units)
                backoff = 0.05
            except Exception as exc:  # noqa: BLE001 - keep the units and retry
                with self._cond:
                    self._queue.extendleft(reversed(units))
                    self.last_error = exc
                log.warning("vigil: committing %d windows failed (%s); retrying in %.2fs", len(units), exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
