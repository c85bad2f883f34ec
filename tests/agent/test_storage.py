"""Server-less mode: windows go straight to the tracking store, once each."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vigil
from tests.agent.conftest import T0, dirichlet
from vigil.agent import MonitoringAgent, window_to_events


def store_agent(tmp_path, clock, **options) -> MonitoringAgent:
    return MonitoringAgent(frequency=5, n_classes=3, agent_id="s", server_IP=None, spool_dir=tmp_path / "spool",
                           clock=clock, seed=0, **options)


def test_serverless_windows_land_in_the_store(tmp_path, clock):
    agent = store_agent(tmp_path, clock)
    y = np.array([0, 1, 2, 0, 1])
    agent.collect_data(dirichlet(5, 3), np.arange(10.0).reshape(5, 2), y)
    clock.t = T0 + 301
    agent.collect_data(dirichlet(3, 3))
    assert agent.close()
    exp = vigil.runtime.experiment("agents/s")
    windows = exp.data(run="all", event="window", raw=True)
    assert [w["key"] for w in windows] == [f"s:{int(T0 * 1000)}", f"s:{int((T0 + 300) * 1000)}"]
    first = windows[0]["value"]
    assert "sample" not in first and first["rows_seen"] == 5 and first["agent_id"] == "s"
    metrics = exp.data(run="all", event="metric", raw=True)
    assert len(metrics) == sum(len(w["value"]["points"]) for w in windows)
    pred = {m["cls"]: m["value"] for m in metrics
            if m["key"] == "pred_class_count" and m["window_start"] == T0}
    assert sum(pred.values()) == 5 and set(pred) == {"0", "1", "2"}
    f0 = [m for m in metrics if m["key"] == "feature" and m.get("feature") == "f0" and m["stat"] == "max"]
    assert f0[0]["value"] == 8.0 and f0[0]["window_end"] == T0 + 300 and f0[0]["agent_id"] == "s"
    frame = exp.data(run="all", event="metric", key="accuracy")
    assert len(frame) == 1
    sample = exp.restore_data("sample", run="all", latest=False)[0]
    assert sample["proba"].shape == (5, 3) and sample["labels"].tolist() == y.tolist()
    assert sample["inputs"].shape == (5, 2) and sample["feature_names"] == ["f0", "f1"]


def test_serverless_deduplicates_resent_windows(tmp_path, clock):
    agent = store_agent(tmp_path, clock)
    agent.collect_data(dirichlet(4, 3))
    clock.t = T0 + 302
    assert agent.flush(10)
    exp = vigil.runtime.experiment("agents/s")
    assert len(exp.data(run="all", event="window", raw=True)) == 1
    # the same window again (an agent killed after writing, before deleting its spool file)
    window = exp.data(run="all", event="window", raw=True)[0]["value"]
    (agent.spool_dir / "000000000000001-0000000000000000001.json").write_text(json.dumps({**window, "sample": None}))
    assert agent.flush(10)
    assert len(exp.data(run="all", event="window", raw=True)) == 1
    assert [p for p in agent.spool_dir.glob("*.json") if not p.name.startswith(".")] == []
    agent.close()


def test_window_to_events_with_mixed_inputs_and_the_wire_json(clock, tmp_path):
    pd = pytest.importorskip("pandas")
    windows: list = []
    agent = MonitoringAgent(n_classes=2, agent_id="m", sink=windows.append, spool_dir=tmp_path, clock=clock)
    agent.collect_data([[0.2, 0.8], [0.9, 0.1]], pd.DataFrame({"city": ["a", None], "age": [3.0, np.nan]}))
    agent.close()
    window = json.loads(json.dumps(windows[0]))       # what a collector receives
    exp = vigil.runtime.experiment("collector/m")
    assert window_to_events(exp, window) is True
    assert window_to_events(exp, window) is False
    sample = exp.restore_data("sample")
    assert list(sample["inputs"].columns) == ["city", "age"] and sample["inputs"]["city"].tolist()[0] == "a"
    cats = exp.data(event="metric", key="feature_category_count", raw=True)
    # age has shown integer values only, so far: also counted as an integer code
    assert [(c["feature"], c["category"], c["value"]) for c in cats] == [("age", "3", 1.0), ("city", "a", 1.0)]
    exp.stop()
