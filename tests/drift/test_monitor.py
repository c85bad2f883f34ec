"""DataDriftMonitor: snapshots from every source kept in the monitor's
experiment, compare sequences, summary, plot, standalone reports and capture."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import vigil as om
from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below
from tests.profile.checks import assert_frames_equal
from vigil.drift import DataDriftMonitor, DriftResult, Thresholds
from vigil.errors import InvalidInput, NotFound

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    """Every test runs on its own, empty VIGIL_HOME."""
    return vigil_home


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "price": rng.normal(10 + shift, 2, n),
        "rooms": rng.poisson(3, n).astype(float),
        "city": rng.choice(np.array(["berlin", "paris", "rome"], dtype=object), n, p=[0.5, 0.3, 0.2]),
    })


@pytest.fixture
def monitor() -> DataDriftMonitor:
    """Three snapshots: the baseline, a clean week, a week where price moved by 1.5 sd."""
    mon = DataDriftMonitor("housing")
    mon.snapshot(frame(3000, 1), label="baseline")
    mon.snapshot(frame(3000, 2), label="clean")
    mon.snapshot(frame(3000, 3, shift=3.0), label="moved")
    return mon


def test_snapshots_from_every_source(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = frame(4000, 1)
    om.datasets.put(df, "housing-week1")
    path = tmp_path / "week.parquet"
    pq.write_table(pa.Table.from_pandas(frame(4000, 2), preserve_index=False), path, row_group_size=1000)
    mon = DataDriftMonitor("sources", store=om.datasets)
    mon.snapshot(df)
    mon.snapshot("housing-week1")
    mon.snapshot(str(path))
    mon.snapshot(path)
    mon.snapshot(frame(4000, 3).iloc[i:i + 500] for i in range(0, 4000, 500))
    snaps = mon.snapshots()
    assert snaps["seq"].tolist() == [0, 1, 2, 3, 4] and snaps["rows"].tolist() == [4000] * 5
    assert_frames_equal(mon.load(1), mon.load(0))  # the same data, the same counts
    assert not mon.compare([0, 1]).drift and not mon.compare("baseline").drift
    arrays = DataDriftMonitor("arrays")
    rng = np.random.default_rng(0)
    arrays.snapshot(rng.normal(size=(2000, 3)))
    arrays.snapshot(rng.normal(size=(2000, 3)) + np.array([0.0, 0.0, 1.0]))
    assert arrays.compare().drifted_columns == ["f2"]


def test_compare_sequences(monitor):
    recent = monitor.compare()
    assert isinstance(recent, DriftResult) and recent.labels == ("snapshot 1", "snapshot 2")
    assert recent.drifted_columns == ["price"] and monitor.last_result is recent
    assert monitor.compare("recent").labels == recent.labels
    baseline = monitor.compare("baseline")
    assert baseline.labels == ("snapshot 0", "snapshot 2") and baseline.drifted_columns == ["price"]
    series = monitor.compare("series")
    assert [r.labels[1] for r in series] == ["snapshot 1", "snapshot 2"]
    assert [r.drift for r in series] == [False, True]
    clean = monitor.compare([0, 1])
    assert not clean.drift and clean.n_baseline == clean.n_target == 3000
    assert monitor.compare([-3, -1]).labels == ("snapshot 0", "snapshot 2")
    summary = recent.summary()
    assert summary.startswith("dataset drift: YES") and "price: distribution ks_d" in summary
    assert {"statistic", "effect", "ci_low", "ci_high", "p_value", "p_adjusted"} <= set(recent.df.columns)
    strict = monitor.compare([0, 1], thresholds=Thresholds(min_ks=0.0, min_tv=0.0, alpha=0.5))
    assert strict.thresholds.alpha == 0.5


def test_monitors_persist_in_their_experiment(monitor):
    again = DataDriftMonitor("housing")
    assert len(again.snapshots()) == 3 and again.snapshots()["label"].tolist() == ["baseline", "clean", "moved"]
    assert again.baseline.schema == monitor.baseline.schema
    assert again.compare().to_dict()["tests"] == monitor.compare().to_dict()["tests"]
    assert again.experiment.experiment == "monitors/data/housing"


def test_compare_errors(monitor):
    lonely = DataDriftMonitor("lonely")
    with pytest.raises(InvalidInput, match="needs two snapshots"):
        lonely.compare()
    assert lonely.baseline is None
    lonely.snapshot(frame(100, 1))
    with pytest.raises(InvalidInput, match="it has 1"):
        lonely.compare("series")
    for seq in ("sideways", [0, 9], [0], 1.5, [True, False]):
        with pytest.raises(InvalidInput):
            monitor.compare(seq)
    with pytest.raises(NotFound, match="no snapshot 7"):
        monitor.load(7)
    with pytest.raises(InvalidInput, match="must be an int"):
        monitor.load("0")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no such file"):
        monitor.snapshot("not-a-dataset-or-file")


def test_plot_is_a_figure_that_saves_as_png(monitor, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = monitor.plot()
    assert isinstance(fig, Figure)
    out = tmp_path / "drift.png"
    fig.savefig(out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    other = monitor.plot(result=monitor.compare([0, 1]), seq=[0, 1])
    assert isinstance(other, Figure)
    plt.close(fig)
    plt.close(other)


def test_reports(monitor, tmp_path):
    html = monitor.report("html")
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"https?://", html), "standalone: no external URLs"
    assert "dataset drift: YES" in html
    for column in ("price", "rooms", "city"):
        assert f"<td>{column}</td>" in html
    assert 'src="data:image/png;base64,' in html
    data = json.loads(monitor.report("json"))
    assert data["drift"] is True and data["drifted_columns"] == ["price"]
    assert {t["column"] for t in data["tests"]} == {"price", "rooms", "city"}
    as_dict = monitor.report("dict", seq=[0, 1])
    assert as_dict["drift"] is False and as_dict["labels"] == ["snapshot 0", "snapshot 1"]
    path = tmp_path / "report.html"
    monitor.report("html", path=path)
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")
    with pytest.raises(InvalidInput, match="format"):
        monitor.report("pdf")


def test_report_and_plot_when_every_column_is_absent():
    mon = DataDriftMonitor("renamed")
    mon.snapshot(frame(500, 1))
    mon.snapshot(frame(500, 2).rename(columns=str.upper))
    result = mon.compare()
    assert result.drift and sorted(result.absent_columns) == ["city", "price", "rooms"]
    assert "dataset drift: YES" in mon.report("html")
    import matplotlib.pyplot as plt

    plt.close(mon.plot())


def test_capture_logs_drift_and_alert_events(monitor):
    result = monitor.capture(alerts=["drift", {"statistic": "psi", "threshold": 0.1, "severity": "critical"}])
    assert result.drift
    drift = monitor.experiment.data(run="all", event="drift", raw=True)
    assert len(drift) == 1 and drift[0]["key"] == "housing" and drift[0]["value"]["drift"] is True
    assert drift[0]["value"]["drifted_columns"] == ["price"]
    assert all(t["drift"] for t in drift[0]["value"]["tests"])
    alerts = monitor.experiment.data(run="all", event="alert", raw=True)
    assert sorted(a["key"] for a in alerts) == ["drift", "drift.psi"]
    psi = next(a for a in alerts if a["key"] == "drift.psi")["value"]
    assert psi["severity"] == "critical" and psi["labels"] == {"monitor": "housing", "column": "price"}
    assert psi["deliveries"][0]["status"] == "delivered"
    assert [a["alert"]["name"] for a in result.alerts] == ["drift", "drift.psi"]
    quiet = monitor.capture(seq=[0, 1])
    assert not quiet.drift and quiet.alerts == []
    assert len(monitor.experiment.data(run="all", event="drift", raw=True)) == 2
