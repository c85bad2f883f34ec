"""Equality of profiles as the merge laws define it.

Counts (rows, missing, infinities, bins, categories, OTHER/NEW) must be
exactly equal. Moments are floating point: ``mean`` within 1e-9 of the data's
magnitude and ``m2`` within 1e-9 of the raw second moment ``m2 + n*mean**2``
(so a constant column, whose ``m2`` is 0 up to rounding, is not held to a
relative error of 0). KLL sketches are randomized: they are checked against
the data they summarize, in ranks, within the sketch's own error bound.
"""

from __future__ import annotations

import math

import numpy as np

from vigil.profile import CategoricalProfile, FrameProfile, NumericProfile

#: the 99%-confidence normalized rank error of a KLL sketch is stated for one
#: query; a grid of queries on merged sketches gets this safety factor.
KLL_SAFETY = 2.0
RANK_GRID = np.linspace(0.01, 0.99, 25)


def assert_numeric_equal(p: NumericProfile, q: NumericProfile, where: str = "") -> None:
    assert np.array_equal(p.edges, q.edges), where
    assert (p.count, p.missing, p.pos_inf, p.neg_inf, p.n) == (q.count, q.missing, q.pos_inf, q.neg_inf, q.n), where
    assert p.bins.tolist() == q.bins.tolist(), where
    assert p.sketch.n == q.sketch.n == p.n, where
    if p.n:
        assert (p.min, p.max) == (q.min, q.max), where
        scale = max(abs(p.min), abs(p.max), 1e-300)
        assert math.isclose(p.mean, q.mean, rel_tol=1e-9, abs_tol=1e-9 * scale), (where, p.mean, q.mean)
        raw = p.m2 + p.n * p.mean ** 2
        assert math.isclose(p.m2, q.m2, rel_tol=1e-9, abs_tol=1e-9 * raw + 1e-300), (where, p.m2, q.m2)


def assert_categorical_equal(p: CategoricalProfile, q: CategoricalProfile, where: str = "",
                             examples: bool = True) -> None:
    assert p.spec == q.spec, where
    assert (p.count, p.missing, p.other, p.new) == (q.count, q.missing, q.other, q.new), where
    assert p.counts.tolist() == q.counts.tolist(), where
    if examples:
        assert p.new_examples == q.new_examples, where


def assert_frames_equal(p: FrameProfile, q: FrameProfile, examples: bool = True) -> None:
    assert p.schema == q.schema
    assert p.rows == q.rows
    assert sorted(p.columns) == sorted(q.columns)
    assert p.meta.get("absent_columns", []) == q.meta.get("absent_columns", [])
    assert p.meta.get("extra_columns", []) == q.meta.get("extra_columns", [])
    for name, col in p.columns.items():
        if col.kind == "numeric":
            assert_numeric_equal(col, q[name], name)
        else:
            assert_categorical_equal(col, q[name], name, examples)


def assert_sketch_ranks(prof: NumericProfile, values: np.ndarray) -> float:
    """Every quantile the sketch returns on ``RANK_GRID`` has, in ``values``, a rank
    within ``KLL_SAFETY`` times the sketch's normalized rank error; returns the worst error."""
    finite = np.sort(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    assert prof.sketch.n == finite.size
    if finite.size == 0:
        return 0.0
    bound = KLL_SAFETY * prof.sketch.normalized_rank_error(False)
    worst = 0.0
    for r in RANK_GRID:
        q = prof.sketch.get_quantile(float(r))
        lo = np.searchsorted(finite, q, side="left") / finite.size    # share < q
        hi = np.searchsorted(finite, q, side="right") / finite.size   # share <= q
        err = max(0.0, lo - r, r - hi)
        worst = max(worst, err)
        assert err <= bound, f"rank {r:.2f}: quantile {q} has true rank in [{lo}, {hi}]; bound {bound}"
    return worst
