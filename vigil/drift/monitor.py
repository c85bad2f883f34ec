"""Drift monitors: snapshots kept in an experiment, compared on demand.

A monitor stores each snapshot (a :class:`~vigil.profile.FrameProfile`, never
raw rows) as an artifact of its experiment, logs ``drift`` events when it
captures a comparison and ``alert`` events when rules fire. The first
snapshot is the baseline: it fixes the schema (bins, categories) every later
snapshot is profiled on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from vigil.drift.compare import DriftResult, Thresholds, compare
from vigil.errors import InvalidInput, NotFound, describe
from vigil.profile.frame import FrameProfile, profile
from vigil.store.names import check_name

SNAPSHOT_EVENT = "snapshot"


class DriftMonitor:
    """Common machinery of :class:`DataDriftMonitor` and ``ModelDriftMonitor``."""

    kind = "data"

    def __init__(self, name: str, store: Any = None, experiment: Any = None, provider: str | None = None,
                 thresholds: Any = None, bins: int = 64, max_categories: int = 200,
                 categorical: Iterable[str] = (), numeric: Iterable[str] = ()) -> None:
        self.name = check_name(name, type(self).__name__, "name")
        self.store = store
        self.thresholds = Thresholds.coerce(thresholds)
        self.options: dict[str, Any] = {"bins": bins, "max_categories": max_categories,
                        "categorical": tuple(categorical), "numeric": tuple(numeric)}
        if experiment is None or isinstance(experiment, str):
            from vigil.tracking.registry import provider_class

            exp_name = experiment or f"monitors/{self.kind}/{self.name}"
            experiment = provider_class(provider or "default")(exp_name)
        self.experiment = experiment
        self.last_result: DriftResult | None = None
        self._cache: dict[int, FrameProfile] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, experiment={self.experiment.experiment!r})"

    # -- storage -------------------------------------------------------------------------
    @property
    def _key(self) -> str:
        return f"snapshot/{self.name}"

    def _in_run(self, fn: Any) -> Any:
        exp = self.experiment
        if exp.active_run() is not None:
            return fn()
        exp.start()
        try:
            result = fn()
        except BaseException:
            exp.stop("FAILED")
            raise
        exp.stop()
        return result

    def snapshots(self):
        """A DataFrame of the stored snapshots: seq, time, rows, label."""
        import pandas as pd

        records = self.experiment.data(run="all", event="artifact", key=self._key, raw=True)
        return pd.DataFrame([{"seq": r.get("seq"), "dt": r["dt"], "rows": r.get("rows"),
                              "label": r.get("label"), "run": r["run"]} for r in records],
                            columns=["seq", "dt", "rows", "label", "run"])

    def _count(self) -> int:
        return len(self.experiment.data(run="all", event="artifact", key=self._key, raw=True))

    def load(self, seq: int) -> FrameProfile:
        """The snapshot number ``seq`` (0 is the baseline; negative counts from the latest)."""
        total = self._count()
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise InvalidInput(f"{type(self).__name__}: seq must be an int; got {describe(seq)}")
        index = seq + total if seq < 0 else seq
        if not 0 <= index < total:
            raise NotFound(f"{type(self).__name__} {self.name!r} has {total} snapshot(s); no snapshot {seq}")
        if index not in self._cache:
            versions = self.experiment.restore_artifacts(self._key, run="all")
            self._cache[index] = FrameProfile.from_bytes(versions[index])
        return self._cache[index]

    @property
    def baseline(self) -> FrameProfile | None:
        return self.load(0) if self._count() else None

    def _store(self, prof: FrameProfile, label: str | None, **fields: Any) -> FrameProfile:
        seq = self._count()

        def write() -> None:
            self.experiment.log_artifact(prof.to_bytes(), self._key, seq=seq, rows=prof.rows,
                                         label=label, monitor=self.name, **fields)
            self.experiment.flush()

        self._in_run(write)
        self._cache[seq] = prof
        return prof

    def _profile(self, data: Any) -> FrameProfile:
        base = self.baseline
        schema = base.schema if base is not None else None
        if isinstance(data, str) and self.store is not None and not data.endswith(".parquet"):
            data = self.store.get(data)
        return profile(data, schema, **self.options)

    # -- comparing -------------------------------------------------------------------------
    def _pair(self, seq: Any) -> tuple[int, int]:
        total = self._count()
        if total < 2:
            raise InvalidInput(f"{type(self).__name__} {self.name!r}: compare needs two snapshots; "
                               f"it has {total}. Take another with snapshot()")
        if seq is None or seq == "recent":
            return total - 2, total - 1
        if seq == "baseline":
            return 0, total - 1
        if isinstance(seq, (list, tuple)) and len(seq) == 2 and all(isinstance(s, int) and not isinstance(s, bool) for s in seq):
            i, j = (s + total if s < 0 else s for s in seq)
            if not (0 <= i < total and 0 <= j < total):
                raise InvalidInput(f"compare: seq must index existing snapshots 0..{total - 1}; got {seq!r}")
            return i, j
        raise InvalidInput(f"compare: seq must be None, 'recent', 'baseline', 'series' or [i, j]; got {describe(seq)}")

    def _compare_profiles(self, a: FrameProfile, b: FrameProfile, thresholds: Thresholds,
                          labels: tuple[str, str]) -> DriftResult:
        return compare(a, b, thresholds, labels)

    def compare(self, seq: Any = None, thresholds: Any = None) -> Any:
        """Compare snapshots: by default the last two; ``'baseline'`` (first vs last),
        ``'recent'`` (last two), ``'series'`` (baseline vs each later one: a list) or ``[i, j]``."""
        th = Thresholds.coerce(thresholds) if thresholds is not None else self.thresholds
        if seq == "series":
            total = self._count()
            if total < 2:
                self._pair(None)
            results = [self._compare_profiles(self.load(0), self.load(j), th, ("snapshot 0", f"snapshot {j}"))
                       for j in range(1, total)]
            self.last_result = results[-1]
            return results
        i, j = self._pair(seq)
        self.last_result = self._compare_profiles(self.load(i), self.load(j), th,
                                                  (f"snapshot {i}", f"snapshot {j}"))
        return self.last_result

    # -- presenting ------------------------------------------------------------------------
    def plot(self, result: DriftResult | None = None, seq: Any = None, max_columns: int = 12) -> Any:
        """A matplotlib figure: per-column distributions of both snapshots and effect sizes."""
        from vigil.drift.report import plot_result

        if result is None:
            i, j = self._pair(seq)
            result = self.compare([i, j])
        else:
            i, j = self._pair(seq)
        return plot_result(result, self.load(i), self.load(j), max_columns=max_columns,
                           title=f"{type(self).__name__} {self.name!r}")

    def report(self, format: str = "html", seq: Any = None, path: Any = None) -> Any:
        """The comparison as a standalone HTML page (``'html'``), JSON text or a dict."""
        from vigil.drift.report import render

        if format not in ("html", "json", "dict"):
            raise InvalidInput(f"report: format must be 'html', 'json' or 'dict'; got {describe(format)}")
        i, j = self._pair(seq)
        result = self.compare([i, j])
        out = render(result, self.load(i), self.load(j), format, title=f"{type(self).__name__} {self.name!r}")
        if path is not None:
            import pathlib

            pathlib.Path(path).write_text(out if isinstance(out, str) else str(out), encoding="utf-8")
        return out

    def capture(self, alerts: Any = None, seq: Any = None, thresholds: Any = None) -> DriftResult:
        """Compare, log a ``drift`` event, evaluate alert rules, deliver alerts (logged as ``alert`` events)."""
        from vigil.drift.rules import evaluate_rules

        result = self.compare(seq, thresholds)
        if isinstance(result, list):
            result = result[-1]

        def log() -> None:
            summary = result.to_dict()
            summary["tests"] = [t for t in summary["tests"] if t.get("drift")]
            self.experiment.log_event("drift", self.name, summary, monitor=self.name)
            result.alerts = evaluate_rules(alerts, result, self.experiment, source=self.name)
            self.experiment.flush()

        self._in_run(log)
        return result


class DataDriftMonitor(DriftMonitor):
    """Data drift, P(X): compare the distributions of a table's columns between snapshots.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> mon = DataDriftMonitor('doc-data-drift')
    >>> _ = mon.snapshot(pd.DataFrame({'x': rng.normal(size=2000), 'c': rng.choice(['a', 'b'], 2000)}))
    >>> _ = mon.snapshot(pd.DataFrame({'x': rng.normal(1, size=2000), 'c': rng.choice(['a', 'b'], 2000)}))
    >>> mon.compare().drifted_columns
    ['x']
    """

    kind = "data"

    def snapshot(self, data: Any, label: str | None = None) -> FrameProfile:
        """Profile ``data`` (DataFrame, array, dataset name, Parquet path, iterator of frames,
        Dask DataFrame) and store the profile; the first snapshot is the baseline."""
        started = time.perf_counter()
        prof = self._profile(data)
        prof.meta["profile_s"] = time.perf_counter() - started
        return self._store(prof, label)
