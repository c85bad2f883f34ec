"""A KLL sketch of one sorted batch, compacted in one pass: a valid DataSketches
sketch with the exact count, minimum and maximum, ranks within its stated
deterministic bound, and merges that KLL itself checks (total weight == n)."""

from __future__ import annotations

import numpy as np
import pytest
from datasketches import kll_doubles_sketch
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.profile.kll import level_capacity, sketch_of_sorted, total_capacity

FLOATS = st.lists(st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False), min_size=1, max_size=400)


def _levels(sketch) -> int:
    data = sketch.serialize()
    return 1 if data[3] & 4 else data[18]  # single-item sketches store no level count


def _worst_rank_error(sketch, ordered: np.ndarray, grid: np.ndarray) -> float:
    worst = 0.0
    for r in grid:
        q = sketch.get_quantile(float(r))
        lo = np.searchsorted(ordered, q, side="left") / ordered.size
        hi = np.searchsorted(ordered, q, side="right") / ordered.size
        worst = max(worst, lo - r, r - hi)
    return worst


def test_capacities_are_datasketches_own():
    # DataSketches' integer formula: k (2/3)^depth rounded, at least 8 wide
    assert [total_capacity(200, n) for n in range(1, 6)] == [200, 333, 422, 481, 521]
    assert [level_capacity(200, 12, h) for h in (11, 10, 9, 0)] == [200, 133, 89, 8]
    assert level_capacity(200, 60, 0) == 8  # the depth > 30 branch


@settings(max_examples=200, deadline=None)
@given(FLOATS, st.sampled_from([8, 12, 200]))
def test_a_batch_sketch_keeps_n_min_max_and_its_rank_bound(values, k):
    ordered = np.sort(np.array(values))
    sketch = sketch_of_sorted(ordered, k)
    assert sketch.n == ordered.size
    assert (sketch.get_min_value(), sketch.get_max_value()) == (ordered[0], ordered[-1])
    weight = 2 ** (_levels(sketch) - 1)  # of the kept values; the rank error is below it
    assert _worst_rank_error(sketch, ordered, np.linspace(0.0, 1.0, 41)) <= (weight - 1) / ordered.size + 1e-12
    # KLL's merge recounts every level's weight and raises unless they add up to n
    into = kll_doubles_sketch(k)
    into.update(ordered[: len(ordered) // 2])
    into.merge(sketch)
    assert into.n == ordered.size + len(ordered) // 2
    again = kll_doubles_sketch.deserialize(sketch.serialize())
    assert again.serialize() == sketch.serialize()


@pytest.mark.parametrize("n", [8_192, 100_003, 262_144])
def test_large_batches_stay_well_inside_the_kll_bound(n):
    rng = np.random.default_rng(n)
    ordered = np.sort(np.r_[rng.poisson(3.0, n // 2).astype(float), rng.lognormal(size=n - n // 2)])  # ties too
    sketch = sketch_of_sorted(ordered, 200)
    weight = 2 ** (_levels(sketch) - 1)
    assert weight < n / 259, "each kept value stands for under 1/259 of the batch (kll.py)"
    worst = _worst_rank_error(sketch, ordered, np.linspace(0.01, 0.99, 99))
    assert worst <= (weight - 1) / n
    assert worst < sketch.normalized_rank_error(False) / 3
    assert sketch.num_retained <= total_capacity(200, _levels(sketch))
