"""Two-sample statistics on counts, checked against scipy, published values and
hand computations; validity (false-alarm rates) and interval coverage over
seeded repetitions, each with its binomial allowance stated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from vigil.drift import stats
from vigil.drift.compare import QUANTILE_GRID
from vigil.profile import NumericProfile, choose_edges


def allowance(reps: int, rate: float, risk: float = 0.01) -> int:
    """Most events out of ``reps`` a true ``rate`` yields except with probability < ``risk``."""
    return int(sps.binom.isf(risk, reps, rate))


def binned(a: np.ndarray, b: np.ndarray, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    edges = choose_edges(a, bins)
    return NumericProfile(edges).update(a).bins, NumericProfile(edges).update(b).bins


SAMPLERS = {
    "normal": lambda rng, n, s: rng.normal(s, 1.0, n),
    "lognormal": lambda rng, n, s: rng.lognormal(s, 1.0, n),
    "poisson": lambda rng, n, s: rng.poisson(3.0 + 3 * s, n).astype(float),   # ties
    "uniform": lambda rng, n, s: rng.uniform(s, 1.0 + s, n),
}


# -- Kolmogorov-Smirnov on bins ---------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(SAMPLERS)), st.integers(5, 3000), st.integers(5, 3000),
       st.sampled_from([0.0, 0.05, 0.3, 1.0]), st.sampled_from([4, 16, 64]))
def test_binned_ks_brackets_the_exact_statistic(seed, dist, na, nb, shift, nbins):
    """The D at bin edges never exceeds scipy's exact two-sample D, and the exact D
    never exceeds the reported upper bound."""
    rng = np.random.default_rng(seed)
    a, b = SAMPLERS[dist](rng, na, 0.0), SAMPLERS[dist](rng, nb, shift)
    r = stats.ks_binned(*binned(a, b, nbins))
    exact = sps.ks_2samp(a, b, method="asymp").statistic  # D is the same for any method
    assert r.statistic <= exact + 1e-12
    assert exact <= r.upper + 1e-12
    assert 0.0 <= r.ci_low <= r.statistic <= r.upper <= r.ci_high <= 1.0
    assert 0.0 <= r.p_value <= 1.0


@pytest.mark.parametrize("dist", sorted(SAMPLERS))
def test_binned_ks_false_alarm_rate(dist):
    """Same distribution, 1,000 seeded pairs (n = 400 and 700, edges from the
    baseline): rejections at alpha = 0.05 stay within the allowance of a 5% rate."""
    rng = np.random.default_rng(100)
    reps, alarms = 1000, 0
    for _ in range(reps):
        a, b = SAMPLERS[dist](rng, 400, 0.0), SAMPLERS[dist](rng, 700, 0.0)
        alarms += stats.ks_binned(*binned(a, b)).p_value <= 0.05
    print(f"binned KS on {dist}: {alarms}/{reps} false alarms at alpha 0.05")
    assert alarms <= allowance(reps, 0.05)


def test_binned_ks_power_and_interval_coverage():
    """N(0,1) vs N(0.3,1): the true D is 2*Phi(0.15) - 1; the interval covers it in at
    least 95% of 300 seeded pairs (allowance for a 95% rate), and the test rejects."""
    rng = np.random.default_rng(5)
    true_d = 2 * sps.norm.cdf(0.15) - 1
    reps, covered, rejected = 300, 0, 0
    for _ in range(reps):
        r = stats.ks_binned(*binned(rng.normal(size=2000), rng.normal(0.3, 1, 2000)))
        covered += r.ci_low <= true_d <= r.ci_high
        rejected += r.p_value <= 0.05
    print(f"KS interval coverage {covered}/{reps}, power {rejected}/{reps}")
    assert reps - covered <= allowance(reps, 0.05)
    assert rejected >= 0.99 * reps


def test_binned_ks_examples():
    r = stats.ks_binned(np.array([50, 50, 0]), np.array([0, 50, 50]))
    assert r.statistic == pytest.approx(0.5) and r.p_value < 1e-6
    assert stats.ks_binned(np.array([5, 5]), np.array([5, 5])).p_value == 1.0
    empty = stats.ks_binned(np.array([0, 0]), np.array([3, 1]))
    assert (empty.statistic, empty.p_value) == (0.0, 1.0)


# -- distances ------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=20).flatmap(
    lambda a: st.tuples(st.just(a), st.lists(st.integers(0, 1000), min_size=len(a), max_size=len(a)))))
def test_jensen_shannon_total_variation_and_psi_match_hand_computation(pair):
    a, b = (np.array(v) for v in pair)
    if a.sum() == 0 or b.sum() == 0:
        return
    pa, pb = a / a.sum(), b / b.sum()
    assert stats.jensen_shannon(a, b) == pytest.approx(jensenshannon(pa, pb, base=2), abs=1e-9)
    assert stats.total_variation(a, b) == pytest.approx(0.5 * np.abs(pa - pb).sum(), abs=1e-12)
    fa, fb = np.maximum(pa, 1e-4), np.maximum(pb, 1e-4)
    assert stats.psi(a, b) == pytest.approx(float(np.sum((fb - fa) * np.log(fb / fa))), abs=1e-12)
    assert stats.psi(a, b) >= 0 and stats.psi(a, b) == pytest.approx(stats.psi(b, a))
    assert stats.psi(a, a) == 0.0 and stats.jensen_shannon(a, a) == 0.0


def test_normalized_wasserstein_matches_scipy():
    """From KLL quantiles on a 100-point grid (0.5% tails left out): within 5% (+0.02)
    of scipy's exact W1 between the raw samples, divided by the baseline's sd."""
    rng = np.random.default_rng(9)
    for shift, sd in ((0.0, 1.0), (0.3, 1.0), (1.0, 1.0), (0.0, 2.0), (0.5, 0.5)):
        a, b = rng.normal(size=20_000), rng.normal(shift, sd, 20_000)
        edges = choose_edges(a)
        pa, pb = NumericProfile(edges).update(a), NumericProfile(edges).update(b)
        w = stats.wasserstein_normalized(pa.quantiles(QUANTILE_GRID), pb.quantiles(QUANTILE_GRID), pa.std)
        exact = sps.wasserstein_distance(a, b) / a.std(ddof=1)
        assert w == pytest.approx(exact, rel=0.05, abs=0.02), (shift, sd)
    assert stats.wasserstein_normalized(np.array([]), np.array([]), 1.0) == 0.0


# -- chi-square -----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(st.integers(2, 8).flatmap(lambda k: st.tuples(
    st.lists(st.integers(20, 2000), min_size=k, max_size=k), st.lists(st.integers(20, 2000), min_size=k, max_size=k))))
def test_chi2_matches_scipy_without_sparse_cells(pair):
    a, b = (np.array(v) for v in pair)
    table = np.vstack([a, b])
    expected = sps.contingency.expected_freq(table)
    if (expected < 5).any():
        return
    ours = stats.chi2_contingency(a, b)
    ref = sps.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert ours.dof == ref.dof
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert ours.cramers_v == pytest.approx(math.sqrt(ref.statistic / table.sum()), rel=1e-9)


def test_chi2_pools_sparse_buckets_and_tests_the_rest():
    a = np.array([400, 300, 200, 2, 1])
    b = np.array([380, 310, 210, 1, 1])
    r = stats.chi2_contingency(a, b)
    # buckets 4 and 5 pool to (3, 2): still below 5 expected, so they are dropped and
    # the test is of the three remaining buckets, margins recomputed
    ref = sps.chi2_contingency(np.vstack([a[:3], b[:3]]), correction=False)
    assert r.dof == 2 and r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    pooled = stats.chi2_contingency(np.array([400, 300, 4, 3]), np.array([380, 310, 3, 4]))
    ref = sps.chi2_contingency(np.array([[400, 300, 7], [380, 310, 7]]), correction=False)
    assert pooled.dof == 2 and pooled.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert stats.chi2_contingency(np.array([5, 0]), np.array([0, 0])).p_value == 1.0
    assert stats.chi2_contingency(np.array([100, 0]), np.array([0, 3])).p_value == 1.0


def test_chi2_false_alarm_rate_on_sparse_tables():
    """A long-tailed categorical (12 buckets, the last six rare) at n = 300 per side:
    after pooling, 1,000 seeded null tables reject within the allowance of 5%."""
    rng = np.random.default_rng(21)
    p = np.r_[[0.3, 0.2, 0.15, 0.12, 0.1, 0.08], np.full(6, 0.05 / 6)]
    reps = 1000
    alarms = sum(stats.chi2_contingency(rng.multinomial(300, p), rng.multinomial(300, p)).p_value <= 0.05
                 for _ in range(reps))
    print(f"chi-square on sparse tables: {alarms}/{reps} false alarms at alpha 0.05")
    assert alarms <= allowance(reps, 0.05)


# -- proportions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("xa, na, xb, nb, low, high", [
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10 (signs: b - a)
    (48, 80, 56, 70, 0.0524, 0.3339),
    (0, 20, 0, 10, -0.1611, 0.2775),
    (0, 20, 10, 10, 0.6791, 1.0),
])
def test_newcombe_interval_matches_published_values(xa, na, xb, nb, low, high):
    r = stats.two_proportions(xa, na, xb, nb)
    assert (round(r.ci_low, 4), round(r.ci_high, 4)) == (low, high)


def test_two_proportions_p_values():
    big = stats.two_proportions(300, 10_000, 380, 10_000)
    pooled = 680 / 20_000
    z = (0.038 - 0.030) / math.sqrt(pooled * (1 - pooled) * 2 / 10_000)
    assert big.p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-9)
    small = stats.two_proportions(2, 50, 9, 60)
    assert small.p_value == pytest.approx(sps.fisher_exact([[2, 48], [9, 51]])[1], rel=1e-12)
    assert stats.two_proportions(0, 100, 0, 100).p_value == 1.0
    assert stats.two_proportions(0, 0, 5, 10).p_value == 1.0


def test_rare_events_at_large_n_keep_their_level():
    """A rate of 1e-4 in 1,000,000 baseline and 10,000 target rows: about one event in
    the target. The z-test rejected 3x too often at alpha = 0.005 (1.65% measured);
    with Fisher's test at any n, 2,000 null pairs stay within the allowance of 0.5%."""
    rng = np.random.default_rng(4)
    reps = 2000
    xa, xb = rng.binomial(1_000_000, 1e-4, reps), rng.binomial(10_000, 1e-4, reps)
    alarms = sum(stats.two_proportions(int(a), 1_000_000, int(b), 10_000).p_value <= 0.005 for a, b in zip(xa, xb))
    print(f"rare-event rate test: {alarms}/{reps} false alarms at alpha 0.005")
    assert alarms <= allowance(reps, 0.005)


def test_two_proportions_interval_coverage():
    """Newcombe's interval covers the true difference (0.05 - 0.02) in >= 95% of 1,000 pairs."""
    rng = np.random.default_rng(8)
    reps, missed = 1000, 0
    for _ in range(reps):
        r = stats.two_proportions(int(rng.binomial(400, 0.02)), 400, int(rng.binomial(500, 0.05)), 500)
        missed += not r.ci_low <= 0.03 <= r.ci_high
    print(f"Newcombe interval missed {missed}/{reps}")
    assert missed <= allowance(reps, 0.05)


def test_unseen_mass_change_is_a_z_test_on_both_variances():
    r = stats.unseen_mass_change(0.10, 2e-5, 1500, 10_000)
    se = math.sqrt(2e-5 + 0.15 * 0.85 / 10_000)
    assert r.difference == pytest.approx(0.05)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(0.05 / se), rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.05 - sps.norm.ppf(0.975) * se, 0.05 + sps.norm.ppf(0.975) * se))
    assert stats.unseen_mass_change(0.0, 0.0, 0, 100).p_value == 1.0


@pytest.mark.parametrize("name", ["zipf over 2,000", "uniform over 5,000", "uniform over 500 at n = 2,000"])
def test_unseen_mass_false_alarm_rate(name):
    """Long-tailed columns meet values the baseline never saw without any drift. The
    Good-Turing estimate N1/n with Esty's variance keeps the z-test near its level:
    over 9,000 seeded pairs of a uniform distribution on 5,000 values it rejected
    5.5% at alpha = 0.05 (an approximate test: N1/n is slightly biased and not
    normal). Here 1,000 seeded pairs must stay within the allowance of a 6% rate.
    Comparing with the baseline's own NEW share, 0 by construction, rejected
    every time."""
    rng = np.random.default_rng(12)
    k, n = {"zipf over 2,000": (2000, 10_000), "uniform over 5,000": (5000, 10_000),
            "uniform over 500 at n = 2,000": (500, 2000)}[name]
    p = 1 / np.arange(1, k + 1) ** 1.1 if name.startswith("zipf") else np.ones(k)
    p /= p.sum()
    reps, alarms = 1000, 0
    for _ in range(reps):
        a, b = rng.multinomial(n, p), rng.multinomial(n, p)
        n1, n2 = int((a == 1).sum()), int((a == 2).sum())
        var = (n1 + 2 * n2 - n1 * n1 / n) / n ** 2
        alarms += stats.unseen_mass_change(n1 / n, var, int(b[a == 0].sum()), n).p_value <= 0.05
    print(f"unseen mass test, {name}: {alarms}/{reps} false alarms at alpha 0.05")
    assert alarms <= allowance(reps, 0.06)


def test_total_variation_interval_coverage():
    """The reported 95% interval of the total variation distance covers the true value in
    >= 95% of 300 seeded pairs (allowance for a 95% rate), for TV = 0.1 at n = 5,000."""
    rng = np.random.default_rng(13)
    pa, pb = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.3, 0.3, 0.2, 0.2])
    reps, missed = 300, 0
    for _ in range(reps):
        low, high = stats.total_variation_ci(rng.multinomial(5000, pa), rng.multinomial(5000, pb))
        missed += not low <= 0.1 <= high
    print(f"TV interval missed {missed}/{reps}")
    assert missed <= allowance(reps, 0.05)


def test_total_variation_interval_covers_zero():
    """With equal distributions the interval contains TV = 0 in >= 95% of 300 seeded pairs (allowance
    for a 95% rate): the lower end is 0 unless the chi-square test of homogeneity rejects. The
    reflected bootstrap alone missed 0 in about 15% of pairs (the plug-in bias is largest there)."""
    rng = np.random.default_rng(14)
    p = np.array([0.4, 0.3, 0.2, 0.1])
    reps, missed = 300, 0
    for _ in range(reps):
        low, high = stats.total_variation_ci(rng.multinomial(5000, p), rng.multinomial(5000, p))
        missed += not low <= 0.0 <= high
    print(f"TV interval missed 0 in {missed}/{reps}")
    assert missed <= allowance(reps, 0.05)


# -- multiple testing -----------------------------------------------------------------------------
def hand_bh(p: np.ndarray, q: float) -> np.ndarray:
    """The BH step-up rule as written: reject the k* smallest, k* = max{k : p_(k) <= k q / m}."""
    m = p.size
    order = np.argsort(p, kind="stable")
    passing = [k for k in range(1, m + 1) if p[order[k - 1]] <= k * q / m]
    reject = np.zeros(m, dtype=bool)
    if passing:
        reject[order[:max(passing)]] = True
    return reject


P_VALUES = st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.01, 0.05])), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(P_VALUES, st.sampled_from([0.01, 0.05, 0.1, 0.2]))
def test_benjamini_hochberg_and_simes_match_the_step_up_rule(p, q):
    p = np.array(p)
    adjusted = stats.benjamini_hochberg(p)
    # p <= k q / m and p m / k <= q may round apart when equality holds exactly:
    # the hand rule is applied a hair below and a hair above q
    surely, maybe = hand_bh(p, q * (1 - 1e-9)), hand_bh(p, q * (1 + 1e-9))
    assert np.all(surely <= (adjusted <= q)) and np.all((adjusted <= q) <= maybe)
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)
    assert surely.any() <= (stats.simes(p) <= q) <= maybe.any()
    assert stats.simes(p) == pytest.approx(min(1.0, float(np.min(np.sort(p) * p.size / np.arange(1, p.size + 1)))))


def test_multiple_testing_examples():
    assert stats.benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist() == [0.03, 0.04, 0.04]
    assert stats.benjamini_hochberg(np.array([])).size == 0
    assert stats.simes(np.array([])) == 1.0


def test_simes_false_alarm_rate_over_independent_tests():
    """300 independent uniform p-values per repetition: Simes rejects the global null in
    at most the allowance of 5% of 2,000 repetitions."""
    rng = np.random.default_rng(2)
    reps = 2000
    alarms = sum(stats.simes(rng.random(300)) <= 0.05 for _ in range(reps))
    print(f"Simes: {alarms}/{reps}")
    assert alarms <= allowance(reps, 0.05)


# -- means ----------------------------------------------------------------------------------------
def test_mean_difference_is_welch_from_sums():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.05, 2, 4000)
    r = stats.mean_difference(a.sum(), np.square(a).sum(), a.size, b.sum(), np.square(b).sum(), b.size)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert r.difference == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(abs(r.difference) / se), rel=1e-6)
    assert r.p_value == pytest.approx(sps.ttest_ind(b, a, equal_var=False).pvalue, rel=0.01)
    assert (r.ci_high - r.ci_low) / 2 == pytest.approx(sps.norm.ppf(0.975) * se, rel=1e-6)
    tiny = stats.mean_difference(1.0, 1.0, 1, 2.0, 4.0, 1)
    assert tiny.p_value == 1.0 and tiny.difference == 1.0
