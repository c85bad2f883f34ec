"""NumericProfile: fixed bins with under/overflow, missing and infinities, exact
mergeable moments and a KLL sketch within its rank error bound."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.profile.checks import assert_numeric_equal, assert_sketch_ranks
from vigil.errors import InvalidInput
from vigil.profile import NumericProfile, choose_edges
from vigil.profile.numeric import SORTED_SKETCH_MIN

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, None])
VALUE = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), SPECIAL)
VALUES = st.lists(VALUE, max_size=80)
EDGES = np.array([-100.0, -1.0, 0.0, 0.5, 1.0, 100.0])


def test_bins_count_underflow_overflow_infinities_and_missing():
    p = NumericProfile(np.array([0.0, 1.0, 2.0])).update(
        [-5.0, -np.inf, 0.0, 0.999, 1.0, 2.0, 7.0, np.inf, np.nan, None])
    # bin 0: x < 0 (with -inf); [0, 1); [1, 2); bin 3: x >= 2 (with +inf)
    assert p.bins.tolist() == [2, 2, 1, 3]
    assert (p.count, p.missing, p.neg_inf, p.pos_inf, p.n) == (10, 2, 1, 1, 6)
    assert p.missing_rate == pytest.approx(0.2)
    assert (p.min, p.max) == (-5.0, 7.0)


def test_moments_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, 10_001)
    p = NumericProfile(choose_edges(x)).update(x)
    assert p.mean == pytest.approx(x.mean(), rel=1e-12)
    assert p.std == pytest.approx(x.std(ddof=1), rel=1e-12)


def test_choose_edges_cover_the_baseline_and_handle_degenerate_columns():
    x = np.r_[np.arange(1000.0), np.nan, np.inf]
    edges = choose_edges(x, bins=10)
    assert edges.size == 11 and np.all(np.diff(edges) > 0)
    p = NumericProfile(edges).update(x[np.isfinite(x)])
    assert p.bins[0] == 0 and p.bins[-1] == 0, "every finite baseline value lies inside a bin"
    constant = choose_edges(np.full(50, 7.0))
    assert constant.size == 2 and constant[0] == 7.0 < constant[1]
    assert NumericProfile(constant).update(np.full(50, 7.0)).bins.tolist() == [0, 50, 0]
    assert choose_edges(np.array([np.nan, np.inf])).tolist() == [0.0, 1.0]
    ties = choose_edges(np.r_[np.zeros(900), np.arange(100.0)], bins=64)
    assert np.unique(ties).size == ties.size


@pytest.mark.parametrize("edges", [[1.0], [2.0, 1.0], [0.0, 0.0, 1.0], [[0.0, 1.0]]])
def test_bad_edges_are_refused(edges):
    with pytest.raises(InvalidInput, match="edges must be"):
        NumericProfile(np.array(edges))


def test_merge_refuses_other_edges_and_other_kinds():
    p = NumericProfile(EDGES)
    with pytest.raises(InvalidInput, match="same edges"):
        p.merge(NumericProfile(EDGES + 1))
    with pytest.raises(InvalidInput):
        p.merge("not a profile")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(VALUES, VALUES, VALUES)
def test_merge_laws(xs, ys, zs):
    a, b, c = (NumericProfile(EDGES).update(np.array(v, dtype=object)) for v in (xs, ys, zs))
    whole = NumericProfile(EDGES).update(np.array(xs + ys + zs, dtype=object))
    assert_numeric_equal(a + b + c, whole)
    assert_numeric_equal((a + b) + c, a + (b + c))
    assert_numeric_equal(a + b, b + a)
    assert_numeric_equal(a + NumericProfile(EDGES), a)  # the empty profile is neutral
    assert a.count == len(xs) and a.bins.sum() + a.missing == a.count
    merged = a + b + c
    assert_sketch_ranks(merged, np.array(xs + ys + zs, dtype=np.float64))


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_round_trips_through_json_and_pickle(xs):
    p = NumericProfile(EDGES).update(np.array(xs, dtype=object))
    data = p.to_dict()
    assert NumericProfile.from_dict(json.loads(json.dumps(data))).to_dict() == data
    # Dask ships partial profiles between processes: the KLL sketch must survive pickling
    assert pickle.loads(pickle.dumps(p)).to_dict() == data


def test_merged_sketches_keep_the_rank_error_bound_on_large_data():
    """200,000 values in 37 uneven chunks merged in a shuffled order: every
    quantile on the grid has a true rank within 2x the sketch's 99% bound."""
    rng = np.random.default_rng(7)
    x = np.r_[rng.lognormal(size=120_000), rng.normal(-5, 1, 80_000)]
    cuts = np.sort(rng.choice(np.arange(1, x.size), 36, replace=False))
    parts = [NumericProfile(choose_edges(x)).update(chunk) for chunk in np.split(x, cuts)]
    order = rng.permutation(len(parts))
    merged = parts[order[0]]
    for i in order[1:]:
        merged = merged + parts[i]
    assert merged.sketch.n == x.size and merged.sketch.is_estimation_mode()
    worst = assert_sketch_ranks(merged, x)
    print(f"worst rank error {worst:.4f}; 99% bound {merged.sketch.normalized_rank_error(False):.4f}")
    q = merged.quantiles([0.5])
    assert np.mean(x <= q[0]) == pytest.approx(0.5, abs=2 * merged.sketch.normalized_rank_error(False))


def test_quantiles_of_an_empty_profile_are_nan():
    assert np.isnan(NumericProfile(EDGES).quantiles([0.1, 0.9])).all()


def test_size_does_not_grow_with_rows():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1_000_000)
    edges = choose_edges(x)
    small = len(json.dumps(NumericProfile(edges).update(x[:10]).to_dict()))
    large = len(json.dumps(NumericProfile(edges).update(x).to_dict()))
    print(f"NumericProfile JSON: {small} bytes for 10 rows, {large} bytes for 1,000,000 rows")
    assert large <= 64 * 1024
    assert large - small <= 16 * 1024  # the KLL sketch grows with log(n): a few KB


def test_a_large_batch_equals_the_merge_of_its_small_parts():
    """A batch of SORTED_SKETCH_MIN finite values or more reaches the sketch compacted at once
    (vigil.profile.kll), smaller ones value by value: both give the same counts and moments, and
    sketches within the bound."""
    rng = np.random.default_rng(11)
    x = rng.lognormal(size=50_000)
    spots = rng.permutation(x.size)
    x[spots[:500]], x[spots[500:550]], x[spots[550:580]] = np.nan, np.inf, -np.inf
    edges = choose_edges(x[:5_000], bins=32)
    whole = NumericProfile(edges).update(x)
    assert whole.n >= SORTED_SKETCH_MIN
    parts = [NumericProfile(edges).update(chunk) for chunk in np.array_split(x, 10)]
    assert all(p.n < SORTED_SKETCH_MIN for p in parts)
    merged = parts[0]
    for p in parts[1:]:
        merged = merged + p
    assert_numeric_equal(whole, merged)
    assert (whole.missing, whole.pos_inf, whole.neg_inf, whole.n) == (500, 50, 30, x.size - 580)
    assert_sketch_ranks(whole, x)
    assert_sketch_ranks(merged + whole, np.r_[x, x])


@settings(max_examples=100, deadline=None)
@given(VALUES, VALUES, VALUES)
def test_merge_laws_hold_on_the_sorted_batch_path(xs, ys, zs):
    """The merge laws again with every batch taking the sorted path (threshold 1)."""
    import vigil.profile.numeric as numeric

    saved = numeric.SORTED_SKETCH_MIN
    numeric.SORTED_SKETCH_MIN = 1
    try:
        a, b, c = (NumericProfile(EDGES).update(np.array(v, dtype=object)) for v in (xs, ys, zs))
        whole = NumericProfile(EDGES).update(np.array(xs + ys + zs, dtype=object))
        assert_numeric_equal(a + b + c, whole)
        assert_numeric_equal((a + b) + c, a + (b + c))
        assert_numeric_equal(a + b, b + a)
        assert_sketch_ranks(a + b + c, np.array(xs + ys + zs, dtype=np.float64))
    finally:
        numeric.SORTED_SKETCH_MIN = saved
