"""Quality of the drift decision: false-alarm rate and power over seeded repetitions.

Every repetition draws fresh data from its own seed (``SeedSequence(base).spawn``),
so results do not depend on how repetitions are split between the two worker
processes that run them. Bounds are one-sided binomial allowances: a test
fails when the observed count would happen with probability < 1% if the true
rate were exactly at the claim (5% false alarms, 90% power).

Columns of the 100-column table (n rows per side): 40 normal, 10 lognormal,
10 Poisson (ties), 10 uniform, 30 categorical with four categories
(.4, .3, .2, .1), of which 25 pandas categoricals and 5 object columns; every
tenth column has 1% missing values.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from vigil.drift import compare
from vigil.profile import CategoricalProfile, CategoricalSpec, FrameProfile, NumericProfile, Schema, profile

CATEGORIES = np.array(["a", "b", "c", "d", "new"], dtype=object)
SHARES = np.array([0.4, 0.3, 0.2, 0.1])
N_NUMERIC, N_CATEGORICAL = 70, 30


def far_allowance(reps: int, rate: float = 0.05, risk: float = 0.01) -> int:
    """The most alarms a true rate of ``rate`` exceeds with probability < ``risk``.

    For 200 repetitions at 5%: 18 (P(X > 18) = 0.58%; note that 16 would be
    exceeded with probability 2.4%)."""
    return int(sps.binom.isf(risk, reps, rate))


# -- data --------------------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, n: int, shares: np.ndarray, as_object: bool) -> Any:
    codes = np.searchsorted(np.cumsum(shares), rng.random(n) * shares.sum(), side="right")
    if as_object:
        return CATEGORIES[codes]
    return pd.Categorical.from_codes(codes, CATEGORIES[:len(shares)])


def table(rng: np.random.Generator, n: int, columns: int = 100, change: str | None = None) -> pd.DataFrame:
    """The test table; ``change`` alters column 0 of one kind (see POWER)."""
    n_num = columns * N_NUMERIC // 100
    cols: dict[str, Any] = {}
    for j in range(n_num):
        kind = j % 7
        if kind < 4:
            x = rng.normal(size=n)
        elif kind == 4:
            x = rng.lognormal(size=n)
        elif kind == 5:
            x = rng.poisson(4.0, n).astype(float)
        else:
            x = rng.uniform(size=n)
        cols[f"n{j}"] = x
    for j in range(columns - n_num):
        cols[f"c{j}"] = _categorical(rng, n, SHARES, as_object=j % 6 == 5)
    if change == "mean":
        cols["n0"] = cols["n0"] + 0.2
    elif change == "variance":
        cols["n0"] = cols["n0"] * 1.5
    elif change == "frequencies":
        cols["c0"] = _categorical(rng, n, np.array([0.3, 0.3, 0.2, 0.2]), as_object=False)
    elif change == "new_category":
        cols["c0"] = _categorical(rng, n, np.r_[SHARES * 0.95, 0.05], as_object=True)
    frame = pd.DataFrame(cols)
    for j, name in enumerate(frame.columns):
        if j % 10 == 0 and not (change == "missing" and name == "n0"):
            frame.loc[rng.random(n) < 0.01, name] = np.nan
    if change == "missing":  # n0 had 1% missing in the baseline; now 5%
        frame.loc[rng.random(n) < 0.05, "n0"] = np.nan
    return frame


def _full_pipeline(seed: np.random.SeedSequence, n: int, columns: int, change: str | None) -> dict[str, Any]:
    started = time.process_time()
    rng = np.random.default_rng(seed)
    base = profile(table(rng, n, columns))
    result = compare(base, profile(table(rng, n, columns, change), base.schema))
    return {"drift": result.drift, "p_value": result.p_value, "drifted": result.drifted_columns,
            "cpu_s": time.process_time() - started}


def _null_10k(seed: np.random.SeedSequence) -> dict[str, Any]:
    return _full_pipeline(seed, 10_000, 100, None)


def _mean_shift_10k(seed: np.random.SeedSequence) -> dict[str, Any]:
    return _full_pipeline(seed, 10_000, 100, "mean")


POWER = {  # change -> the column it alters
    "variance": "n0", "frequencies": "c0", "missing": "n0", "new_category": "c0",
}


def _change_10k(args: tuple[np.random.SeedSequence, str]) -> dict[str, Any]:
    seed, change = args
    return _full_pipeline(seed, 10_000, 20, change)


# -- profiles at a million rows from multinomial counts ----------------------------------------
EDGES = sps.norm.ppf(np.linspace(0.005, 0.995, 65))
_CDF = np.r_[0.0, sps.norm.cdf(EDGES), 1.0]
BIN_P = np.diff(_CDF)
_LO, _HI = np.r_[-np.inf, EDGES], np.r_[EDGES, np.inf]
_PDF_LO, _PDF_HI = sps.norm.pdf(_LO), sps.norm.pdf(_HI)
BIN_MEAN = (_PDF_LO - _PDF_HI) / BIN_P                     # E[X | bin] of the standard normal
_FINITE = {"posinf": 0.0, "neginf": 0.0}  # x * pdf(x) -> 0 at +-inf
BIN_SQ = 1 + (np.nan_to_num(_LO, **_FINITE) * _PDF_LO - np.nan_to_num(_HI, **_FINITE) * _PDF_HI) / BIN_P  # E[X^2|bin]
SPEC = CategoricalSpec(["a", "b", "c", "d"])
SCHEMA_1M = Schema({f"n{j}": EDGES for j in range(N_NUMERIC)},
                   {f"c{j}": SPEC for j in range(N_CATEGORICAL)},
                   [f"n{j}" for j in range(N_NUMERIC)] + [f"c{j}" for j in range(N_CATEGORICAL)])


def counted_profile(rng: np.random.Generator, n: int) -> FrameProfile:
    """A 100-column FrameProfile of n standard-normal / categorical rows, built from counts."""
    columns: dict[str, Any] = {}
    for j, name in enumerate(SCHEMA_1M.columns):
        missing = int(rng.binomial(n, 0.01)) if j % 10 == 0 else 0
        if name.startswith("n"):
            p = NumericProfile(EDGES)
            p.count, p.missing, p.n = n, missing, n - missing
            p.bins = rng.multinomial(n - missing, BIN_P).astype(np.int64)
            p.mean = float(p.bins @ BIN_MEAN) / p.n
            p.m2 = float(p.bins @ BIN_SQ) - p.n * p.mean ** 2
            p.min, p.max = float(EDGES[0] - 1), float(EDGES[-1] + 1)
            if j % 2:  # half the sketches from a small sample, half left empty: compare() copes
                p.sketch.update(rng.normal(size=1000))
            columns[name] = p
        else:
            c = CategoricalProfile(SPEC)
            c.count, c.missing = n, missing
            c.counts = rng.multinomial(n - missing, SHARES).astype(np.int64)
            columns[name] = c
    return FrameProfile(SCHEMA_1M, columns, n, {"absent_columns": [], "extra_columns": []})


def _null_1m(seed: np.random.SeedSequence) -> dict[str, Any]:
    started = time.process_time()
    rng = np.random.default_rng(seed)
    result = compare(counted_profile(rng, 1_000_000), counted_profile(rng, 1_000_000))
    wn = result.df.loc[result.df.test == "distribution", "wasserstein_norm"].dropna()
    return {"drift": result.drift, "p_value": result.p_value, "drifted": result.drifted_columns,
            "finite_wasserstein": bool(np.isfinite(wn).all()), "cpu_s": time.process_time() - started}


# -- running -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """Two worker processes (this machine has two cores)."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


def run(pool: ProcessPoolExecutor, fn: Callable[[Any], dict[str, Any]], args: list[Any], what: str) -> list[dict]:
    started = time.perf_counter()
    out = list(pool.map(fn, args, chunksize=max(1, len(args) // 16)))
    cpu = sum(r["cpu_s"] for r in out)
    print(f"\n{what}: {len(args)} repetitions in {time.perf_counter() - started:.1f} s "
          f"({cpu:.1f} CPU s in the workers)")
    return out


def seeds(base: int, reps: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(base).spawn(reps)


def report_far(results: list[dict], what: str) -> tuple[int, int]:
    reps = len(results)
    alarms = sum(r["drift"] for r in results)
    evidence = sum(r["p_value"] <= 0.05 for r in results)
    print(f"{what}: dataset false alarms {alarms}/{reps} = {alarms / reps:.1%}; Simes p <= 0.05 (significance "
          f"alone, no minimum effect) {evidence}/{reps} = {evidence / reps:.1%}; allowance {far_allowance(reps)}")
    return alarms, evidence


@pytest.mark.slow
def test_false_alarm_rate_at_10k_rows_full_pipeline(pool):
    """No drift, 100 columns, 200 repetitions, 10,000 rows per side, profile + compare:
    the dataset verdict is a false alarm in at most 18 of 200 repetitions. The same bound
    holds for significance alone (Simes p <= alpha, i.e. BH flags any test, minimum
    effects ignored): this checks that the p-values themselves are valid."""
    results = run(pool, _null_10k, seeds(10, 200), "no drift, n = 10,000")
    alarms, evidence = report_far(results, "n = 10,000")
    assert alarms <= far_allowance(200)
    assert evidence <= far_allowance(200)
    assert all(isinstance(r["drift"], bool) and np.isfinite(r["p_value"]) for r in results)


@pytest.mark.slow
def test_false_alarm_rate_at_a_million_rows_from_counts(pool):
    """No drift, 100 columns, 200 repetitions, 1,000,000 rows per side.

    Profiling 2 x 100 x 1M values 200 times is too slow for CI, so the profiles
    are built from counts. This is equivalent for the decision: with fixed bin
    edges, the bin counts of n i.i.d. rows are exactly Multinomial(n, p) with p
    the bins' probabilities (here theoretical normal quantiles, so p is known),
    the missing count is Binomial(n, rate) and, given it, the other rows'
    counts are multinomial; categorical counts likewise. Every statistic the
    verdict uses (binned KS, chi-square, the missing-rate and new-category
    tests) and PSI, JS and total variation are functions of these counts only,
    so drawing the counts has the same distribution as profiling the rows.
    Not reproduced: edges chosen from the baseline sample (the full-pipeline
    test at n = 10,000 covers that) and the KLL sketch, which only feeds the
    Wasserstein effect (half the sketches come from 1,000 draws, half are
    empty: compare() must run either way)."""
    results = run(pool, _null_1m, seeds(1_000_000, 200), "no drift, n = 1,000,000 (counts)")
    alarms, evidence = report_far(results, "n = 1,000,000")
    assert alarms <= far_allowance(200)
    assert evidence <= far_allowance(200)
    assert all(r["finite_wasserstein"] for r in results)


@pytest.mark.slow
def test_power_for_a_small_mean_shift(pool):
    """A 0.2 sd mean shift in one of 100 columns at n = 10,000: that column is flagged
    in at least 90 of 100 repetitions (its KS distance is about 0.08, above the
    0.05 minimum effect, and about 6 standard errors from 0)."""
    results = run(pool, _mean_shift_10k, seeds(20, 100), "mean shift 0.2 sd")
    detected = sum("n0" in r["drifted"] for r in results)
    others = sum(len([c for c in r["drifted"] if c != "n0"]) for r in results)
    print(f"mean shift 0.2 sd: column flagged {detected}/100; other columns flagged {others} times "
          f"(of 99 x 100)")
    assert detected >= 90


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(POWER))
def test_power_for_other_changes(pool, change):
    """Variance (sd x 1.5), category shares (.4,.3,.2,.1) -> (.3,.3,.2,.2), missing rate
    1% -> 5%, a new category with 5% of the mass: each flags its column in at least
    90% of 50 repetitions (20 columns, n = 10,000 per side)."""
    args = [(s, change) for s in seeds(30 + sorted(POWER).index(change), 50)]
    results = run(pool, _change_10k, args, change)
    column = POWER[change]
    detected = sum(column in r["drifted"] for r in results)
    print(f"{change}: column flagged {detected}/50")
    assert detected >= 45
