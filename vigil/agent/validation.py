"""Checks and repairs of the batches given to ``collect_data``.

The agent never raises into the host after its constructor. What it cannot
use is dropped and counted per reason in the window's ``dropped`` object
(all counts are rows, except the shipping reasons, which count windows):

=================  ============  ==================================================================
reason             checked on    what happened
=================  ============  ==================================================================
bad_type           caller        a matrix is not an array, DataFrame or list of numbers: batch dropped
bad_shape          caller        wrong number of dimensions, or row counts that differ between the
                                 matrices, or labels neither (n,), (n, 1) nor (n, n_classes): batch dropped
n_classes          caller        the probability matrix does not have n_classes columns: batch dropped
overflow           caller        the hand-off queue was full (agent behind): batch dropped
internal_error     both          a bug in the agent, caught: batch dropped
feature_mismatch   agent         the inputs have other columns (number or names) than the first
                                 batch with inputs: batch dropped
nan_proba          agent         a probability is NaN or infinite: row dropped
proba_range        agent         a probability is below 0 or above 1: row dropped
proba_sum          agent         a row sums to 1 +- ``proba_tolerance`` only outside that band: row dropped
bad_label          agent         a label is not an integer in [0, n_classes) or a one-hot row: the row is
                                 kept without its label
inputs_missing     agent         no input_matrix although earlier batches had one: rows kept, their
                                 feature values count as missing
labels_missing     agent         no label_matrix although earlier batches had one: rows kept unlabelled
rejected           shipper       the collector refused a window with a 4xx (windows)
spool_evicted      agent         the spool was full and its oldest windows were deleted (windows)
=================  ============  ==================================================================

A batch whose number of rows cannot be told counts as one row. Batches
with zero rows are ignored.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

REASONS = ("bad_type", "bad_shape", "n_classes", "overflow", "internal_error", "feature_mismatch",
           "nan_proba", "proba_range", "proba_sum", "bad_label", "inputs_missing", "labels_missing",
           "rejected", "spool_evicted")

_NUMERIC = "fiub"


class Rejected(Exception):
    """A batch cannot be used: ``reason`` is one of :data:`REASONS`, ``rows`` how many it held."""

    def __init__(self, reason: str, rows: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rows = rows


def rows_of(obj: Any) -> int:
    """Best guess at the number of rows of something unusable (1 if unknown).

    Examples
    --------
    >>> rows_of([[1, 2], [3, 4]]), rows_of(None), rows_of('abc')
    (2, 1, 1)
    """
    if isinstance(obj, (str, bytes)):
        return 1
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[0], int):
        return max(shape[0], 1)
    try:
        return max(len(obj), 1)
    except TypeError:
        return 1


def frame_kind(obj: Any) -> str | None:
    """'frame' or 'series' for pandas objects, None otherwise (pandas is never imported here)."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if isinstance(obj, pd.DataFrame):
        return "frame"
    if isinstance(obj, pd.Series):
        return "series"
    return None


def proba_matrix(obj: Any, n_classes: int) -> np.ndarray:
    """A float64 copy of the probability matrix, shape (n, n_classes); raises :class:`Rejected`.

    A 1-D array of length ``n_classes`` is one row.

    Examples
    --------
    >>> proba_matrix([[0.2, 0.8]], 2)
    array([[0.2, 0.8]])
    >>> proba_matrix([0.2, 0.8], 2).shape
    (1, 2)
    """
    if isinstance(obj, (str, bytes, dict)) or obj is None:
        raise Rejected("bad_type", rows_of(obj))
    if isinstance(obj, np.ndarray) and obj.dtype.kind not in "fiubO":
        raise Rejected("bad_type", rows_of(obj))   # complex, str, datetime ...: not probabilities
    try:
        if frame_kind(obj):
            matrix = obj.to_numpy(dtype=np.float64, copy=True)
        else:
            matrix = np.array(obj, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise Rejected("bad_type", rows_of(obj)) from None
    if matrix.ndim == 1 and matrix.shape[0] == n_classes:
        matrix = matrix.reshape(1, n_classes)
    if matrix.ndim != 2:
        raise Rejected("bad_shape", rows_of(matrix))
    if matrix.shape[1] != n_classes:
        raise Rejected("n_classes", rows_of(matrix))
    return matrix


def input_matrix(obj: Any, n: int) -> tuple[Any, tuple[str, ...] | None]:
    """A copy of the inputs and the column names of a DataFrame; raises :class:`Rejected`.

    The copy is a 2-D ndarray, or a list of 1-D column arrays when the
    columns of a DataFrame have different dtypes.

    Examples
    --------
    >>> x, names = input_matrix([[1.0, 2.0]], 1)
    >>> x.shape, names
    ((1, 2), None)
    """
    kind = frame_kind(obj)
    if kind == "series":
        obj = obj.to_frame()
        kind = "frame"
    if kind == "frame":
        names = tuple(str(c) for c in obj.columns)
        if obj.shape[0] != n:
            raise Rejected("bad_shape", n)
        return _frame_columns(obj), names
    if isinstance(obj, (str, bytes, dict)) or not hasattr(obj, "__len__"):
        raise Rejected("bad_type", n)
    if isinstance(obj, np.ndarray):
        matrix = obj.copy() if obj.dtype.kind in _NUMERIC else np.array(obj, dtype=object)
    else:
        try:
            matrix = np.array(obj, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            try:
                matrix = np.array(obj, dtype=object)
            except (TypeError, ValueError):
                raise Rejected("bad_type", n) from None
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1) if n == 1 else matrix.reshape(-1, 1)
    if matrix.ndim != 2 or matrix.shape[0] != n or matrix.shape[1] == 0:
        raise Rejected("bad_shape", n)
    return matrix, None


def _frame_columns(frame: Any) -> Any:
    dtypes = list(frame.dtypes)
    if dtypes and all(isinstance(d, np.dtype) and d.kind in "fiu" for d in dtypes) and len(set(dtypes)) == 1:
        return frame.to_numpy(copy=True)
    columns = []
    for j, dtype in enumerate(dtypes):
        column = frame.iloc[:, j]
        if not isinstance(dtype, np.dtype) and getattr(dtype, "kind", "O") in "fiu":
            columns.append(column.to_numpy(dtype=np.float64, na_value=np.nan))  # nullable Int64/Float64
        else:
            columns.append(column.to_numpy(copy=True))
    return columns


def label_matrix(obj: Any, n: int, n_classes: int) -> np.ndarray:
    """A copy of the labels: (n,) integer labels or (n, n_classes) one-hot; raises :class:`Rejected`.

    Examples
    --------
    >>> label_matrix([[1], [0]], 2, 3).shape
    (2,)
    >>> label_matrix([[0, 1, 0]], 1, 3).shape
    (1, 3)
    """
    if isinstance(obj, (str, bytes, dict)) or not hasattr(obj, "__len__"):
        raise Rejected("bad_type", n)
    try:
        labels = obj.to_numpy(copy=True) if frame_kind(obj) else np.array(obj)
    except (TypeError, ValueError):
        raise Rejected("bad_type", n) from None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim == 0 or labels.shape[0] != n:
        raise Rejected("bad_shape", n)
    if labels.ndim == 2 and labels.shape[1] != n_classes or labels.ndim > 2:
        raise Rejected("bad_shape", n)
    return labels


# -- agent thread ---------------------------------------------------------------------------------

def clean_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels in [0, n_classes) with -1 where a label is unusable.

    Examples
    --------
    >>> clean_labels(np.array([0, 2, 5, -1]), 3).tolist()
    [0, 2, -1, -1]
    >>> clean_labels(np.array([1.0, 1.5, np.nan]), 3).tolist()
    [1, -1, -1]
    >>> clean_labels(np.array([[0, 1], [1, 1], [0.5, 0.5]]), 2).tolist()
    [1, -1, -1]
    """
    if labels.ndim == 2:
        onehot = _as_float(labels)
        valid = np.all((onehot == 0) | (onehot == 1), axis=1) & (onehot.sum(axis=1) == 1)
        return np.where(valid, onehot.argmax(axis=1), -1).astype(np.int64)
    if labels.dtype.kind in "iu":
        values = labels.astype(np.int64)
        return np.where((values >= 0) & (values < n_classes), values, -1)
    values = _as_float(labels)
    valid = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < n_classes)
    return np.where(valid, values, -1).astype(np.int64)


def _as_float(values: np.ndarray) -> np.ndarray:
    """Values as float64, NaN where a value is not a number."""
    if values.dtype.kind in _NUMERIC:
        return values.astype(np.float64)
    try:
        if values.dtype.kind in "cmM":
            raise TypeError("not real")   # complex: astype warns, drops the imaginary part; dates: not numbers
        return values.astype(np.float64)
    except (TypeError, ValueError):
        out = np.full(values.shape, np.nan)
        flat = out.reshape(-1)
        for i, v in enumerate(values.reshape(-1)):
            if isinstance(v, (complex, np.complexfloating, np.datetime64, np.timedelta64)):
                continue   # not a real number (float() would warn or mean something else)
            try:
                flat[i] = float(v)
            except (TypeError, ValueError, OverflowError):
                pass
        return out


def row_problems(proba: np.ndarray, tolerance: float) -> tuple[np.ndarray, dict[str, int]] | None:
    """Rows to keep and drop counts per reason, or None when every row is fine.

    Examples
    --------
    >>> keep, counts = row_problems(np.array([[0.5, 0.5], [np.nan, 1.0], [-0.1, 1.1], [0.2, 0.2]]), 1e-3)
    >>> keep.tolist(), counts
    ([True, False, False, False], {'nan_proba': 1, 'proba_range': 1, 'proba_sum': 1})
    """
    total = proba @ np.ones(proba.shape[1])   # BLAS: much faster than sum(axis=1) on narrow rows
    sum_ok = np.abs(total - 1.0) <= tolerance
    if sum_ok.all() and proba.min() >= 0.0 and proba.max() <= 1.0:  # NaN fails the sum test
        return None
    finite = np.isfinite(proba).all(axis=1)
    in_range = np.all((proba >= 0.0) & (proba <= 1.0), axis=1)
    counts = {
        "nan_proba": int((~finite).sum()),
        "proba_range": int((finite & ~in_range).sum()),
        "proba_sum": int((finite & in_range & ~sum_ok).sum()),
    }
    return finite & in_range & sum_ok, {k: v for k, v in counts.items() if v}
