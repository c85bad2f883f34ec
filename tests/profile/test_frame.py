"""FrameProfile: merge laws, serialization, size, and every input source
(DataFrame, array, Parquet in chunks, iterator of frames, Dask on a cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.profile.checks import assert_frames_equal, assert_sketch_ranks
from vigil.errors import InvalidInput
from vigil.profile import FrameProfile, Schema, profile

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, None])
FLOAT = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), SPECIAL)


def _reference(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(0, 100, n),
        "const": np.full(n, 5.0),
        "i": pd.array(rng.integers(-5, 6, n), dtype="Int64"),
        "c": rng.choice(np.array(["a", "b", "c"], dtype=object), n),
    })


SCHEMA = profile(_reference(), bins=16).schema


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames on SCHEMA's columns with NaN, +-inf, None, constant and all-missing
    columns, nullable ints and categories the baseline never saw."""
    n = draw(st.integers(0, 40))
    rows = st.lists
    const = draw(st.sampled_from([5.0, -3.5, 1e6, None]))
    return pd.DataFrame({
        "x": pd.Series(draw(rows(FLOAT, min_size=n, max_size=n)), dtype="float64"),
        "const": pd.Series([const] * n, dtype="float64"),
        "i": pd.array(draw(rows(st.one_of(st.integers(-10, 10), st.none()), min_size=n, max_size=n)),
                      dtype="Int64"),
        "c": pd.Series(draw(rows(st.sampled_from(["a", "b", "c", "new1", "new2", None]), min_size=n, max_size=n)),
                       dtype=object),
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.data())
def test_merging_parts_equals_the_whole_and_is_associative_and_commutative(df, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(df)), min_size=2, max_size=2)))
    parts = [df.iloc[:cuts[0]], df.iloc[cuts[0]:cuts[1]], df.iloc[cuts[1]:]]
    a, b, c = (profile(p, SCHEMA) for p in parts)
    whole = profile(df, SCHEMA)
    assert_frames_equal(a + b + c, whole)
    assert_frames_equal((a + b) + c, a + (b + c))
    assert_frames_equal(a + b, b + a)
    assert_frames_equal(c + a + b, whole)
    for name in ("x", "const", "i"):
        assert_sketch_ranks((a + b + c)[name], pd.to_numeric(df[name]).to_numpy(dtype=float, na_value=np.nan))


@settings(max_examples=100, deadline=None)
@given(frames())
def test_serialization_round_trips(df):
    p = profile(df, SCHEMA)
    data = p.to_dict()
    assert FrameProfile.from_bytes(p.to_bytes()).to_dict() == data
    assert FrameProfile.from_dict(json.loads(json.dumps(data))).to_dict() == data
    assert isinstance(p.to_bytes(), bytes)


def test_a_baseline_defines_the_schema():
    df = _reference()
    base = profile(df, bins=8, max_categories=2)
    assert base.schema.columns == ["x", "const", "i", "c"]
    assert set(base.schema.numeric) == {"x", "const", "i"}
    # wider than max_categories: every other row chooses the tracked categories, the rest is counted
    half = df["c"].iloc[0::2]
    assert base.schema.categorical["c"].categories == sorted(
        ["a", "b", "c"], key=lambda k: (-(half == k).sum(), k))[:2]
    assert base.meta["split_columns"] == ["c"]
    assert base["c"].count == len(df) - len(half)
    assert base["x"].bins[0] == base["x"].bins[-1] == 0
    assert base["const"].bins.tolist() == [0, len(df), 0]
    assert Schema.from_dict(json.loads(json.dumps(base.schema.to_dict()))) == base.schema
    forced = profile(df, categorical=["i"], numeric=[])
    assert "i" in forced.schema.categorical
    assert base.meta["defines_schema"] and not profile(df, base.schema).meta["defines_schema"]
    assert (profile(df, base.schema) + base).meta["defines_schema"]


def test_merging_profiles_of_different_schemas_is_refused():
    a = profile(_reference(seed=1))
    b = profile(_reference(seed=2))
    with pytest.raises(InvalidInput, match="same schema"):
        a + b


def test_absent_and_extra_columns_are_reported_and_merged():
    df = _reference()
    no_c = profile(df.drop(columns="c").assign(extra=1.0), SCHEMA)
    assert no_c.meta["absent_columns"] == ["c"] and no_c.meta["extra_columns"] == ["extra"]
    assert no_c["c"].count == 0
    both = no_c + profile(df, SCHEMA)
    assert both.meta["absent_columns"] == [] and both.meta["extra_columns"] == ["extra"]


def test_size_is_independent_of_the_row_count():
    rng = np.random.default_rng(5)
    n = 1_000_000
    big = pd.DataFrame({"x": rng.normal(size=n),
                        "c": pd.Categorical.from_codes(rng.integers(0, 50, n), [f"cat{i}" for i in range(50)])})
    schema = profile(big.iloc[:100_000]).schema
    for col in ("x", "c"):
        small = len(profile(big[[col]].iloc[:10], _only(schema, col)).to_bytes())
        large = len(profile(big[[col]], _only(schema, col)).to_bytes())
        print(f"column {col}: {small} bytes for 10 rows, {large} bytes for {n:,} rows")
        assert small <= 64 * 1024 and large <= 64 * 1024
        assert large <= 2 * small + 8 * 1024, "roughly equal: the KLL sketch grows with log(n) only"


def _only(schema: Schema, column: str) -> Schema:
    return Schema({k: v for k, v in schema.numeric.items() if k == column},
                  {k: v for k, v in schema.categorical.items() if k == column}, [column])


# -- edge cases ---------------------------------------------------------------------------
def test_edge_inputs():
    one = profile(pd.DataFrame({"x": [1.5], "c": ["a"]}))
    assert one.rows == 1 and one["x"].bins.tolist() == [0, 1, 0]
    empty = profile(pd.DataFrame({"x": pd.Series([], dtype=float)}), SCHEMA)
    assert empty.rows == 0 and empty.meta["absent_columns"] == ["const", "i", "c"]
    nothing = profile(pd.DataFrame({"x": [np.nan] * 4, "c": [None] * 4}))
    assert nothing["x"].missing == 4 and nothing["c"].missing == 4 and nothing["x"].n == 0
    mixed = profile(pd.DataFrame({"m": [1, "two", 3.0, None, True]}))
    assert "m" in mixed.schema.categorical and mixed["m"].missing == 1
    # a numeric baseline column that now holds text: the text counts as missing, a drift signal
    coerced = profile(pd.DataFrame({"x": ["1.0", "oops", None], "const": 5.0}), SCHEMA)
    assert coerced["x"].missing == 2 and coerced["x"].n == 1
    arr = profile(np.arange(12.0).reshape(6, 2))
    assert arr.schema.columns == ["f0", "f1"] and arr.rows == 6


@pytest.mark.parametrize("data, match", [
    (pd.DataFrame(), "at least one column"),
    (iter([]), "at least one column"),
    (np.zeros((2, 2, 2)), "1- or 2-dimensional"),
    (5, "got 5"),
    ("no-such-file.parquet", "no such file"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "unique"),
])
def test_bad_inputs_raise_invalid_input(data, match):
    with pytest.raises(InvalidInput, match=match):
        profile(data)


@pytest.mark.parametrize("kwargs", [{"bins": 1}, {"bins": 2.5}, {"max_categories": 0}, {"bins": True},
                                    {"chunk_rows": 0}, {"chunk_rows": 1.5}])
def test_bad_options_raise_invalid_input(kwargs):
    with pytest.raises(InvalidInput):
        profile(_reference(), **kwargs)


def test_from_bytes_refuses_garbage():
    with pytest.raises(InvalidInput, match="not a serialized profile"):
        FrameProfile.from_bytes(b"garbage")
    with pytest.raises(InvalidInput, match="vigil.profile/1"):
        FrameProfile.from_dict({"format": "other"})


# -- chunked sources ----------------------------------------------------------------------
def _chunky(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "y": rng.exponential(size=n),
        "k": rng.integers(0, 20, n),
        "c": rng.choice(np.array(list("abcde"), dtype=object), n),
    })
    df.loc[rng.random(n) < 0.02, "x"] = np.nan
    df.loc[n - 10:, "c"] = "late"   # a category that only the last chunk holds
    return df


def test_parquet_and_iterators_profile_like_the_frame_in_memory(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _chunky(50_000)
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=7_000)
    assert pq.ParquetFile(path).num_row_groups == 8
    # the baseline path: edges from the first chunk, categories from every chunk
    base = profile(df, chunk_rows=4_096)
    from_file = profile(str(path), chunk_rows=4_096)
    assert_frames_equal(from_file, base)
    assert "late" in base.schema.categorical["c"].categories
    chunks = [df.iloc[i:i + 4_096] for i in range(0, len(df), 4_096)]
    assert_frames_equal(profile(iter(chunks)), base)
    # on a fixed schema any chunking gives the same counts
    whole = profile(df, base.schema, chunk_rows=1_000_000)
    assert_frames_equal(profile(path, base.schema, chunk_rows=3_333), whole)
    assert_frames_equal(profile((c for c in chunks), base.schema), whole)
    assert_frames_equal(profile(df, base.schema, chunk_rows=999), whole)


@pytest.mark.parametrize("row_group_rows", [1_000, 4_096, 50_000])
def test_parquet_baselines_take_their_edges_from_the_first_chunk_whatever_the_row_groups(tmp_path, row_group_rows):
    """Small row groups are read together column by column, large ones streamed in batches:
    the first chunk is the first chunk_rows rows either way, as for the frame in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _chunky(50_000)
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=row_group_rows)
    base = profile(df, chunk_rows=4_096)
    assert_frames_equal(profile(path, chunk_rows=4_096), base)


def test_parquet_written_by_pandas_keeps_its_index_and_dtypes_out_of_the_columns(tmp_path):
    n = 20_000
    df = pd.DataFrame({"x": np.arange(float(n)), "c": ["a", "b"] * (n // 2),
                       "d": pd.date_range("2024-01-01", periods=n, freq="min"),
                       "k": pd.Categorical(["u", "v"] * (n // 2))}, index=pd.Index(np.arange(n) * 3, name="id"))
    path = tmp_path / "indexed.parquet"
    df.to_parquet(path, row_group_size=3_000)  # the named index is stored as a column, restored by pandas
    from_file, in_memory = profile(path, chunk_rows=4_096), profile(df, chunk_rows=4_096)
    assert from_file.schema.columns == ["x", "c", "d", "k"] and from_file.meta["extra_columns"] == []
    assert_frames_equal(from_file, in_memory)


def test_parquet_columns_beyond_the_schema_are_reported_not_read(tmp_path):
    df = _chunky(20_000)
    base = profile(df.drop(columns=["y"]), chunk_rows=4_096)
    path = tmp_path / "wider.parquet"
    df.assign(z=1.0).to_parquet(path, index=False, row_group_size=3_000)
    from_file = profile(path, base.schema, chunk_rows=4_096)
    assert from_file.meta["extra_columns"] == ["y", "z"]
    assert_frames_equal(from_file, profile(df.assign(z=1.0), base.schema))
    narrow = tmp_path / "narrow.parquet"
    df.drop(columns=["k"]).to_parquet(narrow, index=False, row_group_size=3_000)
    assert profile(narrow, base.schema).meta["absent_columns"] == ["k"]


def test_an_empty_parquet_file_profiles_like_an_empty_frame(tmp_path):
    df = pd.DataFrame({"x": np.array([], dtype=float), "c": pd.Series([], dtype=object)})
    path = tmp_path / "empty.parquet"
    df.to_parquet(path, index=False)
    assert profile(path).schema == profile(df).schema
    assert profile(path, SCHEMA).rows == 0


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory):
    """2,000,000 rows x 6 columns in 8 row groups, and the frame's in-memory size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(2)
    n = 2_000_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    df.loc[rng.random(n) < 0.01, "x0"] = np.nan
    df["k"] = rng.integers(0, 100, n)
    df["c"] = pd.Series(np.array(list("abcdefgh"))[rng.integers(0, 8, n)]).astype("str")
    size = int(df.memory_usage(deep=True).sum())
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=250_000)
    schema = profile(df.iloc[:20_000]).schema
    whole = profile(df, schema, chunk_rows=n)
    return path, size, schema, whole


@pytest.mark.slow
def test_parquet_is_profiled_in_bounded_python_memory(big_parquet):
    """tracemalloc sees numpy and pandas: the peak while profiling 2M rows in 256k-row
    chunks stays below a quarter of the frame's in-memory size (measured: about 1/20)."""
    path, size, schema, whole = big_parquet
    tracemalloc.start()
    try:
        p = profile(path, schema, chunk_rows=262_144)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"tracemalloc peak {peak / 1e6:.1f} MB for a frame of {size / 1e6:.1f} MB in memory")
    assert peak <= size / 4
    assert_frames_equal(p, whole)


_ARROW_PEAK = textwrap.dedent("""
    import json, sys
    import pyarrow as pa
    from vigil.profile import Schema, profile
    schema = Schema.from_dict(json.loads(sys.argv[2]))
    before = pa.default_memory_pool().max_memory()
    p = profile(sys.argv[1], schema, chunk_rows=int(sys.argv[3]))
    print(json.dumps({"rows": p.rows, "before": before, "peak": pa.default_memory_pool().max_memory()}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("chunk_rows", [65_536, 262_144])
def test_parquet_is_profiled_in_bounded_arrow_memory(big_parquet, chunk_rows):
    """Arrow's own buffers are invisible to tracemalloc: a fresh process reports the
    peak of Arrow's memory pool. It stays below a third of the frame's in-memory size
    whether the 250,000-row groups are streamed in 65,536-row batches (measured: about
    22 MB of 98 MB; pre-buffering the whole file, pyarrow's default, took 118 MB) or
    read and profiled one column at a time, two groups per 262,144-row chunk (measured:
    about 10 MB; reading every column of the chunk at once held about 29 MB)."""
    path, size, schema, _ = big_parquet
    out = subprocess.run([sys.executable, "-c", _ARROW_PEAK, str(path), json.dumps(schema.to_dict()),
                          str(chunk_rows)],
                         capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"arrow pool peak {report['peak'] / 1e6:.1f} MB for a frame of {size / 1e6:.1f} MB in memory")
    assert report["rows"] == 2_000_000
    assert report["peak"] <= size / 3


# -- Dask -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_dask_frames_are_profiled_per_partition_on_the_cluster(dask_client):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    df = _chunky(40_000)
    df.loc[39_000:, "c"] = "only-in-the-last-partition"
    ddf = dd.from_pandas(df, npartitions=4)
    assert ddf.npartitions == 4
    # with a schema: counts and bins equal the pandas profile
    schema = profile(df).schema
    with distributed.get_task_stream(dask_client) as stream:
        on_cluster = profile(ddf, schema)
    partials = [t for t in stream.data if str(t["key"]).startswith("_partition_state")]
    assert len(partials) == 4, "one partial profile per partition, computed on the workers"
    assert {t["worker"] for t in partials} <= set(dask_client.scheduler_info()["workers"])
    assert on_cluster.meta["source"] == "dask" and on_cluster.meta["partitions"] == 4
    assert_frames_equal(on_cluster, profile(df, schema))
    for name in ("x", "y", "k"):
        assert_sketch_ranks(on_cluster[name], df[name].to_numpy(dtype=float))
    # the baseline path: edges from the first partition, categories from all partitions
    base = profile(ddf)
    first = ddf.get_partition(0).compute()
    assert np.array_equal(base.schema.numeric["x"], profile(first).schema.numeric["x"])
    assert "only-in-the-last-partition" in base.schema.categorical["c"].categories
    assert base["c"].new == 0 and base["c"].other == 0
    assert_frames_equal(base, profile(df, base.schema))
    pids = dask_client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values(), "two worker processes"


@pytest.mark.filterwarnings("error::RuntimeWarning", "error::numpy.exceptions.ComplexWarning")
def test_complex_columns_are_refused_and_values_near_the_float_limit_give_an_infinite_spread():
    with pytest.raises(InvalidInput, match=r"column 'z' holds complex numbers .*categorical="):
        profile(pd.DataFrame({"z": [1 + 2j, 3j]}))
    baseline = profile(pd.DataFrame({"z": [1.0, 2.0, 3.0]}))
    with pytest.raises(InvalidInput, match="column 'z' holds complex numbers"):
        profile(pd.DataFrame({"z": [1 + 2j, 3j]}), schema=baseline.schema)
    assert profile(pd.DataFrame({"z": [1 + 2j, 3j]}), categorical=["z"]).rows == 2
    huge = profile(pd.DataFrame({"a": [1e308, -1e308, 0.0]}))
    assert huge.columns["a"].std == float("inf") and huge.columns["a"].mean == 0.0


def test_numeric_columns_profiled_on_threads_match_one_thread(monkeypatch):
    """Chunks of >= PARALLEL_MIN_ROWS rows have their numeric columns profiled side by side; the counts,
    moments and extremes are those of a single-threaded profile, and a column's error still surfaces."""
    import vigil.profile.frame as frame_module
    from vigil.profile.frame import Profiler

    monkeypatch.setattr(frame_module, "PARALLEL_MIN_ROWS", 1_000)
    rng = np.random.default_rng(3)
    df = pd.DataFrame({f"x{i}": rng.normal(i, 1.0, 20_000) for i in range(6)})
    df.loc[::7, "x2"] = np.nan
    df["c"] = rng.choice(list("abc"), 20_000)

    def run(threads: int):
        prof = Profiler(threads=threads)
        for start in range(0, len(df), 5_000):
            prof.update(df.iloc[start:start + 5_000])
        return prof.result()

    one, many = run(1), run(4)
    for col in [f"x{i}" for i in range(6)]:
        a, b = one[col], many[col]
        assert a.bins.tolist() == b.bins.tolist() and (a.n, a.missing, a.min, a.max) == (b.n, b.missing, b.min, b.max)
        assert a.mean == pytest.approx(b.mean) and a.m2 == pytest.approx(b.m2)
    assert np.array_equal(one["c"].counts, many["c"].counts)
    later = df.head(2_000).astype({"x4": complex})
    with pytest.raises(InvalidInput, match="column 'x4' holds complex numbers"):
        Profiler(one.schema, threads=4).update(later)
