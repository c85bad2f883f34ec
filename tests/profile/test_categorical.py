"""CategoricalProfile: the baseline's categories plus OTHER, NEW and MISSING, merged exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.profile.checks import assert_categorical_equal
from vigil.errors import InvalidInput
from vigil.profile import CategoricalProfile, CategoricalSpec
from vigil.profile.categorical import MAX_NEW_EXAMPLES, value_counts

SPEC = CategoricalSpec(["a", "b", "c"], ["a", "b", "c", "rare"])
# mixed types on purpose: True == 1 in Python, but "True" != "1" as labels
VALUE = st.one_of(st.sampled_from(["a", "b", "c", "rare", "new1", "new2", "1", True, False, 1, 0, 1.0, 2.5]),
                  st.none(), st.just(np.nan))
VALUES = st.lists(VALUE, max_size=60)


def test_buckets_tracked_other_new_and_missing():
    p = CategoricalProfile(SPEC).update(["a", "a", "b", "rare", "zebra", "zebra", None, np.nan])
    assert p.counts.tolist() == [2, 1, 0]
    assert (p.other, p.new, p.missing, p.count) == (1, 2, 2, 8)
    assert p.new_examples == {"zebra": 2}
    labels, counts = p.buckets()
    assert labels == ["a", "b", "c", "<OTHER>", "<NEW>"] and counts.tolist() == [2, 1, 0, 1, 2]
    assert p.missing_rate == pytest.approx(0.25)


def test_values_are_compared_as_strings():
    counts, missing = value_counts(np.array([1, 1.0, "1", True, np.True_, np.int64(2), 2.5, None], dtype=object))
    assert counts == {"1": 3, "True": 2, "2": 1, "2.5": 1} and missing == 1


@pytest.mark.parametrize("values", [
    pd.Series(["a", None, np.nan, pd.NA, pd.NaT, float("nan"), "b", "a"], dtype=object),
    pd.Series(["a", None, "b", None], dtype="string"),
    pd.Series(["a", None, "b", "a", np.nan], dtype="category"),
    pd.Series([1, None, 2, None, None], dtype="Int64"),
    pd.Series([True, None, False], dtype="boolean"),
    pd.Series(pd.to_datetime(["2024-01-01", None, "2024-01-02"])),
    pd.Series([True, 1, None, np.nan, False, "x"], dtype=object),
])
def test_missing_is_what_isna_counts_and_every_row_is_counted_once(values):
    counts, missing = value_counts(values)
    assert missing == int(values.isna().sum())
    assert sum(counts.values()) + missing == len(values)


def test_spec_from_counts_ranks_by_frequency_and_keeps_the_rest_known():
    spec = CategoricalSpec.from_counts({"x": 5, "y": 9, "z": 5, "w": 1}, max_categories=2)
    assert spec.categories == ["y", "x"]  # ties broken by name
    assert spec.known == {"w", "x", "y", "z"} and spec.known_complete
    p = CategoricalProfile(spec).update(["z", "w", "v"])
    assert (p.other, p.new) == (2, 1)


def test_spec_keeps_the_good_turing_rate_of_unseen_values():
    counts = {"a": 50, "b": 20, "c": 2, "d": 2, "e": 2, "f": 1, "g": 1, "h": 1, "i": 1}
    spec = CategoricalSpec.from_counts(counts)
    n, n1, n2 = 80, 4, 3
    assert spec.unseen_rate == pytest.approx(n1 / n)
    assert spec.unseen_var == pytest.approx((n1 + 2 * n2 - n1 * n1 / n) / n ** 2)
    assert CategoricalSpec.from_dict(spec.to_dict()) == spec
    legacy = {k: v for k, v in spec.to_dict().items() if not k.startswith("unseen")}
    assert CategoricalSpec.from_dict(legacy).unseen_rate == 0.0
    assert CategoricalSpec.from_counts({}).unseen_rate == 0.0


def test_unknown_values_of_an_incomplete_spec_count_as_other_not_new():
    spec = CategoricalSpec(["a"], ["a"], known_complete=False)
    p = CategoricalProfile(spec).update(["a", "never-seen"])
    assert (p.other, p.new) == (1, 0)


def test_new_examples_are_capped():
    values = [f"v{i}" for i in range(3 * MAX_NEW_EXAMPLES)]
    p = CategoricalProfile(SPEC).update(values)
    assert p.new == len(values) and len(p.new_examples) == MAX_NEW_EXAMPLES


def test_merge_refuses_another_spec():
    with pytest.raises(InvalidInput, match="same spec"):
        CategoricalProfile(SPEC).merge(CategoricalProfile(CategoricalSpec(["a"])))


@settings(max_examples=200, deadline=None)
@given(VALUES, VALUES, VALUES)
def test_merge_laws(xs, ys, zs):
    a, b, c = (CategoricalProfile(SPEC).update(np.array(v, dtype=object)) for v in (xs, ys, zs))
    whole = CategoricalProfile(SPEC).update(np.array(xs + ys + zs, dtype=object))
    assert_categorical_equal(a + b + c, whole)
    assert_categorical_equal((a + b) + c, a + (b + c))
    assert_categorical_equal(a + b, b + a)
    assert a.count == len(xs) == int(a.counts.sum()) + a.other + a.new + a.missing


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_round_trips_through_json(xs):
    p = CategoricalProfile(SPEC).update(np.array(xs, dtype=object))
    data = p.to_dict()
    assert CategoricalProfile.from_dict(json.loads(json.dumps(data))).to_dict() == data
    assert CategoricalSpec.from_dict(json.loads(json.dumps(SPEC.to_dict()))) == SPEC
