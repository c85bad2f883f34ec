"""Profiles of whole tables: a schema fixed by the baseline, one profile per column.

:func:`profile` accepts a DataFrame, a 2-d array, a Parquet path, an iterator
of DataFrames or a Dask DataFrame. Large inputs are profiled chunk by chunk
in bounded memory; a Dask DataFrame is profiled per partition on its cluster
and the partial profiles are merged on the client. A :class:`FrameProfile`
holds no rows: its size depends on the columns, not on the row count.

When no schema is given (the baseline), numeric bin edges come from the
quantiles of the first chunk (or the whole frame) and categorical specs from
the counts of all chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from vigil.errors import InvalidInput, describe
from vigil.profile.categorical import CategoricalProfile, CategoricalSpec, value_counts
from vigil.profile.numeric import NumericProfile, choose_edges

DEFAULT_BINS = 64
DEFAULT_MAX_CATEGORIES = 200
CHUNK_ROWS = 262_144
#: Threads that profile the numeric columns of a chunk side by side (numpy's sort and searches release
#: the GIL). ``VIGIL_PROFILE_THREADS=1`` profiles in the calling thread only.
PROFILE_THREADS = max(1, min(4, int(os.environ.get("VIGIL_PROFILE_THREADS", 0) or (os.cpu_count() or 1))))
#: Chunks smaller than this are profiled in the calling thread (handing them over costs more).
PARALLEL_MIN_ROWS = 50_000
_pool: Any = None


class Schema:
    """Column kinds and the baseline's bins/categories; profiles merge only on equal schemas."""

    def __init__(self, numeric: dict[str, np.ndarray], categorical: dict[str, CategoricalSpec],
                 order: list[str]) -> None:
        self.numeric = {k: np.asarray(v, dtype=np.float64) for k, v in numeric.items()}
        self.categorical = categorical
        self.order = order
        self._fingerprint: str | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.order)

    def new_profile(self, column: str) -> NumericProfile | CategoricalProfile:
        if column in self.numeric:
            return NumericProfile(self.numeric[column])
        return CategoricalProfile(self.categorical[column])

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order,
                "numeric": {k: v.tolist() for k, v in self.numeric.items()},
                "categorical": {k: v.to_dict() for k, v in self.categorical.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls({k: np.asarray(v) for k, v in data["numeric"].items()},
                   {k: CategoricalSpec.from_dict(v) for k, v in data["categorical"].items()},
                   list(data["order"]))

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:  # a schema never changes once built
            self._fingerprint = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.fingerprint == other.fingerprint


class FrameProfile:
    """Per-column profiles of a table on one schema. Merge with ``+``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({'x': np.arange(100.0), 'c': list('ab') * 50})
    >>> base = profile(df)
    >>> halves = profile(df.iloc[:50], base.schema) + profile(df.iloc[50:], base.schema)
    >>> halves.rows, halves['x'].bins.tolist() == base['x'].bins.tolist()
    (100, True)
    """

    def __init__(self, schema: Schema, columns: dict[str, Any], rows: int,
                 meta: dict[str, Any] | None = None) -> None:
        self.schema = schema
        self.columns = columns
        self.rows = rows
        self.meta = meta or {}

    def __getitem__(self, column: str) -> Any:
        return self.columns[column]

    def __repr__(self) -> str:
        return f"FrameProfile(rows={self.rows}, columns={len(self.columns)})"

    @property
    def is_empty(self) -> bool:
        return self.rows == 0

    @property
    def n(self) -> int:
        return self.rows

    def merge(self, other: FrameProfile) -> FrameProfile:
        if not isinstance(other, FrameProfile) or other.schema != self.schema:
            raise InvalidInput("FrameProfile.merge: other must be a FrameProfile on the same schema "
                               "(profile it with schema=baseline.schema)")
        for name, prof in other.columns.items():
            self.columns[name].merge(prof)
        self.rows += other.rows
        extra = set(self.meta.get("extra_columns", [])) | set(other.meta.get("extra_columns", []))
        self.meta["extra_columns"] = sorted(extra)
        absent = set(self.meta.get("absent_columns", [])) & set(other.meta.get("absent_columns", []))
        self.meta["absent_columns"] = sorted(absent)
        if other.meta.get("defines_schema"):
            self.meta["defines_schema"] = True
        return self

    def copy(self) -> FrameProfile:
        return FrameProfile.from_dict(self.to_dict())

    def __add__(self, other: FrameProfile) -> FrameProfile:
        return self.copy().merge(other)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "vigil.profile/1", "schema": self.schema.to_dict(), "rows": self.rows,
                "meta": self.meta, "columns": {k: v.to_dict() for k, v in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameProfile:
        if data.get("format") != "vigil.profile/1":
            raise InvalidInput(f"FrameProfile.from_dict: data must be a vigil.profile/1 dict; got format "
                               f"{data.get('format')!r}")
        schema = Schema.from_dict(data["schema"])
        columns: dict[str, Any] = {}
        for name, col in data["columns"].items():
            columns[name] = (NumericProfile.from_dict(col) if col["kind"] == "numeric"
                             else CategoricalProfile.from_dict(col))
        return cls(schema, columns, int(data["rows"]), dict(data.get("meta", {})))

    def to_bytes(self) -> bytes:
        return zlib.compress(json.dumps(self.to_dict(), separators=(",", ":")).encode(), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> FrameProfile:
        try:
            return cls.from_dict(json.loads(zlib.decompress(data)))
        except (zlib.error, ValueError, KeyError) as exc:
            raise InvalidInput(f"FrameProfile.from_bytes: not a serialized profile ({exc})") from None


class Profiler:
    """Accumulates chunks into per-column state; :meth:`result` builds the FrameProfile."""

    def __init__(self, schema: Schema | None = None, *, bins: int = DEFAULT_BINS,
                 max_categories: int = DEFAULT_MAX_CATEGORIES, categorical: Iterable[str] = (),
                 numeric: Iterable[str] = (), threads: int | None = None) -> None:
        self.schema = schema
        self.threads = PROFILE_THREADS if threads is None else threads
        self.bins = bins
        self.max_categories = max_categories
        self.force_categorical = {str(c) for c in categorical}
        self.force_numeric = {str(c) for c in numeric}
        self.order: list[str] | None = schema.columns if schema else None
        self.numeric: dict[str, NumericProfile] = {}
        self.cat_counts: dict[str, dict[str, int]] = {}
        self.cat_missing: dict[str, int] = {}
        # a baseline also counts every other row apart: that half chooses the tracked
        # categories of wide columns, the other half is what the baseline profile counts
        self.split = schema is None
        self.cat_sel: dict[str, dict[str, int]] = {}
        self.cat_sel_missing: dict[str, int] = {}
        self.rows = 0
        self.seen: set[str] = set()
        self.extra: set[str] = set()

    def _kind(self, column: str, dtype: Any) -> str:
        if column in self.force_categorical:
            return "categorical"
        if column in self.force_numeric:
            return "numeric"
        if dtype.kind in "iuf":
            return "numeric"
        if dtype.kind == "c":
            raise _complex(column, dtype)
        if dtype.kind == "M" or str(dtype).startswith("datetime"):
            return "numeric"
        return "categorical"

    def update(self, frame: Any) -> Profiler:
        frame = _as_frame(frame)
        frame.columns = [str(c) for c in frame.columns]
        if frame.columns.has_duplicates:
            dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
            raise InvalidInput(f"profile: column names must be unique (as strings); got duplicates {dupes}")
        if self.order is None:  # baseline: the first chunk fixes kinds and numeric edges
            columns: list[str] = list(frame.columns)
            self.begin(columns)
            for col in columns:
                self.define(col, frame[col])
        offset = self.rows
        self.rows += len(frame)
        numeric = [c for c in frame.columns if c in (self.order or ()) and self._is_numeric(c)]
        if len(numeric) < 2 or len(frame) < PARALLEL_MIN_ROWS or self.threads < 2:
            numeric = []
        for col in frame.columns:
            if col not in numeric:
                self.update_column(col, frame[col], offset)
        if numeric:  # one column per task: each has its own NumericProfile
            for col in numeric:
                self.seen.add(col)
                if col not in self.numeric:
                    self.numeric[col] = NumericProfile(self._edges_of(col))
            done = _threads(self.threads).map(lambda c: self.numeric[c].update(_floats(frame[c])), numeric)
            for _ in done:  # the first error (a complex column ...) is raised here
                pass
        return self

    def begin(self, columns: list[str]) -> None:
        """A baseline's columns, in order; :meth:`define` then fixes each one's kind and edges."""
        self.order = columns
        self._edges: dict[str, np.ndarray] = {}

    def define(self, col: str, first: Any) -> None:
        """Fix a baseline column's kind, and its edges from ``first`` (its first chunk)."""
        if self._kind(col, first.dtype) == "numeric":
            self._edges[col] = choose_edges(_floats(first), self.bins)

    def update_column(self, col: str, values: Any, offset: int) -> None:
        """Add one column of a chunk whose first row is row ``offset`` of the data (the caller
        counts the chunk's rows in ``self.rows``)."""
        import pandas as pd

        if col not in (self.order or ()):
            self.extra.add(col)
            return
        self.seen.add(col)
        if self._is_numeric(col):
            if col not in self.numeric:
                self.numeric[col] = NumericProfile(self._edges_of(col))
            self.numeric[col].update(_floats(values))
            return
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        counts, missing = value_counts(series)
        _add_counts(self.cat_counts.setdefault(col, {}), counts)
        self.cat_missing[col] = self.cat_missing.get(col, 0) + missing
        if self.split:
            sel, sel_missing = value_counts(series.iloc[offset % 2::2])
            _add_counts(self.cat_sel.setdefault(col, {}), sel)
            self.cat_sel_missing[col] = self.cat_sel_missing.get(col, 0) + sel_missing

    def _is_numeric(self, col: str) -> bool:
        return col in (self.schema.numeric if self.schema else self._edges)

    def _edges_of(self, col: str) -> np.ndarray:
        return self.schema.numeric[col] if self.schema else self._edges[col]

    def result(self, meta: dict[str, Any] | None = None) -> FrameProfile:
        if self.order is None or (self.schema is None and not self.order):
            raise InvalidInput("profile: data must have at least one column; got an empty input")
        split_columns: list[str] = []
        if self.schema is None:
            specs = {}
            for c in self.order:
                if self._is_numeric(c):
                    continue
                total = self.cat_counts.get(c, {})
                if len(total) <= self.max_categories:  # every category tracked: nothing selected
                    specs[c] = CategoricalSpec.from_counts(total, self.max_categories)
                else:
                    specs[c] = CategoricalSpec.from_counts(total, self.max_categories, self.cat_sel.get(c, {}))
                    split_columns.append(c)
            schema = Schema(self._edges, specs, self.order)
        else:
            schema = self.schema
        columns: dict[str, Any] = {}
        for col in schema.columns:
            if col in schema.numeric:
                columns[col] = self.numeric.get(col) or NumericProfile(schema.numeric[col])
            else:
                prof = CategoricalProfile(schema.categorical[col])
                counts, missing = self.cat_counts.get(col, {}), self.cat_missing.get(col, 0)
                if col in split_columns:  # the half that did not choose the tracked categories
                    sel = self.cat_sel.get(col, {})
                    counts = {k: n - sel.get(k, 0) for k, n in counts.items() if n - sel.get(k, 0) > 0}
                    missing -= self.cat_sel_missing.get(col, 0)
                prof.update_counts(counts, missing)
                columns[col] = prof
        info = {"created": time.time(), "extra_columns": sorted(self.extra),
                "absent_columns": [c for c in schema.columns if c not in self.seen],
                "defines_schema": self.schema is None, "split_columns": split_columns, **(meta or {})}
        return FrameProfile(schema, columns, self.rows, info)


def _threads(n: int) -> Any:
    """The process's profiling thread pool (made on first use, again in a forked child; its
    threads end with the process)."""
    global _pool
    if _pool is None or _pool[0] < n:
        from concurrent.futures import ThreadPoolExecutor

        _pool = (n, ThreadPoolExecutor(n, thread_name_prefix="vigil-profile"))
    return _pool[1]


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_pool)


def _add_counts(acc: dict[str, int], counts: dict[str, int]) -> None:
    for k, n in counts.items():
        acc[k] = acc.get(k, 0) + n


def _complex(column: Any, dtype: Any) -> InvalidInput:
    # as real numbers they would lose their imaginary part
    return InvalidInput(f"profile: column {column!r} holds complex numbers ({dtype}); profiles take real numbers, "
                        "categories, booleans and times: split it into its real and imaginary parts, or name it "
                        "in categorical=")


def _floats(values: Any) -> np.ndarray:
    import pandas as pd

    if getattr(values, "dtype", None) is not None and values.dtype.kind == "c":
        raise _complex(getattr(values, "name", None), values.dtype)
    if isinstance(values, pd.Series):
        if values.dtype.kind == "M" or str(values.dtype).startswith("datetime"):
            out = values.astype("int64").to_numpy(dtype=np.float64) / 1e9
            out[values.isna().to_numpy()] = np.nan
            return out
        try:
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _as_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.copy(deep=False)
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2:
            raise InvalidInput(f"profile: an array must be 1- or 2-dimensional; got shape {data.shape}")
        return pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])])
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if type(data).__module__.startswith("pyarrow"):
        return data.to_pandas()
    raise InvalidInput(f"profile: data must be a DataFrame, an array, a Parquet path, an iterator of "
                       f"DataFrames or a Dask DataFrame; got {describe(data)}")


def _chunks(data: Any, chunk_rows: int) -> Iterator[Any]:
    import pandas as pd

    if isinstance(data, pd.DataFrame) and len(data) > chunk_rows * 2:
        for start in range(0, len(data), chunk_rows):
            yield data.iloc[start:start + chunk_rows]
        return
    if isinstance(data, (pd.DataFrame, pd.Series, np.ndarray, dict)) or type(data).__module__.startswith("pyarrow"):
        yield data
        return
    if hasattr(data, "__iter__"):
        yield from data
        return
    yield data  # let _as_frame raise its clear error


def _update_from_parquet(profiler: Profiler, path: str, chunk_rows: int) -> None:
    """Profile a Parquet file one column at a time, in chunks of ``chunk_rows`` rows.

    Arrow's reader holds about three times a column's decoded size while it
    decodes it (raw pages, decompressed pages, values): reading every column
    of a chunk at once holds that for all of them, and the chunk besides. So
    consecutive row groups, up to ``chunk_rows`` rows or more, are read one
    column at a time and that column is profiled in slices of ``chunk_rows``
    before the next is read: memory holds one column of one run of row groups.
    A row group of more than ``2 * chunk_rows`` rows is streamed in batches of
    ``chunk_rows`` rows, all columns at once. ``pre_buffer`` (pyarrow's
    default) would read the raw bytes of every row group up front: off, with
    a buffered stream. A baseline's first chunk is the first ``chunk_rows``
    rows either way, as for a frame in memory, so it gets the same edges.
    """
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    meta = source.metadata
    if meta.num_row_groups == 0:
        profiler.update(source.schema_arrow.empty_table().to_pandas())
        return
    pandas_meta = source.schema_arrow.pandas_metadata or {}
    index = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}  # restored as the index
    names = [n for n in source.schema_arrow.names if n not in index]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"profile: column names must be unique (as strings); got duplicates {dupes}")

    def columnwise(groups: list[int], rows: int) -> None:
        offset = profiler.rows
        first = profiler.order is None  # a baseline's first chunk: kinds and edges come from it
        if first:
            profiler.begin(names)
        for name in names:
            if name not in (profiler.order or ()):
                profiler.extra.add(name)  # not in the schema: not even read
                continue
            column = source.read_row_groups(groups, columns=[name], use_threads=False).to_pandas(
                split_blocks=True)[name]  # the file's pandas metadata gives the column its dtype
            if first:
                profiler.define(name, column.iloc[:chunk_rows])
            for start in range(0, max(rows, 1), chunk_rows):  # an empty file still has its columns
                profiler.update_column(name, column.iloc[start:start + chunk_rows], offset + start)
            del column
        profiler.rows += rows

    run: list[int] = []
    rows = 0
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).num_rows
        if size > 2 * chunk_rows:
            if run:
                columnwise(run, rows)
                run, rows = [], 0
            for batch in source.iter_batches(batch_size=chunk_rows, row_groups=[group], use_threads=False,
                                             columns=names):
                profiler.update(batch.to_pandas(split_blocks=True))
            continue
        run.append(group)
        rows += size
        if rows >= chunk_rows:
            columnwise(run, rows)
            run, rows = [], 0
    if run:
        columnwise(run, rows)


def _is_dask(data: Any) -> bool:
    return type(data).__module__.startswith("dask")


def _partition_state(part: Any, schema_dict: dict[str, Any], split: bool = False) -> Profiler:
    prof = Profiler(Schema.from_dict(schema_dict), threads=1)  # Dask runs partitions side by side already
    prof.split = split
    return prof.update(part)


def _merge_state(a: Profiler, b: Profiler) -> Profiler:
    for col, p in b.numeric.items():
        if col in a.numeric:
            a.numeric[col].merge(p)
        else:
            a.numeric[col] = p
    for col, counts in b.cat_counts.items():
        acc = a.cat_counts.setdefault(col, {})
        for k, n in counts.items():
            acc[k] = acc.get(k, 0) + n
    for col, n in b.cat_missing.items():
        a.cat_missing[col] = a.cat_missing.get(col, 0) + n
    for col, counts in b.cat_sel.items():
        _add_counts(a.cat_sel.setdefault(col, {}), counts)
    for col, n in b.cat_sel_missing.items():
        a.cat_sel_missing[col] = a.cat_sel_missing.get(col, 0) + n
    a.rows += b.rows
    a.seen |= b.seen
    a.extra |= b.extra
    return a


def _profile_dask(ddf: Any, schema: Schema | None, options: dict[str, Any]) -> FrameProfile:
    import dask

    if schema is None:  # the first partition fixes kinds and edges; categories come from all partitions
        first = Profiler(**options).update(ddf.get_partition(0).compute())
        order = first.order or []
        provisional = Schema(first._edges, {c: CategoricalSpec([], [], False) for c in order
                                            if c not in first._edges}, order)
    else:
        provisional = schema
    parts = [dask.delayed(_partition_state)(p, provisional.to_dict(), schema is None) for p in ddf.to_delayed()]
    states = dask.compute(*parts)
    total = Profiler(provisional)
    for state in states:
        _merge_state(total, state)
    if schema is None:
        total.schema = None
        total._edges = provisional.numeric
        total.max_categories = options.get("max_categories", DEFAULT_MAX_CATEGORIES)
    return total.result({"source": "dask", "partitions": len(parts)})


def profile(data: Any, schema: Schema | None = None, *, bins: int = DEFAULT_BINS,
            max_categories: int = DEFAULT_MAX_CATEGORIES, categorical: Iterable[str] = (),
            numeric: Iterable[str] = (), chunk_rows: int = CHUNK_ROWS) -> FrameProfile:
    """Profile ``data``; without ``schema`` it becomes a baseline that defines one.

    Examples
    --------
    >>> import pandas as pd
    >>> p = profile(pd.DataFrame({'x': [1.0, 2.0, None], 'c': ['a', None, 'b']}))
    >>> p['x'].missing, p['c'].missing, p.rows
    (1, 1, 3)
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 1000:
        raise InvalidInput(f"profile: bins must be an int in [2, 1000]; got {describe(bins)}")
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or not 1 <= max_categories <= 1000:
        raise InvalidInput(f"profile: max_categories must be an int in [1, 1000]; got {describe(max_categories)}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInput(f"profile: chunk_rows must be an int >= 1; got {describe(chunk_rows)}")
    options: dict[str, Any] = {"bins": bins, "max_categories": max_categories, "categorical": categorical, "numeric": numeric}
    if _is_dask(data):
        return _profile_dask(data, schema, options)
    profiler = Profiler(schema, **options)
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise InvalidInput(f"profile: data is a path but no such file exists: {path!r}")
        _update_from_parquet(profiler, path, chunk_rows)
        return profiler.result()
    for chunk in _chunks(data, chunk_rows):
        profiler.update(chunk)
    return profiler.result()
