"""Input features: their names and kinds, and their statistics per window.

The first batch that has an ``input_matrix`` fixes the features for the
agent's lifetime: their number, their names (``feature_names=``, else the
DataFrame's column names, else ``f0, f1, ...``) and their kind:

- **categorical** if named (or indexed) in ``categorical_features=``, or if
  the column's dtype is not numeric (str, object, bool, pandas category).
  Reported as ``feature_category_count`` / ``feature_category_freq`` per
  value (frequencies are over the rows where the feature is present). At
  most ``max_categories`` values are tracked per window, first come first
  served; the rest are counted under ``__other__``.
- **continuous** otherwise (int or float dtype, also inside object arrays
  whose values all convert to numbers). Reported as ``feature`` with the
  stats of :data:`vigil.agent.wire.STATS`. A continuous feature that has
  only shown integer values, and at most ``max_categories`` distinct ones,
  is *also* reported with category counts (integer codes such as a weekday
  or a class id); the first non-integer value or one distinct value too many
  ends that for the rest of the agent's lifetime.

Every feature reports ``stat='missing'``: rows of the window without a
value (NaN, None, +-inf, or a batch without inputs). Later batches must
have the same number of columns, and DataFrames the column names of the
first DataFrame; others are dropped as ``feature_mismatch``. Columns of
arrays are positional.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vigil.agent.moments import Moments
from vigil.agent.validation import _as_float

OTHER = "__other__"
_MAX_CATEGORY_CHARS = 200


def width_of(inputs: Any) -> int:
    return len(inputs) if isinstance(inputs, list) else int(inputs.shape[1])


def _column(inputs: Any, j: int) -> np.ndarray:
    return inputs[j] if isinstance(inputs, list) else inputs[:, j]


def _numeric_kind(column: np.ndarray) -> bool:
    if column.dtype.kind in "fiu":
        return True
    if column.dtype.kind != "O":
        return False
    return bool(np.isfinite(_as_float(column)).sum() + _missing(column).sum() == column.shape[0])


def _missing(column: np.ndarray) -> np.ndarray:
    return np.array([_category(v) is None for v in column], dtype=bool)


def _category(v: Any) -> str | None:
    """The category label of one value; None when the value is missing."""
    try:
        return _label(v)
    except Exception:  # noqa: BLE001 - a value that cannot be rendered is still a value
        return f"<{type(v).__name__}>"


def _label(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v[:_MAX_CATEGORY_CHARS]
    if isinstance(v, (np.datetime64, np.timedelta64)):   # numpy counts timedelta64 as an integer
        return None if np.isnat(v) else str(v)
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return None
        return str(int(f)) if f.is_integer() else repr(f)
    if type(v).__name__ in ("NAType", "NaTType"):
        return None
    return str(v)[:_MAX_CATEGORY_CHARS]


def categories(column: np.ndarray) -> np.ndarray:
    """Category labels of a column as an object array, None where missing.

    Examples
    --------
    >>> categories(np.array([1.0, np.nan, 2.5])).tolist()
    ['1', None, '2.5']
    >>> categories(np.array(['a', None], dtype=object)).tolist()
    ['a', None]
    """
    kind = column.dtype.kind
    if kind in "iub":
        return column.astype(str).astype(object) if kind != "b" else np.where(column, "True", "False").astype(object)
    if kind in "US":
        return column.astype(str).astype(object)
    return np.array([_category(v) for v in column], dtype=object)


class FeatureSchema:
    """Names and kinds of the input columns, bound by the first batch with inputs.

    Parameters
    ----------
    names : sequence of str, optional
        Declared names (``feature_names=`` of the agent).
    categorical : sequence of str or int, optional
        Features (names or positions) to treat as categorical.
    max_categories : int
        Most distinct values counted per categorical feature and window.

    Examples
    --------
    >>> import numpy as np
    >>> s = FeatureSchema()
    >>> s.bind(np.array([[1.5, 2.0]]), None)
    True
    >>> s.names, s.numeric.tolist(), s.categorical.tolist()
    (('f0', 'f1'), [0, 1], [])
    >>> s.bind(np.array([[1.5, 2.0, 3.0]]), None)   # another width: a mismatch
    False
    """

    def __init__(self, names: Any = None, categorical: Any = (), max_categories: int = 32) -> None:
        self.declared = tuple(names) if names is not None else None
        self.declared_categorical = tuple(categorical or ())
        self.max_categories = max_categories
        self.names: tuple[str, ...] | None = None
        self.frame_names: tuple[str, ...] | None = None
        self.numeric = np.empty(0, dtype=np.intp)
        self.categorical = np.empty(0, dtype=np.intp)
        self.candidate = np.empty(0, dtype=bool)   # per numeric feature: may still be integer-coded

    @property
    def bound(self) -> bool:
        return self.names is not None

    def bind(self, inputs: Any, names: tuple[str, ...] | None) -> bool:
        """Fix the schema from the first inputs, or check later ones; False on a mismatch."""
        width = width_of(inputs)
        if self.names is not None:
            if width != len(self.names):
                return False
            if names is None:
                return True
            if self.frame_names is None:      # the first DataFrame after arrays: its names are the reference
                self.frame_names = names
            return names == self.frame_names
        if self.declared is not None:
            if width != len(self.declared) or (names is not None and names != self.declared):
                return False
            self.names = self.declared
        else:
            self.names = names if names is not None else tuple(f"f{j}" for j in range(width))
        self.frame_names = names
        explicit = {self.names.index(c) if isinstance(c, str) else c
                    for c in self.declared_categorical if not isinstance(c, str) or c in self.names}
        numeric, categorical = [], []
        for j in range(width):
            if j not in explicit and _numeric_kind(_column(inputs, j)):
                numeric.append(j)
            else:
                categorical.append(j)
        self.numeric = np.array(numeric, dtype=np.intp)
        self.categorical = np.array(categorical, dtype=np.intp)
        self.candidate = np.ones(len(numeric), dtype=bool)
        return True

    def split(self, inputs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(continuous block as float64 with NaN for missing, categorical labels as objects)."""
        n = len(inputs[0]) if isinstance(inputs, list) else inputs.shape[0]
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "fiu" and not self.categorical.size:
            num = inputs.astype(np.float64, copy=False)
        else:
            num = np.empty((n, self.numeric.size))
            for i, j in enumerate(self.numeric.tolist()):
                num[:, i] = _as_float(_column(inputs, j))
        cat = np.empty((n, self.categorical.size), dtype=object)
        for i, j in enumerate(self.categorical.tolist()):
            cat[:, i] = categories(_column(inputs, j))
        return num, cat


class FeatureStats:
    """Statistics of the features over one window.

    Continuous features: exact count, mean, std, min, max and missing
    (:class:`~vigil.agent.moments.Moments`); median and quartiles are taken
    from the window's sample by the caller. Category counts are exact.
    """

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.moments = Moments(schema.numeric.size)
        self.codes: list[dict[float, int]] = [{} for _ in range(schema.numeric.size)]
        self.counts: list[dict[str, int]] = [{} for _ in range(schema.categorical.size)]
        self.other = np.zeros(schema.categorical.size, dtype=np.int64)

    def update(self, num: np.ndarray, cat: np.ndarray) -> None:
        if num.shape[1]:
            self.moments.update(num)
            self._track_codes(num)
        limit = self.schema.max_categories
        for i in range(cat.shape[1]):
            column = cat[:, i]
            present = column[np.not_equal(column, None)]  # type: ignore[call-overload]
            if not present.size:
                continue
            counts = self.counts[i]
            values, freq = np.unique(present.astype(str), return_counts=True)
            for value, c in zip(values.tolist(), freq.tolist()):
                if value in counts:
                    counts[value] += c
                elif len(counts) < limit:
                    counts[value] = c
                else:
                    self.other[i] += c

    def _track_codes(self, num: np.ndarray) -> None:
        schema = self.schema
        live = np.flatnonzero(schema.candidate)
        if not live.size:
            return
        block = num[:, live]
        with np.errstate(invalid="ignore"):
            fractional = (np.abs(block - np.round(block)) > 0).any(axis=0)
        for i, column in zip(live.tolist(), fractional.tolist()):
            if column:
                self._retire(i)
        for k, i in enumerate(live.tolist()):
            if not schema.candidate[i]:
                continue
            values = block[:, k]
            values = values[np.isfinite(values)]
            if not values.size:
                continue
            codes = self.codes[i]
            for value, c in zip(*np.unique(values, return_counts=True)):
                codes[float(value)] = codes.get(float(value), 0) + int(c)
            if len(codes) > schema.max_categories:
                self._retire(i)

    def _retire(self, i: int) -> None:
        self.schema.candidate[i] = False
        self.codes[i] = {}

    def points(self, rows_seen: int, sample_num: np.ndarray | None, point: Any) -> list[dict]:
        """Metric points of every feature; ``sample_num`` holds the sampled continuous values."""
        schema = self.schema
        names = schema.names or ()
        out: list[dict] = []
        quartiles = sampled_quartiles(sample_num)
        for i, j in enumerate(schema.numeric.tolist()):
            name = names[j]
            stats = self.moments.summary(i)
            if quartiles is not None and not np.isnan(quartiles[1, i]):
                q25, median, q75 = (float(v) for v in quartiles[:, i])
                stats.update(median=median, q25=q25, q75=q75, iqr=q75 - q25)
            stats["missing"] = rows_seen - int(self.moments.count[i])
            out.extend(point("feature", v, stat=s, feature=name) for s, v in stats.items())
            if schema.candidate[i] and self.codes[i]:
                counts = {str(int(v)): c for v, c in sorted(self.codes[i].items())}
                out.extend(_category_points(name, counts, point))
        for i, j in enumerate(schema.categorical.tolist()):
            name = names[j]
            counts = dict(sorted(self.counts[i].items()))
            if self.other[i]:
                counts[OTHER] = int(self.other[i])
            out.append(point("feature", rows_seen - sum(counts.values()), stat="missing", feature=name))
            out.extend(_category_points(name, counts, point))
        return out


def sampled_quartiles(sample: np.ndarray | None) -> np.ndarray | None:
    """Rows q25, median, q75 of each column of a 2-D sample, ignoring non-finite values (NaN if none).

    Examples
    --------
    >>> sampled_quartiles(np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.inf]])).tolist()
    [[1.5, nan], [2.0, nan], [2.5, nan]]
    """
    if sample is None or not sample.shape[0] or not sample.shape[1]:
        return None
    clean = np.where(np.isfinite(sample), sample, np.nan)
    out = np.full((3, sample.shape[1]), np.nan)
    some = ~np.isnan(clean).all(axis=0)
    if some.any():
        out[:, some] = np.nanquantile(clean[:, some], [0.25, 0.5, 0.75], axis=0)
    return out


def _category_points(name: str, counts: dict[str, int], point: Any) -> list[dict]:
    total = sum(counts.values())
    out = []
    for value, c in counts.items():
        out.append(point("feature_category_count", c, feature=name, category=value))
        out.append(point("feature_category_freq", c / total, feature=name, category=value))
    return out
