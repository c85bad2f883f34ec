"""Anomaly detection on metric time series (pure numpy).

Each detector watches a *bank* of series at once: ``update(values)`` takes one
new value per series (a 1-D array; a scalar is a bank of one; NaN or inf means
"no value for this series this time", which neither scores nor enters the
history) and returns a :class:`Detection` of arrays. A bank grows when a
longer array arrives, so new series can join at any time. One algorithm per
class:

* :class:`RobustZScore` -- median and MAD of the last ``window`` values;
  robust to the outliers it is looking for.
* :class:`Ewma` -- exponentially weighted mean and variance (a control
  chart); reacts faster, forgets faster.

:class:`SeriesMonitor` maps named series (any hashable key) to bank columns
and runs several detectors, reporting :class:`Anomaly` records.

Both detectors compare a value with the baseline *before* adding it, stay
silent until ``min_history`` values were seen, and need ``|x - baseline| >
min_change``, so a flat series (MAD or variance 0) does not fire on float
noise while a real step off a flat line still fires.

False alarms: on stationary Gaussian noise, with the default thresholds, the
test suite bounds the rate at 1 per 10,000 checks per detector and 1 per
100,000 for :class:`SeriesMonitor` (both detectors must agree), measured over
seeded repetitions. Heavy-tailed, sparse or discrete series alarm more often
(a value never seen in the window is reported); raise ``threshold`` for them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import invalid

_MAD_TO_Z = 0.6745  # z = 0.6745 * (x - median) / MAD: the MAD of a standard normal is 0.6745
_MEANAD_TO_SD = 1.2533  # sqrt(pi / 2): the mean absolute deviation of a normal is 0.7979 sd


@dataclass(frozen=True)
class Detection:
    """One update of a bank: arrays with one entry per series.

    ``score`` is the signed standardised deviation (NaN where a series had no
    value or too little history; +-inf for a step off a flat baseline),
    ``fired`` where ``|score| > threshold``, ``baseline`` and ``scale`` the
    centre and the spread the value was compared with.
    """

    score: np.ndarray
    fired: np.ndarray
    baseline: np.ndarray
    scale: np.ndarray


def _check(who: str, name: str, value: Any, low: float, high: float, kind: type = float) -> Any:
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
    if not ok or not low <= value <= high:
        raise invalid(who, name, value, f"{'a number' if kind is float else 'an int'} in [{low}, {high}]")
    return kind(value)


def _values(x: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise invalid("update", "values", x, "a number or a 1-D array of numbers (one per series)")
    return arr


class _Detector:
    """What both detectors share: a growing set of series fed one value each per update."""

    @property
    def n_series(self) -> int:
        raise NotImplementedError

    def _grow(self, n: int) -> None:
        raise NotImplementedError

    def _padded(self, values: Any) -> np.ndarray:
        """The update's values, one per known series (NaN where a series got none)."""
        x = _values(values)
        self._grow(len(x))
        xs = np.full(self.n_series, np.nan)
        xs[: len(x)] = x
        return xs


def _score(x: np.ndarray, centre: np.ndarray, spread: np.ndarray, min_change: float) -> np.ndarray:
    """(x - centre) / spread with the flat-baseline rule: spread 0 -> 0 or +-inf."""
    dev = x - centre
    big = np.abs(dev) > min_change
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, dev / np.where(spread > 0, spread, 1.0), np.sign(dev) * np.inf)
    return np.where(big, z, 0.0)


class RobustZScore(_Detector):
    """Robust z-score against a rolling median: ``z = 0.6745 (x - median) / MAD``.

    The baseline is the median and the MAD (median absolute deviation) of the
    last ``window`` values of each series.

    Parameters
    ----------
    window : int
        Number of past values the baseline is computed on.
    threshold : float
        Fire when ``|z| > threshold``.
    min_history : int
        Values a series needs before it can fire.
    min_change : float
        Minimum ``|x - median|`` to fire (flat series and float noise).
    outside_range : bool
        Fire only for a value outside ``[min, max]`` of the window (default):
        a value the window has already seen is not reported again, which
        keeps sparse, discrete and heavy-tailed series quiet.

    When more than half the window equals the median (MAD = 0), the spread
    falls back to ``1.2533 * mean absolute deviation``; it is 0 only for a
    flat window, where any change above ``min_change`` fires.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> det = RobustZScore(window=50, threshold=6.0, min_history=20)
    >>> sum(bool(det.update(x).fired[0]) for x in rng.normal(0.9, 0.01, 300))
    0
    >>> d = det.update(0.5)
    >>> bool(d.fired[0]), round(float(d.baseline[0]), 2)
    (True, 0.9)
    """

    name = "robust_z"

    def __init__(self, window: int = 50, threshold: float = 6.0, min_history: int = 20,
                 min_change: float = 1e-6, outside_range: bool = True) -> None:
        self.outside_range = bool(outside_range)
        self.window = _check("RobustZScore", "window", window, 3, 100_000, int)
        self.threshold = _check("RobustZScore", "threshold", threshold, 0.0, 1e12)
        self.min_history = _check("RobustZScore", "min_history", min_history, 1, self.window, int)
        self.min_change = _check("RobustZScore", "min_change", min_change, 0.0, 1e300)
        self._hist = np.full((0, self.window), np.nan)
        self._n = np.zeros(0, dtype=np.int64)  # values seen per series

    @property
    def n_series(self) -> int:
        return len(self._n)

    def _grow(self, n: int) -> None:
        if n > self.n_series:
            extra = n - self.n_series
            self._hist = np.vstack([self._hist, np.full((extra, self.window), np.nan)])
            self._n = np.concatenate([self._n, np.zeros(extra, dtype=np.int64)])

    def update(self, values: Any) -> Detection:
        xs = self._padded(values)
        n_all = self.n_series
        score = np.full(n_all, np.nan)
        centre = np.full(n_all, np.nan)
        spread = np.full(n_all, np.nan)
        present = np.isfinite(xs)
        rows = np.flatnonzero(present & (self._n >= self.min_history))
        if len(rows):
            hist = self._hist[rows]
            count = np.minimum(self._n[rows], self.window)
            srt = np.sort(hist, axis=1)
            med = _median(srt, count)
            absdev = np.abs(hist - med[:, None])
            mad = _median(np.sort(absdev, axis=1), count)
            # MAD is 0 when more than half the values equal the median (sparse or discrete
            # series): fall back to the mean absolute deviation, 0 only for a flat series
            mean_ad = np.nansum(absdev, axis=1) / count
            sd = np.where(mad > 0, mad / _MAD_TO_Z, mean_ad * _MEANAD_TO_SD)
            centre[rows] = med
            spread[rows] = sd
            z = _score(xs[rows], med, sd, self.min_change)
            if self.outside_range:  # a value the window has already seen is not news
                lowest = srt[:, 0]
                highest = srt[np.arange(len(rows)), count - 1]
                inside = (xs[rows] >= lowest - self.min_change) & (xs[rows] <= highest + self.min_change)
                z = np.where(inside, np.clip(z, -self.threshold, self.threshold), z)
            score[rows] = z
        fired = np.abs(np.nan_to_num(score, nan=0.0)) > self.threshold
        # add the new values to the ring of each present series
        idx = np.flatnonzero(present)
        self._hist[idx, self._n[idx] % self.window] = xs[idx]
        self._n[idx] += 1
        return Detection(score, fired, centre, spread)

    def reset(self) -> None:
        """Forget every series."""
        self._hist = np.full((0, self.window), np.nan)
        self._n = np.zeros(0, dtype=np.int64)


def _median(sorted_rows: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the first ``count[i]`` entries of each sorted row (NaN sorts last)."""
    i = np.arange(len(count))
    lo = sorted_rows[i, (count - 1) // 2]
    hi = sorted_rows[i, count // 2]
    return (lo + hi) / 2.0


class Ewma(_Detector):
    """EWMA control chart: ``z = (x - m) / s`` with exponentially weighted mean and variance.

    ``m <- m + alpha (x - m)`` and ``s^2 <- (1 - alpha) (s^2 + alpha (x - m)^2)``,
    updated after scoring; the effective memory is about ``2 / alpha`` values.

    Parameters
    ----------
    alpha : float
        Weight of the newest value, in (0, 1).
    threshold : float
        Fire when ``|z| > threshold``.
    min_history : int
        Values a series needs before it can fire.
    min_change : float
        Minimum ``|x - m|`` to fire.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> det = Ewma(alpha=0.1, threshold=6.0)
    >>> sum(bool(det.update(x).fired[0]) for x in rng.normal(10.0, 1.0, 300))
    0
    >>> bool(det.update(25.0).fired[0])
    True
    """

    name = "ewma"

    def __init__(self, alpha: float = 0.1, threshold: float = 6.0, min_history: int = 20,
                 min_change: float = 1e-6) -> None:
        self.alpha = _check("Ewma", "alpha", alpha, 1e-6, 1 - 1e-6)
        self.threshold = _check("Ewma", "threshold", threshold, 0.0, 1e12)
        self.min_history = _check("Ewma", "min_history", min_history, 1, 10_000_000, int)
        self.min_change = _check("Ewma", "min_change", min_change, 0.0, 1e300)
        self.reset()

    @property
    def n_series(self) -> int:
        return len(self._n)

    def reset(self) -> None:
        """Forget every series."""
        self._mean = np.zeros(0)
        self._var = np.zeros(0)
        self._n = np.zeros(0, dtype=np.int64)

    def _grow(self, n: int) -> None:
        if n > self.n_series:
            extra = n - self.n_series
            self._mean = np.concatenate([self._mean, np.zeros(extra)])
            self._var = np.concatenate([self._var, np.zeros(extra)])
            self._n = np.concatenate([self._n, np.zeros(extra, dtype=np.int64)])

    def update(self, values: Any) -> Detection:
        xs = self._padded(values)
        present = np.isfinite(xs)
        ready = present & (self._n >= self.min_history)
        std = np.sqrt(self._var)
        score = np.where(ready, _score(np.where(present, xs, 0.0), self._mean, std, self.min_change), np.nan)
        fired = np.abs(np.nan_to_num(score, nan=0.0)) > self.threshold
        centre = np.where(ready, self._mean, np.nan)
        spread = np.where(ready, std, np.nan)
        # update the state of present series (the first value seeds the mean)
        first = present & (self._n == 0)
        later = present & (self._n > 0)
        a = self.alpha
        dev = np.where(later, xs - self._mean, 0.0)
        self._mean = np.where(first, xs, self._mean + a * dev)
        self._var = np.where(later, (1 - a) * (self._var + a * dev * dev), self._var)
        self._n = self._n + present
        return Detection(score, fired, centre, spread)


@dataclass(frozen=True)
class Anomaly:
    """A value of a named series that the detectors flagged."""

    key: Hashable
    value: float
    baseline: float
    scale: float
    score: float
    detectors: tuple[str, ...]


class SeriesMonitor:
    """Anomaly detection on many named series: one value per series per step.

    Parameters
    ----------
    detectors : sequence, optional
        Detector banks; default ``(RobustZScore(), Ewma())``.
    require : str
        ``'all'`` (default: every detector must fire, which keeps false alarms
        rare on heavy-tailed and sparse series) or ``'any'``.
    max_series : int
        Series beyond this many are not watched (counted in ``dropped_series``).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> mon = SeriesMonitor()
    >>> for _ in range(100):
    ...     found = mon.observe({('pred1', 'mean'): rng.normal(0.9, 0.01), ('rows', None): 500.0})
    >>> found
    []
    >>> [a.key for a in mon.observe({('pred1', 'mean'): 0.6, ('rows', None): 500.0})]
    [('pred1', 'mean')]
    """

    def __init__(self, detectors: Sequence[Any] | None = None, require: str = "all",
                 max_series: int = 10_000) -> None:
        if require not in ("any", "all"):
            raise invalid("SeriesMonitor", "require", require, "'any' or 'all'")
        self.detectors: list[Any] = list(detectors) if detectors is not None else [RobustZScore(), Ewma()]
        if not self.detectors:
            raise invalid("SeriesMonitor", "detectors", detectors, "at least one detector")
        self.require = require
        self.max_series = _check("SeriesMonitor", "max_series", max_series, 1, 10_000_000, int)
        self._index: dict[Hashable, int] = {}
        self._keys: list[Hashable] = []
        self.dropped_series = 0

    @property
    def n_series(self) -> int:
        return len(self._keys)

    def observe(self, values: Mapping[Any, float | None]) -> list[Anomaly]:
        """Score one step; return the anomalies, largest ``|score|`` first."""
        cols: list[int] = []
        vals: list[float] = []
        for key, value in values.items():
            col = self._index.get(key)
            if col is None:
                if len(self._keys) >= self.max_series:
                    self.dropped_series += 1
                    continue
                col = self._index[key] = len(self._keys)
                self._keys.append(key)
            cols.append(col)
            vals.append(np.nan if value is None else float(value))
        x = np.full(len(self._keys), np.nan)
        x[cols] = vals
        detections = [d.update(x) for d in self.detectors]
        stack = np.vstack([d.fired for d in detections])
        hit = stack.any(axis=0) if self.require == "any" else stack.all(axis=0)
        found = []
        for i in np.flatnonzero(hit):
            col = int(i)
            fired_by = [k for k, d in enumerate(detections) if d.fired[col]]
            lead = detections[fired_by[0]]
            found.append(Anomaly(
                key=self._keys[col], value=float(x[col]), baseline=float(lead.baseline[col]),
                scale=float(lead.scale[col]), score=float(lead.score[col]),
                detectors=tuple(getattr(self.detectors[k], "name", type(self.detectors[k]).__name__)
                                for k in fired_by),
            ))
        found.sort(key=lambda a: -abs(a.score))
        return found
