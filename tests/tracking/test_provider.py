"""The experiment API (vigil/tracking/provider.py) on the default provider.

Runs, every ``log_*`` method, artifacts and data with their round trips,
``clear()``, name validation and the bad-input contract (InvalidInput that
names the argument and the value, nothing stored changes).
"""

from __future__ import annotations

import math
import pathlib
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vigil as om
from vigil.errors import InvalidInput, NotFound, UnsafeSerialization, describe
from vigil.tracking.frames import BASE_COLUMNS


class Opaque:
    """Not JSON-able, not a known type: only pickle can store it."""

    def __init__(self, payload: int) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.payload == self.payload


def cells(column: pd.Series) -> list:
    """The values of a column, with every missing value (None, NaN, NA) as None."""
    return [None if pd.isna(v) else v for v in column]


def all_events(name: str) -> list[dict]:
    """Every event of experiment ``name``, read through a fresh experiment object."""
    return om.runtime.experiment(name).data(run="all", raw=True)


# -- the issue's example, as written ---------------------------------------------------------
def test_issue_example_runs_as_written(vigil_home):
    from sklearn.linear_model import LinearRegression

    X = np.arange(10.0).reshape(-1, 1)
    Y = 2 * np.arange(10)
    obj = LinearRegression().fit(X, Y)

    with om.runtime.experiment('myexp') as exp:
        exp.log_metric('accuracy', 0.5)
        exp.log_param('batchsize', 1)
        exp.log_data('data', {'X': X, 'Y': Y})
        exp.log_artifact(obj, 'model.pkl')

    df = exp.data()
    assert isinstance(df, pd.DataFrame)
    assert list(df["event"]) == ["metric", "param", "data", "artifact"]
    assert list(df["key"]) == ["accuracy", "batchsize", "data", "model.pkl"]
    assert len(exp.data(run=1)) == 4
    assert len(exp.data(event='predict')) == 0
    raw = exp.data(run=1, raw=True)
    assert isinstance(raw, list) and all(isinstance(r, dict) for r in raw)
    assert raw[0]["value"] == 0.5 and raw[1]["value"] == 1

    model = exp.restore_artifact('model.pkl')
    assert isinstance(model, LinearRegression)
    np.testing.assert_allclose(model.predict(X), obj.predict(X))

    batches = list(exp.data(batchsize=1))
    assert len(batches) == 4 and all(isinstance(b, pd.DataFrame) and len(b) == 1 for b in batches)
    raw_batches = list(exp.data(batchsize=1, raw=True))
    assert raw_batches == [[r] for r in raw]
    cursor = list(exp.data(lazy=True, raw=True))
    assert [c["data"] for c in cursor] == raw
    assert all(set(c) == {"_id", "data"} for c in cursor)

    with om.runtime.experiment('profiled', provider='profiling') as exp:
        om.runtime.ping()
    assert {"profile", "task_call", "task_success"} <= set(exp.data()["event"])
    exp.clear(force=True)
    assert len(exp.data(run="all")) == 0


# -- runs ------------------------------------------------------------------------------------
def test_runs_are_numbered_per_experiment_and_recorded(vigil_home):
    exp = om.runtime.experiment("runs")
    other = om.runtime.experiment("runs/other")
    for expected in (1, 2, 3):
        with exp:
            assert exp.active_run() == expected
            assert exp.status() == "STARTED"
            exp.log_metric("m", float(expected))
        assert exp.active_run() is None
        assert exp.status() == "STOPPED"
    with other:
        assert other.active_run() == 1  # numbering is per experiment

    runs = exp.runs()
    assert list(runs["run"]) == [1, 2, 3]
    assert list(runs["status"]) == ["STOPPED"] * 3
    assert (runs["ended"] >= runs["started"]).all()
    assert str(runs["started"].dt.tz) == "UTC"
    assert (runs["duration_s"] >= 0).all()


def test_exception_in_with_block_marks_run_failed_logs_it_and_reraises(vigil_home):
    exp = om.runtime.experiment("failing")
    with pytest.raises(ZeroDivisionError):
        with exp:
            exp.log_metric("before", 1.0)
            1 / 0  # noqa: B018
    assert exp.status() == "FAILED"
    assert exp.status(1) == "FAILED"
    assert exp.active_run() is None
    [event] = exp.data(event="exception", raw=True)
    assert event["key"] == "ZeroDivisionError"
    assert event["value"]["type"] == "builtins.ZeroDivisionError"
    assert event["value"]["message"] == "division by zero"
    assert "1 / 0" in event["value"]["traceback"]
    # the next with block is a new, healthy run
    with exp:
        exp.log_metric("after", 1.0)
    assert exp.status() == "STOPPED" and exp.status(1) == "FAILED"


def test_start_stop_use_outside_a_with_block(vigil_home):
    exp = om.runtime.experiment("manual")
    assert exp.active_run() is None
    assert exp.start() == 1
    assert exp.active_run() == 1 and exp.status() == "STARTED"
    exp.log_metric("m", 1.0)
    exp.stop()
    assert exp.active_run() is None and exp.status() == "STOPPED"
    exp.stop()  # stopping twice is harmless
    assert exp.start() == 2
    exp.log_metric("m", 2.0)
    assert exp.start() == 3  # starting again ends the running run
    assert exp.status(2) == "STOPPED" and exp.status(3) == "STARTED"
    exp.stop("FAILED")
    assert exp.status(3) == "FAILED"

    assert exp.use(1) is exp
    assert exp.active_run() is None  # a stopped run is read-only
    assert [r["value"] for r in exp.data(raw=True)] == [1.0]
    exp.use(-2)
    assert [r["value"] for r in exp.data(raw=True)] == [2.0]
    exp.use()
    assert exp.status() == "FAILED"

    # a second object on the same experiment can join a run that is still STARTED
    exp.start()
    joined = om.runtime.experiment("manual").use(4)
    assert joined.active_run() == 4
    joined.log_metric("joined", 1.0)
    exp.stop()
    assert [r["key"] for r in exp.data(run=4, raw=True)] == ["joined"]


def test_logging_without_a_run_starts_one(vigil_home):
    exp = om.runtime.experiment("auto")
    exp.log_metric("m", 1.0)
    assert exp.active_run() == 1 and exp.status() == "STARTED"
    exp.stop()


def test_run_numbers_are_allocated_atomically_across_threads(vigil_home):
    names = [om.runtime.experiment("threads") for _ in range(8)]
    got: list[int] = []
    lock = threading.Lock()

    def work(exp):
        for _ in range(5):
            run = exp.start()
            exp.stop()
            with lock:
                got.append(run)

    threads = [threading.Thread(target=work, args=(e,)) for e in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 41))


# -- values ----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(
    st.tuples(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**53), 2**53)),
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    ),
    min_size=0, max_size=30,
))
def test_metrics_come_back_exactly_and_in_order(vigil_home, points):
    exp = om.runtime.experiment("prop/metrics")
    with exp:
        for value, step in points:
            exp.log_metric("m", value, step=step)
    records = exp.data(raw=True)
    assert len(records) == len(points)
    for record, (value, step) in zip(records, points):
        got = record["value"]
        assert isinstance(got, float)
        assert (math.isnan(got) and math.isnan(value)) or got == float(value)
        assert record["step"] == step
    frame = exp.data()
    assert frame["value"].dtype == np.float64
    assert cells(frame["step"]) == [s for _, s in points]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, min_size=1, max_size=5))
def test_params_round_trip_any_json_value(vigil_home, values):
    with om.runtime.experiment("prop/params") as exp:
        for i, value in enumerate(values):
            exp.log_param(f"p{i}", value)
    got = [r["value"] for r in exp.data(raw=True)]
    assert got == values
    assert [type(g) for g in got] == [type(v) for v in values]


def test_metrics_accept_numpy_and_keep_nan_and_inf(vigil_home):
    with om.runtime.experiment("values") as exp:
        exp.log_metric("np32", np.float32(0.5))
        exp.log_metric("np64", np.int64(3))
        exp.log_metric("nan", float("nan"))
        exp.log_metric("inf", float("inf"))
        exp.log_metric("ninf", -math.inf)
        exp.log_metrics({"a": 1, "b": 2.5}, step=7)
    frame = exp.data()
    values = dict(zip(frame["key"], frame["value"]))
    assert values["np32"] == 0.5 and values["np64"] == 3.0
    assert math.isnan(values["nan"]) and values["inf"] == math.inf and values["ninf"] == -math.inf
    assert list(exp.data(step=7)["key"]) == ["a", "b"]


def test_params_keep_any_json_value(vigil_home):
    params = {"int": 1, "float": 0.25, "str": "adam", "none": None, "bool": True,
              "list": [1, "a", None], "dict": {"layers": [64, 32], "dropout": 0.1}}
    with om.runtime.experiment("params") as exp:
        for key, value in params.items():
            exp.log_param(key, value)
        exp.log_param("numpy", np.arange(3))
    got = {r["key"]: r["value"] for r in exp.data(event="param", raw=True)}
    assert got == {**params, "numpy": [0, 1, 2]}
    assert type(got["bool"]) is bool and type(got["int"]) is int


def test_log_event_and_log_events(vigil_home):
    with om.runtime.experiment("events") as exp:
        exp.log_event("predict", "rows", 10)
        exp.log_event("predict", "latency", 0.5, step=3)
        exp.log_events("loss", "train", [0.9, 0.5, 0.25], step=10)
        exp.log_events("loss", "valid", [1.0, 0.75], step=[1, 5])
        exp.log_events("tags", "t", ["a", "b"])
    predict = exp.data(event="predict", raw=True)
    assert [(r["key"], r["value"], r["step"]) for r in predict] == [("rows", 10, None), ("latency", 0.5, 3)]
    assert [(r["value"], r["step"]) for r in exp.data(key="train", raw=True)] == [(0.9, 10), (0.5, 11), (0.25, 12)]
    assert [(r["value"], r["step"]) for r in exp.data(key="valid", raw=True)] == [(1.0, 1), (0.75, 5)]
    assert [r["value"] for r in exp.data(event="tags", raw=True)] == ["a", "b"]


def test_log_extra_is_sticky_and_extra_fields_become_columns(vigil_home):
    with om.runtime.experiment("extra") as exp:
        exp.log_metric("m", 1.0)
        exp.log_extra(model="m1", fold=2)
        exp.log_metric("m", 2.0)
        exp.log_metric("m", 3.0, fold=3)  # a keyword field wins over the sticky one, for this event
        exp.log_extra(remove=True, fold=None)
        exp.log_metric("m", 4.0)
        exp.log_extra(remove=True)
        exp.log_metric("m", 5.0)
    frame = exp.data()
    assert list(frame.columns) == [*BASE_COLUMNS, "model", "fold"]
    assert cells(frame["model"]) == [None, "m1", "m1", "m1", None]
    assert cells(frame["fold"]) == [None, 2, 3, None, None]
    assert list(exp.data(model="m1")["value"]) == [2.0, 3.0, 4.0]
    assert list(exp.data(fold=2)["value"]) == [2.0]


def test_log_system_records_platform_and_packages(vigil_home):
    with om.runtime.experiment("system") as exp:
        exp.log_system()
    [event] = exp.data(event="system", raw=True)
    info = event["value"]
    assert info["python"].count(".") == 2
    assert "pandas" in info["packages"] and info["node"]


# -- artifacts and data ---------------------------------------------------------------------
def test_artifacts_of_every_safe_kind_round_trip(vigil_home, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00\x01weights")
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": ["x", "y"]},
                         index=pd.Index([10, 20], name="id"))
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0)).fit(X, y)

    with om.runtime.experiment("artifacts") as exp:
        exp.log_artifact(b"raw bytes", "blob.bin")
        exp.log_artifact(path, "file-path")
        exp.log_artifact(str(path), "file-str")
        exp.log_artifact({"threshold": 0.5, "labels": ["a", "b"]}, "config.json")
        exp.log_artifact(frame, "frame")
        exp.log_artifact(array, "array")
        exp.log_artifact(model, "model")

    assert exp.restore_artifact("blob.bin") == b"raw bytes"
    assert exp.restore_artifact("file-path") == b"\x00\x01weights"
    assert exp.restore_artifact("file-str") == b"\x00\x01weights"
    assert exp.restore_artifact("config.json") == {"threshold": 0.5, "labels": ["a", "b"]}
    pd.testing.assert_frame_equal(exp.restore_artifact("frame"), frame)
    restored = exp.restore_artifact("array")
    assert restored.dtype == np.int16 and np.array_equal(restored, array)
    np.testing.assert_array_equal(exp.restore_artifact("model").predict(X), model.predict(X))
    events = exp.data(event="artifact", raw=True)
    assert [e["name"] for e in events] == [e["key"] for e in events]
    assert {e["value"]["$ref"]["format"] for e in events} == {"bytes", "file", "json", "parquet", "npy", "skops"}


def test_pickle_only_with_explicit_opt_in(vigil_home):
    with om.runtime.experiment("pickle") as exp:
        with pytest.raises(InvalidInput, match="allow_pickle=True"):
            exp.log_artifact(Opaque(1), "opaque")
        assert len(exp.data(event="artifact")) == 0
        exp.log_artifact(Opaque(2), "opaque", allow_pickle=True)
    with pytest.raises(UnsafeSerialization, match="allow_pickle=True"):
        exp.restore_artifact("opaque")
    with pytest.raises(UnsafeSerialization):
        exp.restore_artifacts("opaque")
    assert exp.restore_artifact("opaque", allow_pickle=True) == Opaque(2)


def test_restore_artifact_gives_the_latest_version_and_restore_artifacts_all(vigil_home):
    exp = om.runtime.experiment("versions")
    with exp:
        exp.log_artifact({"v": 1}, "cfg")
        exp.log_artifact({"v": 2}, "cfg")
        exp.log_artifact({"other": True}, "other")
    with exp:
        exp.log_artifact({"v": 3}, "cfg")
    assert exp.restore_artifact("cfg") == {"v": 3}
    assert exp.restore_artifact("cfg", run=1) == {"v": 2}
    assert exp.restore_artifacts("cfg") == [{"v": 1}, {"v": 2}, {"v": 3}]
    assert exp.restore_artifacts(run=1) == [{"v": 1}, {"v": 2}, {"other": True}]
    with pytest.raises(NotFound, match="'missing'"):
        exp.restore_artifact("missing")
    with pytest.raises(NotFound):
        exp.restore_artifact("other", run=2)


def test_log_data_stores_frames_and_arrays_as_objects_with_dtypes_intact(vigil_home):
    frame = pd.DataFrame({
        "i8": np.array([1, -2, 3], dtype=np.int8),
        "f32": np.array([0.5, np.nan, 2.0], dtype=np.float32),
        "cat": pd.Categorical(["a", "b", "a"]),
        "when": pd.date_range("2024-01-01", periods=3, freq="h", tz="Europe/Zurich"),
        "flag": [True, False, True],
        "nullable": pd.array([1, None, 3], dtype="Int64"),
    }, index=pd.Index(["r1", "r2", "r3"], name="row"))
    arrays = {"X": np.linspace(0, 1, 6, dtype=np.float16).reshape(2, 3), "Y": np.array([1, 0], dtype=np.uint8)}
    series = pd.Series([1.5, 2.5], name="s")

    with om.runtime.experiment("data") as exp:
        exp.log_data("frame", frame)
        exp.log_data("arrays", {**arrays, "meta": {"source": "unit"}})
        exp.log_data("series", series)
        exp.log_data("inline", {"a": [1, 2], "b": "text"})
        exp.log_data("frame", frame.iloc[:1], step=2)

    pd.testing.assert_frame_equal(exp.restore_data("frame"), frame.iloc[:1])
    first, second = exp.restore_data("frame", latest=False)
    pd.testing.assert_frame_equal(first, frame)
    restored = exp.restore_data("arrays")
    assert restored["meta"] == {"source": "unit"}
    for key, array in arrays.items():
        assert restored[key].dtype == array.dtype and np.array_equal(restored[key], array)
    pd.testing.assert_series_equal(exp.restore_data("series"), series)
    assert exp.restore_data("inline") == {"a": [1, 2], "b": "text"}

    events = {r["key"]: r for r in exp.data(event="data", raw=True)}
    ref = events["arrays"]["value"]["X"]["$ref"]
    assert ref["format"] == "npy" and ref["shape"] == [2, 3] and len(ref["sha256"]) == 64
    assert events["series"]["value"]["$ref"]["format"] == "parquet"
    assert events["inline"]["value"] == {"a": [1, 2], "b": "text"}  # small JSON stays in the event
    objects = [p for p in (vigil_home / "artifacts").rglob("*") if p.is_file()]
    assert {p.suffix for p in objects} == {".parquet", ".npy"}
    with pytest.raises(NotFound):
        exp.restore_data("nope")


# -- clear -----------------------------------------------------------------------------------
def _object_files(home: pathlib.Path) -> set[str]:
    root = home / "artifacts"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _referenced_keys(records: list[dict]) -> set[str]:
    keys: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"$ref"}:
                keys.add(value["$ref"]["key"])
            else:
                for v in value.values():
                    walk(v)

    for record in records:
        walk(record["value"])
    return keys


def test_clear_needs_force_and_removes_only_this_experiment(vigil_home):
    def fill(name: str) -> None:
        with om.runtime.experiment(name) as exp:
            exp.log_metric("m", 1.0)
            exp.log_artifact(np.arange(3), "array")
            exp.log_data("frame", pd.DataFrame({"x": [1]}))
        with om.runtime.experiment(name) as exp:
            exp.log_artifact(b"x", "blob")

    for name in ("myexp", "myexp/sub", "other"):
        fill(name)
    before = {name: all_events(name) for name in ("myexp", "myexp/sub", "other")}
    assert _object_files(vigil_home) == set().union(*(_referenced_keys(v) for v in before.values()))

    exp = om.runtime.experiment("myexp")
    for force in (False, "yes", 1, None):
        with pytest.raises(InvalidInput, match="force"):
            exp.clear(force=force)
    assert all_events("myexp") == before["myexp"]

    exp.clear(force=True)
    assert all_events("myexp") == []
    assert len(exp.runs()) == 0
    assert all_events("myexp/sub") == before["myexp/sub"]
    assert all_events("other") == before["other"]
    remaining = _referenced_keys(before["myexp/sub"]) | _referenced_keys(before["other"])
    assert _object_files(vigil_home) == remaining, "objects of the cleared experiment left behind (orphans)"
    # the objects of the others still load
    assert om.runtime.experiment("myexp/sub").restore_artifact("blob") == b"x"
    assert om.runtime.experiment("other").restore_data("frame")["x"].tolist() == [1]

    # the name can be used again, from scratch
    with exp:
        exp.log_metric("again", 1.0)
    assert [r["key"] for r in all_events("myexp")] == ["again"]


def test_clear_stops_an_active_run(vigil_home):
    exp = om.runtime.experiment("active")
    exp.start()
    exp.log_metric("m", 1.0)
    exp.clear(force=True)
    assert exp.active_run() is None
    assert all_events("active") == []


# -- names -----------------------------------------------------------------------------------
BAD_NAMES = ["../x", "a\\b", "/abs", "a\x00b", "x" * 300, "", "a//b", "a/../b", "a/", "tab\tname",
             "new\nline", "c:drive", 3, None]


@pytest.mark.parametrize("name", ["a", "monitors/housing/california", "with space", "ünïcødé/名前",
                                  "a.b-c_d@e+f=g,h", "x" * 256])
def test_valid_experiment_names(vigil_home, name):
    with om.runtime.experiment(name) as exp:
        exp.log_artifact(b"1", name)
    assert exp.experiment == name
    assert exp.restore_artifact(name) == b"1"


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_invalid_experiment_names_are_refused(vigil_home, name):
    with pytest.raises(InvalidInput) as info:
        om.runtime.experiment(name)
    assert "experiment" in str(info.value) and describe(name)[:30] in str(info.value)
    assert not vigil_home.exists() or _object_files(vigil_home) == set()


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_invalid_artifact_and_data_names_are_refused(vigil_home, name):
    with om.runtime.experiment("names") as exp:
        exp.log_metric("m", 1.0)
        before = exp.data(run="all", raw=True)
        for call, arg in ((lambda: exp.log_artifact(b"x", name), "name"),
                          (lambda: exp.log_data(name, np.arange(2)), "key"),
                          (lambda: exp.restore_artifact(name), "name")):
            with pytest.raises(InvalidInput) as info:
                call()
            assert f"{arg} must be" in str(info.value) and describe(name)[:30] in str(info.value)
        assert exp.data(run="all", raw=True) == before
    assert not (vigil_home / "artifacts").exists()


def test_data_dict_keys_that_become_object_names_are_validated(vigil_home):
    with om.runtime.experiment("dict-keys") as exp:
        with pytest.raises(InvalidInput, match="value key"):
            exp.log_data("d", {"../evil": np.arange(2)})
        with pytest.raises(InvalidInput, match="value key"):
            exp.log_data("d", {3: "x"})
        assert exp.data(run="all", raw=True) == []


# -- bad input -------------------------------------------------------------------------------
NOT_A_KEY = [3, None, b"k", "", "k\x00", "k" * 1025, ("k",)]
NOT_A_METRIC = ["a", None, [1.0], True, False, {"v": 1}, b"1", 10**400, complex(1, 1)]


def label(value) -> str:
    """A short, deterministic test id for a value (no memory addresses)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None), list, tuple, dict, complex)):
        return repr(value)[:20]
    return type(value).__name__


def shows(value) -> str:
    """How an error message shows a value (the start of it, for long ones)."""
    return describe(value)[:30]


def _bad_calls():
    """(id, call(exp), the argument the message names, how it shows the offending value)."""
    for key in NOT_A_KEY:
        yield f"log_metric key={label(key)}", lambda e, k=key: e.log_metric(k, 1.0), "key", shows(key)
        yield f"log_param key={label(key)}", lambda e, k=key: e.log_param(k, 1), "key", shows(key)
        yield f"log_event event={label(key)}", lambda e, k=key: e.log_event(k, "k", 1), "event", shows(key)
        yield (f"log_metrics key={label(key)}", lambda e, k=key: e.log_metrics({"ok": 1.0, k: 1.0}),
               "metrics key", shows(key))
    for value in NOT_A_METRIC:
        yield f"log_metric value={label(value)}", lambda e, v=value: e.log_metric("m", v), "value", shows(value)
        yield (f"log_metrics value={label(value)}", lambda e, v=value: e.log_metrics({"ok": 1.0, "bad": v}),
               "metrics['bad']", shows(value))
    for value in (object(), {1, object()}, float, lambda: 1):
        yield f"log_param value={label(value)}", lambda e, v=value: e.log_param("p", v), "value", shows(value)
        yield f"log_event value={label(value)}", lambda e, v=value: e.log_event("e", "k", v), "value", shows(value)
    for step in ("1", 1.5, True, [1], 2**63, -(2**63) - 1):
        yield f"log_metric step={label(step)}", lambda e, s=step: e.log_metric("m", 1.0, step=s), "step", shows(step)
        yield f"log_param step={label(step)}", lambda e, s=step: e.log_param("p", 1, step=s), "step", shows(step)
    yield "log_events values", lambda e: e.log_events("e", "k", 5), "values", shows(5)
    yield "log_events steps", lambda e: e.log_events("e", "k", [1, 2], step=[1]), "step", shows([1])
    yield "log_metrics not a dict", lambda e: e.log_metrics([("a", 1.0)]), "metrics", shows([("a", 1.0)])
    yield "log_extra core field", lambda e: e.log_extra(run=5), "run", shows(5)
    yield "log_metric core field", lambda e: e.log_metric("m", 1.0, event="x"), "event", shows("x")
    yield "log_extra bad field name", lambda e: e.log_extra(**{"1bad": 1}), "extra field", shows("1bad")
    yield "log_extra non-scalar", lambda e: e.log_extra(tags=["a"]), "tags", shows(["a"])
    yield "log_extra nan", lambda e: e.log_extra(score=math.nan), "score", shows(math.nan)
    yield "log_extra nothing", lambda e: e.log_extra(), "log_extra", "field=value"
    yield "stop status", lambda e: e.stop("DONE"), "status", shows("DONE")
    yield "use unknown run", lambda e: e.use(99), "run", shows(99)
    yield "use run 0", lambda e: e.use(0), "run", shows(0)
    yield "use not an int", lambda e: e.use("1"), "run", shows("1")
    yield "status unknown run", lambda e: e.status(99), "run", shows(99)
    yield "object-dtype array", lambda e: e.log_artifact(np.array([object()]), "a"), "obj", "object-dtype array"
    yield ("log_data unserializable part", lambda e: e.log_data("d", {"X": np.arange(3), "bad": object()}),
           "value", "<object object at")
    yield ("log_data bad part name", lambda e: e.log_data("d", {"X": np.arange(3), "../y": np.arange(2)}),
           "value key", shows("../y"))


BAD_CALLS = list(_bad_calls())


@pytest.mark.parametrize("call, arg, shown", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_invalid_input_and_changes_nothing(vigil_home, call, arg, shown):
    exp = om.runtime.experiment("bad")
    with exp:
        exp.log_metric("m", 1.0, step=1)
        exp.log_artifact(b"kept", "kept")
    exp.start()
    exp.log_param("p", "v")
    exp.flush()
    before = exp.data(run="all", raw=True)
    runs_before = exp.runs()[["run", "status"]].to_dict("records")
    objects_before = _object_files(vigil_home)

    with pytest.raises(InvalidInput) as info:
        call(exp)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert arg in message, f"the message does not name the argument {arg!r}: {message}"
    assert shown in message, f"the message does not show the value {shown!r}: {message}"

    exp.flush()
    assert exp.data(run="all", raw=True) == before
    assert exp.runs()[["run", "status"]].to_dict("records") == runs_before
    assert _object_files(vigil_home) == objects_before, "a refused call left objects behind"


def test_logging_to_a_stopped_run_is_refused(vigil_home):
    exp = om.runtime.experiment("closed")
    with exp:
        exp.log_metric("m", 1.0)
    before = exp.data(run="all", raw=True)
    for log in (lambda: exp.log_metric("m", 2.0), lambda: exp.log_param("p", 1),
                lambda: exp.log_artifact(b"x", "x"), lambda: exp.use(1).log_event("e", "k", 1)):
        with pytest.raises(InvalidInput, match=r"run 1 of 'closed' is STOPPED"):
            log()
    assert exp.data(run="all", raw=True) == before
    assert exp.latest_run == 1
    assert _object_files(vigil_home) == set()


def test_a_bad_step_does_not_block_later_events(vigil_home):
    """A value the store cannot hold must be refused at the call, not wedge the write-behind."""
    exp = om.runtime.experiment("wedge")
    with exp:
        with pytest.raises(InvalidInput, match="step"):
            exp.log_metric("m", 1.0, step=2**64)
        exp.log_metric("m", 2.0, step=2**63 - 1)
        exp.log_metric("m", 3.0, step=-(2**63))
    assert [(r["value"], r["step"]) for r in exp.data(raw=True)] == [(2.0, 2**63 - 1), (3.0, -(2**63))]
