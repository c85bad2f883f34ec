"""Write-behind for events: callers append to memory, a thread commits.

``append`` costs a lock and a list append, so logging stays cheap in a loop.
A daemon thread commits what has accumulated every ``interval_ms`` (50 ms by
default) in one transaction. Guarantee: an event whose ``log_*`` call has
returned is committed within ``interval_ms`` plus the commit time (well under
100 ms on the embedded default), so it survives a ``kill -9`` of the logging
process after that; ``flush()``, the end of a run and a normal interpreter exit
commit everything at once. When the store refuses writes (locked, restarting)
the thread retries with backoff and keeps every row; callers block only when
more than ``max_pending`` rows wait (back-pressure instead of loss).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from vigil.errors import StoreError, StoreFull

log = logging.getLogger(__name__)

_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()


class BufferedWriter:
    """Batch rows for ``sink`` on a background thread.

    Examples
    --------
    >>> out = []
    >>> w = BufferedWriter(out.extend, interval_ms=5)
    >>> w.append((1, 'a')); w.flush()
    >>> out
    [(1, 'a')]
    >>> w.close()
    """

    def __init__(
        self,
        sink: Callable[[Sequence[tuple]], None],
        interval_ms: int = 50,
        max_batch: int = 50_000,
        max_pending: int = 5_000_000,
    ) -> None:
        self._sink = sink
        self.interval_s = interval_ms / 1000.0
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._init_state()
        os.register_at_fork(after_in_child=self._init_state)
        _writers.add(self)

    def _init_state(self) -> None:
        # After fork the child starts empty: the parent commits what it had buffered.
        self._buf: list[tuple] = []
        self._lock = threading.Lock()
        self._done = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._retry_now = threading.Event()  # a flush cuts the backoff after a failed commit short
        self._appended = 0
        self._committed = 0
        self._error: BaseException | None = None
        self.dropped = 0
        #: commits the store refused and that were tried again later (the rows were kept)
        self.retries = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- caller side ---------------------------------------------------------------------
    def append(self, row: tuple) -> None:
        with self._lock:
            self._buf.append(row)
            self._appended += 1
        if self._thread is None:
            self._start()
        elif len(self._buf) > self.max_pending:
            self.flush()

    def extend(self, rows: Sequence[tuple]) -> None:
        with self._lock:
            self._buf.extend(rows)
            self._appended += len(rows)
        if self._thread is None:
            self._start()
        if len(self._buf) >= self.max_batch:
            self._wake.set()
        if len(self._buf) > self.max_pending:
            self.flush()

    @property
    def pending(self) -> int:
        return self._appended - self._committed

    @property
    def last_error(self) -> BaseException | None:
        """The store's error while it refuses writes; None once a commit succeeds again."""
        return self._error

    def flush(self, timeout_s: float | None = 120.0) -> None:
        """Block until every row appended before this call is committed."""
        target = self._appended
        if self._committed >= target:
            return
        if self._thread is None or not self._thread.is_alive():
            self._drain()  # no thread (closed, or after fork): commit on the caller
            return
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._done:
            while self._committed < target:
                if isinstance(self._error, StoreFull) and self._full_again(target, deadline):  # waiting won't help
                    raise StoreFull(f"flush: {self.pending} events pending, kept in memory and retried until the "
                                    f"store has space again; {self._error}")
                self._wake.set()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StoreError(
                        f"flush timed out after {timeout_s}s with {self.pending} events pending"
                        + (f"; last error: {self._error}" if self._error else "")
                    )
                self._done.wait(timeout=min(0.5, left) if left is not None else 0.5)

    def _full_again(self, target: int, deadline: float | None) -> bool:
        """With ``_done`` held: have the thread try once more now; True if the store was still full."""
        tried = self.retries
        self._retry_now.set()
        self._wake.set()
        until = time.monotonic() + 30.0 if deadline is None else deadline
        while self.retries == tried and self._committed < target and time.monotonic() < until:
            self._done.wait(timeout=0.05)
        return self._committed < target and isinstance(self._error, StoreFull)

    def close(self) -> None:
        """Commit everything and stop the thread."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=120)
        self._drain()

    # -- thread side ---------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="vigil-writer", daemon=True)
            self._thread.start()
        _register_atexit()

    def _take(self) -> list[tuple]:
        with self._lock:
            if len(self._buf) <= self.max_batch:
                rows, self._buf = self._buf, []
            else:
                rows, self._buf = self._buf[: self.max_batch], self._buf[self.max_batch:]
        return rows

    def _commit(self, rows: list[tuple]) -> None:
        self._sink(rows)
        with self._done:
            self._committed += len(rows)
            self._error = None
            self._done.notify_all()

    def _commit_isolating(self, rows: list[tuple], exc: BaseException) -> None:
        """Commit what can be committed by halving the batch; drop and count rows that
        fail on their own with an error that is not the store's (a data error)."""
        if len(rows) == 1:
            self.dropped += 1
            log.error("vigil: dropping an event the store cannot take (%s: %s): %.200r",
                      type(exc).__name__, exc, rows[0])
            with self._done:
                self._committed += 1
                self._done.notify_all()
            return
        half = len(rows) // 2
        for part in (rows[:half], rows[half:]):
            try:
                self._commit(part)
            except StoreError:
                with self._lock:
                    self._buf[:0] = part
            except Exception as inner:  # noqa: BLE001
                self._commit_isolating(part, inner)

    def _drain(self) -> None:
        while True:
            rows = self._take()
            if not rows:
                return
            try:
                self._commit(rows)
            except BaseException:
                with self._lock:
                    self._buf[:0] = rows
                raise

    def _loop(self) -> None:
        backoff = self.interval_s
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            rows = self._take()
            while rows:
                try:
                    self._commit(rows)
                    backoff = self.interval_s
                except StoreError as exc:  # the store refused: keep the rows and retry
                    with self._lock:
                        self._buf[:0] = rows
                    with self._done:
                        self._error = exc
                        self.retries += 1
                        self._done.notify_all()
                    log.warning("vigil: committing %d events failed (%s); retrying in %.2fs",
                                len(rows), exc, backoff)
                    self._retry_now.wait(backoff)  # a flush cuts it short; new rows do not
                    self._retry_now.clear()
                    backoff = min(backoff * 2, 5.0)
                except Exception as exc:  # noqa: BLE001 - rows the store can never take: isolate them
                    self._commit_isolating(rows, exc)
                rows = self._take() if len(self._buf) >= self.max_batch or self._wake.is_set() else []
            if self._closed:
                return


_atexit_done = False


def _register_atexit() -> None:
    global _atexit_done
    if not _atexit_done:
        _atexit_done = True
        atexit.register(flush_all)


def flush_all() -> None:
    """Commit the buffered rows of every writer in this process."""
    for writer in list(_writers):
        try:
            writer.flush(timeout_s=60)
        except Exception as exc:  # noqa: BLE001 - at exit: report, never raise
            log.error("vigil: could not commit %d buffered events: %s", writer.pending, exc)
