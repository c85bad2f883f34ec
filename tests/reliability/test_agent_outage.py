"""The collector is unreachable for hours of agent time: the spool stays within its bounds
(drop-oldest, counted), and when a collector comes up the kept windows arrive in order, once each."""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import FakeClock, free_port
from tests.agent.test_shipping import http_agent, make_windows, window_files
from vigil.agent.testing import StubCollector


@pytest.fixture(autouse=True)
def _home(vigil_home):
    return vigil_home


@pytest.mark.parametrize("bound", ["files", "bytes"])
def test_outage_spool_is_bounded_then_kept_windows_replay_in_order_once(tmp_path, bound):
    clock = FakeClock()
    port = free_port()                                     # nobody listens there yet
    total, keep = 40, 6
    probe = http_agent(tmp_path / "probe", clock, port, agent_id="o")
    make_windows(probe, clock, 1)
    probe.flush(0.05)
    size = max(p.stat().st_size for p in window_files(probe.spool_dir))
    probe.close(0.05)
    bounds = {"spool_max_files": keep} if bound == "files" else {"spool_max_bytes": int(size * (keep + 0.5))}

    clock = FakeClock()
    agent = http_agent(tmp_path, clock, port, agent_id="o", **bounds)
    ids, most_files, most_bytes = [], 0, 0
    for i in range(total):                                 # 40 windows of 5 minutes: 200 minutes down
        ids += make_windows(agent, clock, 1, first=i)
        assert not agent.flush(0.02)
        files = window_files(agent.spool_dir)
        most_files = max(most_files, len(files))
        most_bytes = max(most_bytes, sum(p.stat().st_size for p in files))
    totals = agent.totals()
    kept = [json.loads(p.read_text())["window_id"] for p in window_files(agent.spool_dir)]
    print(f"outage, bound on {bound}: {total} windows, kept {len(kept)}, evicted {totals['spool_evicted']}, "
          f"most files {most_files}, most bytes {most_bytes}")
    if bound == "files":
        assert most_files <= keep
    else:
        assert most_bytes <= bounds["spool_max_bytes"]
    assert kept == ids[-len(kept):] and len(kept) >= keep - 1, "not the newest windows"
    assert totals["spool_evicted"] == total - len(kept) and totals["delivered"] == 0

    with StubCollector(port=port) as collector:            # the collector comes up
        assert agent.flush(10)
        agent.close(5)
    assert collector.received == kept, "replayed out of order or more than once"
    assert list(collector.windows) == kept
    assert agent.totals()["delivered"] == len(kept) and window_files(agent.spool_dir) == []
    # the evictions are reported to the collector too, in the windows that followed them
    reported = sum(w["dropped"].get("spool_evicted", 0) for w in collector.windows.values())
    assert 0 < reported <= totals["spool_evicted"]
