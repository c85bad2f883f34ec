"""The store refuses writes for a while: SQLite locked by another process, PostgreSQL connections
terminated, the collector's SQLite file locked. Every acknowledged event ends up stored exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

import vigil as om
from tests.reliability.conftest import REPO, child_env, integrity_check
from tests.server.factory import window

LOCK_S = 2.0

LOGGER = textwrap.dedent("""
    import sys, time
    import vigil as om
    import vigil.store.sqlite as sqlite_store
    from vigil.store import default_stores

    name, count, busy_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if busy_ms:
        sqlite_store._BUSY_TIMEOUT_MS = busy_ms    # give up waiting for the lock sooner: the writer retries
    exp = om.runtime.experiment(name)
    exp.start()
    print("started", flush=True)
    sys.stdin.readline()                           # "go": the fault is in place
    raised = 0
    for i in range(1, count + 1):
        try:
            exp.log_metric("m", float(i), step=i)
        except Exception as exc:
            raised += 1
            print("raised", type(exc).__name__, exc, flush=True)
        time.sleep(0.005)
    print("logged", flush=True)
    sys.stdin.readline()                           # "flush": the fault is over (or still going)
    exp.flush()
    writer = default_stores().writer
    exp.stop()
    print(f"raised {raised} retries {writer.retries} dropped {writer.dropped}", flush=True)
""")

LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    print("released", flush=True)
""")


def start_logger(home, name: str, count: int, busy_ms: int = 0, **env: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LOGGER, name, str(count), str(busy_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env(home, **env), cwd=REPO)
    expect_line(proc, "started")
    return proc


def expect_line(proc: subprocess.Popen, line: str) -> None:
    got = proc.stdout.readline().strip()
    if got != line:
        proc.kill()
        raise AssertionError(f"expected {line!r}, got {got!r}; stderr:\n{proc.stderr.read()}")


def say(proc: subprocess.Popen, word: str) -> None:
    proc.stdin.write(word + "\n")
    proc.stdin.flush()


def finish(proc: subprocess.Popen) -> dict[str, int]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    words = out.split()
    stats = {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2) if words[i + 1].isdigit()}
    assert stats.get("raised") == 0, f"an error reached the logging code:\n{out}\n{err}"
    return stats


def stored_steps(name: str) -> list[int]:
    om.reload()
    return sorted(om.runtime.experiment(name).data(run="all", key="m")["step"].astype(int))


@pytest.mark.parametrize("busy_ms", [0, 200], ids=["busy-timeout-waits", "busy-timeout-short-writer-retries"])
def test_sqlite_locked_by_another_process_loses_and_duplicates_nothing(vigil_home, busy_ms):
    count = 300
    logger = start_logger(vigil_home, "locked", count, busy_ms)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(vigil_home / "vigil.db"), str(LOCK_S)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        say(logger, "go")                   # every event is logged while the file is locked
        expect_line(logger, "logged")
        say(logger, "flush")
        assert locker.stdout.readline().strip() == "released"
        stats = finish(logger)
    finally:
        for proc in (logger, locker):
            proc.kill()
            proc.wait(timeout=30)
    if busy_ms:
        assert stats["retries"] > 0, "the lock never made a commit fail: the fault was not injected"
    assert stats["dropped"] == 0
    steps = stored_steps("locked")
    print(f"sqlite locked {LOCK_S}s (busy_timeout {busy_ms or 'default'}): logged {count}, "
          f"stored {len(steps)}, retries {stats['retries']}")
    assert steps == list(range(1, count + 1)), "events lost or stored twice"
    assert integrity_check(vigil_home / "vigil.db") == "ok"


@pytest.fixture
def pg_fresh_url():
    """A database of its own (its connections are terminated on purpose)."""
    from tests.conftest import fresh_pg_database

    with fresh_pg_database("vigil_rel") as url:
        yield url


@pytest.mark.postgres
def test_postgres_connections_terminated_while_logging(vigil_home, pg_fresh_url):
    import psycopg

    count = 400
    logger = start_logger(vigil_home, "terminated", count, VIGIL_STORE_URL=pg_fresh_url)
    terminated = 0
    try:
        with psycopg.connect(pg_fresh_url, autocommit=True) as killer:
            say(logger, "go")
            done = threading.Event()
            threading.Thread(target=lambda: (expect_line(logger, "logged"), done.set()), daemon=True).start()
            while not done.wait(0.1):
                terminated += killer.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        say(logger, "flush")
        stats = finish(logger)
    finally:
        logger.kill()
        logger.wait(timeout=30)
    assert terminated > 0, "no connection of the logger was terminated: the fault was not injected"
    om.reload()
    from vigil.config import settings  # read back through the same PostgreSQL store

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_STORE_URL", pg_fresh_url)
        om.reload()
        assert settings().store_url == pg_fresh_url
        steps = sorted(om.runtime.experiment("terminated").data(run="all", key="m")["step"].astype(int))
        status = om.runtime.experiment("terminated").status(1)
    om.reload()
    print(f"postgres: {terminated} connections terminated while logging {count} events; stored {len(steps)}, "
          f"writer retries {stats['retries']}")
    assert steps == list(range(1, count + 1)), "events lost or stored twice"
    assert status == "STOPPED"


def test_collector_with_its_sqlite_file_locked_acknowledges_only_what_it_stored(vigil_home):
    from fastapi.testclient import TestClient

    from vigil.agent.storage import window_points
    from vigil.server.app import create_app
    from vigil.server.config import ServerConfig

    config = ServerConfig(anomaly=False, alert_channels=(), jsonl=False, commit_timeout_s=0.5)
    windows = [window("locked", i, rows=4) for i in range(40)]
    answers: dict[int, int] = {}
    with TestClient(create_app(config)) as client:
        assert client.post("/api/v1/windows", json=windows[0]).status_code == 201
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(vigil_home / "vigil.db"), str(LOCK_S)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout.readline().strip() == "locked"
            for w in windows[1:]:           # an agent: send again until acknowledged
                for _ in range(200):
                    r = client.post("/api/v1/windows", json=w)
                    answers[r.status_code] = answers.get(r.status_code, 0) + 1
                    if r.status_code in (200, 201):
                        break
                    assert r.status_code == 503 and "retry-after" in r.headers, (r.status_code, r.text)
                    time.sleep(0.1)
                else:
                    raise AssertionError(f"{w['window_id']} never acknowledged")
            assert locker.stdout.readline().strip() == "released"
        finally:
            locker.kill()
            locker.wait(timeout=30)
    print(f"collector, sqlite locked {LOCK_S}s: answers {answers}")
    assert answers.get(503, 0) > 0, "no request met the lock: the fault was not injected"
    om.reload()
    exp = om.runtime.experiment("agents/locked")
    keys = sorted(r["key"] for r in exp.data(run="all", event="window", raw=True))
    assert keys == sorted(w["window_id"] for w in windows), "acknowledged windows lost or stored twice"
    assert len(window_points(exp, "rows_seen")) == len(windows)
    assert integrity_check(vigil_home / "vigil.db") == "ok"
