"""Model drift, P(Y|X): features, predictions and performance between snapshots.

A snapshot of a model joins what its experiment recorded since the previous
snapshot (or what is passed in): features ``X``, predictions ``Y``,
predicted probabilities and, once they arrive, labels. It profiles the
features (columns ``X.<name>``), the predictions (``prediction``) and the
confidence (``confidence``, the top probability), and keeps mergeable sums
for performance. A comparison reports

* data drift of X and prediction drift of Y (the same tests as
  :class:`~vigil.drift.monitor.DataDriftMonitor`);
* concept drift: with labels, the change of accuracy (classification; a
  two-proportion test with Newcombe's interval), of the Brier score and of
  calibration (accuracy minus mean confidence), or of MAE and MSE
  (regression; Welch tests) between snapshots;
* without labels, for classifiers: the change of the *estimated* accuracy,
  the mean top probability. This estimate assumes the probabilities are
  calibrated; the result says so.

Events read from the experiment (``log_data`` keys, configurable with
``keys=``): ``X``, ``Y``, ``proba``, ``labels``, and ``sample`` (a dict with
``inputs``/``proba``/``labels``, as the monitoring agent stores its windows).
Events with an extra field ``model`` are used only when it names this model;
events carrying ``call_id`` are joined by it. Labels may arrive later: labels
whose predictions an earlier snapshot already profiled are joined with those
predictions by ``call_id`` and count towards the performance of the snapshot
in whose window they arrive (``performance['n_late_labeled']``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vigil.drift import stats
from vigil.drift.compare import DriftResult, Thresholds, compare_rows
from vigil.drift.monitor import DriftMonitor
from vigil.errors import InvalidInput
from vigil.profile.frame import FrameProfile

DEFAULT_KEYS = {"X": "X", "Y": "Y", "proba": "proba", "labels": "labels", "sample": "sample"}
_PERF_FIELDS = ("n_labeled", "n_correct", "n_brier", "n_correct_brier", "brier_sum", "brier_sq",
                "conf_lab_sum", "conf_lab_sq",
                "conf_sum", "conf_sq", "n_conf", "abs_sum", "abs_sq", "sq_sum", "sq_sq")


def _as_2d(values: Any) -> Any:
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        return values
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])


def _class_index(y: np.ndarray) -> np.ndarray | None:
    """Labels as int column indexes of the probabilities, or None if they are not integers."""
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return None


def _labels_1d(values: Any, n_classes: int | None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] > 1 and n_classes and arr.shape[1] == n_classes:
        return arr.argmax(axis=1)
    return arr.reshape(-1)


class ModelDriftMonitor(DriftMonitor):
    """Drift of a model's inputs, outputs and performance.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mon = ModelDriftMonitor('doc-model-drift', task='classification')
    >>> X = rng.normal(size=(3000, 2)); y = (X[:, 0] > 0).astype(int)
    >>> P = np.c_[1 - (X[:, 0] > 0) * 0.9 - 0.05, (X[:, 0] > 0) * 0.9 + 0.05]
    >>> _ = mon.snapshot(X=X, Y=P.argmax(1), proba=P, labels=y)
    >>> _ = mon.snapshot(X=X, Y=P.argmax(1), proba=P, labels=1 - y)   # the concept flipped
    >>> r = mon.compare(); 'performance' in r.drifted_columns
    True
    """

    kind = "model"

    def __init__(self, name: str, store: Any = None, experiment: Any = None, provider: str | None = None,
                 thresholds: Any = None, task: str = "auto", keys: dict[str, str] | None = None,
                 **options: Any) -> None:
        super().__init__(name, store, experiment, provider, thresholds, **options)
        if task not in ("auto", "classification", "regression"):
            raise InvalidInput(f"ModelDriftMonitor: task must be 'auto', 'classification' or 'regression'; got {task!r}")
        self.task = task
        unknown = set(keys or {}) - set(DEFAULT_KEYS)
        if unknown:
            raise InvalidInput(f"ModelDriftMonitor: keys has unknown roles {sorted(unknown)}; "
                               f"known: {sorted(DEFAULT_KEYS)}")
        self.keys = {**DEFAULT_KEYS, **(keys or {})}
        self.options["categorical"] = tuple(self.options["categorical"])

    # -- gathering ---------------------------------------------------------------------------
    def _since(self, since: Any) -> Any:
        if since != "last":
            return since
        snaps = self.snapshots()
        return None if snaps.empty else snaps["dt"].iloc[-1].to_pydatetime()

    def _gather(self, since: Any) -> dict[str, list[Any]]:
        exp = self.experiment
        keys = list(dict.fromkeys(self.keys.values()))
        records = exp.data(run="all", event="data", key=keys, since=self._since(since), raw=True)
        by_call: dict[Any, dict[str, Any]] = {}
        order: list[Any] = []
        role_of = {v: k for k, v in self.keys.items()}
        counters: dict[str, int] = {}
        named: set[Any] = set()  # calls that carry a call_id (not paired by position)
        for rec in records:
            if rec.get("model") not in (None, self.name):
                continue
            role = role_of.get(rec["key"])
            if role is None:
                continue
            value = exp._resolve(rec["value"])
            if role == "sample":
                call = rec.get("call_id") or rec.get("window_id") or f"sample-{len(order)}"
                parts = {"X": value.get("inputs"), "proba": value.get("proba"), "labels": value.get("labels"),
                         "Y": value.get("predictions")}
            else:
                call = rec.get("call_id")
                if call is None:  # no id: pair the k-th X with the k-th Y, ...
                    counters[role] = counters.get(role, 0) + 1
                    call = ("seq", counters[role])
                else:
                    named.add(call)
                parts = {role: value}
            slot = by_call.get(call)
            if slot is None:
                slot = by_call[call] = {}
                order.append(call)
            for r, v in parts.items():
                if v is not None:
                    slot[r] = v
        out: dict[str, list[Any]] = {"X": [], "Y": [], "proba": [], "labels": []}
        late: list[Any] = []
        for call in order:
            slot = by_call[call]
            n = None
            for r in ("X", "Y", "proba"):
                if r in slot:
                    n = len(slot[r])
                    break
            if n is None:
                if call in named and "labels" in slot:
                    late.append(call)
                continue
            for r in out:
                v = slot.get(r)
                out[r].append(None if v is None or len(v) != n else v)
        out["late"] = self._late_labels(late, by_call)
        return out

    def _late_labels(self, calls: list[Any], by_call: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
        """Labels of calls whose predictions were logged before this window: joined by
        call_id with those predictions, they count towards this snapshot's performance."""
        if not calls:
            return []
        exp = self.experiment
        role_of = {self.keys["Y"]: "Y", self.keys["proba"]: "proba"}
        found: dict[Any, dict[str, Any]] = {}
        for start in range(0, len(calls), 500):
            records = exp.data(run="all", event="data", key=list(role_of), call_id=calls[start:start + 500], raw=True)
            for rec in records:
                if rec.get("model") in (None, self.name):
                    found.setdefault(rec["call_id"], {})[role_of[rec["key"]]] = exp._resolve(rec["value"])
        joined = []
        for call in calls:
            slot, labels = found.get(call, {}), by_call[call]["labels"]
            n = len(slot["Y"] if "Y" in slot else slot.get("proba", ()))
            if n and len(labels) == n:
                joined.append({"Y": slot.get("Y"), "proba": slot.get("proba"), "labels": labels})
        return joined

    # -- snapshot ----------------------------------------------------------------------------
    def snapshot(self, X: Any = None, Y: Any = None, proba: Any = None, labels: Any = None,
                 since: Any = "last", label: str | None = None) -> FrameProfile:
        """Profile the model's traffic: the arrays given, or what the experiment recorded
        since the previous snapshot (``since='last'``; or a time, or None for everything)."""
        if X is None and Y is None and proba is None:
            parts = self._gather(since)
        else:
            parts = {"X": [X], "Y": [Y], "proba": [proba], "labels": [labels]}
        frame, perf = self._frame(parts)
        if frame.shape[1] == 0 and self._count() == 0:
            raise InvalidInput(f"ModelDriftMonitor {self.name!r}: no traffic to take a baseline from; log X, Y "
                               f"or proba in experiment {self.experiment.experiment!r} or pass arrays")
        prof = self._profile(frame)
        prof.meta["performance"] = perf
        prof.meta["task"] = self._task(parts)
        return self._store(prof, label)

    def _task(self, parts: dict[str, list[Any]]) -> str:
        if self.task != "auto":
            return self.task
        if any(p is not None for p in parts["proba"]):
            return "classification"
        ys = [np.asarray(y) for y in parts["Y"] if y is not None]
        if ys and all(y.dtype.kind in "iubOSU" for y in ys):
            return "classification"
        return "regression"

    def _frame(self, parts: dict[str, list[Any]]) -> tuple[Any, dict[str, float]]:
        import pandas as pd

        task = self._task(parts)
        frames = []
        perf = dict.fromkeys(_PERF_FIELDS, 0.0)
        # calls without any prediction (fit calls) are training traffic: when the model also
        # served predictions, only the calls that did are the traffic being monitored
        serving = any(y is not None or p is not None for y, p in zip(parts["Y"], parts["proba"]))
        for X, Y, P, L in zip(parts["X"], parts["Y"], parts["proba"], parts["labels"]):
            if serving and Y is None and P is None:
                continue
            n = len(next(v for v in (X, Y, P) if v is not None))
            cols: dict[str, Any] = {}
            if X is not None:
                xf = _as_2d(X).reset_index(drop=True)
                for c in xf.columns:
                    cols[f"X.{c}"] = xf[c]
            probs = None if P is None else np.asarray(P, dtype=np.float64).reshape(n, -1)
            pred = None if Y is None else np.asarray(Y).reshape(-1)
            if pred is None and probs is not None:
                pred = probs.argmax(axis=1)
            if pred is not None:
                cols["prediction"] = pred.astype(str) if task == "classification" else pred.astype(np.float64)
            if probs is not None:
                conf = probs.max(axis=1)
                cols["confidence"] = conf
                perf["conf_sum"] += float(conf.sum())
                perf["conf_sq"] += float(np.square(conf).sum())
                perf["n_conf"] += n
            if L is not None and pred is not None:
                self._add_performance(perf, task, pred, probs, L)
            frames.append(pd.DataFrame(cols))
        for late in parts.get("late", []):  # predictions profiled by an earlier snapshot
            n = len(late["labels"])
            probs = None if late["proba"] is None else np.asarray(late["proba"], dtype=np.float64).reshape(n, -1)
            if late["Y"] is not None:
                pred = np.asarray(late["Y"]).reshape(-1)
            elif probs is not None:
                pred = probs.argmax(axis=1)
            else:
                continue
            self._add_performance(perf, task, pred, probs, late["labels"])
            perf["n_late_labeled"] = perf.get("n_late_labeled", 0.0) + n
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if "prediction" in frame and task == "classification":
            self.options["categorical"] = tuple(set(self.options["categorical"]) | {"prediction"})
        return frame, perf

    @staticmethod
    def _add_performance(perf: dict[str, float], task: str, pred: np.ndarray, probs: Any, labels: Any) -> None:
        n_classes = None if probs is None else probs.shape[1]
        y = _labels_1d(labels, n_classes)
        perf["n_labeled"] += y.size
        if task == "classification":
            correct = (pred.astype(str) == y.astype(str)) if pred.dtype.kind in "OSU" or y.dtype.kind in "OSU" \
                else (pred == y)
            perf["n_correct"] += float(correct.sum())
            # Brier score and calibration need the label as a column index of the
            # probabilities; rows whose label is not one (class names, out of range) are
            # left out of them and counted apart (n_brier), never misread as "no class"
            idx = _class_index(y)
            if probs is not None and idx is not None:
                valid = (idx >= 0) & (idx < probs.shape[1])
                rows = probs[valid]
                onehot = np.zeros_like(rows)
                onehot[np.arange(rows.shape[0]), idx[valid]] = 1.0
                brier = np.square(rows - onehot).sum(axis=1)
                perf["n_brier"] += float(valid.sum())
                perf["n_correct_brier"] += float(correct[valid].sum())
                perf["brier_sum"] += float(brier.sum())
                perf["brier_sq"] += float(np.square(brier).sum())
                conf = rows.max(axis=1)
                perf["conf_lab_sum"] += float(conf.sum())
                perf["conf_lab_sq"] += float(np.square(conf).sum())
        else:
            err = pred.astype(np.float64) - y.astype(np.float64)
            perf["abs_sum"] += float(np.abs(err).sum())
            perf["abs_sq"] += float(np.square(err).sum())
            perf["sq_sum"] += float(np.square(err).sum())
            perf["sq_sq"] += float(np.power(err, 4).sum())

    # -- comparing -----------------------------------------------------------------------------
    def _compare_profiles(self, a: FrameProfile, b: FrameProfile, thresholds: Thresholds,
                          labels: tuple[str, str]) -> DriftResult:
        rows, absent = compare_rows(a, b, thresholds)
        rows += performance_rows(a.meta.get("performance", {}), b.meta.get("performance", {}),
                                 a.meta.get("task", "classification"), thresholds)
        result = DriftResult(rows, thresholds, a.rows, b.rows, absent, list(b.meta.get("extra_columns", [])),
                             labels)
        if any(r["test"] == "estimated_accuracy" for r in rows):
            result.notes.append("estimated_accuracy is the mean top probability: it equals the accuracy "
                                "only if the model's probabilities are calibrated")
        return result


def performance_rows(pa: dict[str, float], pb: dict[str, float], task: str, th: Thresholds) -> list[dict]:
    """Test rows for the change of performance between two snapshots' sums."""
    rows: list[dict] = []

    def row(test: str, effect_name: str, r: Any, relative: bool = False, **extra: Any) -> None:
        effect = abs(r.difference)
        if relative:  # errors of a regression are in the target's units: compare relative changes
            effect = effect / abs(r.mean_a) if r.mean_a else (0.0 if effect == 0 else 1.0)
        rows.append({"column": "performance", "kind": "performance", "test": test,
                     "statistic": r.difference, "effect_name": effect_name, "effect": effect,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value,
                     "min_effect": th.min_performance, **extra})

    def g(p: dict[str, float], k: str) -> float:
        return float(p.get(k, 0.0))

    la, lb = int(g(pa, "n_labeled")), int(g(pb, "n_labeled"))
    if task == "classification":
        if la and lb:
            acc = stats.two_proportions(int(g(pa, "n_correct")), la, int(g(pb, "n_correct")), lb, th.alpha)
            row("accuracy", "accuracy_change", acc, n_baseline=la, n_target=lb,
                value_baseline=acc.rate_a, value_target=acc.rate_b)
            # the rows with probabilities and index labels (older snapshots: all labeled rows)
            ba = int(g(pa, "n_brier")) if "n_brier" in pa else la
            bb = int(g(pb, "n_brier")) if "n_brier" in pb else lb
            if ba and bb:
                br = stats.mean_difference(g(pa, "brier_sum"), g(pa, "brier_sq"), ba,
                                           g(pb, "brier_sum"), g(pb, "brier_sq"), bb, th.alpha)
                row("brier", "brier_change", br, n_baseline=ba, n_target=bb,
                    value_baseline=br.mean_a, value_target=br.mean_b)
                hit = stats.two_proportions(int(g(pa, "n_correct_brier" if "n_brier" in pa else "n_correct")), ba,
                                            int(g(pb, "n_correct_brier" if "n_brier" in pb else "n_correct")), bb,
                                            th.alpha)
                gap_a = hit.rate_a - g(pa, "conf_lab_sum") / ba
                gap_b = hit.rate_b - g(pb, "conf_lab_sum") / bb
                cal = stats.mean_difference(g(pa, "conf_lab_sum"), g(pa, "conf_lab_sq"), ba,
                                            g(pb, "conf_lab_sum"), g(pb, "conf_lab_sq"), bb, th.alpha)
                diff = gap_b - gap_a
                half = math.hypot((hit.ci_high - hit.ci_low) / 2, (cal.ci_high - cal.ci_low) / 2)
                z = stats.norm_ppf(1 - th.alpha / 2)
                p = 2 * stats.norm_sf(abs(diff) / (half / z)) if half > 0 else 1.0
                rows.append({"column": "performance", "kind": "performance", "test": "calibration",
                             "statistic": diff, "effect_name": "calibration_gap_change", "effect": abs(diff),
                             "ci_low": diff - half, "ci_high": diff + half, "p_value": p,
                             "min_effect": th.min_performance, "n_baseline": ba, "n_target": bb,
                             "value_baseline": gap_a, "value_target": gap_b})
        ca, cb = int(g(pa, "n_conf")), int(g(pb, "n_conf"))
        if ca and cb:
            est = stats.mean_difference(g(pa, "conf_sum"), g(pa, "conf_sq"), ca,
                                        g(pb, "conf_sum"), g(pb, "conf_sq"), cb, th.alpha)
            row("estimated_accuracy", "estimated_accuracy_change", est, n_baseline=ca, n_target=cb,
                value_baseline=est.mean_a, value_target=est.mean_b)
    elif la and lb:
        mae = stats.mean_difference(g(pa, "abs_sum"), g(pa, "abs_sq"), la, g(pb, "abs_sum"), g(pb, "abs_sq"), lb,
                                    th.alpha)
        row("mae", "mae_relative_change", mae, True, n_baseline=la, n_target=lb, value_baseline=mae.mean_a,
            value_target=mae.mean_b)
        mse = stats.mean_difference(g(pa, "sq_sum"), g(pa, "sq_sq"), la, g(pb, "sq_sum"), g(pb, "sq_sq"), lb,
                                    th.alpha)
        row("mse", "mse_relative_change", mse, True, n_baseline=la, n_target=lb, value_baseline=mse.mean_a,
            value_target=mse.mean_b)
    return rows
