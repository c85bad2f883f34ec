"""Reservoir sampling: bounded, and uniform over the rows of a window whatever the batch sizes."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from vigil.agent.features import FeatureSchema
from vigil.agent.reservoir import Reservoir
from vigil.agent.window import Window

N_ROWS, CAPACITY, REPETITIONS = 100, 10, 3000
ALPHA = 1e-3
#: Chi-square bound for N_ROWS - 1 degrees of freedom at ALPHA. The statistic below sums
#: (observed - expected)^2 / expected over row positions; exactly CAPACITY positions are
#: sampled per repetition, which makes it *smaller* than a chi-square (variance per position
#: is R p (1 - p), not R p), so the test is conservative: a uniform sampler exceeds the bound
#: with probability < ALPHA.
BOUND = chi2.ppf(1 - ALPHA, N_ROWS - 1)


def statistic(counts: np.ndarray) -> float:
    expected = REPETITIONS * CAPACITY / N_ROWS
    return float(((counts - expected) ** 2 / expected).sum())


def batch_sizes(rng: np.random.Generator) -> list[int]:
    """Random batch sizes (1 to 30 rows) adding up to N_ROWS."""
    sizes, left = [], N_ROWS
    while left:
        size = int(min(left, rng.integers(1, 31)))
        sizes.append(size)
        left -= size
    return sizes


def inclusion_counts(sample_positions) -> np.ndarray:
    counts = np.zeros(N_ROWS, dtype=np.int64)
    for rep in range(REPETITIONS):
        counts[sample_positions(rep)] += 1
    return counts


def test_slots_are_distinct_and_the_size_is_bounded():
    r = Reservoir(CAPACITY, np.random.default_rng(1))
    held = np.full(CAPACITY, -1)
    seen = 0
    for size in [3, 4, 50, 1, 1000, 7]:
        slots, rows = r.update(size)
        assert len(set(slots.tolist())) == len(slots)
        assert np.all((slots >= 0) & (slots < CAPACITY)) and np.all((rows >= 0) & (rows < size))
        held[slots] = seen + rows
        seen += size
    assert r.n == seen and r.size == CAPACITY
    assert np.all(held >= 0) and len(set(held.tolist())) == CAPACITY


def test_reservoir_is_uniform_over_positions():
    def positions(rep: int) -> np.ndarray:
        rng = np.random.default_rng(rep)
        r = Reservoir(CAPACITY, np.random.default_rng(10_000 + rep))
        held = np.empty(CAPACITY, dtype=np.int64)
        seen = 0
        for size in batch_sizes(rng):
            slots, rows = r.update(size)
            held[slots] = seen + rows
            seen += size
        return held

    counts = inclusion_counts(positions)
    assert counts.sum() == REPETITIONS * CAPACITY
    assert statistic(counts) < BOUND


def test_the_test_has_power_against_a_biased_sampler():
    # keeping the first rows (what a buffer without sampling does) is far beyond the bound
    counts = inclusion_counts(lambda rep: np.arange(CAPACITY))
    assert statistic(counts) > 100 * BOUND
    # so is a sampler that favours late rows only mildly: slot replacement with probability 2k/i
    def late_biased(rep: int) -> np.ndarray:
        rng = np.random.default_rng(rep)
        held = np.arange(CAPACITY)
        for i in range(CAPACITY, N_ROWS):
            if rng.random() < min(1.0, 2 * CAPACITY / (i + 1)):
                held[rng.integers(CAPACITY)] = i
        return held
    assert statistic(inclusion_counts(late_biased)) > BOUND


def test_the_window_sample_is_uniform_over_rows():
    """The same test through Window.update: the sampled input rows carry their position."""
    def positions(rep: int) -> np.ndarray:
        rng = np.random.default_rng(rep)
        window = Window(0, 60_000, 2, CAPACITY, np.random.default_rng(20_000 + rep), 0.5, FeatureSchema())
        seen = 0
        for size in batch_sizes(rng):
            index = np.arange(seen, seen + size, dtype=np.float64)[:, None]
            proba = np.column_stack([np.full(size, 0.5), np.full(size, 0.5)])
            window.schema.bind(index, None)
            num, cat = window.schema.split(index)
            window.update(proba, None, num, cat)
            seen += size
        return window.sample_num[:CAPACITY, 0].astype(np.int64)

    counts = inclusion_counts(positions)
    assert statistic(counts) < BOUND


def test_same_seed_same_sample():
    def run(seed):
        r = Reservoir(5, np.random.default_rng(seed))
        return [tuple(a.tolist()) for size in (3, 40, 7) for a in r.update(size)]
    assert run(3) == run(3)
    assert run(3) != run(4)
