"""Exact moments: equal to numpy over all rows, missing values skipped, merge law."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.agent.moments import Moments


def check_against_numpy(m: Moments, data: np.ndarray) -> None:
    finite = np.where(np.isfinite(data), data, np.nan)
    for j in range(data.shape[1]):
        column = finite[:, j][~np.isnan(finite[:, j])]
        assert m.count[j] == column.size
        summary = m.summary(j)
        if column.size == 0:
            assert summary == {}
            continue
        scale = max(1.0, float(np.abs(column).max()))
        assert np.isclose(summary["mean"], column.mean(), rtol=1e-9, atol=1e-9 * scale)
        assert np.isclose(summary["std"], column.std(), rtol=1e-6, atol=1e-6 * scale)
        assert summary["min"] == column.min() and summary["max"] == column.max()
        assert summary["range"] == column.max() - column.min()


def test_batches_equal_the_whole():
    rng = np.random.default_rng(0)
    data = rng.normal(loc=1e6, scale=3.0, size=(1000, 4))   # a large mean: the stable update matters
    data[rng.random(data.shape) < 0.1] = np.nan
    data[5, 1] = np.inf
    m = Moments(4)
    for part in np.array_split(data, [1, 2, 50, 51, 400, 999]):
        m.update(part)
    check_against_numpy(m, data)


values = arrays(np.float64, st.tuples(st.integers(0, 40), st.just(3)),
                elements=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])))


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_merging_two_halves_equals_the_whole(a, b):
    left, right, whole = Moments(3), Moments(3), Moments(3)
    left.update(a)
    right.update(b)
    whole.update(np.concatenate([a, b]))
    merged = left.merge(right)
    assert merged.count.tolist() == whole.count.tolist()
    assert np.allclose(merged.mean, whole.mean, rtol=1e-9, atol=1e-6)
    assert np.allclose(merged.m2, whole.m2, rtol=1e-6, atol=1e-3)
    assert merged.min.tolist() == whole.min.tolist() and merged.max.tolist() == whole.max.tolist()
    check_against_numpy(merged, np.concatenate([a, b]))


def test_empty_and_column_layout():
    m = Moments(2)
    assert m.is_empty() and m.n == 0 and m.summary(0) == {}
    m.update(np.empty((0, 2)))
    m.update_columns(np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]]))
    assert m.n == 3 and m.summary(1) == {} and m.summary(0)["mean"] == 2.0
