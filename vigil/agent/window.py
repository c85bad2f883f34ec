"""One monitoring window: accumulators over every row, a uniform sample, and the final points.

Exact over all rows of the window (accumulated batch by batch):
rows_seen, drop counts, predicted class counts and frequencies, the mean,
std, min, max and range of pred1, spread12, entropy and every continuous
feature, missing counts, category counts, estimated_accuracy and, with
labels, the confusion matrix and everything derived from it (per-class
accuracy/precision/recall/F1, accuracy, macro and micro F1), log loss and
Brier score.

From the sample (at most ``max_buffer_size`` rows, uniform over the
window, see :mod:`vigil.agent.reservoir`): median, q25, q75 and iqr of
pred1, spread12, entropy and continuous features. They are exact too when
the window saw no more rows than the sample holds.

Definitions
-----------
- predicted class: argmax of the row; with two classes, class 1 when
  ``P(class 1) > threshold`` (default 0.5).
- pred1: the top probability of a row; spread12: top minus second (ties give 0);
  entropy: ``-sum p log p`` in nats (0 log 0 = 0).
- estimated_accuracy: mean over rows of the probability of the predicted
  class (= mean pred1 with argmax predictions). It is the expected accuracy
  *if the model is calibrated*; compare it with accuracy when labels come.
- class_accuracy of class k: one-vs-rest accuracy ``(TP + TN) / n``.
- f1_macro: mean F1 over the classes present in the labels or predictions
  (scikit-learn's default); f1_micro: micro-averaged F1 (= accuracy here).
- log_loss: mean of ``-log p[true]``, p clipped to [eps, 1 - eps] (scikit-learn's).
- brier: mean over rows of ``sum_k (p_k - onehot_k)^2``, in [0, 2]; with two
  classes that is twice the usual binary Brier score
  (``sklearn.metrics.brier_score_loss(..., scale_by_half=False)``).
- std: population standard deviation (ddof=0).
- confusion: one point per non-zero cell, class = true label, category = predicted label.

Undefined values (precision of a class never predicted, stats of an
empty window) are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.agent import wire
from vigil.agent.features import FeatureSchema, FeatureStats, sampled_quartiles
from vigil.agent.moments import Moments
from vigil.agent.reservoir import Reservoir
from vigil.agent.validation import REASONS

_EPS = float(np.finfo(np.float64).eps)
_TINY = 1e-300
_SUMMARIES = ("pred1", "spread12", "entropy")


def predicted(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Predicted class per row (argmax, or the threshold on P(class 1) for two classes).

    Examples
    --------
    >>> predicted(np.array([[0.4, 0.6], [0.7, 0.3]]), 0.65).tolist()
    [0, 0]
    >>> predicted(np.array([[0.2, 0.5, 0.3]]), None).tolist()
    [1]
    """
    if threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] > threshold).astype(np.intp)
    return proba.argmax(axis=1)


def row_summaries(proba: np.ndarray) -> np.ndarray:
    """pred1, spread12 and entropy of each row, as a (3, n) array (one row per quantity).

    Works on the transposed (n_classes, n) copy, so every reduction runs
    over contiguous memory.

    Examples
    --------
    >>> row_summaries(np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.5]])).round(4).tolist()
    [[0.5, 1.0, 0.5], [0.0, 1.0, 0.3], [0.6931, 0.0, 0.6685]]
    """
    columns = np.ascontiguousarray(proba.T)
    return summaries_of_columns(columns)


def summaries_of_columns(columns: np.ndarray) -> np.ndarray:
    """:func:`row_summaries` of an already transposed (n_classes, n) array."""
    top = columns.max(axis=0)
    if columns.shape[0] == 2:
        second = columns.min(axis=0)
    else:
        is_top = columns == top
        second = np.where(is_top, -np.inf, columns).max(axis=0)
        ties = is_top.sum(axis=0) > 1
        if ties.any():
            second[ties] = top[ties]
    plogp = np.maximum(columns, _TINY)        # 0 log 0 = 0: p * log(1e-300) is 0 for p = 0
    np.log(plogp, out=plogp)
    plogp *= columns
    out = np.empty((3, columns.shape[1]))
    out[0] = top
    np.subtract(top, second, out=out[1])
    np.negative(plogp.sum(axis=0), out=out[2])
    out[2] += 0.0                              # no -0.0
    return out


class Window:
    """Accumulators of one window ``[start, start + period)``.

    Parameters
    ----------
    start_ms, period_ms : int
        Start and length in milliseconds (start is a multiple of period).
    n_classes : int
    capacity : int
        Most rows kept in the sample.
    rng : numpy.random.Generator
    threshold : float or None
        Two classes only: P(class 1) above which class 1 is predicted.
    schema : FeatureSchema
        The agent's features (bound by the first batch with inputs).

    Examples
    --------
    >>> import numpy as np
    >>> w = Window(0, 60_000, 2, 100, np.random.default_rng(0), 0.5, FeatureSchema())
    >>> w.update(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]), None, None)
    >>> d = w.finish('a')
    >>> d['window_id'], d['rows_seen'], [p['value'] for p in d['points'] if p['metric'] == 'accuracy']
    ('a:0', 2, [0.5])
    """

    def __init__(self, start_ms: int, period_ms: int, n_classes: int, capacity: int,
                 rng: np.random.Generator, threshold: float | None, schema: FeatureSchema) -> None:
        self.start_ms = start_ms
        self.end_ms = start_ms + period_ms
        self.k = n_classes
        self.threshold = threshold
        self.schema = schema
        self.dropped = dict.fromkeys(REASONS, 0)
        self.rows_seen = 0
        self.pred_counts = np.zeros(n_classes, dtype=np.int64)
        self.summaries = Moments(3)
        self.expected_correct = 0.0
        self.confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        self.log_loss_sum = 0.0
        self.brier_sum = 0.0
        self.features: FeatureStats | None = None
        self.reservoir = Reservoir(capacity, rng)
        self.sample_proba = np.zeros((capacity, n_classes))
        self.sample_labels = np.full(capacity, -1, dtype=np.int64)
        self.sample_num: np.ndarray | None = None
        self.sample_cat: np.ndarray | None = None
        self.has_labels = False

    def drop(self, reason: str, rows: int) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + int(rows)

    def _bind_features(self) -> None:
        schema = self.schema
        self.features = FeatureStats(schema)
        cap = self.reservoir.capacity
        self.sample_num = np.full((cap, schema.numeric.size), np.nan)
        self.sample_cat = np.full((cap, schema.categorical.size), None, dtype=object)

    def update(self, proba: np.ndarray, labels: np.ndarray | None, num: np.ndarray | None,
               cat: np.ndarray | None) -> None:
        """Fold in clean rows: float64 proba (n, k); labels (n,) with -1 = none, or None;
        the continuous block and categorical labels of the inputs, or None."""
        n = proba.shape[0]
        if n == 0:
            return
        k = self.k
        self.rows_seen += n
        pred = predicted(proba, self.threshold)
        self.pred_counts += np.bincount(pred, minlength=k)
        summaries = row_summaries(proba)
        self.summaries.update_columns(summaries)
        if self.threshold is None or self.threshold == 0.5:
            self.expected_correct += float(summaries[0].sum())   # argmax: p[pred] is the top probability
        else:
            self.expected_correct += float(proba[np.arange(n), pred].sum())
        if labels is not None:
            self.has_labels = True
            labelled = labels >= 0
            if labelled.all():
                y, p, probs = labels, pred, proba
            else:
                y, p, probs = labels[labelled], pred[labelled], proba[labelled]
            if y.size:
                self.confusion += np.bincount(y * k + p, minlength=k * k).reshape(k, k)
                p_true = probs[np.arange(y.size), y]
                self.log_loss_sum -= float(np.log(np.clip(p_true, _EPS, 1.0 - _EPS)).sum())
                self.brier_sum += float((np.square(probs).sum(axis=1) - 2.0 * p_true + 1.0).sum())
        if num is not None and cat is not None:
            if self.features is None:
                self._bind_features()
            if self.features is not None:
                self.features.update(num, cat)
        slots, picked = self.reservoir.update(n)
        if slots.size:
            self.sample_proba[slots] = proba[picked]
            if labels is not None:
                self.sample_labels[slots] = labels[picked]
            else:
                self.sample_labels[slots] = -1
            if self.sample_num is not None and self.sample_cat is not None:
                if num is not None and cat is not None:
                    self.sample_num[slots] = num[picked]
                    self.sample_cat[slots] = cat[picked]
                else:
                    self.sample_num[slots] = np.nan
                    self.sample_cat[slots] = None

    # -- the result ---------------------------------------------------------------------------
    def finish(self, agent_id: str) -> dict[str, Any]:
        """The window as a wire-format dict (see :mod:`vigil.agent.wire`)."""
        size = self.reservoir.size
        points: list[dict | None] = [
            wire.point("rows_seen", self.rows_seen),
            wire.point("rows_sampled", size),
        ]
        points += [wire.point("dropped", c, stat=r) for r, c in self.dropped.items()]
        if self.rows_seen:
            points += self._prediction_points(size)
        if self.features is not None:
            sample_num = self.sample_num[:size] if self.sample_num is not None else None
            points += self.features.points(self.rows_seen, sample_num, wire.point)
        if self.confusion.any():
            points += self._label_points()
        start, end = self.start_ms / 1000.0, self.end_ms / 1000.0
        return {
            "schema": wire.SCHEMA, "agent_id": agent_id,
            "window_id": wire.window_id(agent_id, self.start_ms),
            "start": start, "end": end, "n_classes": self.k,
            "rows_seen": self.rows_seen, "rows_sampled": size,
            "dropped": dict(self.dropped),
            "points": [p for p in points if p is not None],
            "sample": self._sample(size),
        }

    def _prediction_points(self, size: int) -> list[dict | None]:
        n = self.rows_seen
        out: list[dict | None] = []
        for c, count in enumerate(self.pred_counts.tolist()):
            out.append(wire.point("pred_class_count", count, cls=c))
            out.append(wire.point("pred_class_freq", count / n, cls=c))
        quartiles = sampled_quartiles(row_summaries(self.sample_proba[:size]).T)
        for i, metric in enumerate(_SUMMARIES):
            stats = self.summaries.summary(i)
            if quartiles is not None:
                q25, median, q75 = (float(v) for v in quartiles[:, i])
                stats.update(median=median, q25=q25, q75=q75, iqr=q75 - q25)
            out += [wire.point(metric, stats[s], stat=s) for s in wire.STATS if s in stats]
        out.append(wire.point("estimated_accuracy", self.expected_correct / n))
        return out

    def _label_points(self) -> list[dict | None]:
        cm = self.confusion
        n = int(cm.sum())
        tp = np.diag(cm).astype(np.float64)
        support = cm.sum(axis=1).astype(np.float64)      # true count per class
        predicted_n = cm.sum(axis=0).astype(np.float64)  # predicted count per class
        out: list[dict | None] = []
        f1s = []
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / predicted_n
            recall = tp / support
            f1 = 2.0 * tp / (support + predicted_n)
        for c in range(self.k):
            out.append(wire.point("class_accuracy", (n - support[c] - predicted_n[c] + 2.0 * tp[c]) / n, cls=c))
            out.append(wire.point("class_precision", precision[c], cls=c))
            out.append(wire.point("class_recall", recall[c], cls=c))
            out.append(wire.point("class_f1", f1[c], cls=c))
            if support[c] + predicted_n[c] > 0:
                f1s.append(f1[c])
        correct = float(tp.sum())
        out.append(wire.point("accuracy", correct / n))
        out.append(wire.point("f1_macro", float(np.mean(f1s))))
        out.append(wire.point("f1_micro", 2.0 * correct / (2.0 * correct + 2.0 * (n - correct))))
        out.append(wire.point("log_loss", self.log_loss_sum / n))
        out.append(wire.point("brier", self.brier_sum / n))
        for t, p in zip(*np.nonzero(cm)):
            out.append(wire.point("confusion", int(cm[t, p]), cls=int(t), category=str(int(p))))
        return out

    def _sample(self, size: int) -> dict[str, Any]:
        schema = self.schema
        inputs = None
        if self.sample_num is not None and self.sample_cat is not None and schema.names is not None:
            rows: list[list[Any]] = [[None] * len(schema.names) for _ in range(size)]
            for i, j in enumerate(schema.numeric.tolist()):
                for r, v in enumerate(self.sample_num[:size, i].tolist()):
                    rows[r][j] = v if v == v and abs(v) != float("inf") else None
            for i, j in enumerate(schema.categorical.tolist()):
                for r, v in enumerate(self.sample_cat[:size, i].tolist()):
                    rows[r][j] = v
            inputs = rows
        return {
            "proba": self.sample_proba[:size].tolist(),
            "inputs": inputs,
            "labels": self.sample_labels[:size].tolist() if self.has_labels else None,
            "feature_names": list(schema.names) if inputs is not None and schema.names else None,
        }
