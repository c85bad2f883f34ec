"""Compare two profiles: per-column tests, effect sizes, FDR control, a dataset verdict.

Decision rule (defaults in :class:`Thresholds`, overridable per column):

* every column gets a distribution test (numeric: binned Kolmogorov-Smirnov;
  categorical: chi-square test of homogeneity on the 2 x K table of the
  tracked categories and one bucket for the rest, ``OTHER`` + ``NEW``) and a
  missing-rate test; categorical columns also a test of the mass on
  categories never seen in the baseline, against the mass expected without
  drift (the baseline's own ``NEW`` share or, for the profile that defined
  the schema, the Good-Turing estimate: the share of its values seen once);
* all p-values of a comparison are adjusted together with Benjamini-Hochberg
  at ``alpha`` (false discovery rate);
* a test flags drift when it is significant after adjustment **and** its
  effect reaches the minimum effect: KS D >= ``min_ks`` (0.05), total
  variation >= ``min_tv`` (0.05), missing-rate change >= ``min_missing``
  (0.01, absolute), new-category mass >= ``min_new`` (0.01), a change of a
  model's performance (accuracy, error, Brier score) >= ``min_performance``
  (0.02, absolute; model monitors only). With a million
  rows, noise is significant but small: the effect floor keeps it quiet;
* a column drifts when any of its tests flags; the dataset drifts when any
  column does, or a column is absent from the target. The dataset p-value is
  Simes' combination of all p-values, which rejects the global null at
  ``alpha`` exactly when BH flags any test, so the dataset-level false alarm
  rate stays <= ``alpha`` for independent (or positively dependent) columns.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vigil.drift import stats
from vigil.errors import InvalidInput
from vigil.profile.frame import FrameProfile

QUANTILE_GRID = np.linspace(0.005, 0.995, 100)


@dataclass(frozen=True)
class Thresholds:
    """Significance level and minimum effects; ``columns`` overrides per column.

    Examples
    --------
    >>> Thresholds(columns={'price': {'min_ks': 0.1}}).for_column('price').min_ks
    0.1
    """

    alpha: float = 0.05
    min_ks: float = 0.05
    min_tv: float = 0.05
    min_missing: float = 0.01
    min_new: float = 0.01
    min_performance: float = 0.02
    columns: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidInput(f"Thresholds: alpha must be in (0, 1); got {self.alpha!r}")
        for name in ("min_ks", "min_tv", "min_missing", "min_new", "min_performance"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidInput(f"Thresholds: {name} must be a number in [0, 1]; got {value!r}")
        for col, over in self.columns.items():
            unknown = set(over) - {"min_ks", "min_tv", "min_missing", "min_new"}
            if unknown:
                raise InvalidInput(f"Thresholds: columns[{col!r}] has unknown keys {sorted(unknown)}; "
                                   "allowed: min_ks, min_tv, min_missing, min_new")

    def for_column(self, column: str) -> Thresholds:
        over = self.columns.get(column)
        if not over:
            return self
        return Thresholds(**{**asdict(self), **over, "columns": {}})

    @classmethod
    def coerce(cls, value: Any) -> Thresholds:
        if value is None:
            return cls()
        if isinstance(value, Thresholds):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise InvalidInput(f"thresholds must be a Thresholds or a dict; got {value!r}")


def _row(column: str, kind: str, test: str, statistic: float, effect_name: str, effect: float,
         ci: tuple[float, float], p: float, min_effect: float, na: int, nb: int, **extra: Any) -> dict:
    return {"column": column, "kind": kind, "test": test, "statistic": statistic,
            "effect_name": effect_name, "effect": effect, "ci_low": ci[0], "ci_high": ci[1],
            "p_value": p, "min_effect": min_effect, "n_baseline": na, "n_target": nb, **extra}


def _numeric_rows(name: str, a: Any, b: Any, th: Thresholds) -> list[dict]:
    rows = []
    ks = stats.ks_binned(a.bins, b.bins, th.alpha)
    scale = a.std if a.std > 0 else (abs(a.mean) or 1.0)
    if a.n and b.n:
        wn = stats.wasserstein_normalized(a.quantiles(QUANTILE_GRID), b.quantiles(QUANTILE_GRID), scale)
    else:
        wn = 0.0
    rows.append(_row(name, "numeric", "distribution", ks.statistic, "ks_d", ks.statistic,
                     (ks.ci_low, ks.ci_high), ks.p_value, th.min_ks, int(a.bins.sum()), int(b.bins.sum()),
                     ks_d_upper=ks.upper, wasserstein_norm=wn, psi=stats.psi(a.bins, b.bins),
                     js=stats.jensen_shannon(a.bins, b.bins),
                     mean_baseline=a.mean if a.n else None, mean_target=b.mean if b.n else None,
                     std_baseline=a.std if a.n else None, std_target=b.std if b.n else None))
    rows.append(_missing_row(name, "numeric", a, b, th))
    return rows


def _missing_row(name: str, kind: str, a: Any, b: Any, th: Thresholds) -> dict:
    mr = stats.two_proportions(a.missing, a.count, b.missing, b.count, th.alpha)
    return _row(name, kind, "missing", mr.difference, "missing_rate_change", abs(mr.difference),
                (mr.ci_low, mr.ci_high), mr.p_value, th.min_missing, a.count, b.count,
                missing_rate_baseline=mr.rate_a, missing_rate_target=mr.rate_b)


def _categorical_rows(name: str, a: Any, b: Any, th: Thresholds, a_defines_schema: bool = False) -> list[dict]:
    # The distribution test compares the tracked categories and one bucket for the rest
    # (OTHER + NEW). Kept apart, they are biased when ``a`` defined the schema: it has no
    # NEW by construction, and its OTHER holds every value it saw once, while a sample of
    # the same distribution meets unseen values (the Good-Turing missing mass).
    _, full_a = a.buckets()
    _, full_b = b.buckets()
    ca = np.r_[full_a[:-2], full_a[-2:].sum()]
    cb = np.r_[full_b[:-2], full_b[-2:].sum()]
    chi = stats.chi2_contingency(ca, cb)
    tv = stats.total_variation(ca, cb)
    ci = stats.total_variation_ci(ca, cb, th.alpha, homogeneity_p=chi.p_value)
    rows = [_row(name, "categorical", "distribution", chi.statistic, "total_variation", tv, ci, chi.p_value,
                 th.min_tv, int(ca.sum()), int(cb.sum()), dof=chi.dof, cramers_v=chi.cramers_v,
                 psi=stats.psi(ca, cb), js=stats.jensen_shannon(ca, cb))]
    rows.append(_missing_row(name, "categorical", a, b, th))
    nonmiss_a, nonmiss_b = int(ca.sum()), int(cb.sum())
    # the mass on unseen values, against what ``a`` implies without drift: its own NEW
    # share, or (if it defined the schema: no NEW by construction) the Good-Turing
    # estimate, the share of its values seen once
    if a_defines_schema and a.spec.unseen_rate > 0 and a.spec.known_complete:
        new = stats.unseen_mass_change(a.spec.unseen_rate, a.spec.unseen_var, b.new, nonmiss_b, th.alpha)
    else:
        new = stats.two_proportions(a.new, nonmiss_a, b.new, nonmiss_b, th.alpha)
    rows.append(_row(name, "categorical", "new_categories", new.rate_b, "new_mass", max(0.0, new.difference),
                     (new.ci_low, new.ci_high), new.p_value, th.min_new, nonmiss_a, nonmiss_b,
                     new_rate_baseline=new.rate_a,
                     new_examples=dict(sorted(b.new_examples.items(), key=lambda kv: -kv[1])[:5])))
    return rows


class DriftResult:
    """Outcome of a comparison: per-test rows (``df``), per-column verdicts, dataset verdict."""

    def __init__(self, rows: list[dict], thresholds: Thresholds, n_baseline: int, n_target: int,
                 absent: list[str], extra: list[str], labels: tuple[str, str] = ("baseline", "target")) -> None:
        import pandas as pd

        self.thresholds = thresholds
        self.n_baseline = n_baseline
        self.n_target = n_target
        self.absent_columns = absent
        self.extra_columns = extra
        self.labels = labels
        df = pd.DataFrame(rows)
        if len(df):
            df["p_adjusted"] = stats.benjamini_hochberg(df["p_value"].to_numpy())
            df["alpha"] = thresholds.alpha  # with min_effect: the thresholds each row was judged by
            df["significant"] = df["p_adjusted"] <= thresholds.alpha
            df["drift"] = df["significant"] & (df["effect"] >= df["min_effect"])
            self.p_value = stats.simes(df["p_value"].to_numpy())
        else:
            df = pd.DataFrame(columns=["column", "kind", "test", "p_value", "p_adjusted", "significant", "drift"])
            self.p_value = 1.0
        self.df = df
        self.notes: list[str] = []
        self.alerts: list[dict[str, Any]] = []  # filled by capture(): what the alert rules sent
        if n_target == 0:
            self.notes.append("the target snapshot is empty: nothing to compare")
        if n_baseline == 0:
            self.notes.append("the baseline snapshot is empty: nothing to compare")
        if absent:
            self.notes.append(f"columns absent from the target: {absent}")
        if extra:
            self.notes.append(f"columns not in the baseline (not compared): {extra}")

    @functools.cached_property
    def columns(self):
        """One row per column: drift yes/no and the strongest evidence."""
        import pandas as pd

        if not len(self.df):  # absent columns are still verdicts (drift) when nothing was compared
            out = pd.DataFrame({"kind": pd.Series(dtype=object), "drift": pd.Series(dtype=bool),
                                "tests_flagged": pd.Series(dtype=object), "p_adjusted": pd.Series(dtype=float)})
        else:
            g = self.df.groupby("column", sort=False)
            out = pd.DataFrame({
                "kind": g["kind"].first(),
                "drift": g["drift"].any(),
                "tests_flagged": g.apply(lambda t: ",".join(t.loc[t["drift"], "test"]), include_groups=False),
                "p_adjusted": g["p_adjusted"].min(),
            })
            dist = self.df[self.df.test == "distribution"].set_index("column")
            for col in ("effect_name", "effect", "ci_low", "ci_high", "p_value", "wasserstein_norm", "psi", "js"):
                if col in dist:
                    out[col] = dist[col]
        for col in self.absent_columns:
            out.loc[col, ["kind", "drift", "tests_flagged"]] = [None, True, "absent"]
        return out.reset_index().rename(columns={"index": "column"})

    @property
    def drifted_columns(self) -> list[str]:
        cols = self.columns
        return cols.loc[cols["drift"].astype(bool), "column"].tolist()

    @property
    def drift(self) -> bool:
        return bool(self.drifted_columns)

    def summary(self) -> str:
        lines = [f"dataset drift: {'YES' if self.drift else 'no'} "
                 f"(Simes p = {self.p_value:.3g}, alpha = {self.thresholds.alpha}, "
                 f"n {self.labels[0]} = {self.n_baseline}, n {self.labels[1]} = {self.n_target})"]
        flagged = self.df[self.df["drift"]] if len(self.df) else self.df
        for _, r in flagged.iterrows():
            lines.append(f"  {r['column']}: {r['test']} {r['effect_name']} = {r['effect']:.4g} "
                         f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}] >= {r['min_effect']}, "
                         f"p_adj = {r['p_adjusted']:.3g}")
        for col in self.absent_columns:
            lines.append(f"  {col}: absent from the target")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, (np.floating, float)):
                f = float(v)
                return f if math.isfinite(f) else None
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        return {
            "drift": self.drift, "p_value": self.p_value, "alpha": self.thresholds.alpha,
            "thresholds": asdict(self.thresholds), "n_baseline": self.n_baseline, "n_target": self.n_target,
            "drifted_columns": self.drifted_columns, "absent_columns": self.absent_columns,
            "extra_columns": self.extra_columns, "notes": self.notes, "labels": list(self.labels),
            "tests": [{k: clean(v) for k, v in r.items()} for r in self.df.to_dict("records")],
        }


def compare_rows(baseline: FrameProfile, target: FrameProfile, th: Thresholds) -> tuple[list[dict], list[str]]:
    """The test rows of every column present in both profiles, and the absent columns."""
    if not isinstance(baseline, FrameProfile) or not isinstance(target, FrameProfile):
        raise InvalidInput("compare: baseline and target must be FrameProfile objects")
    if baseline.schema != target.schema:
        raise InvalidInput("compare: the two profiles have different schemas; profile the target with "
                           "schema=baseline.schema")
    rows: list[dict] = []
    absent = [c for c in target.meta.get("absent_columns", []) if target.rows > 0]
    for name in baseline.schema.columns:
        if name in absent:
            continue
        a, b = baseline[name], target[name]
        col_th = th.for_column(name)
        if a.kind == "numeric":
            rows += _numeric_rows(name, a, b, col_th)
        else:
            rows += _categorical_rows(name, a, b, col_th, bool(baseline.meta.get("defines_schema")))
    return rows, absent


def compare(baseline: FrameProfile, target: FrameProfile, thresholds: Any = None,
            labels: tuple[str, str] = ("baseline", "target")) -> DriftResult:
    """Compare two profiles on the same schema.

    Examples
    --------
    >>> import pandas as pd
    >>> from vigil.profile import profile
    >>> rng = np.random.default_rng(0)
    >>> base = profile(pd.DataFrame({'x': rng.normal(size=5000)}))
    >>> same = profile(pd.DataFrame({'x': rng.normal(size=5000)}), base.schema)
    >>> moved = profile(pd.DataFrame({'x': rng.normal(0.5, size=5000)}), base.schema)
    >>> compare(base, same).drift, compare(base, moved).drift
    (False, True)
    """
    th = Thresholds.coerce(thresholds)
    rows, absent = compare_rows(baseline, target, th)
    return DriftResult(rows, th, baseline.rows, target.rows, absent,
                       list(target.meta.get("extra_columns", [])), labels)
