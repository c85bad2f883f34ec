"""Server-less mode: windows go straight to the tracking store, once each."""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vigil
import vigil.errors
from tests.agent.conftest import T0, dirichlet
from vigil.agent import MonitoringAgent, window_to_events
from vigil.agent.storage import _window_json, npz_bytes, stored_windows, window_points


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
    assert exp.data(run="all", event="metric", raw=True) == []   # the points live in the window events
    points = window_points(exp)
    assert len(points) == sum(len(w["value"]["points"]) for w in windows)
    pred = {p["class"]: p["value"] for p in window_points(exp, "pred_class_count", until=T0 + 300)}
    assert sum(pred.values()) == 5 and set(pred) == {"0", "1", "2"}
    f0 = window_points(exp, "feature", feature="f0", stat="max")
    assert f0[0]["value"] == 8.0 and f0[0]["t"] == T0 + 300 and f0[0]["window_id"] == f"s:{int(T0 * 1000)}"
    assert len(window_points(exp, "accuracy")) == 1
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
    cats = window_points(exp, "feature_category_count")
    # age has shown integer values only, so far: also counted as an integer code
    assert [(c["feature"], c["category"], c["value"]) for c in cats] == [("age", "3", 1.0), ("city", "a", 1.0)]
    exp.stop()


def _wire_window(agent_id: str, i: int, value: float) -> dict:
    start = T0 + 300.0 * i
    points = [{"metric": "accuracy", "stat": None, "class": None, "feature": None, "category": None, "value": value},
              {"metric": "pred1", "stat": "mean", "class": None, "feature": None, "category": None, "value": 0.5},
              {"metric": "pred_class_freq", "stat": None, "class": "1", "feature": None, "category": "é",
               "value": 0.25}]
    return {"schema": "vigil.window/1", "agent_id": agent_id, "window_id": f"{agent_id}:{round(start * 1000)}",
            "start": start, "end": start + 300.0, "n_classes": 2, "rows_seen": 3, "rows_sampled": 2,
            "dropped": {}, "points": points,
            "sample": {"proba": [[0.5, 0.5], [0.1, 0.9]], "inputs": None, "labels": [0, -1], "feature_names": None}}


def test_windows_of_the_old_layout_read_the_same_and_count_once():
    """Before: one metric event per point besides the window event (and, after an interrupted
    write, the points of a window twice). The points are read from the window events only."""
    exp = vigil.runtime.experiment("agents/old")
    exp.start()
    old = _wire_window("old", 0, 0.7)
    for _ in range(2):  # an interrupted write, re-sent: its metric rows twice
        for p in old["points"]:
            labels = {name: p[key] for key, name in (("stat", "stat"), ("class", "cls"), ("feature", "feature"),
                                                     ("category", "category")) if p[key] is not None}
            exp.log_metric(p["metric"], p["value"], window_start=old["start"], window_end=old["end"],
                           agent_id="old", **labels)
    exp.log_event("window", old["window_id"], {k: v for k, v in old.items() if k != "sample"})
    new = _wire_window("old", 1, 0.9)
    assert window_to_events(exp, new) is True and window_to_events(exp, old) is False
    assert [(p["t"], p["value"]) for p in window_points(exp, "accuracy")] == [(old["end"], 0.7), (new["end"], 0.9)]
    assert [p["window_id"] for p in window_points(exp, "pred_class_freq", cls="1", category="é")] == \
        [old["window_id"], new["window_id"]]
    assert window_points(exp, "accuracy", since=new["end"]) == window_points(exp, "accuracy")[1:]
    assert window_points(exp, "pred1", stat="std") == []
    assert [w["window_id"] for w in stored_windows(exp)] == [old["window_id"], new["window_id"]]
    with pytest.raises(vigil.errors.InvalidInput, match="unknown label 'colour'"):
        window_points(exp, colour="red")
    exp.stop()


def test_the_window_event_is_the_window_without_its_sample():
    exp = vigil.runtime.experiment("agents/w")
    w = _wire_window("w", 0, 0.5)
    assert window_to_events(exp, w)
    (record,) = exp.data(run="all", event="window", raw=True)
    assert record["key"] == w["window_id"] and record["value"] == {k: v for k, v in w.items() if k != "sample"}
    odd = {**_wire_window("w", 1, float("nan")), "sample": None}  # not a finite value: the general encoder
    assert window_to_events(exp, odd)
    assert math.isnan(exp.data(run="all", event="window", raw=True)[1]["value"]["points"][0]["value"])
    assert window_points(exp, "accuracy")[1]["value"] is None   # a non-finite value reads as None
    sample = exp.restore_data("sample")
    assert sample["proba"].tolist() == [[0.5, 0.5], [0.1, 0.9]] and sample["labels"].tolist() == [0, -1]
    exp.stop()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "metric": st.sampled_from(["pred1", "accuracy"]), "stat": st.none() | st.text(max_size=5),
    "class": st.none() | st.text(max_size=3), "feature": st.none() | st.text(max_size=5),
    "category": st.none() | st.text(max_size=5),
    "value": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5) | st.just(float("inf"))}),
    max_size=6), st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=2))
def test_window_json_is_json(points, dropped):
    value = {"schema": "vigil.window/1", "window_id": "a:1", "dropped": dropped, "points": points}
    text = _window_json(value)
    if any(type(p["value"]) is not float or not math.isfinite(p["value"]) for p in points):
        assert text is None                      # the caller uses json.dumps
    else:
        assert json.loads(text) == value


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["<f8", "<i8", ">i4", "|b1", "<f4", "<U3", "|u1"]),
       st.lists(st.integers(0, 4), max_size=3), st.booleans())
def test_npz_bytes_reads_back_with_numpy(dtype, shape, fortran):
    rng = np.random.default_rng(len(shape))
    arr = (rng.random(shape) * 100).astype(dtype)
    arr = np.asfortranarray(arr) if fortran else arr
    data = npz_bytes({"x": arr, "y": np.arange(3)})
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        assert z["x"].dtype == arr.dtype and z["x"].shape == arr.shape and np.array_equal(z["x"], arr)
        assert z["y"].tolist() == [0, 1, 2]
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def _sample_window(clock, tmp_path, rows: int) -> dict:
    windows: list = []
    agent = MonitoringAgent(n_classes=3, agent_id="w", sink=windows.append, spool_dir=tmp_path, clock=clock,
                            max_buffer_size=rows)
    rng = np.random.default_rng(0)
    agent.collect_data(dirichlet(rows, 3), rng.normal(size=(rows, 4)), rng.integers(0, 3, rows))
    agent.close()
    return json.loads(json.dumps(windows[0]))     # as a collector receives it


def sample_objects(exp) -> list[str]:
    return [k for k in exp.stores.objects.list() if "/data/sample/" in k]


@pytest.mark.parametrize("inline", [True, False], ids=["kept in the event", "one npz object"])
def test_window_samples_restore_the_same_arrays_inline_or_as_an_object(clock, tmp_path, monkeypatch, inline):
    from vigil.agent import storage

    if not inline:  # a sample over the inline limit
        monkeypatch.setattr(storage, "INLINE_SAMPLE_BYTES", 100)
    window = _sample_window(clock, tmp_path, rows=40)
    exp = vigil.runtime.experiment(f"samples/{inline}")
    assert window_to_events(exp, window) is True
    refs = exp.data(run="all", event="data", key="sample", raw=True)[0]["value"]
    assert (refs["proba"]["$ref"].get("inline") is not None) is inline
    assert (sample_objects(exp) == []) is inline
    sample = exp.restore_data("sample")
    assert sample["proba"].tolist() == window["sample"]["proba"]
    assert sample["inputs"].tolist() == window["sample"]["inputs"]
    assert sample["labels"].tolist() == window["sample"]["labels"]
    assert sample["feature_names"] == window["sample"]["feature_names"]


def test_damaged_inline_sample_bytes_are_a_store_error(clock, tmp_path):
    exp = vigil.runtime.experiment("samples/damaged")
    window_to_events(exp, _sample_window(clock, tmp_path, rows=5))
    value = exp.data(run="all", event="data", key="sample", raw=True)[0]["value"]
    value["proba"]["$ref"]["inline"] = "not base64 !"
    with pytest.raises(vigil.errors.StoreError, match="damaged inline bytes"):
        exp._resolve(value)


def test_npz_bytes_refuses_object_arrays():
    with pytest.raises(vigil.errors.InvalidInput, match="dtype object"):
        npz_bytes({"x": np.array([{}, 1], dtype=object)})
