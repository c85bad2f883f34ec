"""The event schema as users see it (vigil/tracking/frames.py): DataFrame columns,
raw records, the UTC ``dt`` and the ``value`` column."""

from __future__ import annotations

import datetime as dt
import math
import socket
import time

import numpy as np
import pandas as pd

import vigil as om
from vigil.tracking.frames import BASE_COLUMNS

CORE = ["experiment", "run", "event", "key", "value", "step", "dt", "node", "userid"]


def test_base_columns_are_the_documented_schema():
    assert list(BASE_COLUMNS) == [*CORE, "name"]


def test_every_event_carries_the_core_fields(vigil_home, monkeypatch):
    monkeypatch.setenv("VIGIL_USERID", "alice")
    om.reload()
    before = time.time()
    with om.runtime.experiment("schema") as exp:
        exp.log_metric("acc", 0.5, step=1)
        exp.log_param("lr", 0.1)
        exp.log_event("predict", "rows", 3)
        exp.log_data("sample", np.arange(3))
        exp.log_artifact(b"bytes", "blob")
    after = time.time()

    records = exp.data(raw=True)
    assert [r["event"] for r in records] == ["metric", "param", "predict", "data", "artifact"]
    for record in records:
        expected = set(CORE) | ({"name"} if record["event"] in ("data", "artifact") else set())
        assert set(record) == expected, record["event"]
        assert record["experiment"] == "schema" and record["run"] == 1
        assert record["node"] == socket.gethostname() and record["userid"] == "alice"
        assert record["dt"].tzinfo is not None and record["dt"].utcoffset() == dt.timedelta(0)
        assert before - 0.001 <= record["dt"].timestamp() <= after + 0.001
    assert records[3]["name"] == "sample" and records[4]["name"] == "blob"
    assert [r["step"] for r in records] == [1, None, None, None, None]
    assert [r["dt"] for r in records] == sorted(r["dt"] for r in records)


def test_frame_columns_are_exactly_the_schema_plus_logged_extras(vigil_home):
    exp = om.runtime.experiment("columns")
    with exp:
        exp.log_metric("m", 1.0)
        exp.log_artifact(b"x", "a")
    with exp:
        exp.log_metric("m", 2.0, fold=1)
        exp.log_extra(model="rf")
        exp.log_metric("m", 3.0)

    assert list(exp.data(run=1).columns) == list(BASE_COLUMNS)
    assert list(exp.data(run=2).columns) == [*BASE_COLUMNS, "fold", "model"]
    frame = exp.data(run="all")
    assert list(frame.columns) == [*BASE_COLUMNS, "fold", "model"]
    assert str(frame["dt"].dtype).endswith(", UTC]")
    assert str(frame["step"].dtype) == "Int64"
    assert frame["run"].tolist() == [1, 1, 2, 2]
    assert frame["experiment"].tolist() == ["columns"] * 4
    assert frame["name"].isna().tolist() == [True, False, True, True]


def test_empty_selection_has_the_schema_columns(vigil_home):
    exp = om.runtime.experiment("empty")
    frame = exp.data()
    assert list(frame.columns) == list(BASE_COLUMNS) and len(frame) == 0
    assert exp.data(raw=True) == []
    assert list(exp.data(lazy=True)) == []
    assert list(exp.data(batchsize=10)) == []


def test_value_column_is_float_for_numbers_and_object_otherwise(vigil_home):
    with om.runtime.experiment("values") as exp:
        exp.log_metric("a", 1.0)
        exp.log_metric("nan", math.nan)
        exp.log_metric("inf", math.inf)
        exp.log_param("p", {"x": [1, 2]})
    numeric = exp.data(event="metric")
    assert numeric["value"].dtype == np.float64
    assert numeric["value"].iloc[0] == 1.0 and math.isnan(numeric["value"].iloc[1])
    assert numeric["value"].iloc[2] == math.inf
    mixed = exp.data()
    assert mixed["value"].dtype == object
    assert mixed["value"].iloc[3] == {"x": [1, 2]}
    assert math.isnan(mixed["value"].iloc[1])


def test_dt_of_frame_and_records_agree(vigil_home):
    with om.runtime.experiment("dt") as exp:
        for i in range(3):
            exp.log_metric("m", float(i))
    frame = exp.data()
    records = exp.data(raw=True)
    for ts, record in zip(frame["dt"], records):
        assert isinstance(ts, pd.Timestamp) and str(ts.tz) == "UTC"
        assert abs(ts - pd.Timestamp(record["dt"])) <= pd.Timedelta(microseconds=1)
