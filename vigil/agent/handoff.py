"""The bounded hand-off from the caller's thread to the agent's thread.

``put`` never blocks and never waits for the agent thread: when a batch
would take the queue beyond ``max_rows`` rows, it is refused and counted as
``overflow`` (a batch larger than ``max_rows`` is accepted only into an
empty queue). Everything runs under one short lock (an append and two
integer updates), so several host threads may call ``collect_data`` at once.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class Handoff:
    """A bounded FIFO of batches (and small records) between two threads.

    Parameters
    ----------
    max_rows : int
        Most rows waiting at any time; batches beyond are refused.
    max_items : int
        Most entries waiting (bounds the records of dropped batches too).

    Examples
    --------
    >>> h = Handoff(max_rows=10, max_items=100)
    >>> h.put('a', 6), h.put('b', 6), h.put('c', 4)
    (True, False, True)
    >>> h.take(0.0), h.overflow
    (['a', 'c'], 6)
    """

    def __init__(self, max_rows: int, max_items: int) -> None:
        self.max_rows = max_rows
        self.max_items = max_items
        self.overflow = 0          # rows refused since the last take_counts()
        self.counts: dict[str, int] = {}   # other rows dropped on the caller side, by reason
        self._items: deque[Any] = deque()
        self._rows = 0
        self._cond = threading.Condition(threading.Lock())
        self._waiting = False

    def put(self, item: Any, rows: int, force: bool = False) -> bool:
        """Append ``item`` (holding ``rows`` rows) unless that would exceed a bound (``force``: always)."""
        with self._cond:
            full = self._rows and self._rows + rows > self.max_rows   # one batch always fits an empty queue
            if not force and (full or len(self._items) >= self.max_items):
                self.overflow += rows
                return False
            self._items.append(item)
            self._rows += rows
            if self._waiting:
                self._cond.notify()
        return True

    def full_for(self, rows: int) -> bool:
        """Would ``rows`` more rows overflow? (a lock-free hint, so a doomed batch is not copied)"""
        queued = self._rows
        return bool(queued) and queued + rows > self.max_rows

    def refuse(self, rows: int) -> None:
        """Count a batch refused after :meth:`full_for` as overflow."""
        with self._cond:
            self.overflow += rows

    def count(self, reason: str, rows: int) -> None:
        """Record rows dropped on the caller side for a reason with no queue entry."""
        with self._cond:
            self.counts[reason] = self.counts.get(reason, 0) + rows

    def take(self, timeout_s: float | None, max_rows: int | None = None) -> list[Any]:
        """Remove and return waiting items, waiting up to ``timeout_s`` for the first one.

        Returns at most ``max_rows`` rows' worth (at least one item) when given.
        """
        with self._cond:
            if not self._items and timeout_s:
                self._waiting = True
                try:
                    self._cond.wait(timeout_s)
                finally:
                    self._waiting = False
            if max_rows is None or self._rows <= max_rows:
                items = list(self._items)
                self._items.clear()
                self._rows = 0
                return items
            items, rows = [], 0
            while self._items and (not items or rows + _rows(self._items[0]) <= max_rows):
                item = self._items.popleft()
                rows += _rows(item)
                items.append(item)
            self._rows -= rows
            return items

    def take_counts(self) -> dict[str, int]:
        """Counts of rows dropped on the caller side (overflow included) since the last call."""
        with self._cond:
            counts = dict(self.counts)
            if self.overflow:
                counts["overflow"] = counts.get("overflow", 0) + self.overflow
            self.counts.clear()
            self.overflow = 0
            return counts

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)


def _rows(item: Any) -> int:
    rows = getattr(item, "rows", None)
    return rows if isinstance(rows, int) else 0
