"""The dashboard's read model (vigil.server.ui.catalog) and its JSON routes, without a browser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import vigil as om
from vigil.errors import InvalidInput, NotFound
from vigil.server.app import create_app
from vigil.server.config import ServerConfig
from vigil.server.ui.catalog import Catalog
from vigil.store.base import EventQuery


@pytest.fixture
def workspace():
    for r in range(3):
        with om.runtime.experiment("cat") as exp:
            exp.log_param("lr", 0.1 * (r + 1))
            for s in range(20):
                exp.log_metric("loss", 10.0 - s + r, step=s)
            exp.log_artifact(b"weights-%d" % r, "weights")
    with om.runtime.experiment("cat") as exp:
        exp.log_events("metric", "long", [float(v) for v in range(5000)], step=list(range(5000)))
    from vigil.drift import DataDriftMonitor

    rng = np.random.default_rng(1)
    base = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.choice(list("xyz"), 2000)})
    mon = DataDriftMonitor("cat-mon")
    mon.snapshot(base)
    shifted = base.assign(a=base.a + 2)
    mon.snapshot(shifted)
    mon.capture(alerts=[{"channels": ["log"]}])
    om.jobs.put("print('job ran')", "cat-job")
    from vigil.store import default_stores

    stores = default_stores()
    stores.flush()
    return Catalog(stores)


def test_runs_summarise_params_and_metrics_in_the_store(workspace):
    runs = workspace.runs("cat")
    assert [r["run"] for r in runs["runs"]] == [1, 2, 3, 4]
    assert runs["param_keys"] == ["lr"] and runs["metric_keys"] == ["long", "loss"]
    first = runs["runs"][0]
    assert first["status"] == "STOPPED" and first["params"]["lr"] == pytest.approx(0.1)
    assert first["metrics"]["loss"] == {"last": -9.0, "min": -9.0, "max": 10.0, "count": 20}


def test_events_page_with_filters_and_next_page(workspace):
    page = workspace.events("cat", run=[1], event="metric", key="loss", limit=15)
    assert len(page["events"]) == 15 and page["next_after"] == page["events"][-1]["id"]
    rest = workspace.events("cat", run=[1], event="metric", key="loss", after_id=page["next_after"], limit=15)
    assert len(rest["events"]) == 5 and rest["next_after"] is None
    assert {(e["run"], e["event"], e["key"]) for e in page["events"] + rest["events"]} == {(1, "metric", "loss")}
    with pytest.raises(InvalidInput, match="limit"):
        workspace.events("cat", limit=0)


def test_metric_series_is_downsampled_only_when_long(workspace):
    short = workspace.metric_series("cat", "loss", [1, 2])
    assert [s["run"] for s in short["runs"]] == [1, 2] and not short["runs"][0]["downsampled"]
    assert short["runs"][0]["mean"] == [10.0 - s for s in range(20)] and short["x_axis"] == "step"
    long = workspace.metric_series("cat", "long", points=100)["runs"][0]
    assert long["downsampled"] and len(long["x"]) <= 100 and sum(long["count"]) == 5000
    assert min(long["min"]) == 0.0 and max(long["max"]) == 4999.0


def test_artifacts_download_the_stored_bytes(workspace):
    arts = workspace.artifacts("cat")
    assert [(a["run"], a["name"]) for a in arts] == [(1, "weights"), (2, "weights"), (3, "weights")]
    name, data = workspace.artifact_bytes("cat", arts[1]["id"])
    assert data == b"weights-1" and name.startswith("weights-run2")
    snapshot = workspace.artifacts("monitors/data/cat-mon")[0]["id"]  # an artifact of another experiment
    for event_id in (snapshot, arts[-1]["id"] + 10_000):
        with pytest.raises(NotFound):
            workspace.artifact_bytes("cat", event_id)


def test_monitor_comparison_distribution_and_report(workspace):
    m = workspace.monitor("monitors/data/cat-mon")
    assert len(m["snapshots"]) == 2 and m["pair"] == [0, 1]
    verdicts = {c["column"]: c["drift"] for c in m["result"]["columns"]}
    assert verdicts == {"a": True, "b": False} and m["captures"][0]["drift"] is True
    d = workspace.distribution("monitors/data/cat-mon", "b")
    assert d["kind"] == "categorical" and sum(d["baseline"]) == pytest.approx(1.0)
    assert "<html" in workspace.monitor_report("monitors/data/cat-mon")
    with pytest.raises(InvalidInput, match="j must index a snapshot"):
        workspace.monitor("monitors/data/cat-mon", 0, 5)
    with pytest.raises(NotFound):
        workspace.distribution("monitors/data/cat-mon", "nope")
    with pytest.raises(NotFound, match="monitors live in"):
        workspace.monitor("cat")
    [mon] = workspace.monitors()
    assert mon["last_verdict"] is True and mon["snapshots"] == 2


def test_alerts_carry_their_delivery_and_jobs_run_now(workspace):
    [alert] = workspace.alerts()
    assert alert["experiment"] == "monitors/data/cat-mon" and "delivered" in alert["delivery"]
    record = workspace.run_job("cat-job")
    assert record["status"] == "ok" and record["stdout"] == "job ran\n"
    assert workspace.job_runs("cat-job")[0]["status"] == "ok"
    with pytest.raises(NotFound):
        workspace.run_job("no-such-job")


def test_json_routes_answer_4xx_for_bad_input_and_never_500(workspace):
    with TestClient(create_app(ServerConfig(alert_channels=(), jsonl=False, anomaly=False))) as client:
        assert client.get("/api/v1/ui/runs", params={"experiment": "cat"}).status_code == 200
        bad = [("/api/v1/ui/runs", {"experiment": "nope"}, 404),
               ("/api/v1/ui/runs", {}, 422),
               ("/api/v1/ui/events", {"experiment": "cat", "run": "x"}, 422),
               ("/api/v1/ui/events", {"experiment": "cat", "since": "yesterday-ish"}, 422),
               ("/api/v1/ui/metric-series", {"experiment": "cat", "key": "loss", "points": 3}, 422),
               ("/api/v1/ui/artifact", {"experiment": "cat", "id": 0}, 422),
               ("/api/v1/ui/monitor", {"name": "../../etc/passwd"}, 404),
               ("/api/v1/ui/distribution", {"name": "monitors/data/cat-mon", "column": "zz"}, 404),
               ("/experiment", {"name": "a" * 300}, 422),
               ("/compare", {"experiment": "cat", "runs": "1"}, 422),
               ("/compare", {"experiment": "cat", "runs": "1,99"}, 404)]
        for path, params, status in bad:
            r = client.get(path, params=params)
            assert r.status_code == status, (path, params, r.status_code, r.text[:200])
        first = workspace.artifacts("cat")[0]["id"]
        r = client.get("/api/v1/ui/artifact", params={"experiment": "cat", "id": first})
        assert r.status_code == 200 and r.content == b"weights-0"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["content-type"] == "application/octet-stream"
        ran = client.post("/api/v1/ui/jobs/run", params={"name": "cat-job"})
        assert ran.status_code == 200 and json.loads(ran.text)["status"] == "ok"


def test_agent_series_come_from_the_latest_window_read_by_id_or_by_scan():
    from vigil.agent import MonitoringAgent
    from vigil.agent.storage import window_to_events
    from vigil.store import default_stores

    windows: list = []
    with MonitoringAgent(n_classes=2, agent_id="cat-agent", sink=windows.append) as agent:
        agent.collect_data(predict_proba_matrix=[[0.9, 0.1], [0.2, 0.8]], label_matrix=[0, 1])
    exp = om.runtime.experiment("agents/cat-agent")
    assert window_to_events(exp, windows[0])
    stores = default_stores()
    stores.flush()
    catalog = Catalog(stores)
    record = stores.events.find_experiment("agents/cat-agent")
    last = stores.events.query(EventQuery(record.id, events=("window",))).column("id").to_pylist()[-1]
    by_scan = catalog.agent_series("agents/cat-agent")
    assert by_scan == catalog.agent_series("agents/cat-agent", last)
    assert {"metric": "accuracy", "stat": None, "class": None, "feature": None, "category": None} in by_scan
    assert catalog.agent_series("agents/cat-agent", last + 100) == []
