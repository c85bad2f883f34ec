"""The default workspace: ``om.datasets``, ``om.models``, ``om.jobs`` (created lazily
by vigil/__init__.py), with put/get/list/drop round trips."""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
import pytest

import vigil as om
from vigil.errors import InvalidInput, NotFound, StoreError, UnsafeSerialization
from vigil.runtime.jobs import Jobs
from vigil.store.datasets import Datasets
from vigil.store.models import Models


def object_files(home) -> list[str]:
    root = home / "artifacts"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "i8": np.array([1, -2, 3], dtype=np.int8),
        "u32": np.array([1, 2, 3], dtype=np.uint32),
        "f32": np.array([0.5, np.nan, 2.0], dtype=np.float32),
        "cat": pd.Categorical(["a", "b", "a"], categories=["b", "a"], ordered=True),
        "when": pd.date_range("2024-03-30", periods=3, freq="D", tz="Europe/Zurich"),
        "naive": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        "flag": [True, False, True],
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        "text": ["x", None, "z"],
    }, index=pd.Index(["r1", "r2", "r3"], name="row"))


def test_workspace_parts_are_created_lazily_once(vigil_home):
    assert not vigil_home.exists()
    datasets, models, jobs = om.datasets, om.models, om.jobs
    assert isinstance(datasets, Datasets) and isinstance(models, Models) and isinstance(jobs, Jobs)
    assert om.datasets is datasets and om.models is models and om.jobs is jobs
    assert datasets.stores is models.stores is jobs.stores  # one set of stores per workspace
    om.reload()
    assert om.datasets is not datasets


def test_dataframe_round_trip_keeps_dtypes_and_index(vigil_home, frame):
    meta = om.datasets.put(frame, "frames/typed", owner="me")
    assert meta["version"] == 1 and meta["attributes"] == {"owner": "me"}
    restored = om.datasets.get("frames/typed")
    pd.testing.assert_frame_equal(restored, frame)
    assert restored.index.name == "row"
    assert restored.dtypes.to_dict() == frame.dtypes.to_dict()


def test_multiindex_and_range_index_round_trip(vigil_home):
    multi = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"]))
    om.datasets.put(multi, "multi")
    pd.testing.assert_frame_equal(om.datasets.get("multi"), multi)
    ranged = pd.DataFrame({"v": [1, 2]}, index=pd.RangeIndex(10, 12))
    om.datasets.put(ranged, "ranged")
    pd.testing.assert_frame_equal(om.datasets.get("ranged"), ranged)


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int16).reshape(3, 4),
    np.linspace(0, 1, 5, dtype=np.float32),
    np.array([True, False]),
    np.array(["a", "bc"]),
    np.array(["2024-01-01"], dtype="datetime64[ns]"),
    np.zeros((2, 0, 3), dtype=np.complex128),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
], ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_numpy_round_trip(vigil_home, array):
    om.datasets.put(array, "array")
    restored = om.datasets.get("array")
    assert restored.dtype == array.dtype and restored.shape == array.shape
    np.testing.assert_array_equal(restored, array)


def test_json_round_trip(vigil_home):
    obj = {"name": "x", "values": [1, 2.5, None, True], "nested": {"a": {"b": []}}, "unicode": "ünï"}
    om.datasets.put(obj, "config")
    assert om.datasets.get("config") == obj
    om.datasets.put([1, 2, 3], "list")
    assert om.datasets.get("list") == [1, 2, 3]


def test_append_adds_rows_to_a_dataframe(vigil_home, frame):
    om.datasets.put(frame.iloc[:1], "growing")
    meta = om.datasets.put(frame.iloc[1:], "growing", append=True)
    assert meta["version"] == 2 and len(meta["parts"]) == 2
    pd.testing.assert_frame_equal(om.datasets.get("growing"), frame)
    # the first version is still there, and put without append replaces
    pd.testing.assert_frame_equal(om.datasets.get("growing", version=1), frame.iloc[:1])
    om.datasets.put(frame.iloc[2:], "growing")
    pd.testing.assert_frame_equal(om.datasets.get("growing"), frame.iloc[2:])
    # append to a new name is a plain put
    om.datasets.put(frame, "fresh", append=True)
    pd.testing.assert_frame_equal(om.datasets.get("fresh"), frame)


def test_append_needs_dataframes_on_both_sides(vigil_home, frame):
    om.datasets.put(np.arange(3), "array")
    with pytest.raises(InvalidInput, match="append"):
        om.datasets.put(frame, "array", append=True)
    om.datasets.put(frame, "frame")
    with pytest.raises(InvalidInput, match="append"):
        om.datasets.put({"a": 1}, "frame", append=True)
    pd.testing.assert_frame_equal(om.datasets.get("frame"), frame)


def test_list_and_drop(vigil_home, frame):
    for name in ("a", "a/b", "ab", "b/c"):
        om.datasets.put(frame, name)
    assert om.datasets.list() == ["a", "a/b", "ab", "b/c"]
    assert om.datasets.list("a") == ["a", "a/b", "ab"]
    assert om.datasets.list("b/") == ["b/c"]
    assert om.datasets.list("zzz") == []

    assert om.datasets.drop("a") is True
    assert om.datasets.list() == ["a/b", "ab", "b/c"]
    with pytest.raises(NotFound, match="'a'"):
        om.datasets.get("a")
    # dropping 'a' keeps the nested dataset 'a/b' and its objects
    pd.testing.assert_frame_equal(om.datasets.get("a/b"), frame)
    with pytest.raises(NotFound):
        om.datasets.drop("a")
    assert om.datasets.drop("a", force=True) is False
    for name in ("a/b", "ab", "b/c"):
        om.datasets.drop(name)
    assert om.datasets.list() == [] and object_files(vigil_home) == []


def test_datasets_refuse_bad_input(vigil_home, frame):
    for name in ("../x", "/abs", "a\\b", "a\x00b", "x" * 300, 3):
        with pytest.raises(InvalidInput, match="name"):
            om.datasets.put(frame, name)
        with pytest.raises(InvalidInput, match="name"):
            om.datasets.get(name)
    with pytest.raises(InvalidInput, match="obj"):
        om.datasets.put(b"bytes are an artifact, not a dataset", "bytes")
    with pytest.raises(InvalidInput):
        om.datasets.put(object(), "object")
    with pytest.raises(NotFound):
        om.datasets.get("missing")
    with pytest.raises(NotFound, match="version 7"):
        om.datasets.put(frame, "one") and om.datasets.get("one", version=7)
    assert om.datasets.list() == ["one"]


def test_longest_valid_dataset_name_can_be_stored(vigil_home):
    name = "x" * 256  # check_name accepts up to 256 characters
    try:
        om.datasets.put({"a": 1}, name)
    except StoreError as exc:
        pytest.fail(f"datasets.put refused a valid 256-character name: the object key uses the name as a "
                    f"path segment, longer than a file system allows (tracking hashes such names): {exc}"[:400])
    assert om.datasets.get(name) == {"a": 1}


def test_models_round_trip_and_drop(vigil_home):
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(1).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    assert om.models.put(model, "clf", stage="dev")["version"] == 1
    om.models.put(model, "clf/shadow")
    np.testing.assert_array_equal(om.models.get("clf").predict(X), model.predict(X))
    assert om.models.put(LogisticRegression(C=0.5), "clf")["version"] == 2
    assert om.models.get("clf").C == 0.5 and om.models.get("clf", version=1).C == 1.0
    assert om.models.list() == ["clf", "clf/shadow"]
    with pytest.raises(InvalidInput, match="model"):
        om.models.put({"not": "a model"}, "bad")
    assert om.models.drop("clf") is True
    np.testing.assert_array_equal(om.models.get("clf/shadow").predict(X), model.predict(X))
    with pytest.raises(NotFound):
        om.models.get("clf")


def test_models_refuse_untrusted_types(vigil_home):
    from sklearn.preprocessing import FunctionTransformer

    om.models.put(FunctionTransformer(operator.neg), "fn")
    with pytest.raises(UnsafeSerialization, match="_operator.neg"):
        om.models.get("fn")
    assert om.models.get("fn", trusted=["_operator.neg"]).func is operator.neg
