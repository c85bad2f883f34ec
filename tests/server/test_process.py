"""The real server as a subprocess: crash and restart (exactly once), tokens, refusal to start exposed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import vigil as om
from tests.server.factory import ServerProcess, free_port, request, retry_until, window
from vigil.agent.storage import window_points
from vigil.cli import main

pytestmark = pytest.mark.slow
TOKEN = "tok-0123456789-abcdef-XYZ"


def post_until_acked(url: str, w: dict, stats: dict, lock: threading.Lock, token: str | None = None) -> bool:
    """What an agent does: send the window again until it is acknowledged; True if stored now."""
    while True:
        try:
            status, body = request("POST", url, w, token=token, timeout_s=5)
        except OSError:
            status, body = 0, None
        if status in (200, 201):
            return body["stored"]
        with lock:
            stats["retries"] += 1
        time.sleep(0.05)


def test_sigkill_mid_stream_then_restart_every_window_exactly_once(vigil_home):
    server = ServerProcess(vigil_home, "--no-anomaly").start()
    url = f"{server.base}/api/v1/windows"
    agents, per_agent = [f"k{i}" for i in range(4)], 25
    stats = {"retries": 0, "acked": 0, "stored": 0, "dups": 0}
    lock = threading.Lock()

    def agent(agent_id: str) -> None:
        for i in range(per_agent):
            w = window(agent_id, i, rows=20)
            stored = post_until_acked(url, w, stats, lock)
            again = post_until_acked(url, w, stats, lock) if i % 5 == 0 else False  # a retry after the ack
            with lock:
                stats["acked"] += 1
                stats["stored"] += stored
                stats["dups"] += again

    threads = [threading.Thread(target=agent, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    retry_until(lambda: stats["acked"], lambda n: n >= 30, timeout_s=60)
    server.kill()                                   # SIGKILL while the agents keep posting
    killed_at = stats["acked"]
    time.sleep(0.5)
    restarted = ServerProcess(vigil_home, "--no-anomaly", port=server.port).start()
    for t in threads:
        t.join(timeout=120)
    assert restarted.stop() in (0, -15)             # uvicorn re-raises SIGTERM after a clean shutdown
    assert killed_at < len(agents) * per_agent and stats["retries"] > 0, stats  # the kill hit mid-stream
    assert stats["acked"] == len(agents) * per_agent and stats["dups"] == 0

    om.reload()
    for agent_id in agents:
        exp = om.runtime.experiment(f"agents/{agent_id}")
        keys = [r["key"] for r in exp.data(run="all", event="window", raw=True)]
        assert sorted(keys) == sorted(window(agent_id, i)["window_id"] for i in range(per_agent)), agent_id
        points = window_points(exp, "rows_seen")
        assert len(points) == per_agent   # no window half-written, none twice
        samples = exp.data(run="all", event="data", key="sample", raw=True)
        assert sorted(r["window_id"] for r in samples) == sorted(keys)   # each sample once, with its window
    assert exp.status(exp.latest_run) == "STOPPED"  # the restarted server ended its run cleanly


def test_listen_all_without_token_refuses_to_start(vigil_home):
    server = ServerProcess(vigil_home, "--listen", "all")
    server.start(wait=False)
    assert server.proc.wait(timeout=30) == 1
    assert "needs a token" in server.output() and "VIGIL_TOKEN" in server.output()
    assert main(["server", "--listen", "all", "--port", str(free_port())]) == 1


def test_exposed_server_with_token_and_the_token_never_logged(vigil_home):
    server = ServerProcess(vigil_home, "--listen", "all", "--access-log", "--log-level", "debug",
                           env={"VIGIL_TOKEN": TOKEN}).start()
    try:
        base = server.base
        assert request("GET", f"{base}/api/v1/health")[0] == 200
        w = window("t", 0)
        for token in (None, "wrong-token-wrong-token", TOKEN + "x"):
            assert request("POST", f"{base}/api/v1/windows", w, token=token)[0] == 401
            for path in ("/api/v1/agents", "/metrics", "/api/v1/openapi.json",
                         "/api/v1/agents/t/series?metric=pred1", "/api/v1/series?metric=pred1&agents=t"):
                assert request("GET", base + path, token=token)[0] == 401, path
        assert request("POST", f"{base}/api/v1/windows", w, token=TOKEN)[0] == 201
        assert request("GET", f"{base}/api/v1/agents", token=TOKEN)[1]["agents"][0]["agent_id"] == "t"
        retry_until(lambda: request("GET", f"{base}/metrics", token=TOKEN),
                    lambda answer: answer[0] == 200 and 'agent="t"' in answer[1], timeout_s=10)
    finally:
        server.stop()
    log = server.output()
    assert "POST /api/v1/windows" in log          # the access log was on
    assert TOKEN not in log and "wrong-token-wrong-token" not in log


def test_a_monitoring_agent_ships_to_the_server(vigil_home, tmp_path):
    from vigil.agent import MonitoringAgent

    server = ServerProcess(vigil_home).start()
    try:
        now = [1_795_418_400.0]
        agent = MonitoringAgent(frequency=5, max_buffer_size=50, n_classes=3, agent_id="e2e",
                                server_port=server.port, clock=lambda: now[0], seed=0,
                                spool_dir=tmp_path / "spool")
        rng = np.random.default_rng(0)
        for _ in range(3):  # three 5-minute windows
            proba = rng.dirichlet([1, 1, 1], size=200)
            agent.collect_data(predict_proba_matrix=proba, label_matrix=proba.argmax(axis=1))
            agent.flush()
            now[0] += 300.0
        assert agent.close(timeout_s=20)
        agents = request("GET", f"{server.base}/api/v1/agents")[1]["agents"]
        assert agents[0]["agent_id"] == "e2e" and agents[0]["windows"] >= 2
        points = request("GET", f"{server.base}/api/v1/agents/e2e/series?metric=accuracy")[1]["points"]
        assert [p["value"] for p in points] == [1.0] * len(points) and len(points) == agents[0]["windows"]
    finally:
        server.stop()


def test_the_server_process_collects_garbage_less_often_and_skips_startup_objects():
    """tune_gc (called by serve) in a fresh interpreter: young threshold raised, imports frozen."""
    code = ("import gc; from vigil.server.serve import tune_gc, GC_YOUNG_THRESHOLD; before = gc.get_threshold();"
            "tune_gc(); after = gc.get_threshold();"
            "assert after == (GC_YOUNG_THRESHOLD, *before[1:]), (before, after);"
            "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
