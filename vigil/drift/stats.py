"""Two-sample statistics on profiles (binned counts and quantile sketches).

Every function takes counts, never raw rows, so snapshots of any size compare
in microseconds. Conventions: ``a`` is the baseline (reference), ``b`` the
target; p-values are valid (never anti-conservative) for the stated test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = 1e-4


# scipy.special, not scipy.stats: importing scipy.stats costs ~0.7 s and ~60 MB per process
def norm_sf(x: float) -> float:
    """Upper tail of the standard normal distribution."""
    from scipy.special import ndtr

    return float(ndtr(-x))


def norm_ppf(q: float) -> float:
    """Quantile function of the standard normal distribution."""
    from scipy.special import ndtri

    return float(ndtri(q))


def chi2_sf(x: float, dof: int) -> float:
    """Upper tail of the chi-square distribution with ``dof`` degrees of freedom."""
    from scipy.special import chdtrc

    return float(chdtrc(dof, x))


def _kolmogorov_sf(lam: float) -> float:
    from scipy.special import kolmogorov

    return float(kolmogorov(lam))


@dataclass(frozen=True)
class KSResult:
    statistic: float        # max |F_a - F_b| at the bin edges: a lower bound of the exact KS D
    upper: float            # upper bound of the exact D given the binning
    p_value: float          # from the lower bound: conservative
    ci_low: float
    ci_high: float


def ks_binned(a: np.ndarray, b: np.ndarray, alpha: float = 0.05) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test on counts over the same bins.

    The statistic evaluated at the bin edges can only underestimate the exact
    two-sample D, so its p-value (Kolmogorov distribution with Stephens'
    small-sample correction) is conservative; ``upper`` adds the largest bin
    mass, the most the CDF gap can grow inside a bin. The confidence interval
    of D combines the Dvoretzky-Kiefer-Wolfowitz bound of both samples
    (each at ``alpha/2``) with the binning error.

    Examples
    --------
    >>> r = ks_binned(np.array([50, 50, 0]), np.array([0, 50, 50]))
    >>> round(r.statistic, 2), r.p_value < 1e-6
    (0.5, True)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    if na == 0 or nb == 0:
        return KSResult(0.0, 1.0, 1.0, 0.0, 1.0)
    pa, pb = a / na, b / nb
    gap = np.abs(np.cumsum(pa) - np.cumsum(pb))
    d = min(1.0, float(gap.max()))  # cumulative sums may overshoot 1 by rounding
    upper = min(1.0, d + float(np.maximum(pa, pb).max()))
    ne = na * nb / (na + nb)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    p = _kolmogorov_sf(lam) if d > 0 else 1.0
    eps = math.sqrt(math.log(4.0 / alpha) / (2.0 * na)) + math.sqrt(math.log(4.0 / alpha) / (2.0 * nb))
    return KSResult(d, upper, min(1.0, p), max(0.0, d - eps), min(1.0, upper + eps))


def psi(a: np.ndarray, b: np.ndarray) -> float:
    """Population stability index over shared bins (bin shares floored at 1e-4).

    Examples
    --------
    >>> psi(np.array([50, 50]), np.array([50, 50]))
    0.0
    """
    pa = np.maximum(np.asarray(a, float) / max(np.sum(a), 1), _EPS)
    pb = np.maximum(np.asarray(b, float) / max(np.sum(b), 1), _EPS)
    return float(np.sum((pb - pa) * np.log(pb / pa)))


def jensen_shannon(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors.

    Examples
    --------
    >>> jensen_shannon(np.array([1, 0]), np.array([0, 1]))
    1.0
    """
    pa = np.asarray(a, float) / max(np.sum(a), 1)
    pb = np.asarray(b, float) / max(np.sum(b), 1)
    m = 0.5 * (pa + pb)

    def kl(p: np.ndarray) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))

    return float(math.sqrt(max(0.0, 0.5 * kl(pa) + 0.5 * kl(pb))))


def wasserstein_normalized(qa: np.ndarray, qb: np.ndarray, scale: float) -> float:
    """First Wasserstein distance from quantile grids, divided by the baseline's scale.

    ``qa`` and ``qb`` are quantiles at the same evenly spaced ranks (from the
    KLL sketches), so the mean absolute difference approximates the integral
    of ``|Q_a(u) - Q_b(u)|``.

    Examples
    --------
    >>> wasserstein_normalized(np.array([0.0, 1.0]), np.array([0.5, 1.5]), 1.0)
    0.5
    """
    if qa.size == 0 or not np.all(np.isfinite(qa)) or not np.all(np.isfinite(qb)):
        return 0.0
    with np.errstate(over="ignore"):  # quantiles near the float limit: a distance beyond it is inf
        return float(np.mean(np.abs(qa - qb)) / (scale if scale > 0 else 1.0))


@dataclass(frozen=True)
class Chi2Result:
    statistic: float
    dof: int
    p_value: float
    cramers_v: float


def chi2_contingency(a: np.ndarray, b: np.ndarray) -> Chi2Result:
    """Chi-square test of homogeneity on the 2 x K table (baseline, target) of counts.

    Buckets whose expected count is below 5 in either row are pooled into one
    bucket so the chi-square approximation holds. If the pooled bucket is still
    below 5 it is dropped and the test is of homogeneity of the remaining
    buckets: expected counts are recomputed from the reduced table (keeping the
    full table's margins would add ``share * chi2(1)`` to a statistic referred
    to ``chi2(K - 2)``: anti-conservative).

    Examples
    --------
    >>> r = chi2_contingency(np.array([500, 500]), np.array([400, 600]))
    >>> r.dof, r.p_value < 1e-4
    (1, True)
    """
    table = np.vstack([np.asarray(a, float), np.asarray(b, float)])
    table = table[:, table.sum(axis=0) > 0]
    n = table.sum()
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return Chi2Result(0.0, 0, 1.0, 0.0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    small = (expected < 5).any(axis=0)
    if small.any():
        pooled = table[:, small].sum(axis=1, keepdims=True)
        table = np.hstack([table[:, ~small], pooled])
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
        if (expected[:, -1] < 5).any():
            table = table[:, :-1]
            n = table.sum()
            expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n if n else table
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return Chi2Result(0.0, 0, 1.0, 0.0)
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return Chi2Result(stat, dof, chi2_sf(stat, dof), math.sqrt(stat / n))


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the two distributions of counts (in [0, 1])."""
    pa = np.asarray(a, float) / max(np.sum(a), 1)
    pb = np.asarray(b, float) / max(np.sum(b), 1)
    return float(0.5 * np.abs(pa - pb).sum())


def total_variation_ci(a: np.ndarray, b: np.ndarray, alpha: float = 0.05, reps: int = 300,
                       seed: int = 0, homogeneity_p: float | None = None) -> tuple[float, float]:
    """Basic (reflected) bootstrap interval of the total variation distance, with 0
    included whenever the test of equal distributions does not reject.

    The plug-in distance is biased upwards (noise always adds distance), so the
    percentile interval sits above the truth; reflecting the bootstrap quantiles
    around the estimate corrects most of that bias, but not at the boundary
    TV = 0, where the bootstrap alone covered about 85%. There the interval is
    the inversion of a test: TV = 0 is the hypothesis the chi-square test of
    homogeneity (:func:`chi2_contingency`, or ``homogeneity_p`` if already
    computed) examines, so the lower end is 0 unless that test rejects at
    ``alpha``, and the interval misses 0 no more often than the test's level.
    Widening only ever adds coverage. Measured coverage of the 95% interval at
    n = 5,000 per side: about 93% at distances 0.03 and 0.1, and at least 95%
    at 0 (tests/drift/test_stats.py).
    """
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    na, nb = int(a.sum()), int(b.sum())
    if na == 0 or nb == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    ra = rng.multinomial(na, a / na, size=reps) / na
    rb = rng.multinomial(nb, b / nb, size=reps) / nb
    tv = 0.5 * np.abs(ra - rb).sum(axis=1)
    est = total_variation(a, b)
    low = 2 * est - float(np.quantile(tv, 1 - alpha / 2))
    high = 2 * est - float(np.quantile(tv, alpha / 2))
    if low > 0:
        p = chi2_contingency(a, b).p_value if homogeneity_p is None else homogeneity_p
        if not p <= alpha:
            low = 0.0
    return max(0.0, low), min(1.0, max(high, est))


@dataclass(frozen=True)
class ProportionResult:
    rate_a: float
    rate_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportions(xa: int, na: int, xb: int, nb: int, alpha: float = 0.05) -> ProportionResult:
    """Change of a rate (e.g. the missing rate): Fisher's exact test when a cell
    of the 2 x 2 table is below 10 (at any sample size: the z-test is
    anti-conservative for rare events), the pooled z-test otherwise; Newcombe's
    hybrid score interval.

    Examples
    --------
    >>> r = two_proportions(10, 1000, 50, 1000)
    >>> round(r.difference, 3), r.p_value < 1e-6
    (0.04, True)
    """
    ra = xa / na if na else 0.0
    rb = xb / nb if nb else 0.0
    z = norm_ppf(1 - alpha / 2)
    la, ua = _wilson(xa, na, z)
    lb, ub = _wilson(xb, nb, z)
    diff = rb - ra
    low = diff - math.sqrt((rb - lb) ** 2 + (ua - ra) ** 2)
    high = diff + math.sqrt((ub - rb) ** 2 + (ra - la) ** 2)
    if na == 0 or nb == 0 or (xa + xb) == 0 or (xa == na and xb == nb):
        p = 1.0
    elif min(xa, xb, na - xa, nb - xb) < 10:
        from scipy.stats import fisher_exact  # only for small counts

        p = float(fisher_exact([[xa, na - xa], [xb, nb - xb]])[1])
    else:
        pooled = (xa + xb) / (na + nb)
        se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
        p = 2 * norm_sf(abs(diff) / se) if se > 0 else 1.0
    return ProportionResult(ra, rb, diff, max(-1.0, low), min(1.0, high), min(1.0, p))


def unseen_mass_change(rate_a: float, var_a: float, xb: int, nb: int, alpha: float = 0.05) -> ProportionResult:
    """Change of the mass on values a baseline never saw, against its Good-Turing estimate.

    ``rate_a`` (N1/n of the baseline) estimates the share of new rows whose value
    the baseline missed when nothing changed; ``var_a`` is that estimate's variance
    (Esty's formula). The target's share ``xb/nb`` is compared with a z-test on
    the sum of both variances; the interval is the matching Wald interval.

    Examples
    --------
    >>> r = unseen_mass_change(0.10, 2e-5, 1500, 10_000)
    >>> round(r.difference, 3), r.p_value < 1e-6
    (0.05, True)
    """

    rb = xb / nb if nb else 0.0
    diff = rb - rate_a
    se = math.sqrt(max(0.0, var_a) + (rb * (1 - rb) / nb if nb else 0.0))
    z = norm_ppf(1 - alpha / 2)
    p = 2 * norm_sf(abs(diff) / se) if se > 0 else (1.0 if diff == 0 else 0.0)
    return ProportionResult(rate_a, rb, diff, max(-1.0, diff - z * se), min(1.0, diff + z * se), min(1.0, p))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (reject where adjusted <= q).

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def simes(p_values: np.ndarray) -> float:
    """Simes' combined p-value of the global null (valid for independent or
    positively dependent tests; it rejects at q exactly when BH rejects any).

    Examples
    --------
    >>> simes(np.array([0.01, 0.5, 0.9]))
    0.03
    """
    p = np.sort(np.asarray(p_values, dtype=np.float64))
    if p.size == 0:
        return 1.0
    return float(min(1.0, np.min(p * p.size / np.arange(1, p.size + 1))))


@dataclass(frozen=True)
class MeanResult:
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def mean_difference(sum_a: float, sumsq_a: float, n_a: int, sum_b: float, sumsq_b: float, n_b: int,
                    alpha: float = 0.05) -> MeanResult:
    """Welch's test (normal approximation) of a change in mean, from sums and sums of squares.

    Examples
    --------
    >>> r = mean_difference(50.0, 50.0, 100, 60.0, 60.0, 100)
    >>> round(r.difference, 2), r.p_value < 0.2
    (0.1, True)
    """

    if n_a < 2 or n_b < 2:
        ma = sum_a / n_a if n_a else 0.0
        mb = sum_b / n_b if n_b else 0.0
        return MeanResult(ma, mb, mb - ma, -math.inf, math.inf, 1.0)
    ma, mb = sum_a / n_a, sum_b / n_b
    va = max(0.0, (sumsq_a - n_a * ma * ma) / (n_a - 1))
    vb = max(0.0, (sumsq_b - n_b * mb * mb) / (n_b - 1))
    se = math.sqrt(va / n_a + vb / n_b)
    diff = mb - ma
    z = norm_ppf(1 - alpha / 2)
    p = 2 * norm_sf(abs(diff) / se) if se > 0 else (1.0 if diff == 0 else 0.0)
    return MeanResult(ma, mb, diff, diff - z * se, diff + z * se, p)
