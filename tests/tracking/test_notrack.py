"""The ``notrack`` provider: accepts (and validates) every call, stores nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vigil as om
from vigil.errors import InvalidInput, NotFound
from vigil.tracking import NoTrackProvider
from vigil.tracking.frames import BASE_COLUMNS


def test_accepts_every_call_and_stores_nothing(vigil_home, tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"x")
    with om.runtime.experiment("quiet", provider="notrack") as exp:
        assert isinstance(exp, NoTrackProvider)
        assert exp.active_run() == 1 and exp.status() == "STARTED"
        exp.log_metric("acc", 0.5, step=1)
        exp.log_metrics({"a": 1.0, "b": float("nan")})
        exp.log_param("batchsize", 1)
        exp.log_event("predict", "rows", 3)
        exp.log_events("loss", "train", [0.5, 0.4], step=0)
        exp.log_extra(model="m")
        exp.log_system()
        exp.log_data("data", {"X": np.arange(3), "Y": pd.DataFrame({"y": [1]})})
        exp.log_artifact(b"bytes", "blob")
        exp.log_artifact(path, "file")
        exp.log_artifact({"a": 1}, "config")
        assert om.runtime.ping()["node"]
        exp.flush()
    assert exp.status() == "STOPPED"
    with pytest.raises(ZeroDivisionError):
        with exp:
            1 / 0  # noqa: B018
    assert exp.status() == "FAILED" and exp.latest_run == 2

    frame = exp.data()
    assert isinstance(frame, pd.DataFrame) and frame.empty and list(frame.columns) == list(BASE_COLUMNS)
    assert exp.data(run="all", raw=True) == []
    assert list(exp.data(batchsize=2)) == [] and list(exp.data(lazy=True)) == []
    with pytest.raises(NotFound):
        exp.restore_artifact("blob")
    with pytest.raises(NotFound):
        exp.restore_data("data")
    exp.clear(force=True)
    assert not vigil_home.exists(), "notrack wrote to VIGIL_HOME"


def test_validates_like_every_provider(vigil_home):
    with om.runtime.experiment("quiet", provider="notrack") as exp:
        for bad in (lambda: exp.log_metric("m", "high"), lambda: exp.log_metric(3, 1.0),
                    lambda: exp.log_param("p", object()), lambda: exp.log_artifact(b"x", "../x"),
                    lambda: exp.log_extra(run=1), lambda: exp.data(run="abc"), lambda: exp.data(batchsize=0),
                    lambda: exp.clear()):
            with pytest.raises(InvalidInput):
                bad()
    with pytest.raises(InvalidInput):
        om.runtime.experiment("../x", provider="notrack")
    assert not vigil_home.exists()
