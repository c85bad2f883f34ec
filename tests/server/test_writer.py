"""Group commit: units are committed whole, in order, and survive a failing store."""

from __future__ import annotations

import threading
import time

import pytest

from vigil.errors import StoreError
from vigil.server.writer import Unit, UnitWriter


class FlakySink:
    """Records transactions; refuses the first ``failures`` commits."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.transactions: list[list[tuple]] = []
        self.lock = threading.Lock()

    def __call__(self, rows):
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise StoreError("database is locked")
            self.transactions.append(list(rows))


def test_units_are_never_split_and_keep_their_order():
    sink = FlakySink()
    w = UnitWriter(sink, max_rows_per_commit=10).start()
    units = []
    for k in range(30):
        with w.capture() as unit:
            w.extend([(k, i) for i in range(k % 7 + 1)])
        w.submit(unit)
        units.append(unit)
    w.flush()
    assert all(u.committed for u in units)
    for tx in sink.transactions:  # every transaction holds whole units
        keys = [row[0] for row in tx]
        for k in set(keys):
            assert keys.count(k) == k % 7 + 1
    assert [row for tx in sink.transactions for row in tx] == [(k, i) for k in range(30) for i in range(k % 7 + 1)]
    w.close()


def test_a_failing_store_delays_but_loses_nothing():
    sink = FlakySink(failures=3)
    w = UnitWriter(sink).start()
    with w.capture() as unit:
        w.append(("a",))
    w.submit(unit)
    assert not unit.wait(0.01)          # the store refuses: not acknowledged yet
    assert unit.wait(10)                # retried with backoff until it commits
    assert sink.transactions == [[("a",)]]
    w.close()


def test_rows_outside_capture_are_their_own_unit_and_flush_waits():
    sink = FlakySink()
    w = UnitWriter(sink).start()
    w.append(("x",))
    w.extend([("y",), ("z",)])
    w.flush()
    assert [row for tx in sink.transactions for row in tx] == [("x",), ("y",), ("z",)]
    w.close()


def test_flush_inside_capture_does_not_wait():
    sink = FlakySink(failures=10**6)  # nothing will ever commit
    w = UnitWriter(sink).start()
    w.append(("stuck",))
    with w.capture():
        started = time.monotonic()
        w.flush(timeout_s=5)            # returns at once: captured rows commit with their unit
        assert time.monotonic() - started < 1
    with pytest.raises(StoreError, match="timed out"):
        w.flush(timeout_s=0.2)
    sink.failures = 0
    w.close()
    assert sink.transactions == [[("stuck",)]]


def test_close_commits_everything_and_refuses_more():
    sink = FlakySink()
    w = UnitWriter(sink)
    w.submit(Unit([(1,)]))  # starts the thread on demand
    w.close()
    assert sink.transactions == [[(1,)]]
    with pytest.raises(StoreError, match="closed"):
        w.submit(Unit([(2,)]))


def test_after_commit_hook_sees_committed_units():
    seen = []
    w = UnitWriter(FlakySink(), on_commit=lambda units: seen.extend(u.payload for u in units)).start()
    for k in range(5):
        w.submit(Unit([(k,)], payload=k))
    w.flush()
    w.close()
    assert seen == [0, 1, 2, 3, 4]


def test_done_callbacks_run_once_committed_or_at_once():
    sink = FlakySink()
    w = UnitWriter(sink)
    unit = Unit([(1,)])
    calls = []
    unit.add_done_callback(lambda: calls.append("before"))
    w.submit(unit)
    unit.wait(5)
    unit.add_done_callback(lambda: calls.append("after"))
    w.close()
    assert calls == ["before", "after"]


def test_committed_units_let_go_of_their_rows_and_payload():
    """The collector keeps committed units (to answer duplicates): they must not keep the windows alive."""
    seen = []
    w = UnitWriter(FlakySink(1), on_commit=lambda units: seen.extend((u.payload, list(u.rows)) for u in units))
    w.start()
    unit = Unit([(1,), (2,)], payload={"window": 1})
    assert not unit.committed
    w.submit(unit)
    assert unit.wait(10) and unit.committed
    w.flush()
    assert seen == [({"window": 1}, [(1,), (2,)])]   # the hook saw them, after a failed commit too
    assert unit.rows == [] and unit.payload is None
    w.close()


def test_wait_times_out_on_a_unit_never_committed():
    unit = Unit([(1,)])
    assert unit.wait(0.05) is False and not unit.committed
