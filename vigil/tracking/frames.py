"""Shape the store's Arrow tables as the user asked: DataFrame, dicts or a cursor.

DataFrame columns are exactly ``experiment, run, event, key, value, step, dt,
node, userid, name`` followed by every extra field that was logged. ``dt`` is a
timezone-aware UTC timestamp. ``value`` is float64 when every selected value is
a number, else an object column holding the logged Python values.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BASE_COLUMNS = ("experiment", "run", "event", "key", "value", "step", "dt", "node", "userid", "name")
_UTC = _dt.UTC


def _values(table: pa.Table) -> np.ndarray:
    nums = table.column("value_num").to_numpy()
    texts = table.column("value_json")
    if texts.null_count == len(texts):
        return nums
    idx = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
    loads = json.loads
    parsed = [loads(t) for t in texts.take(pa.array(idx)).to_pylist()]
    if all(type(v) is float for v in parsed):  # NaN metrics are stored as JSON: stay a float column
        out_f = nums.copy()
        out_f[idx] = parsed
        return out_f
    out = nums.astype(object)
    for i, v in zip(idx, parsed):
        out[i] = v
    return out


def _extras(table: pa.Table) -> tuple[np.ndarray, list[dict[str, Any]]]:
    col = table.column("extra")
    if col.null_count == len(col):
        return np.empty(0, dtype=np.int64), []
    idx = np.flatnonzero(pc.is_valid(col).to_numpy(zero_copy_only=False))
    loads = json.loads
    return idx, [loads(t) for t in col.take(pa.array(idx)).to_pylist()]


def to_frame(table: pa.Table, experiment: str):
    """A DataFrame of events (see the module docstring for its columns)."""
    import pandas as pd

    n = table.num_rows
    plain = table.select(["run", "event", "key", "node", "userid", "name"]).to_pandas()
    step = table.column("step")
    frame = pd.DataFrame({
        "experiment": pd.Series([experiment] * n, dtype=object),
        "run": plain["run"],
        "event": plain["event"],
        "key": plain["key"],
        "value": _values(table) if n else np.empty(0, dtype=float),
        "step": pd.array(step.to_pylist() if step.null_count else step.to_numpy(), dtype="Int64"),
        "dt": pd.to_datetime(table.column("dt").to_numpy(), unit="s", utc=True),
        "node": plain["node"],
        "userid": plain["userid"],
        "name": plain["name"],
    })
    idx, extras = _extras(table)
    if extras:
        names: dict[str, None] = {}
        for record in extras:
            names.update(dict.fromkeys(record))
        for field in names:
            col = np.full(n, None, dtype=object)
            col[idx] = [r.get(field) for r in extras]
            frame[field] = col
    return frame


def to_records(table: pa.Table, experiment: str) -> list[dict[str, Any]]:
    """A list of event dicts; ``name`` and extra fields appear where they were logged."""
    n = table.num_rows
    if n == 0:
        return []
    values = _values(table).tolist()
    idx, extras = _extras(table)
    extra_at = dict(zip(idx.tolist(), extras))
    fromts = _dt.datetime.fromtimestamp
    cols = [table.column(c).to_pylist() for c in ("run", "event", "key", "step", "dt", "node", "userid", "name")]
    out = []
    for i, (run, event, key, step, dt, node, userid, name) in enumerate(zip(*cols)):
        record = {
            "experiment": experiment, "run": run, "event": event, "key": key, "value": values[i],
            "step": step, "dt": fromts(dt, _UTC), "node": node, "userid": userid,
        }
        if name is not None:
            record["name"] = name
        if i in extra_at:
            record.update(extra_at[i])
        out.append(record)
    return out
