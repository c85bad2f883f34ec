"""Mergeable profile of a numeric column.

Keeps, for a fixed set of bin edges chosen from the baseline: the row count,
missing (NaN/None) count, +/-inf counts, exact moments of the finite values
(count, mean, M2, min, max; merged with Chan's formulas), counts on the bins
plus an underflow and an overflow bin (infinities fall there too), and an
Apache DataSketches KLL quantile sketch of the finite values. Its size does
not depend on the number of rows (about 6 KB with 64 bins).

Bin ``0`` counts ``x < edges[0]``, bin ``k`` (1..B) counts
``edges[k-1] <= x < edges[k]``, bin ``B+1`` counts ``x >= edges[B]``.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from vigil.errors import InvalidInput
from vigil.profile.kll import sketch_of_sorted

KLL_K = 200
#: batches with at least this many finite values reach the sketch compacted at once (vigil.profile.kll)
SORTED_SKETCH_MIN = 8192


def _kll() -> Any:
    try:
        from datasketches import kll_doubles_sketch
    except ImportError:
        from vigil.errors import MissingDependency

        raise MissingDependency("datasketches", "drift", "quantile sketches") from None
    return kll_doubles_sketch


def choose_edges(values: np.ndarray, bins: int = 64) -> np.ndarray:
    """Quantile bin edges of the finite values (duplicates removed).

    The last edge is just above the maximum, so every baseline value lies
    inside a bin. A constant column gets two edges around its value.

    Examples
    --------
    >>> choose_edges(np.arange(10.0), bins=2)
    array([0. , 4.5, 9. ])
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return np.array([0.0, 1.0])
    # linear-interpolation quantiles (numpy's default) read off one sort: faster than np.quantile's partitions
    ordered = np.sort(finite)
    pos = np.linspace(0.0, 1.0, bins + 1) * (ordered.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, ordered.size - 1)
    edges = np.unique(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))
    if edges.size == 1:  # constant: one bin [value, next float) that holds it
        return np.array([edges[0], np.nextafter(edges[0], np.inf)])
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return edges


class NumericProfile:
    """Profile of one numeric column on fixed ``edges``.

    Examples
    --------
    >>> edges = choose_edges(np.arange(100.0), bins=4)
    >>> a = NumericProfile(edges).update(np.arange(50.0))
    >>> b = NumericProfile(edges).update(np.r_[np.arange(50.0, 100.0), np.nan])
    >>> whole = NumericProfile(edges).update(np.r_[np.arange(100.0), np.nan])
    >>> (a + b).bins.tolist() == whole.bins.tolist(), (a + b).missing
    (True, 1)
    """

    kind = "numeric"

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        if self.edges.ndim != 1 or self.edges.size < 2 or np.any(np.diff(self.edges) <= 0):
            raise InvalidInput(f"NumericProfile: edges must be >= 2 strictly increasing numbers; got {edges!r}")
        self.count = 0
        self.missing = 0
        self.pos_inf = 0
        self.neg_inf = 0
        self.n = 0          # finite values
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.bins = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.sketch = _kll()(KLL_K)

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def update(self, values: Any) -> NumericProfile:
        """Add a batch of values (array-like; None/NaN count as missing).

        One sort of the batch serves every statistic: NaN sorts last and the
        infinities next to it and first, so their counts are binary searches;
        the bins are the ranks of the edges; a batch of ``SORTED_SKETCH_MIN``
        finite values or more reaches the KLL sketch compacted in one pass
        (:mod:`vigil.profile.kll`), a smaller one through ``update``.
        """
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size == 0:
            return self
        ordered = np.sort(x)
        neg = int(np.searchsorted(ordered, -np.inf, side="right"))
        pos_start, nan_start = (int(i) for i in np.searchsorted(ordered, [np.inf, np.nan], side="left"))
        pos = nan_start - pos_start
        self.count += x.size
        self.missing += x.size - nan_start
        self.pos_inf += pos
        self.neg_inf += neg
        finite = ordered[neg:pos_start]
        below = np.searchsorted(finite, self.edges, side="left")
        counts = np.empty(self.edges.size + 1, dtype=np.int64)
        counts[0] = below[0] + neg
        counts[1:-1] = np.diff(below)
        counts[-1] = finite.size - below[-1] + pos
        self.bins += counts
        if finite.size:
            if finite.size >= SORTED_SKETCH_MIN:
                self.sketch.merge(sketch_of_sorted(finite, KLL_K))
            else:
                self.sketch.update(finite)
            lo, hi = float(finite[0]), float(finite[-1])
            mean = float(finite.mean())
            # squared deviations in place (the sorted copy is ours and no longer needed), summed
            # pairwise by numpy in this thread (a BLAS dot product may start threads of its own)
            dev = np.subtract(finite, mean, out=finite)
            with np.errstate(over="ignore"):  # values near the float limit: a variance beyond it is inf
                m2 = float(np.add.reduce(np.multiply(dev, dev, out=dev)))
            self._add_moments(finite.size, mean, m2, lo, hi)
        return self

    def _add_moments(self, n: int, mean: float, m2: float, lo: float, hi: float) -> None:
        if n == 0:
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def merge(self, other: NumericProfile) -> NumericProfile:
        """Add ``other`` (same edges) into this profile; returns self."""
        if not isinstance(other, NumericProfile) or not np.array_equal(self.edges, other.edges):
            raise InvalidInput("NumericProfile.merge: other must be a NumericProfile on the same edges")
        self.count += other.count
        self.missing += other.missing
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        self._add_moments(other.n, other.mean, other.m2, other.min, other.max)
        self.bins += other.bins
        self.sketch.merge(other.sketch)
        return self

    def copy(self) -> NumericProfile:
        return NumericProfile.from_dict(self.to_dict())

    def __add__(self, other: NumericProfile) -> NumericProfile:
        return self.copy().merge(other)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # the KLL sketch cannot be pickled; Dask ships profiles between processes
        return NumericProfile.from_dict, (self.to_dict(),)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    @property
    def missing_rate(self) -> float:
        return self.missing / self.count if self.count else 0.0

    def quantiles(self, ranks: Any) -> np.ndarray:
        """Approximate quantiles of the finite values (KLL; rank error about 1.3%)."""
        if self.n == 0:
            return np.full(len(np.atleast_1d(ranks)), np.nan)
        return np.asarray(self.sketch.get_quantiles(list(np.atleast_1d(ranks))), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "edges": self.edges.tolist(), "count": self.count, "missing": self.missing,
            "pos_inf": self.pos_inf, "neg_inf": self.neg_inf, "n": self.n, "mean": self.mean, "m2": self.m2,
            "min": self.min if self.n else None, "max": self.max if self.n else None,
            "bins": self.bins.tolist(),
            "sketch": base64.b64encode(self.sketch.serialize()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        p = cls(np.asarray(data["edges"], dtype=np.float64))
        p.count, p.missing = int(data["count"]), int(data["missing"])
        p.pos_inf, p.neg_inf, p.n = int(data["pos_inf"]), int(data["neg_inf"]), int(data["n"])
        p.mean, p.m2 = float(data["mean"]), float(data["m2"])
        p.min = math.inf if data["min"] is None else float(data["min"])
        p.max = -math.inf if data["max"] is None else float(data["max"])
        p.bins = np.asarray(data["bins"], dtype=np.int64)
        p.sketch = _kll().deserialize(base64.b64decode(data["sketch"]))
        return p
