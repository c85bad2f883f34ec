"""Exact running moments of several columns: count, mean, variance, min, max.

Batches are folded in with Chan et al.'s pairwise update, so the result is
the same (up to rounding) as computing over all rows at once, and two
:class:`Moments` merge (``a.merge(b)``) into the moments of the union.
Values that are not finite (NaN, None converted to NaN, +-inf) are missing:
they are skipped and not counted.
"""

from __future__ import annotations

import numpy as np


class Moments:
    """Count, mean, M2 (sum of squared deviations), min and max per column.

    Parameters
    ----------
    width : int
        Number of columns.

    Examples
    --------
    >>> import numpy as np
    >>> m = Moments(2)
    >>> m.update(np.array([[1.0, np.nan], [3.0, 4.0]]))
    >>> m.update(np.array([[5.0, 6.0]]))
    >>> m.count.tolist(), m.mean.tolist(), m.min.tolist(), m.max.tolist()
    ([3, 2], [3.0, 5.0], [1.0, 4.0], [5.0, 6.0])
    >>> round(float(m.std()[0]), 6) == round(float(np.std([1.0, 3.0, 5.0])), 6)
    True
    """

    def __init__(self, width: int) -> None:
        self.width = int(width)
        self.count = np.zeros(width, dtype=np.int64)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.min = np.full(width, np.inf)
        self.max = np.full(width, -np.inf)

    @property
    def n(self) -> int:
        """Rows folded in (the largest per-column count)."""
        return int(self.count.max()) if self.width else 0

    def is_empty(self) -> bool:
        return not self.count.any()

    def update(self, block: np.ndarray) -> None:
        """Fold in a 2-D float block of shape (rows, width)."""
        if block.shape[0]:
            self.update_columns(np.ascontiguousarray(block.T))

    def update_columns(self, columns: np.ndarray) -> None:
        """Fold in a 2-D float block of shape (width, rows): one row per column.

        This layout makes every reduction run over contiguous memory, several
        times faster than reducing a narrow row-major block along axis 0.
        """
        rows = columns.shape[1]
        if rows == 0:
            return
        with np.errstate(all="ignore"):   # inf - inf in the sum is expected: it means "missing here"
            total = columns.sum(axis=1)
        if np.isfinite(total).all():   # NaN and inf propagate into the sum: no missing values
            count = np.full(self.width, rows, dtype=np.int64)
            mean = total / rows
            centered = columns - mean[:, None]
            m2 = np.einsum("ij,ij->i", centered, centered)
            low, high = columns.min(axis=1), columns.max(axis=1)
        else:
            finite = np.isfinite(columns)
            count = finite.sum(axis=1)
            safe = np.maximum(count, 1)
            mean = np.where(finite, columns, 0.0).sum(axis=1) / safe
            centered = np.where(finite, columns - mean[:, None], 0.0)
            m2 = np.einsum("ij,ij->i", centered, centered)
            low = np.where(finite, columns, np.inf).min(axis=1)
            high = np.where(finite, columns, -np.inf).max(axis=1)
        self._combine(count, mean, m2, low, high)

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into this one (in place) and return self."""
        self._combine(other.count, other.mean, other.m2, other.min, other.max)
        return self

    def _combine(self, count, mean, m2, low, high) -> None:
        total = self.count + count
        safe = np.maximum(total, 1)
        delta = mean - self.mean
        self.mean = np.where(total > 0, self.mean + delta * (count / safe), 0.0)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * count / safe)
        self.count = total
        self.min = np.minimum(self.min, low)
        self.max = np.maximum(self.max, high)

    def std(self) -> np.ndarray:
        """Population standard deviation (ddof=0, numpy's default); NaN where count is 0."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.where(self.count > 0, self.m2 / np.maximum(self.count, 1), np.nan))

    def summary(self, column: int) -> dict[str, float]:
        """The exact statistics of one column: mean, std, min, max, range (empty if no values)."""
        if self.count[column] == 0:
            return {}
        low, high = float(self.min[column]), float(self.max[column])
        std = float(np.sqrt(self.m2[column] / self.count[column]))
        return {"mean": float(self.mean[column]), "std": std,
                "min": low, "max": high, "range": high - low}
