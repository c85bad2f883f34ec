"""Safe serializers: every format round-trips, and nothing unsafe loads without an opt-in."""

from __future__ import annotations

import io
import json
import math
import os
import pathlib
import pickle
import zipfile
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from vigil.errors import InvalidInput, StoreError, UnsafeSerialization
from vigil.store.serializers import EXTENSIONS, decode, encode


def round_trip(obj, **kwargs):
    enc = encode(obj, **kwargs)
    assert isinstance(enc.data, bytes)
    return enc, decode(enc.data, enc.format, enc.info, **kwargs)


def same(a, b) -> bool:
    """Equality where NaN equals NaN (json values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# -- json ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


@given(json_values)
def test_json_round_trip_of_any_jsonable_value(value):
    # a top-level string naming an existing file is taken as that file (see the module table)
    assume(not (isinstance(value, str) and os.path.isfile(value)))
    enc, out = round_trip(value)
    assert enc.format == "json"
    assert same(out, value)


def test_json_keeps_nan_and_infinities():
    value = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "nested": [[{"x": -0.0}]]}
    enc, out = round_trip(value)
    assert enc.format == "json"
    assert math.isnan(out["nan"]) and out["inf"] == math.inf and out["-inf"] == -math.inf
    assert out["nested"] == [[{"x": 0.0}]] and math.copysign(1, out["nested"][0][0]["x"]) == -1


def test_json_converts_numpy_scalars_and_arrays_to_python_values():
    value = {"i": np.int64(3), "u": np.uint8(255), "f": np.float32(1.5), "d": np.float64("nan"),
             "b": np.bool_(True), "a": np.arange(3), "m": [np.int16(-2), (np.float64(0.25),)]}
    enc, out = round_trip(value)
    assert enc.format == "json"
    assert out["i"] == 3 and type(out["i"]) is int
    assert out["u"] == 255 and out["f"] == 1.5 and math.isnan(out["d"])
    assert out["b"] is True
    assert out["a"] == [0, 1, 2] and out["m"] == [-2, [0.25]]
    assert decode(*_fmt(encode(np.int64(7)))) == 7


def _fmt(enc):
    return enc.data, enc.format, enc.info


# -- bytes and files ------------------------------------------------------------------------------

@pytest.mark.parametrize("obj", [b"", b"\x00\xff" * 100, bytearray(b"abc"), memoryview(b"xyz")],
                         ids=["empty", "binary", "bytearray", "memoryview"])
def test_bytes_round_trip(obj):
    enc, out = round_trip(obj)
    assert enc.format == "bytes"
    assert out == bytes(obj) and type(out) is bytes


@pytest.mark.parametrize("as_type", [pathlib.Path, str], ids=["Path", "str"])
def test_file_round_trip(tmp_path, as_type):
    path = tmp_path / "model card.md"
    path.write_bytes(b"# card\n\x00binary too")
    enc, out = round_trip(as_type(path))
    assert enc.format == "file"
    assert enc.info == {"filename": "model card.md"}
    assert out == b"# card\n\x00binary too"


def test_missing_path_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        encode(tmp_path / "missing.bin")


# -- parquet --------------------------------------------------------------------------------------

@pytest.fixture
def frame() -> pd.DataFrame:
    n = 6
    return pd.DataFrame(
        {
            "i": np.arange(n, dtype="int64") * 10,
            "i32": np.arange(n, dtype="int32"),
            "f": [0.5, np.nan, 2.0, -np.inf, 1e300, 3.0],
            "s": ["a", "b", None, "dé", "", "f"],
            "c": pd.Categorical(["x", "y", "x", "z", "y", "x"], categories=["z", "y", "x"], ordered=True),
            "t": pd.date_range("2024-03-30 22:00", periods=n, freq="h", tz="Europe/Paris"),
            "b": [True, False, True, True, False, False],
            "ni": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
        },
        index=pd.Index([f"row{k}" for k in range(n)], name="sample"),
    )


def test_parquet_round_trip_keeps_dtypes_and_index(frame):
    enc, out = round_trip(frame)
    assert enc.format == "parquet"
    assert enc.info["rows"] == len(frame) and enc.info["series"] is False
    pd.testing.assert_frame_equal(out, frame, check_exact=True)
    assert out.index.name == "sample"
    assert list(out["c"].cat.categories) == ["z", "y", "x"] and out["c"].cat.ordered
    assert str(out["t"].dt.tz) == "Europe/Paris"


@pytest.mark.parametrize("index", [
    pd.RangeIndex(6),
    pd.Index([5, 3, 9, 1, 0, 2], name="id"),
    pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["g", "n"]),
    pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC", name="day"),
], ids=["range", "int-named", "multi", "datetime-tz"])
def test_parquet_round_trip_of_indexes(frame, index):
    frame = frame.set_axis(index, axis=0)
    _, out = round_trip(frame)
    # Parquet's pandas metadata has no DatetimeIndex.freq: values, tz and name are kept, freq is not
    pd.testing.assert_frame_equal(out, frame, check_exact=True, check_freq=False)


@pytest.mark.parametrize("series", [
    pd.Series([1.5, np.nan, 3.0], name="score", index=pd.Index(["a", "b", "c"], name="k")),
    pd.Series([1, 2, 3]),  # unnamed: must come back unnamed, not named 0
    pd.Series(pd.Categorical(["u", "v", "u"]), name="cat"),
    pd.Series(pd.date_range("2024-01-01", periods=3, tz="US/Eastern"), name="when"),
], ids=["named", "unnamed", "category", "datetime-tz"])
def test_parquet_round_trip_of_series(series):
    enc, out = round_trip(series)
    assert enc.format == "parquet" and enc.info["series"] is True
    pd.testing.assert_series_equal(out, series, check_exact=True)


def test_frame_parquet_cannot_hold_needs_pickle_opt_in():
    frame = pd.DataFrame({"obj": [Point(1, 2), Point(3, 4)]})
    with pytest.raises(InvalidInput, match="allow_pickle=True"):
        encode(frame)
    enc, out = round_trip(frame, allow_pickle=True)
    assert enc.format == "pickle"
    assert out["obj"].tolist() == [Point(1, 2), Point(3, 4)]


# -- npy ------------------------------------------------------------------------------------------

ARRAYS = {
    "int8": np.array([-128, 0, 127], dtype=np.int8),
    "uint16-2d": np.arange(12, dtype=np.uint16).reshape(3, 4),
    "int64-3d": np.arange(24, dtype=np.int64).reshape(2, 3, 4),
    "float32-nan": np.array([np.nan, np.inf, -0.0, 1.5], dtype=np.float32),
    "float64-fortran": np.asfortranarray(np.linspace(0, 1, 6).reshape(2, 3)),
    "complex": np.array([1 + 2j, -3j]),
    "bool": np.array([[True, False], [False, True]]),
    "big-endian": np.arange(5, dtype=">i4"),
    "datetime": np.array(["2024-01-01T00:00", "NaT"], dtype="datetime64[ns]"),
    "timedelta": np.array([1, 2], dtype="timedelta64[s]"),
    "unicode": np.array(["a", "été", ""]),
    "bytes": np.array([b"ab", b""], dtype="S2"),
    "structured": np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
    "scalar-0d": np.array(3.25),
    "empty": np.empty((0,), dtype=np.float64),
    "empty-2d": np.empty((2, 0, 4), dtype=np.int16),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_npy_round_trip(name):
    arr = ARRAYS[name]
    enc, out = round_trip(arr)
    assert enc.format == "npy"
    assert enc.info == {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_object_arrays_are_refused_without_allow_pickle():
    arr = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(InvalidInput, match="object-dtype"):
        encode(arr)
    with pytest.raises(InvalidInput):
        encode(np.array([(1, {"x": 1})], dtype=[("a", "i4"), ("b", "O")]))  # object inside a record
    enc, out = round_trip(arr, allow_pickle=True)
    assert enc.format == "pickle" and out.tolist() == arr.tolist()


def test_npy_bytes_holding_objects_are_never_unpickled():
    buf = io.BytesIO()
    np.save(buf, np.array([Boom()], dtype=object), allow_pickle=True)
    Boom.calls = 0
    with pytest.raises(UnsafeSerialization, match="object array"):
        decode(buf.getvalue(), "npy")
    assert Boom.calls == 0


# -- skops ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def test_skops_round_trip_of_a_fitted_pipeline(xy):
    X, y = xy
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    enc, out = round_trip(model)
    assert enc.format == "skops"
    assert enc.info == {"class": "sklearn.pipeline.Pipeline"}
    assert type(out) is Pipeline and out is not model
    np.testing.assert_array_equal(out.predict(X), model.predict(X))
    np.testing.assert_array_equal(out.predict_proba(X), model.predict_proba(X))


def test_skops_loads_scikit_learn_internal_classes_without_naming_them(xy):
    X, y = xy  # trees are stored as sklearn.tree._tree.Tree, which skops does not trust by default
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    _, out = round_trip(model)
    np.testing.assert_array_equal(out.predict(X), model.predict(X))


class Doubler(TransformerMixin, BaseEstimator):
    """A custom estimator: skops stores its type name, which must be trusted explicitly."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X)


def test_skops_refuses_untrusted_custom_types_unless_named(xy):
    X, y = xy
    model = Pipeline([("double", Doubler()), ("clf", LogisticRegression())]).fit(X, y)
    enc = encode(model)
    assert enc.format == "skops"
    name = f"{Doubler.__module__}.Doubler"
    with pytest.raises(UnsafeSerialization, match=name.replace(".", r"\.")) as info:
        decode(enc.data, enc.format, enc.info)
    assert isinstance(info.value, StoreError)
    with pytest.raises(UnsafeSerialization):
        decode(enc.data, enc.format, enc.info, trusted=["some.other.Type"])
    out = decode(enc.data, enc.format, enc.info, trusted=[name])
    np.testing.assert_array_equal(out.predict(X), model.predict(X))


def test_skops_trusted_must_be_a_list_of_names(xy):
    X, y = xy
    enc = encode(LogisticRegression().fit(X, y))
    for bad in ["tests.Doubler", True]:
        with pytest.raises(InvalidInput, match="trusted"):
            decode(enc.data, enc.format, trusted=bad)


def _skops_calling(module: str, name: str, arg: str) -> bytes:
    """Hostile skops bytes: a node that calls ``module.name(arg)`` while loading."""
    import skops.io as sio

    original = zipfile.ZipFile(io.BytesIO(sio.dumps(ZoneInfo("UTC"))))
    schema = json.loads(original.read("schema.json"))
    assert schema["__loader__"] == "ConstructorFromReduceNode"  # calls the named type with content
    schema["__module__"], schema["__class__"] = module, name
    schema["content"]["content"][0]["content"] = json.dumps(arg)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for entry in original.namelist():
            z.writestr(entry, json.dumps(schema) if entry == "schema.json" else original.read(entry))
    return out.getvalue()


@pytest.mark.parametrize("module,name", [("builtins", "exec"), ("builtins", "eval"), ("os", "system"),
                                         ("numpy", "memmap"), ("collections", "namedtuple")])
def test_skops_bytes_that_call_functions_on_load_are_refused(tmp_path, module, name):
    marker = tmp_path / "pwned"
    code = {"exec": f"open({str(marker)!r}, 'w').close()",
            "eval": f"open({str(marker)!r}, 'w').close()",
            "system": f"touch {marker}"}.get(name, str(marker))
    data = _skops_calling(module, name, code)
    with pytest.raises(UnsafeSerialization, match=f"{module}.{name}"):
        decode(data, "skops")
    assert not marker.exists()


# -- pickle ---------------------------------------------------------------------------------------

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class Boom:
    """Unpickling this calls Boom.trigger: proof that loading ran code."""

    calls = 0

    @classmethod
    def trigger(cls):
        cls.calls += 1
        return cls()

    def __reduce__(self):
        return (Boom.trigger, ())


def test_custom_objects_need_allow_pickle_and_the_error_names_the_class():
    with pytest.raises(InvalidInput, match=r"test_serializers\.Point.*allow_pickle=True"):
        encode(Point(1, 2))


def test_pickle_round_trip_only_with_opt_in_on_both_sides():
    enc = encode(Point(1, 2), allow_pickle=True)
    assert enc.format == "pickle"
    assert enc.info == {"class": f"{Point.__module__}.Point"}
    with pytest.raises(UnsafeSerialization, match="allow_pickle=True") as info:
        decode(enc.data, enc.format, enc.info)
    assert isinstance(info.value, StoreError)
    assert decode(enc.data, enc.format, enc.info, allow_pickle=True) == Point(1, 2)


def test_pickle_bytes_are_not_loaded_without_opt_in():
    data = pickle.dumps(Boom())
    Boom.calls = 0
    with pytest.raises(UnsafeSerialization):
        decode(data, "pickle")
    assert Boom.calls == 0
    decode(data, "pickle", allow_pickle=True)
    assert Boom.calls == 1


def test_json_is_preferred_to_pickle_even_when_allowed():
    assert encode({"a": [1, 2]}, allow_pickle=True).format == "json"


def test_unknown_format_is_invalid_input():
    with pytest.raises(InvalidInput, match="'yaml'"):
        decode(b"a: 1", "yaml")


def test_every_format_has_a_file_extension():
    formats = {"json", "bytes", "file", "parquet", "npy", "skops", "pickle"}
    assert set(EXTENSIONS) == formats
