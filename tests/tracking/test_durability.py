"""Durability of logged events (the write-behind of vigil/store/writer.py as the
experiment API uses it): an event whose ``log_*`` call returned survives a
``kill -9`` 100 ms later; ``flush()``, the end of a run and a normal interpreter
exit commit everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import vigil as om
from vigil.config import settings
from vigil.runtime import Runtime
from vigil.store.base import EventQuery
from vigil.store.registry import Stores, open_event_store, open_object_store
from vigil.store.writer import BufferedWriter

REPO = Path(__file__).resolve().parents[2]
KILL_AFTER_S = 0.1

LOGGER = textwrap.dedent("""
    import sys, time
    import vigil as om

    name, count, pause_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    exp = om.runtime.experiment(name)
    exp.start()
    for i in range(1, count + 1):
        exp.log_metric("m", float(i), step=i)
        print(f"logged {i}", flush=True)
        if pause_s:
            time.sleep(pause_s)
    print("idle", flush=True)
    time.sleep(120)  # killed before this ends
""")


def spawn(script: str, *args: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "VIGIL_HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL", "VIGIL_FLUSH_INTERVAL_MS"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def read_until(proc: subprocess.Popen, line: str, timeout_s: float = 60.0) -> list[str]:
    """Lines of stdout up to and including ``line``."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = proc.stdout.readline()
        if not text:
            raise AssertionError(f"the logger ended before {line!r}; stderr:\n{proc.stderr.read()}")
        seen.append(text.strip())
        if seen[-1] == line:
            return seen
    raise AssertionError(f"no {line!r} within {timeout_s}s")


def stored_steps(name: str) -> set[int]:
    om.reload()  # read what reached the file, through freshly opened stores
    return set(om.runtime.experiment(name).data(run="all", key="m")["step"].astype(int))


@pytest.mark.slow
def test_logged_events_survive_kill_9_after_100ms(vigil_home):
    """Two loggers: one killed in the middle of a stream, one killed after it went idle
    (nothing but the write-behind timer can commit its last events)."""
    streaming = spawn(LOGGER, "streaming", "100000", "0.002", home=vigil_home)
    idle = spawn(LOGGER, "idle", "40", "0", home=vigil_home)
    try:
        read_until(streaming, "logged 60")
        time.sleep(KILL_AFTER_S)
        os.kill(streaming.pid, signal.SIGKILL)
        read_until(idle, "idle")
        time.sleep(KILL_AFTER_S)
        os.kill(idle.pid, signal.SIGKILL)
    finally:
        for proc in (streaming, idle):
            proc.kill()
            proc.wait(timeout=30)
    assert streaming.returncode == idle.returncode == -signal.SIGKILL

    missing = set(range(1, 61)) - stored_steps("streaming")
    assert not missing, f"events whose log_metric returned >= {KILL_AFTER_S}s before kill -9 were lost: {sorted(missing)}"
    missing = set(range(1, 41)) - stored_steps("idle")
    assert not missing, f"events logged before an idle process was killed were lost: {sorted(missing)}"
    # the killed runs stay STARTED: nobody could end them
    assert om.runtime.experiment("idle").status(1) == "STARTED"


@pytest.mark.slow
def test_normal_exit_commits_everything_and_stops_the_run(vigil_home):
    script = textwrap.dedent("""
        import vigil as om
        exp = om.runtime.experiment("exit")
        exp.start()
        for i in range(2000):
            exp.log_metric("m", float(i), step=i)
        exp.log_param("last", "param")
        om.runtime.experiment("exit/with").__enter__().log_metric("m", 1.0, step=0)  # never exited
    """)
    proc = spawn(script, home=vigil_home)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert stored_steps("exit") == set(range(2000))
    exp = om.runtime.experiment("exit")
    assert exp.data(run="all", key="last")["value"].tolist() == ["param"]
    assert exp.runs()["status"].tolist() == ["STOPPED"]
    assert om.runtime.experiment("exit/with").runs()["status"].tolist() == ["STOPPED"]
    assert stored_steps("exit/with") == {0}


@pytest.fixture
def slow_stores(vigil_home):
    """Stores whose write-behind never commits on its own during a test (1 h interval),
    and a second, independent connection to the same file to see what was committed."""
    config = settings()
    events = open_event_store(config.store_url)
    writer = BufferedWriter(events.append, interval_ms=3_600_000)
    stores = Stores(config, events, open_object_store(config.artifacts_url), writer)
    reader = open_event_store(config.store_url)
    yield stores, reader
    stores.close()
    reader.close()


def committed(reader, name: str) -> int:
    record = reader.find_experiment(name)
    return 0 if record is None else reader.count(EventQuery(experiment_id=record.id))


def test_flush_and_the_end_of_a_run_commit_what_is_buffered(slow_stores):
    stores, reader = slow_stores
    exp = Runtime(stores).experiment("flush")
    exp.start()
    exp.log_metric("m", 1.0)
    exp.log_param("p", 1)
    assert committed(reader, "flush") == 0, "expected the events to wait in the write-behind buffer"
    exp.flush()
    assert committed(reader, "flush") == 2
    exp.log_metric("m", 2.0)
    exp.stop()
    assert committed(reader, "flush") == 3
    with exp:
        exp.log_metrics({"a": 1.0, "b": 2.0})
    assert committed(reader, "flush") == 5
    exp.start()
    exp.log_metric("m", 3.0)
    exp.data()  # reading flushes first, so a process reads its own writes
    assert committed(reader, "flush") == 6
    exp.stop()


def test_a_refusing_store_is_retried_with_backoff_while_rows_keep_coming():
    """New rows arriving while the store refuses do not cut the backoff short (no hot retry loop);
    a flush on a full store makes one more try at once and raises StoreFull, and the rows commit
    once the store takes them again."""
    from vigil.errors import StoreError, StoreFull

    state = {"error": StoreError("down"), "calls": 0}
    committed: list[tuple] = []

    def sink(rows):
        state["calls"] += 1
        if state["error"] is not None:
            raise state["error"]
        committed.extend(rows)

    writer = BufferedWriter(sink, interval_ms=5, max_batch=10)
    deadline = time.monotonic() + 1.0
    i = 0
    while time.monotonic() < deadline:     # a row every ms: each extend past max_batch wakes the thread
        writer.extend([(i,)])
        i += 1
        time.sleep(0.001)
    assert 3 <= writer.retries <= 12, writer.retries   # backoff 5, 10, 20 ... ms: about 8 tries in 1 s
    state["error"] = StoreFull("disk full")
    until = time.monotonic() + 10
    while not isinstance(writer.last_error, StoreFull):   # the writer's next try meets the full store
        assert time.monotonic() < until
        time.sleep(0.01)
    started, tries = time.monotonic(), writer.retries
    with pytest.raises(StoreFull, match="kept in memory"):
        writer.flush(timeout_s=60)
    assert time.monotonic() - started < 5, "flush waited for its timeout on a full store"
    assert tries < writer.retries <= tries + 2             # it had the writer try once more, now
    state["error"] = None
    writer.flush(timeout_s=30)
    writer.close()
    assert [r[0] for r in committed] == list(range(i))
