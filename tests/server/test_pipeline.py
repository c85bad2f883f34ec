"""After the commit: JSON Lines export, anomaly alerts through channels, alert events in the experiment."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

import vigil as om
from tests.server.factory import Recorder, window
from vigil.export.jsonl import read_records
from vigil.server.app import create_app
from vigil.server.config import ServerConfig
from vigil.server.prometheus import LatestWindowGauges
from vigil.server.watch import AnomalyWatch


def wait(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_level_shift_raises_one_alert_through_the_webhook_and_is_logged(vigil_home):
    with Recorder() as rx:
        config = ServerConfig(alert_channels=(f"alertmanager+{rx.url}",), alert_cooldown_s=3600)
        with TestClient(create_app(config)) as c:
            for i in range(40):
                assert c.post("/api/v1/windows", json=window("shift", i, pred1=0.9)).status_code == 201
            for i in range(40, 43):  # the shift persists: the cooldown keeps it to one alert per series
                assert c.post("/api/v1/windows", json=window("shift", i, pred1=0.4)).status_code == 201
            wait(lambda: len(c.get("/api/v1/agents/shift/alerts").json()["alerts"]) >= 1)
        # closing the server delivers and records the alerts still queued
        alerts = [r["value"] for r in om.runtime.experiment("agents/shift").data(run="all", event="alert", raw=True)]
    fired = {(a["labels"]["metric"], a["labels"].get("stat")) for a in alerts}
    assert ("pred1", "mean") in fired and all(m == "pred1" for m, _ in fired)
    assert len(alerts) == len(fired)  # once per series
    mean = next(a for a in alerts if a["labels"].get("stat") == "mean")
    assert mean["details"]["window_id"] == window("shift", 40)["window_id"]
    assert mean["deliveries"][0]["status"] == "delivered" and mean["severity"] in ("warning", "critical")
    assert len(rx.requests) == len(alerts)
    assert {r["path"] for r in rx.requests} == {"/hook"}
    [posted] = rx.json(0)
    assert posted["labels"]["alertname"] == "metric_anomaly" and posted["labels"]["agent"] == "shift"


def test_jsonl_export_has_each_stored_window_once(vigil_home):
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:
        for i in (0, 1, 1, 0, 2):
            c.post("/api/v1/windows", json=window("x", i))
    records = list(read_records(vigil_home / "exports" / "jsonl"))
    per_window = len(window("x", 0)["points"])
    assert len(records) == 3 * per_window
    assert sorted({r["t"] for r in records}) == [window("x", i)["end"] for i in range(3)]
    assert {r["agent_id"] for r in records} == {"x"}


def test_jsonl_folder_and_switch(tmp_path):
    with TestClient(create_app(ServerConfig(jsonl_dir=tmp_path / "out", alert_channels=()))) as c:
        c.post("/api/v1/windows", json=window("y", 0))
    assert len(list(read_records(tmp_path / "out"))) == len(window("y", 0)["points"])
    with TestClient(create_app(ServerConfig(jsonl=False, anomaly=False, alert_channels=()))) as c:
        assert c.post("/api/v1/windows", json=window("z", 0)).status_code == 201


def test_prometheus_label_sets_are_capped_and_counted():
    n = len(window("a", 0)["points"])
    gauges = LatestWindowGauges(max_series=10)
    for agent in ("a", "b"):
        gauges.update(window(agent, 0))
    assert gauges.series == 10 and gauges.dropped == 2 * n - 10
    gauges.update(window("a", 1, pred1=0.5))  # existing label sets still update, new ones are dropped
    assert b'metric="pred1",stat="max"} 0.5' in gauges.render()
    assert f"vigil_window_series_dropped_total {3 * n - 20}.0".encode() in gauges.render()


def test_watch_skips_late_windows():
    watch = AnomalyWatch()
    for i in range(40):
        assert watch.observe(window("w", i)) == []
    assert watch.observe(window("w", 10, pred1=0.1)) == []  # late: not scored
    assert watch.observe(window("w", 40, pred1=0.1))


def test_after_a_restart_the_detectors_are_warmed_with_the_stored_windows(vigil_home, caplog):
    """A level shift in the first window after a restart is an alert at once (the detectors hold
    the agent's stored history), not after min_history new windows; a new agent starts empty."""
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:
        for i in range(40):
            assert c.post("/api/v1/windows", json=window("warm", i, pred1=0.9)).status_code == 201
    app = create_app(ServerConfig(alert_channels=()))
    with caplog.at_level("INFO", logger="vigil.server"), TestClient(app) as c:
        assert c.post("/api/v1/windows", json=window("warm", 40, pred1=0.4)).status_code == 201
        wait(lambda: len(c.get("/api/v1/agents/warm/alerts").json()["alerts"]) >= 1)
        alerts = c.get("/api/v1/agents/warm/alerts").json()["alerts"]
        assert c.post("/api/v1/windows", json=window("fresh", 0, pred1=0.4)).status_code == 201
        wait(lambda: app.collector.watch.knows("fresh"))
    assert {a["labels"]["metric"] for a in alerts} == {"pred1"}
    assert alerts[0]["details"]["window_id"] == window("warm", 40)["window_id"]
    assert "agent warm warmed with 40 stored windows" in caplog.text
    assert "agent fresh warmed" not in caplog.text


def test_warming_skips_stored_windows_of_another_shape():
    watch = AnomalyWatch()
    history = [window("w", i) for i in range(80)] + [{"agent_id": "w", "end": "soon", "points": []}, "text"]
    assert watch.warm("w", history[::-1], before=window("w", 70)["end"]) == AnomalyWatch.HISTORY
    assert watch.knows("w")
    assert watch.observe(window("w", 69, pred1=0.1)) == []           # not after the latest warm window
    assert watch.observe(window("w", 70, pred1=0.1))                 # scored against the warm history
    assert watch.warm("other", []) == 0 and not watch.knows("other")
