"""ModelDriftMonitor: data drift of X, prediction drift and concept drift, from
arrays and from an experiment's events (labels joined by call_id, also when
they arrive after their predictions were snapshotted)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import vigil as om
from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below
from vigil.drift import ModelDriftMonitor, Thresholds
from vigil.drift.model import _PERF_FIELDS, performance_rows
from vigil.errors import InvalidInput

CALIBRATION_NOTE = "estimated_accuracy is the mean top probability"


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    return vigil_home


def traffic(rng: np.random.Generator, n: int, shift: float = 0.0, flip: float = 0.0, sharpness: float = 3.0):
    """A calibrated logistic classifier on feature a (b is noise); ``flip`` relabels a share of rows."""
    X = pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.normal(size=n)})
    p1 = 1 / (1 + np.exp(-sharpness * X["a"].to_numpy()))
    P = np.c_[1 - p1, p1]
    y = (rng.random(n) < p1).astype(int)
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    return X, P.argmax(1), P, y


def rows_of(result) -> pd.DataFrame:
    return result.df.set_index(["column", "test"])


def test_from_arrays_reports_data_prediction_and_concept_drift():
    rng = np.random.default_rng(0)
    mon = ModelDriftMonitor("arrays", task="classification")
    X, Y, P, y = traffic(rng, 4000)
    mon.snapshot(X=X, Y=Y, proba=P, labels=y)
    X, Y, P, y = traffic(rng, 4000, shift=0.4, flip=0.3)
    mon.snapshot(X=X, Y=Y, proba=P, labels=y)
    r = mon.compare()
    assert r.drifted_columns == ["X.a", "prediction", "performance"]
    assert set(mon.baseline.schema.columns) == {"X.a", "X.b", "prediction", "confidence"}
    assert "prediction" in mon.baseline.schema.categorical
    perf = rows_of(r).loc["performance"]
    assert set(perf.index) == {"accuracy", "brier", "calibration", "estimated_accuracy"}
    assert perf.loc["accuracy", "drift"] and perf.loc["accuracy", "statistic"] < -0.2
    assert perf.loc["brier", "drift"] and perf.loc["calibration", "drift"]
    assert perf.loc["accuracy", "n_baseline"] == 4000
    for test in perf.index:
        row = perf.loc[test]
        assert row.ci_low <= row.statistic <= row.ci_high and 0 <= row.p_value <= 1
    assert any(CALIBRATION_NOTE in n for n in r.notes)


def test_without_labels_the_estimated_accuracy_carries_the_calibration_note():
    rng = np.random.default_rng(1)
    mon = ModelDriftMonitor("unlabeled")
    X, _, P, _ = traffic(rng, 3000)
    mon.snapshot(X=X, proba=P)
    X, _, P, _ = traffic(rng, 3000, sharpness=0.8)  # the model became unsure
    mon.snapshot(X=X, proba=P)
    r = mon.compare()
    perf = rows_of(r).loc["performance"]
    assert list(perf.index) == ["estimated_accuracy"]
    assert perf.loc["estimated_accuracy", "drift"] and perf.loc["estimated_accuracy", "statistic"] < 0
    assert any(CALIBRATION_NOTE in n for n in r.notes)
    assert "confidence" in r.drifted_columns and "X.a" not in r.drifted_columns


def log_calls(exp, X, Y, P, y, prefix: str, parts: int = 4, labels: bool = True, model: str = "m") -> None:
    """Log each call's X, Y and proba, then (later, as labels come in) the labels, by call_id."""
    bounds = np.linspace(0, len(X), parts + 1).astype(int)
    for i in range(parts):
        sl = slice(bounds[i], bounds[i + 1])
        exp.log_data("X", X.iloc[sl], call_id=f"{prefix}{i}", model=model)
        exp.log_data("Y", Y[sl], call_id=f"{prefix}{i}", model=model)
        exp.log_data("proba", P[sl], call_id=f"{prefix}{i}", model=model)
    if labels:
        for i in reversed(range(parts)):
            exp.log_data("labels", y[bounds[i]:bounds[i + 1]], call_id=f"{prefix}{i}", model=model)


def test_from_experiment_events_since_the_last_snapshot():
    rng = np.random.default_rng(2)
    exp = om.runtime.experiment("serving")
    with exp:
        log_calls(exp, *traffic(rng, 2000), prefix="w1-")
        log_calls(exp, *traffic(rng, 500, shift=3.0), prefix="other-", model="another-model")
    mon = ModelDriftMonitor("m", experiment=exp)
    first = mon.snapshot(since="last")
    assert first.rows == 2000 and first.meta["performance"]["n_labeled"] == 2000
    with exp:
        log_calls(exp, *traffic(rng, 3000, shift=0.5, flip=0.25), prefix="w2-")
    second = mon.snapshot(since="last")
    assert second.rows == 3000 and second.meta["performance"]["n_labeled"] == 3000
    r = mon.compare()
    assert {"X.a", "prediction", "performance"} <= set(r.drifted_columns) and "X.b" not in r.drifted_columns
    assert rows_of(r).loc[("performance", "accuracy"), "drift"]
    # the same monitor from another object reads the stored snapshots
    again = ModelDriftMonitor("m", experiment=exp)
    assert again.compare().to_dict()["tests"] == r.to_dict()["tests"]


def test_labels_arriving_after_their_predictions_were_snapshotted():
    rng = np.random.default_rng(3)
    exp = om.runtime.experiment("late-labels")
    X1, Y1, P1, y1 = traffic(rng, 2000)
    with exp:
        log_calls(exp, X1, Y1, P1, y1, prefix="a-", labels=False, model="late")
    mon = ModelDriftMonitor("late", experiment=exp)
    first = mon.snapshot()
    assert first.meta["performance"]["n_labeled"] == 0 and first.meta["performance"]["n_conf"] == 2000
    X2, Y2, P2, y2 = traffic(rng, 1000)
    with exp:
        for i, lo in enumerate(range(0, 2000, 500)):  # the labels of the first window come in now
            exp.log_data("labels", 1 - y1[lo:lo + 500], call_id=f"a-{i}", model="late")  # ... and disagree
        log_calls(exp, X2, Y2, P2, y2, prefix="b-", parts=2, labels=False, model="late")
    second = mon.snapshot()
    perf = second.meta["performance"]
    assert second.rows == 1000, "the late labels' predictions are not profiled twice"
    assert perf["n_labeled"] == perf["n_late_labeled"] == 2000
    assert perf["n_correct"] == int(np.sum(Y1 == 1 - y1))
    assert perf["n_conf"] == 1000
    with exp:
        for i, lo in enumerate(range(0, 1000, 500)):
            exp.log_data("labels", y2[lo:lo + 500], call_id=f"b-{i}", model="late")
    third = mon.snapshot()
    assert third.rows == 0 and third.meta["performance"]["n_labeled"] == 1000
    r = mon.compare([1, 2])
    assert rows_of(r).loc[("performance", "accuracy"), "drift"]
    assert any("empty" in n for n in r.notes) and r.p_value <= 1.0


def test_calls_without_ids_are_paired_by_position():
    rng = np.random.default_rng(4)
    exp = om.runtime.experiment("no-ids")
    X, Y, P, y = traffic(rng, 600)
    with exp:
        for lo in (0, 300):
            exp.log_data("X", X.iloc[lo:lo + 300])
            exp.log_data("proba", P[lo:lo + 300])
        for lo in (0, 300):
            exp.log_data("labels", y[lo:lo + 300])
    prof = ModelDriftMonitor("pairs", experiment=exp).snapshot()
    assert prof.rows == 600 and prof.meta["performance"]["n_correct"] == int(np.sum(P.argmax(1) == y))


def test_regression_reports_relative_error_changes():
    rng = np.random.default_rng(5)
    mon = ModelDriftMonitor("regressor")
    x = rng.normal(size=(3000, 2))
    truth = x @ np.array([2.0, -1.0])
    mon.snapshot(X=x, Y=truth + rng.normal(0, 1.0, 3000), labels=truth)
    x2 = rng.normal(size=(3000, 2))
    truth2 = x2 @ np.array([2.0, -1.0])
    mon.snapshot(X=x2, Y=truth2 + rng.normal(0, 1.5, 3000), labels=truth2)
    assert mon.load(0).meta["task"] == "regression" and "prediction" in mon.baseline.schema.numeric
    r = mon.compare()
    perf = rows_of(r).loc["performance"]
    assert list(perf.index) == ["mae", "mse"]
    assert perf.loc["mae", "effect"] == pytest.approx(0.5, abs=0.08)     # MAE grows with the sd: 1 -> 1.5
    assert perf.loc["mse", "effect"] == pytest.approx(1.25, abs=0.2)     # MSE: 1 -> 2.25
    assert perf.loc["mae", "drift"] and perf.loc["mse", "drift"]
    assert perf.loc["mae", "value_baseline"] == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)


def test_class_name_labels_skip_the_brier_score_but_not_accuracy():
    rng = np.random.default_rng(6)
    mon = ModelDriftMonitor("names")
    X, Y, P, y = traffic(rng, 1000)
    names = np.array(["no", "yes"])
    mon.snapshot(X=X, Y=names[Y], proba=P, labels=names[y])
    mon.snapshot(X=X, Y=names[Y], proba=P, labels=names[1 - y])
    perf = mon.load(0).meta["performance"]
    assert perf["n_labeled"] == 1000 and perf["n_brier"] == 0
    tests = rows_of(mon.compare()).loc["performance"].index.tolist()
    assert tests == ["accuracy", "estimated_accuracy"]


def test_bad_arguments():
    with pytest.raises(InvalidInput, match="task"):
        ModelDriftMonitor("bad", task="ranking")
    with pytest.raises(InvalidInput, match="unknown roles"):
        ModelDriftMonitor("bad", keys={"features": "X"})
    with pytest.raises(InvalidInput, match="no traffic"):
        ModelDriftMonitor("idle", experiment=om.runtime.experiment("idle")).snapshot()


def _sums(rng: np.random.Generator, n: int, sharpness: float = 3.0, flip: float = 0.0) -> dict:
    perf = dict.fromkeys(_PERF_FIELDS, 0.0)
    _, Y, P, y = traffic(rng, n, sharpness=sharpness, flip=flip)
    ModelDriftMonitor._add_performance(perf, "classification", Y, P, y)
    perf.update(conf_sum=float(P.max(1).sum()), conf_sq=float(np.square(P.max(1)).sum()), n_conf=n)
    return perf


def test_performance_tests_keep_their_level_and_have_power():
    """No concept drift, 600 seeded pairs of 1,000 labeled rows: each performance test
    rejects at alpha = 0.05 (evidence only, no minimum effect) within the allowance of
    a 5% rate (P(exceed) < 1%). With 15% of the labels flipped, accuracy, Brier score
    and calibration drift (with the default minimum effect) in >= 90% of 100 pairs."""
    rng = np.random.default_rng(7)
    reps = 600
    evidence_only = Thresholds(min_performance=0.0)
    alarms = {"accuracy": 0, "brier": 0, "calibration": 0, "estimated_accuracy": 0}
    for _ in range(reps):
        for row in performance_rows(_sums(rng, 1000), _sums(rng, 1000), "classification", evidence_only):
            alarms[row["test"]] += row["p_value"] <= 0.05
    limit = int(sps.binom.isf(0.01, reps, 0.05))
    print(f"performance tests, false alarms of {reps}: {alarms} (allowance {limit})")
    assert all(v <= limit for v in alarms.values()), alarms
    detected = {"accuracy": 0, "brier": 0, "calibration": 0}
    for _ in range(100):
        rows = performance_rows(_sums(rng, 1000), _sums(rng, 1000, flip=0.15), "classification", Thresholds())
        for row in rows:
            if row["test"] in detected:
                detected[row["test"]] += row["p_value"] <= 0.05 and row["effect"] >= row["min_effect"]
    print(f"performance tests, detections of 100 with 15% labels flipped: {detected}")
    assert all(v >= 90 for v in detected.values()), detected
