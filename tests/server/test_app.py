"""The collector's HTTP API in process (TestClient): storing, deduplicating, reading, errors."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

import vigil as om
from tests.server.factory import window
from vigil.agent.storage import window_points
from vigil.server.app import create_app
from vigil.server.config import ServerConfig


@pytest.fixture
def client():
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:
        yield c


def windows_in_store(agent_id: str) -> list[str]:
    exp = om.runtime.experiment(f"agents/{agent_id}")
    return [r["key"] for r in exp.data(run="all", event="window", raw=True)]


def test_health_and_openapi(client):
    assert client.get("/api/v1/health").json() == {"status": "ok", "version": om.__version__,
                                                   "token_required": False}
    schema = client.get("/api/v1/openapi.json").json()
    assert {"Window", "Point", "Sample", "WindowAck", "Series"} <= set(schema["components"]["schemas"])
    body = schema["paths"]["/api/v1/windows"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Window"}
    assert "class" in schema["components"]["schemas"]["Point"]["properties"]


def test_store_then_duplicate(client):
    w = window("a", 0)
    first = client.post("/api/v1/windows", json=w)
    assert (first.status_code, first.json()) == (201, {"stored": True, "window_id": w["window_id"]})
    again = client.post("/api/v1/windows", json=w)
    assert (again.status_code, again.json()["stored"]) == (200, False)
    assert windows_in_store("a") == [w["window_id"]]
    exp = om.runtime.experiment("agents/a")
    assert exp.data(run="all", event="metric", raw=True) == []   # one row per window, not per point
    assert len(window_points(exp)) == len(w["points"])
    (stored,) = [r["value"] for r in exp.data(run="all", event="window", raw=True)]
    assert stored == {k: v for k, v in w.items() if k != "sample"}
    sample = exp.restore_data("sample")
    assert sample["proba"].shape == (6, 3) and sample["labels"].tolist() == w["sample"]["labels"]


def test_concurrent_posts_of_one_window_store_it_once(client):
    w = window("race", 0)
    results: list[int] = []

    def post() -> None:
        results.append(client.post("/api/v1/windows", json=w).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 7 + [201]
    assert windows_in_store("race") == [w["window_id"]]


def test_duplicate_found_in_the_store_after_a_restart():
    w = window("again", 0)
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:
        assert c.post("/api/v1/windows", json=w).status_code == 201
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:  # a new process memory
        r = c.post("/api/v1/windows", json=w)
        assert (r.status_code, r.json()["stored"]) == (200, False)
    assert windows_in_store("again") == [w["window_id"]]


def test_series_ordered_by_window_time_and_filtered(client):
    for i in (2, 0, 1):  # out of order on purpose
        assert client.post("/api/v1/windows", json=window("s", i, pred1=0.5 + i / 10)).status_code == 201
    r = client.get("/api/v1/agents/s/series", params={"metric": "pred1", "stat": "max"})
    assert r.status_code == 200
    body = r.json()
    assert body["agent_id"] == "s" and body["metric"] == "pred1"
    assert [p["t"] for p in body["points"]] == sorted(p["t"] for p in body["points"])
    assert [round(p["value"], 3) for p in body["points"]] == [0.5, 0.6, 0.7]
    assert {p["stat"] for p in body["points"]} == {"max"}
    cls = client.get("/api/v1/agents/s/series", params={"metric": "pred_class_freq", "cls": "2"}).json()
    assert len(cls["points"]) == 3 and {p["class"] for p in cls["points"]} == {"2"}
    feat = client.get("/api/v1/agents/s/series", params={"metric": "feature_category_freq",
                                                         "feature": "colour", "category": "red"}).json()
    assert [p["value"] for p in feat["points"]] == [0.25] * 3
    window_end = body["points"][1]["t"]
    cut = client.get("/api/v1/agents/s/series", params={"metric": "pred1", "stat": "max",
                                                        "since": window_end, "until": window_end}).json()
    assert [p["t"] for p in cut["points"]] == [window_end]


def test_agents_and_canary_comparison(client):
    for i in range(3):
        client.post("/api/v1/windows", json=window("champion", i, accuracy=0.9))
        client.post("/api/v1/windows", json=window("canary", i, accuracy=0.7))
    agents = {a["agent_id"]: a for a in client.get("/api/v1/agents").json()["agents"]}
    assert set(agents) == {"champion", "canary"}
    assert agents["canary"]["windows"] == 3
    assert agents["canary"]["last_window_end"] == window("canary", 2)["end"]
    r = client.get("/api/v1/series", params={"metric": "accuracy", "agents": "champion,canary"}).json()
    assert [s["agent_id"] for s in r["series"]] == ["champion", "canary"]
    assert [p["value"] for p in r["series"][0]["points"]] == [0.9] * 3
    assert [p["value"] for p in r["series"][1]["points"]] == [0.7] * 3
    missing = client.get("/api/v1/series", params={"metric": "accuracy", "agents": "champion,nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    assert client.get("/api/v1/agents/nobody/series", params={"metric": "accuracy"}).status_code == 404


def _bad(mutate):
    w = window("bad", 0)
    mutate(w)
    return w


BAD_WINDOWS = {
    "missing agent_id": (lambda w: w.pop("agent_id"), ["body", "agent_id"]),
    "wrong schema": (lambda w: w.update(schema="vigil.window/9"), ["body", "schema"]),
    "agent id with a slash": (lambda w: w.update(agent_id="a/b"), ["body", "agent_id"]),
    "agent id dot-dot": (lambda w: w.update(agent_id="..", window_id=f"..:{round(w['start'] * 1000)}"),
                         ["body", "agent_id"]),
    "window id not agent:start_ms": (lambda w: w.update(window_id="bad:1"), ["body", "window_id"]),
    "end before start": (lambda w: w.update(end=w["start"] - 1), ["body", "end"]),
    "n_classes 1": (lambda w: w.update(n_classes=1), ["body", "n_classes"]),
    "negative rows_seen": (lambda w: w.update(rows_seen=-1), ["body", "rows_seen"]),
    "unknown metric": (lambda w: w["points"][0].update(metric="nope"), ["body", "points", 0, "metric"]),
    "string value": (lambda w: w["points"][1].update(value="high"), ["body", "points", 1, "value"]),
    "extra point key": (lambda w: w["points"][0].update(colour=1), ["body", "points", 0, "colour"]),
    "class as int": (lambda w: w["points"][0].update({"class": 1}), ["body", "points", 0, "class"]),
    "proba row too short": (lambda w: w["sample"]["proba"][2].pop(), ["body", "sample", "proba", 2]),
    "labels too few": (lambda w: w["sample"]["labels"].pop(), ["body", "sample", "labels"]),
    "label out of range": (lambda w: w["sample"]["labels"].__setitem__(0, 7), ["body", "sample", "labels", 0]),
    "inputs ragged": (lambda w: w["sample"]["inputs"][1].append(3.0), ["body", "sample", "inputs", 1]),
    "no sample": (lambda w: w.pop("sample"), ["body", "sample"]),
    "points not a list": (lambda w: w.update(points={}), ["body", "points"]),
}


@pytest.mark.parametrize("case", sorted(BAD_WINDOWS))
def test_bad_windows_are_422_naming_the_field(client, case):
    mutate, loc = BAD_WINDOWS[case]
    r = client.post("/api/v1/windows", json=_bad(mutate))
    assert r.status_code == 422, r.text
    locs = [e["loc"] for e in r.json()["detail"]]
    assert loc in locs, locs
    assert all(e["msg"] for e in r.json()["detail"])


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'"w"', b"\xff\xfe", b'{"schema": NaN}'])
def test_unparsable_bodies_are_422(client, body):
    r = client.post("/api/v1/windows", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


def test_nan_value_is_422(client):
    text = json.dumps(window("nan", 0))
    assert '"value": 1.5' in text
    body = text.replace('"value": 1.5', '"value": NaN').encode()
    r = client.post("/api/v1/windows", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_not_json_is_415(client):
    r = client.post("/api/v1/windows", content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]


def test_oversized_body_is_413_declared_or_streamed():
    with TestClient(create_app(ServerConfig(max_body_bytes=4096, alert_channels=()))) as c:
        big = copy.deepcopy(window("big", 0, rows=200))
        r = c.post("/api/v1/windows", json=big)
        assert r.status_code == 413 and "4096" in r.json()["detail"]

        def chunks():
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/api/v1/windows", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert c.post("/api/v1/windows", json=window("small", 0, rows=2)).status_code == 201


@pytest.mark.parametrize("params", [
    {}, {"metric": "x" * 100}, {"metric": "pred1", "since": "yesterday"}, {"metric": "bad name"},
])
def test_bad_queries_are_422(client, params):
    client.post("/api/v1/windows", json=window("q", 0))
    r = client.get("/api/v1/agents/q/series", params=params)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "query"


def test_bad_agent_in_path_is_422(client):
    assert client.get("/api/v1/agents/a%20b/series", params={"metric": "pred1"}).status_code == 422


def test_prometheus_metrics(client):
    from prometheus_client import CONTENT_TYPE_LATEST

    client.post("/api/v1/windows", json=window("p", 1, pred1=0.75))
    client.post("/api/v1/windows", json=window("p", 0, pred1=0.5))  # older, arrives late
    for _ in range(200):  # the gauges follow the commit by a few milliseconds
        r = client.get("/metrics")
        if 'vigil_windows_stored_total{agent="p"} 2.0' in r.text:
            break
        time.sleep(0.01)
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE_LATEST
    text = r.text
    assert 'vigil_window_value{agent="p",category="",class="",feature="",metric="pred1",stat="max"} 0.75' in text
    assert 'vigil_window_value{agent="p",category="red",class="",feature="colour",metric="feature_category_freq"' in text
    assert 'vigil_windows_stored_total{agent="p"} 2.0' in text
    assert "vigil_window_series_dropped_total 0.0" in text


def test_every_route_is_documented(client):
    paths = set(client.get("/api/v1/openapi.json").json()["paths"])
    collector = {"/api/v1/health", "/api/v1/windows", "/api/v1/agents", "/api/v1/agents/{agent_id}/series",
                 "/api/v1/series", "/api/v1/agents/{agent_id}/alerts", "/metrics"}
    dashboard = {f"/api/v1/ui/{name}" for name in (
        "experiments", "runs", "events", "metric-series", "artifact", "monitors", "monitor", "distribution",
        "agent-metrics", "alerts", "jobs", "jobs/run")}
    assert paths == collector | dashboard


def test_a_store_that_cannot_commit_gives_503_and_the_window_is_kept():
    from vigil.errors import StoreError

    app = create_app(ServerConfig(commit_timeout_s=0.5, alert_channels=()))
    with TestClient(app) as c:
        writer = app.collector.writer
        real = writer._sink

        def refuse(rows):
            raise StoreError("database is locked")

        writer._sink = refuse
        w = window("down", 0)
        r = c.post("/api/v1/windows", json=w)
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "retry" in r.json()["detail"]
        again = c.post("/api/v1/windows", json=w)   # the agent retries: still waiting for the store
        assert again.status_code == 503
        writer._sink = real                          # the store is back: the kept rows are committed
        for _ in range(40):                          # (after the writer's backoff)
            r = c.post("/api/v1/windows", json=w)
            if r.status_code != 503:
                break
        assert (r.status_code, r.json()["stored"]) == (200, False)
    assert windows_in_store("down") == [w["window_id"]]


def test_windows_after_the_stored_ones_need_no_store_lookup(monkeypatch):
    """After a restart the collector scans the agent's stored windows once; a window starting
    later is new (no lookup), an earlier one is looked up, and still found when stored."""
    with TestClient(create_app(ServerConfig(alert_channels=()))) as c:
        for i in (0, 1, 2):
            assert c.post("/api/v1/windows", json=window("scan", i)).status_code == 201
    from vigil.store.sqlite import SqliteEventStore

    lookups: list[str] = []
    real = SqliteEventStore.has_event
    monkeypatch.setattr(SqliteEventStore, "has_event",
                        lambda self, exp_id, event, key: lookups.append(key) or real(self, exp_id, event, key))
    app = create_app(ServerConfig(alert_channels=()))
    with TestClient(app) as c:
        assert c.post("/api/v1/windows", json=window("scan", 1)).status_code == 200   # looked up: stored before
        agent = app.collector._agents["scan"]
        deadline = time.monotonic() + 10
        while agent.horizon_ms == float("inf") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert agent.horizon_ms == round(window("scan", 2)["start"] * 1000)
        lookups.clear()
        assert c.post("/api/v1/windows", json=window("scan", 5)).status_code == 201   # past the horizon
        assert c.post("/api/v1/windows", json=window("scan", 5)).status_code == 200   # in memory
        assert lookups == []
        assert c.post("/api/v1/windows", json=window("scan", 2)).status_code == 200   # before it: looked up
        assert c.post("/api/v1/windows", json=window("scan", -1)).status_code == 201  # ... and not found
        assert lookups == [window("scan", 2)["window_id"], window("scan", -1)["window_id"]]
    assert sorted(windows_in_store("scan")) == sorted(window("scan", i)["window_id"] for i in (-1, 0, 1, 2, 5))


def test_ids_forgotten_from_memory_are_looked_up_again(monkeypatch):
    app = create_app(ServerConfig(alert_channels=()))
    monkeypatch.setattr(app.collector, "RECENT_IDS_PER_AGENT", 2)
    with TestClient(app) as c:
        for i in range(4):
            assert c.post("/api/v1/windows", json=window("forget", i)).status_code == 201
        agent = app.collector._agents["forget"]
        assert len(agent.recent) == 2 and agent.horizon_ms >= round(window("forget", 1)["start"] * 1000)
        again = c.post("/api/v1/windows", json=window("forget", 0))     # forgotten, found in the store
        assert (again.status_code, again.json()["stored"]) == (200, False)
    assert len(windows_in_store("forget")) == 4


def test_only_windows_needing_no_store_io_are_admitted_on_the_http_thread(monkeypatch):
    """A known agent's next window with a small numeric sample is stored without a thread hop;
    a first window, a big sample or text inputs (object writes) go to an ingest thread."""
    from vigil.agent import storage

    app = create_app(ServerConfig(alert_channels=()))
    threads: list[str] = []
    real = app.collector.admit
    monkeypatch.setattr(app.collector, "admit",
                        lambda w: threads.append(threading.current_thread().name) or real(w))
    text = window("io", 3)
    text["sample"]["inputs"] = [["red", 1.0] for _ in text["sample"]["inputs"]]
    with TestClient(app) as c:
        assert c.post("/api/v1/windows", json=window("io", 0)).status_code == 201   # opens the agent
        agent = app.collector._agents["io"]
        deadline = time.monotonic() + 10
        while agent.horizon_ms == float("inf") and time.monotonic() < deadline:  # its scan of the store
            time.sleep(0.01)
        assert c.post("/api/v1/windows", json=window("io", 1)).status_code == 201
        monkeypatch.setattr(storage, "INLINE_SAMPLE_BYTES", 64)
        assert c.post("/api/v1/windows", json=window("io", 2)).status_code == 201   # an npz object
        monkeypatch.undo()
        monkeypatch.setattr(app.collector, "admit", lambda w: threads.append(threading.current_thread().name)
                            or real(w))
        assert c.post("/api/v1/windows", json=text).status_code == 201             # Parquet
    assert [t.startswith("vigil-ingest") for t in threads] == [True, False, True, True]
    assert len(windows_in_store("io")) == 4
    sample = om.runtime.experiment("agents/io").restore_data("sample", run="all", latest=False)[-1]
    assert sample["inputs"].iloc[0].tolist() == ["red", 1.0]


def test_the_fast_window_route_and_the_fastapi_route_answer_alike():
    """POST /api/v1/windows is served by WindowRoute; the FastAPI route (what OpenAPI documents)
    calls the same function: same statuses and bodies for new, duplicate, bad and non-JSON posts."""
    answers = {}
    for name, pick in (("fast", lambda app: app), ("fastapi", lambda app: app.api)):
        app = create_app(ServerConfig(alert_channels=()))
        with TestClient(pick(app)) as c:
            w = window(f"route-{name}", 0)
            bad = {**window(f"route-{name}", 1), "n_classes": 1}
            got = [c.post("/api/v1/windows", json=w), c.post("/api/v1/windows", json=w),
                   c.post("/api/v1/windows", json=bad),
                   c.post("/api/v1/windows", content=b"x", headers={"Content-Type": "text/plain"})]
        answers[name] = [(r.status_code, {k: v for k, v in r.json().items() if k != "window_id"},
                          r.headers["content-type"]) for r in got]
    assert [a[0] for a in answers["fast"]] == [201, 200, 422, 415]
    assert answers["fast"] == answers["fastapi"]


def test_an_unexpected_error_storing_a_window_is_a_500_and_the_server_goes_on(client, monkeypatch):
    collector = client.app.collector

    def broken(body):
        raise RuntimeError("boom")

    monkeypatch.setattr(collector, "parse", broken)
    r = client.post("/api/v1/windows", json=window("boom", 0))
    assert r.status_code == 500 and "internal error" in r.json()["detail"]
    monkeypatch.undo()
    assert client.post("/api/v1/windows", json=window("boom", 0)).status_code == 201
