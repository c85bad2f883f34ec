"""Mergeable profile of a categorical column.

Counts, for the categories the baseline defined: each tracked category (the
``max_categories`` most frequent of the baseline), ``OTHER`` (values that
were in the baseline but not tracked), ``NEW`` (values never seen in the
baseline) and ``MISSING``. Missingness and unseen categories are drift
signals, never dropped. Values are compared as strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from vigil.errors import InvalidInput

MAX_KNOWN = 10_000
MAX_NEW_EXAMPLES = 20


def value_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts of the non-missing values as strings, and the missing count.

    ``value_counts`` leaves out exactly what ``isna`` counts (None, NaN, NaT,
    ``pd.NA``), so the missing count is the rows it did not count: no second pass.
    """
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    counts = series.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    if series.dtype == object and any(_bool_or_binary(k) for k in counts.index.tolist()):
        # True == 1 and False == 0 in Python: value_counts puts them in one group labelled by
        # whichever came first, so the label would depend on the order of the rows (and
        # merged halves would differ from the whole). Count the booleans apart.
        flags = np.fromiter((isinstance(v, (bool, np.bool_)) for v in series.to_numpy()), bool, len(series))
        if flags.any() and not flags.all():
            for part in (series[flags], series[~flags]):
                for name, n in value_counts(part)[0].items():
                    out[name] = out.get(name, 0) + n
            return out, len(series) - sum(out.values())
    for key, n in zip(counts.index.tolist(), counts.to_numpy().tolist()):
        name = _label(key)
        out[name] = out.get(name, 0) + int(n)
    return out, len(series) - int(counts.sum())


def _bool_or_binary(key: Any) -> bool:
    if isinstance(key, (bool, np.bool_)):
        return True
    return isinstance(key, (int, float, np.integer, np.floating)) and key in (0, 1)


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)


class CategoricalSpec:
    """The baseline's categories: tracked ones (ordered) and all known ones.

    ``unseen_rate`` is the Good-Turing estimate, from the baseline's counts, of
    the share of new rows whose value the baseline never saw *without any
    drift*: N1/n, the share of baseline rows whose value occurs exactly once;
    ``unseen_var`` is its variance, (N1 + 2 N2 - N1**2/n) / n**2 (Esty 1983;
    N2 counts the values seen twice). A long-tailed column (ids, free text)
    keeps meeting new values; only more of them than this is a drift signal.

    Examples
    --------
    >>> spec = CategoricalSpec.from_counts({'a': 6, 'b': 2, 'c': 1, 'd': 1}, max_categories=2)
    >>> spec.categories, spec.unseen_rate
    (['a', 'b'], 0.2)
    """

    def __init__(self, categories: Iterable[str], known: Iterable[str] = (), known_complete: bool = True,
                 unseen_rate: float = 0.0, unseen_var: float = 0.0) -> None:
        self.categories = [str(c) for c in categories]
        self.index = {c: i for i, c in enumerate(self.categories)}
        self.known = frozenset(known) | frozenset(self.categories)
        self.known_complete = known_complete
        self.unseen_rate = float(unseen_rate)
        self.unseen_var = float(unseen_var)

    @classmethod
    def from_counts(cls, counts: dict[str, int], max_categories: int = 50,
                    rank_counts: dict[str, int] | None = None) -> CategoricalSpec:
        """Spec from baseline counts; ``rank_counts`` (another part of the baseline) chooses
        the tracked categories when given, so that their test counts are not inflated by
        having been selected as the largest (the winner's curse)."""
        ranking = counts if rank_counts is None else rank_counts
        tracked = sorted(ranking, key=lambda k: (-ranking[k], k))[:max_categories]
        ranked = tracked + sorted((k for k in counts if k not in set(tracked)), key=lambda k: (-counts[k], k))
        total = sum(counts.values())
        n1 = sum(1 for n in counts.values() if n == 1)
        n2 = sum(1 for n in counts.values() if n == 2)
        rate = n1 / total if total else 0.0
        var = max(0.0, (n1 + 2 * n2 - n1 * n1 / total) / total ** 2) if total else 0.0
        return cls(tracked, ranked[:MAX_KNOWN], len(ranked) <= MAX_KNOWN, rate, var)

    def to_dict(self) -> dict[str, Any]:
        return {"categories": self.categories, "known": sorted(self.known), "known_complete": self.known_complete,
                "unseen_rate": self.unseen_rate, "unseen_var": self.unseen_var}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalSpec:
        return cls(data["categories"], data["known"], data["known_complete"], data.get("unseen_rate", 0.0),
                   data.get("unseen_var", 0.0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoricalSpec) and self.to_dict() == other.to_dict()


class CategoricalProfile:
    """Profile of one categorical column against a :class:`CategoricalSpec`.

    Examples
    --------
    >>> spec = CategoricalSpec(['a', 'b'], ['a', 'b', 'c'])
    >>> p = CategoricalProfile(spec).update(['a', 'a', 'c', 'z', None])
    >>> p.counts.tolist(), p.other, p.new, p.missing
    ([2, 0], 1, 1, 1)
    """

    kind = "categorical"

    def __init__(self, spec: CategoricalSpec) -> None:
        self.spec = spec
        self.count = 0
        self.missing = 0
        self.counts = np.zeros(len(spec.categories), dtype=np.int64)
        self.other = 0
        self.new = 0
        self.new_examples: dict[str, int] = {}

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def update(self, values: Any) -> CategoricalProfile:
        counts, missing = value_counts(values)
        self.update_counts(counts, missing)
        return self

    def update_counts(self, counts: dict[str, int], missing: int = 0) -> CategoricalProfile:
        self.count += sum(counts.values()) + missing
        self.missing += missing
        index, known = self.spec.index, self.spec.known
        for key, n in counts.items():
            i = index.get(key)
            if i is not None:
                self.counts[i] += n
            elif key in known or not self.spec.known_complete:
                self.other += n
            else:
                self.new += n
                if key in self.new_examples or len(self.new_examples) < MAX_NEW_EXAMPLES:
                    self.new_examples[key] = self.new_examples.get(key, 0) + n
        return self

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        if not isinstance(other, CategoricalProfile) or other.spec != self.spec:
            raise InvalidInput("CategoricalProfile.merge: other must be a CategoricalProfile of the same spec")
        self.count += other.count
        self.missing += other.missing
        self.counts += other.counts
        self.other += other.other
        self.new += other.new
        for key, n in other.new_examples.items():
            if key in self.new_examples or len(self.new_examples) < MAX_NEW_EXAMPLES:
                self.new_examples[key] = self.new_examples.get(key, 0) + n
        return self

    def copy(self) -> CategoricalProfile:
        return CategoricalProfile.from_dict(self.to_dict())

    def __add__(self, other: CategoricalProfile) -> CategoricalProfile:
        return self.copy().merge(other)

    @property
    def missing_rate(self) -> float:
        return self.missing / self.count if self.count else 0.0

    def buckets(self) -> tuple[list[str], np.ndarray]:
        """Labels and counts of every non-missing bucket: categories, OTHER, NEW."""
        return self.spec.categories + ["<OTHER>", "<NEW>"], np.r_[self.counts, self.other, self.new]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "count": self.count, "missing": self.missing,
                "counts": self.counts.tolist(), "other": self.other, "new": self.new,
                "new_examples": self.new_examples}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        p = cls(CategoricalSpec.from_dict(data["spec"]))
        p.count, p.missing = int(data["count"]), int(data["missing"])
        p.counts = np.asarray(data["counts"], dtype=np.int64)
        p.other, p.new = int(data["other"]), int(data["new"])
        p.new_examples = {str(k): int(v) for k, v in data["new_examples"].items()}
        return p
