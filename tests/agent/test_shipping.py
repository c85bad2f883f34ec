"""Delivery to a collector over HTTP: spool when down, replay in order, exactly once, restarts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.agent.conftest import T0, dirichlet, free_port
from vigil.agent import MonitoringAgent, local_server
from vigil.agent.spool import Spool
from vigil.agent.testing import StubCollector
from vigil.errors import InvalidInput, TransportError


def http_agent(tmp_path, clock, port, **options) -> MonitoringAgent:
    options.setdefault("agent_id", "h")
    return MonitoringAgent(frequency=5, n_classes=3, server_IP="127.0.0.1", server_port=port,
                           spool_dir=tmp_path / "spool", clock=clock, backoff_max_s=0.05, timeout_s=2,
                           seed=0, **options)


def window_files(folder) -> list:
    """The window files of a spool folder, oldest first (pathlib's glob also matches the hidden
    temporary files of an interrupted write, which are not windows)."""
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def spooled(agent) -> list[str]:
    """Names of the window files in the agent's spool, oldest first."""
    return [p.name for p in window_files(agent.spool_dir)]


def make_windows(agent, clock, count: int, rows: int = 10, first: int = 0) -> list[str]:
    """Collect ``rows`` rows in each of ``count`` consecutive windows and close them."""
    ids = []
    for i in range(first, first + count):
        clock.t = T0 + 300 * i + 1
        agent.collect_data(dirichlet(rows, 3, seed=i), np.ones((rows, 2)), np.zeros(rows, dtype=int))
        ids.append(f"{agent.agent_id}:{int((T0 + 300 * i) * 1000)}")
    clock.t = T0 + 300 * (first + count) + 2
    return ids


def test_windows_reach_the_collector_with_the_wire_contract(tmp_path, clock, stub):
    stub.token = "s3cret"
    agent = http_agent(tmp_path, clock, stub.port, token="s3cret")
    ids = make_windows(agent, clock, 2)
    assert agent.flush(5)
    assert stub.received == ids and list(stub.windows) == ids
    window = stub.windows[ids[0]]
    assert window["schema"] == "vigil.window/1" and window["agent_id"] == "h"
    assert window["start"] == T0 and window["end"] == T0 + 300 and window["n_classes"] == 3
    assert len(window["sample"]["proba"]) == 10 and window["sample"]["feature_names"] == ["f0", "f1"]
    agent.close()
    assert agent.totals()["delivered"] == 2 and len(Spool(agent.spool_dir, 10, 10**9).names()) == 0


def test_spooled_while_down_then_replayed_in_order_exactly_once(tmp_path, clock, stub):
    agent = http_agent(tmp_path, clock, stub.port)
    stub.mode = 503
    ids = make_windows(agent, clock, 3)
    assert not agent.flush(0.3)
    names = spooled(agent)
    assert len(names) == 3 and stub.windows == {}
    assert [json.loads((agent.spool_dir / f).read_text())["window_id"] for f in names] == ids
    stub.mode = None
    assert agent.flush(5)
    assert list(stub.windows) == ids and stub.received == ids
    # re-sending a delivered window (a retry after a lost answer) is harmless: deduplicated
    (agent.spool_dir / "000000000000001-0000000000000000001.json").write_bytes(
        json.dumps(stub.windows[ids[0]]).encode())
    assert agent.flush(5)
    assert list(stub.windows) == ids and stub.received.count(ids[0]) == 2
    agent.close()


def test_the_collector_restarts_on_the_same_port(tmp_path, clock):
    first = StubCollector().start()
    port = first.port
    agent = http_agent(tmp_path, clock, port)
    ids = make_windows(agent, clock, 1)
    assert agent.flush(5) and list(first.windows) == ids
    first.stop()                                             # the collector goes away
    more = make_windows(agent, clock, 2, first=1)
    assert not agent.flush(0.3) and len(spooled(agent)) == 2
    with StubCollector(port=port) as second:                 # and comes back
        assert agent.flush(5)
        assert list(second.windows) == more
        agent.close()


def test_bad_token_keeps_windows_until_fixed(tmp_path, clock, stub):
    stub.token = "right"
    agent = http_agent(tmp_path, clock, stub.port, token="wrong")
    ids = make_windows(agent, clock, 2)
    assert not agent.flush(0.3)
    assert stub.windows == {} and len(spooled(agent)) == 2   # 401: kept, not dropped
    stub.token = "wrong"                                                  # the operator fixes it
    assert agent.flush(5) and list(stub.windows) == ids
    agent.close()
    assert agent.totals()["rejected"] == 0


def test_a_rejected_window_is_dropped_and_counted(tmp_path, clock, stub):
    agent = http_agent(tmp_path, clock, stub.port)
    stub.mode = 422
    make_windows(agent, clock, 1)
    assert agent.flush(5)                                     # nothing left: rejected, not retried
    stub.mode = None
    ids = make_windows(agent, clock, 1, first=1)
    agent.flush(5)
    assert list(stub.windows) == ids
    assert stub.windows[ids[0]]["dropped"]["rejected"] == 1   # reported in the next window
    agent.close()
    assert agent.totals()["rejected"] == 1


def test_a_new_agent_replays_the_spool_of_the_previous_one(tmp_path, clock, stub):
    old = http_agent(tmp_path, clock, free_port())          # nobody listens there
    ids = make_windows(old, clock, 3)
    old.collect_data(dirichlet(4, 3))                         # the open window, closed by close()
    ids.append(f"h:{int((T0 + 900) * 1000)}")
    assert old.close(1) is False                              # undelivered: left in the spool
    assert len(spooled(old)) == 4
    new = http_agent(tmp_path, clock, stub.port)
    new.start()                                               # replays before any new data
    assert new.flush(5)
    assert list(stub.windows) == ids and stub.received == ids
    new.close()


def test_the_spool_is_bounded_oldest_dropped_first(tmp_path, clock):
    agent = http_agent(tmp_path, clock, free_port(), spool_max_files=2)
    ids = make_windows(agent, clock, 4)
    agent.flush(0.2)
    names = spooled(agent)
    assert [json.loads((agent.spool_dir / n).read_text())["window_id"] for n in names] == ids[2:]
    ids += make_windows(agent, clock, 1, first=4)
    agent.flush(0.2)
    # each eviction is reported by the next window: window 3's close evicted window 1 (seen in
    # window 4), window 4's close evicted window 2 (seen in window 5)
    remaining = [json.loads((agent.spool_dir / n).read_text()) for n in spooled(agent)]
    assert [w["window_id"] for w in remaining] == ids[3:]
    assert [w["dropped"]["spool_evicted"] for w in remaining] == [1, 1]
    agent.close(0.5)


def test_a_complete_temporary_file_is_recovered_a_partial_one_is_not(tmp_path):
    (tmp_path / ".tmp-000000000001000-0000000000000000001.json").write_bytes(b'{"window_id": "a:1000"}')
    (tmp_path / ".tmp-000000000002000-0000000000000000002.json").write_bytes(b'{"window_id": "a:20')
    spool = Spool(tmp_path, max_files=100, max_bytes=10**6)
    spool.open()
    assert spool.names() == ["000000000001000-0000000000000000001.json"]
    assert (tmp_path / ".tmp-000000000002000-0000000000000000002.json").exists()   # young: left alone


def test_spool_byte_bound_and_atomic_names(tmp_path):
    spool = Spool(tmp_path, max_files=100, max_bytes=250)
    for start in range(5):
        spool.write(start * 1000, b"x" * 100)
    assert [n[:15] for n in spool.names()] == ["000000000003000", "000000000004000"]
    assert spool.evicted == 3
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    spool.write(5000, b"y" * 1000)                            # larger than the bound: kept alone
    assert len(spool.names()) == 1 and spool.read(spool.names()[0]) == b"y" * 1000


def test_run_local_server_reuses_a_healthy_collector(tmp_path, clock, stub):
    agent = http_agent(tmp_path, clock, stub.port)
    assert agent.run_local_server(timeout_s=5) is False       # already answering: reused
    assert agent._server is None
    agent.close()


def test_run_local_server_refuses_remote_addresses_and_reports_failures(tmp_path):
    remote = MonitoringAgent(n_classes=2, server_IP="10.1.2.3", spool_dir=tmp_path)
    with pytest.raises(InvalidInput, match="run_local_server of MonitoringAgent needs"):
        remote.run_local_server()
    local = MonitoringAgent(n_classes=2, server_port=free_port(), spool_dir=tmp_path)
    with pytest.raises(TransportError, match="exited with code 3"):
        local.run_local_server(timeout_s=10, command=[sys.executable, "-c", "raise SystemExit(3)"])


@pytest.mark.slow
def test_run_local_server_starts_and_stops_a_collector(tmp_path, clock):
    port = free_port()
    agent = http_agent(tmp_path, clock, port)
    command = [sys.executable, "-m", "vigil.agent.testing", "--port", str(port)]
    assert agent.run_local_server(timeout_s=30, command=command) is True
    child = agent._server
    assert local_server.is_healthy("127.0.0.1", port)
    make_windows(agent, clock, 2)
    assert agent.flush(10)
    assert agent.close()
    assert child.poll() is not None                           # stopped with the agent


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(local_server.__file__), "..", "server",
                                                    "__main__.py")), reason="vigil.server has no __main__ yet")
def test_run_local_server_with_the_real_collector(tmp_path, clock):
    agent = http_agent(tmp_path, clock, free_port())
    assert agent.run_local_server(timeout_s=30) is True
    make_windows(agent, clock, 1)
    assert agent.flush(10)
    agent.close()


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from vigil.agent import MonitoringAgent

    spool, port = sys.argv[1], int(sys.argv[2])
    agent = MonitoringAgent(frequency=0.004, n_classes=3, agent_id='crash', server_port=port,
                            spool_dir=spool, backoff_max_s=0.05, seed=0)
    rng = np.random.default_rng(0)
    while True:                       # collect until killed; windows of 240 ms close on their own
        agent.collect_data(rng.dirichlet(np.ones(3), size=20))
        time.sleep(0.01)
""")


@pytest.mark.slow
def test_windows_spooled_by_a_killed_process_are_replayed(tmp_path, stub):
    spool = tmp_path / "spool"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool), str(free_port())],
                             env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(window_files(spool)) < 3:
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)                     # no close(), no atexit
        child.wait(10)
    spooled = window_files(spool)
    assert len(spooled) >= 3
    expected = [json.loads(p.read_text()) for p in spooled]   # complete JSON: written atomically
    for tmp in spool.glob(".tmp-*.json"):                     # a write cut by the kill after its fsync
        try:
            expected.append(json.loads(tmp.read_text()))      # is recovered by the next agent
        except ValueError:
            pass                                              # (a partial one is not a window)
    expected.sort(key=lambda w: w["start"])
    new = MonitoringAgent(frequency=0.004, n_classes=3, agent_id="crash", server_port=stub.port,
                          spool_dir=spool, backoff_max_s=0.05)
    new.start()
    assert new.flush(10)
    missing = [w["window_id"] for w in expected if w["window_id"] not in stub.windows]
    assert not missing, (missing, stub.received, stub.answers, new.totals(), [p.name for p in spooled])
    assert window_files(spool) == []
    got = [stub.windows[w["window_id"]] for w in expected]
    assert got == expected
    assert stub.received == [w["window_id"] for w in expected]   # in order, once each, no temp files
    assert all(w["rows_seen"] > 0 for w in expected)
    new.close()
    shutil.rmtree(spool, ignore_errors=True)
