"""Window metrics: equal to scikit-learn and numpy over all rows; sampled stats from a uniform sample."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.agent.conftest import points, sink_agent, value
from vigil.agent import wire
from vigil.agent.window import row_summaries

K = 4


def labelled_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(K) * 0.7, size=n)
    # labels agree with the argmax most of the time; class 3 is rare
    labels = np.where(rng.random(n) < 0.6, proba.argmax(axis=1), rng.choice(K, size=n, p=[0.4, 0.3, 0.25, 0.05]))
    return proba, labels


def collect(agent, proba, inputs=None, labels=None, seed=0):
    """Feed the rows in random batch sizes (1 to 500)."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < len(proba):
        stop = min(len(proba), start + int(rng.integers(1, 501)))
        agent.collect_data(proba[start:stop],
                           None if inputs is None else inputs[start:stop],
                           None if labels is None else labels[start:stop])
        start = stop


def one_window(tmp_path, clock, proba, inputs=None, labels=None, **options):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, n_classes=proba.shape[1], **options)
    collect(agent, proba, inputs, labels)
    assert agent.close()
    assert len(windows) == 1
    assert wire.problems(windows[0]) == []
    return windows[0]


@pytest.mark.parametrize("buffer", [100, 10_000])
def test_label_metrics_equal_sklearn(tmp_path, clock, buffer):
    proba, y = labelled_data(5000)
    w = one_window(tmp_path, clock, proba, labels=y, max_buffer_size=buffer)
    pred = proba.argmax(axis=1)
    assert w["rows_seen"] == 5000 and w["rows_sampled"] == min(buffer, 5000)
    assert value(w, "accuracy") == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=range(K), zero_division=0)
    for c in range(K):
        assert value(w, "class_precision", cls=str(c)) == pytest.approx(precision[c], abs=1e-12)
        assert value(w, "class_recall", cls=str(c)) == pytest.approx(recall[c], abs=1e-12)
        assert value(w, "class_f1", cls=str(c)) == pytest.approx(f1[c], abs=1e-12)
        one_vs_rest = skm.accuracy_score(y == c, pred == c)
        assert value(w, "class_accuracy", cls=str(c)) == pytest.approx(one_vs_rest, abs=1e-12)
    assert value(w, "f1_macro") == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    assert value(w, "f1_micro") == pytest.approx(skm.f1_score(y, pred, average="micro"), abs=1e-12)
    assert value(w, "log_loss") == pytest.approx(skm.log_loss(y, y_proba=proba, labels=range(K)), rel=1e-10)
    onehot = np.eye(K)[y]
    brier = np.mean(np.sum((proba - onehot) ** 2, axis=1))
    assert value(w, "brier") == pytest.approx(brier, rel=1e-10)
    assert value(w, "brier") == pytest.approx(
        skm.brier_score_loss(y, proba, labels=range(K), scale_by_half=False), rel=1e-10)
    cm = skm.confusion_matrix(y, pred, labels=range(K))
    got = np.zeros((K, K), dtype=np.int64)
    for (_, t, _, p), v in points(w, "confusion").items():
        got[int(t), int(p)] = v
    assert (got == cm).all()
    counts = np.bincount(pred, minlength=K)
    for c in range(K):
        assert value(w, "pred_class_count", cls=str(c)) == counts[c]
        assert value(w, "pred_class_freq", cls=str(c)) == pytest.approx(counts[c] / 5000)
    assert value(w, "estimated_accuracy") == pytest.approx(proba.max(axis=1).mean(), rel=1e-12)


@pytest.mark.parametrize("buffer", [300, 10_000])
def test_prediction_summaries_equal_numpy(tmp_path, clock, buffer):
    proba, _ = labelled_data(3000, seed=1)
    proba[0] = [0.25, 0.25, 0.25, 0.25]                 # a tie: spread12 = 0
    proba[1] = [0.0, 0.0, 1.0, 0.0]                     # zeros: entropy 0
    w = one_window(tmp_path, clock, proba, max_buffer_size=buffer)
    s = np.sort(proba, axis=1)
    quantities = {"pred1": s[:, -1], "spread12": s[:, -1] - s[:, -2],
                  "entropy": -(proba * np.log(np.where(proba > 0, proba, 1))).sum(axis=1)}
    assert quantities["spread12"][0] == 0 and quantities["entropy"][1] == 0
    for metric, x in quantities.items():
        # exact over all rows
        assert value(w, metric, stat="mean") == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
        assert value(w, metric, stat="std") == pytest.approx(x.std(), rel=1e-7)
        assert value(w, metric, stat="min") == pytest.approx(x.min(), abs=1e-15)
        assert value(w, metric, stat="max") == pytest.approx(x.max(), abs=1e-15)
        assert value(w, metric, stat="range") == pytest.approx(x.max() - x.min(), abs=1e-15)
        q25, median, q75 = np.quantile(x, [0.25, 0.5, 0.75])
        if buffer >= len(x):   # the sample holds every row: order statistics exact too
            assert value(w, metric, stat="median") == pytest.approx(median, abs=1e-12)
            assert value(w, metric, stat="q25") == pytest.approx(q25, abs=1e-12)
            assert value(w, metric, stat="iqr") == pytest.approx(q75 - q25, abs=1e-12)
        else:                  # from 300 sampled rows: the median is within a few percentiles
            assert np.mean(x <= value(w, metric, stat="median")) == pytest.approx(0.5, abs=0.1)
            sampled = np.array(w["sample"]["proba"])
            got = row_summaries(sampled)[["pred1", "spread12", "entropy"].index(metric)]
            assert value(w, metric, stat="median") == pytest.approx(np.median(got), abs=1e-12)


def test_undefined_metrics_are_left_out(tmp_path, clock):
    # class 2 is never predicted and never true: no precision, recall or F1 for it;
    # class 1 is true but never predicted: recall 0, F1 0, precision undefined
    proba = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.85, 0.1, 0.05]])
    y = np.array([0, 1, 0])
    w = one_window(tmp_path, clock, proba, labels=y)
    assert points(w, "class_precision", cls="1") == {}
    assert value(w, "class_recall", cls="1") == 0.0 and value(w, "class_f1", cls="1") == 0.0
    assert all(points(w, m, cls="2") == {} for m in ("class_precision", "class_recall", "class_f1"))
    assert value(w, "f1_macro") == pytest.approx(skm.f1_score(y, proba.argmax(1), average="macro"))
    assert all(np.isfinite(p["value"]) for p in w["points"])


def test_two_classes_threshold(tmp_path, clock):
    p1 = np.array([0.1, 0.5, 0.6, 0.7, 0.71, 0.95])
    proba = np.column_stack([1 - p1, p1])
    y = np.array([0, 0, 1, 1, 1, 1])
    w = one_window(tmp_path, clock, proba, labels=y, threshold=0.7)
    pred = (p1 > 0.7).astype(int)                          # [0 0 0 0 1 1]
    assert value(w, "pred_class_count", cls="1") == 2
    assert value(w, "accuracy") == pytest.approx(skm.accuracy_score(y, pred))
    # estimated accuracy: mean probability of the predicted class
    assert value(w, "estimated_accuracy") == pytest.approx(np.where(pred == 1, p1, 1 - p1).mean())
    default = one_window(tmp_path / "b", clock, proba, labels=y)   # threshold 0.5: 0.5 is class 0
    assert value(default, "pred_class_count", cls="1") == 4
    onehot = one_window(tmp_path / "c", clock, proba, labels=np.eye(2)[y])
    assert value(onehot, "accuracy") == value(default, "accuracy")


def test_feature_statistics(tmp_path, clock):
    rng = np.random.default_rng(3)
    n = 4000
    x = np.column_stack([rng.normal(5, 2, n), rng.exponential(1, n), rng.integers(0, 5, n).astype(float),
                         rng.integers(0, 1000, n).astype(float)])
    x[rng.random(n) < 0.05, 0] = np.nan
    x[7, 1] = np.inf
    proba, _ = labelled_data(n)
    w = one_window(tmp_path, clock, proba, inputs=x, max_buffer_size=10_000)
    names = ["f0", "f1", "f2", "f3"]
    assert w["sample"]["feature_names"] == names
    for j, name in enumerate(names):
        col = x[:, j][np.isfinite(x[:, j])]
        assert value(w, "feature", feature=name, stat="missing") == n - col.size
        assert value(w, "feature", feature=name, stat="mean") == pytest.approx(col.mean(), rel=1e-9)
        assert value(w, "feature", feature=name, stat="std") == pytest.approx(col.std(), rel=1e-7)
        assert value(w, "feature", feature=name, stat="min") == col.min()
        assert value(w, "feature", feature=name, stat="max") == col.max()
        assert value(w, "feature", feature=name, stat="median") == pytest.approx(np.median(col))
        assert value(w, "feature", feature=name, stat="q75") == pytest.approx(np.quantile(col, 0.75))
    # f2 holds 5 integer codes: also counted as categories; f3 has too many distinct values
    counts = Counter(x[:, 2].astype(int).tolist())
    for code, c in counts.items():
        assert value(w, "feature_category_count", feature="f2", category=str(code)) == c
        assert value(w, "feature_category_freq", feature="f2", category=str(code)) == pytest.approx(c / n)
    assert points(w, "feature_category_count", feature="f3") == {}
    assert points(w, "feature_category_count", feature="f0") == {}


def test_categorical_features_from_a_dataframe(tmp_path, clock):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    n = 1000
    frame = pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "vip": rng.random(n) < 0.2,
        "zip": rng.integers(10_000, 99_999, n),
    })
    frame.loc[::10, "city"] = None
    proba, _ = labelled_data(n)
    w = one_window(tmp_path, clock, proba, inputs=frame, categorical_features=["zip"], max_categories=3)
    assert w["sample"]["feature_names"] == ["age", "city", "vip", "zip"]
    assert value(w, "feature", feature="age", stat="mean") == pytest.approx(frame["age"].mean())
    city = frame["city"].value_counts()
    for name, c in city.items():
        assert value(w, "feature_category_count", feature="city", category=name) == c
        assert value(w, "feature_category_freq", feature="city", category=name) == pytest.approx(c / city.sum())
    assert value(w, "feature", feature="city", stat="missing") == frame["city"].isna().sum()
    assert value(w, "feature_category_count", feature="vip", category="True") == frame["vip"].sum()
    assert points(w, "feature", feature="vip", stat="mean") == {}          # categorical only
    # zip is categorical by request, capped at 3 tracked values + __other__
    zips = points(w, "feature_category_count", feature="zip")
    assert len(zips) == 4 and sum(zips.values()) == n
    assert ("__other__" in {k[3] for k in zips})
    assert points(w, "feature", feature="zip", stat="mean") == {}
    # the sample keeps the values, None where missing
    row = w["sample"]["inputs"][0]
    assert isinstance(row[0], float) and row[1] in ("paris", "lyon", "nice", None) and row[2] in ("True", "False")


def test_empty_classes_and_the_sample_shape(tmp_path, clock):
    proba = np.tile([0.2, 0.3, 0.5], (10, 1))
    w = one_window(tmp_path, clock, proba, labels=np.full(10, 2), max_buffer_size=4)
    assert w["rows_sampled"] == 4 and len(w["sample"]["proba"]) == 4
    assert w["sample"]["labels"] == [2, 2, 2, 2] and w["sample"]["inputs"] is None
    assert value(w, "accuracy") == 1.0
