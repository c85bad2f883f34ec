"""The filters of ``exp.data()`` (vigil/tracking/query.py): runs, event, key, step,
time windows, extra fields, batches, cursors and their validation."""

from __future__ import annotations

import datetime as dt
import inspect
import socket
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vigil as om
from vigil.errors import InvalidInput, describe
from vigil.tracking import provider as provider_module
from vigil.tracking.query import parse_time, resolve_runs

UTC = dt.UTC
LATEST = 5
PER_RUN = 2


@pytest.fixture
def five_runs(vigil_home):
    """Experiment 'runs' with runs 1..5; run r holds metrics ('a', r, step 0) and ('b', r, step 1)."""
    exp = om.runtime.experiment("runs")
    for run in range(1, LATEST + 1):
        with exp:
            exp.log_metric("a", float(run), step=0)
            exp.log_metric("b", float(run), step=1)
    return exp


def runs_of(frame_or_records) -> list[int]:
    if isinstance(frame_or_records, pd.DataFrame):
        return frame_or_records["run"].tolist()
    return [r["run"] for r in frame_or_records]


# -- run -------------------------------------------------------------------------------------
def selected(filter_, latest: int, default: int | None) -> set[int]:
    """The Python model of a run filter: the run numbers (of 1..latest) it selects."""
    every = set(range(1, latest + 1))

    def absolute(n: int) -> int:
        return latest + 1 + n if n < 0 else n

    if filter_ is None:
        return {default} if default else every
    if isinstance(filter_, str):
        return every
    if isinstance(filter_, slice):
        lo = 1 if filter_.start is None else absolute(filter_.start)
        hi = latest if filter_.stop is None else absolute(filter_.stop)
        return {r for r in every if lo <= r <= hi}
    numbers = filter_ if isinstance(filter_, list) else [filter_]
    return {absolute(int(n)) for n in numbers} & every


run_number = st.integers(-LATEST - 2, LATEST + 2) | st.integers(-LATEST - 2, LATEST + 2).map(np.int64)
run_filters = st.one_of(
    st.none(),
    st.sampled_from(["all", "*"]),
    run_number,
    st.lists(run_number, min_size=1, max_size=4),
    st.builds(slice, st.none() | st.integers(-LATEST - 2, LATEST + 2),
              st.none() | st.integers(-LATEST - 2, LATEST + 2)),
)


def test_run_filters_select_what_the_model_says(five_runs):
    @settings(max_examples=200, deadline=None)
    @given(filter_=run_filters, default=st.none() | st.integers(1, LATEST))
    def check(filter_, default):
        exp = om.runtime.experiment("runs")
        if default is not None:
            exp.use(default)
        want = selected(filter_, LATEST, default)
        got = runs_of(exp.data(run=filter_, raw=True))
        assert got == [r for r in range(1, LATEST + 1) for _ in range(PER_RUN) if r in want]
        resolved = resolve_runs(filter_, LATEST, default)
        assert resolved is None or want == set(resolved) & set(range(1, LATEST + 1))

    check()


def test_run_filter_examples(five_runs):
    exp = om.runtime.experiment("runs")
    assert set(runs_of(exp.data())) == {1, 2, 3, 4, 5}  # nothing used yet: all runs
    assert set(runs_of(five_runs.data())) == {5}  # the last run of this object
    assert set(runs_of(exp.data(run=2))) == {2}
    assert set(runs_of(exp.data(run=-1))) == {5}
    assert set(runs_of(exp.data(run=[1, -1]))) == {1, 5}
    assert set(runs_of(exp.data(run=slice(2, 4)))) == {2, 3, 4}  # inclusive
    assert set(runs_of(exp.data(run=slice(-2, None)))) == {4, 5}
    assert set(runs_of(exp.data(run="*"))) == set(runs_of(exp.data(run="all"))) == {1, 2, 3, 4, 5}
    assert runs_of(exp.data(run=99)) == [] and runs_of(exp.data(run=slice(4, 2))) == []
    # a wide slice lists only runs that can exist (not 10**12 numbers for the store to match)
    assert resolve_runs(slice(2, 10**12), LATEST, None) == (2, 3, 4, 5)
    assert set(runs_of(exp.data(run=slice(2, 10**12)))) == {2, 3, 4, 5}
    exp.use(3)
    assert set(runs_of(exp.data())) == {3}
    exp.start()  # the active run wins
    exp.log_metric("c", 1.0)
    assert runs_of(exp.data()) == [6]
    exp.stop()
    assert runs_of(exp.data()) == [6]


# -- event, key, step ------------------------------------------------------------------------
def test_event_key_and_step_filters(vigil_home):
    with om.runtime.experiment("ek") as exp:
        exp.log_metric("loss", 0.5, step=1)
        exp.log_metric("loss", 0.4, step=2)
        exp.log_metric("acc", 0.9, step=2)
        exp.log_param("lr", 0.1)
        exp.log_event("predict", "rows", 10, step=3)
    assert exp.data(event="metric")["key"].tolist() == ["loss", "loss", "acc"]
    assert exp.data(event=["param", "predict"])["key"].tolist() == ["lr", "rows"]
    assert exp.data(key="loss")["value"].tolist() == [0.5, 0.4]
    assert exp.data(key=("acc", "lr"))["key"].tolist() == ["acc", "lr"]
    assert exp.data(step=2)["key"].tolist() == ["loss", "acc"]
    assert exp.data(step=[1, 3])["key"].tolist() == ["loss", "rows"]
    assert exp.data(step=np.int64(3))["key"].tolist() == ["rows"]
    assert exp.data(event="metric", key="loss", step=2)["value"].tolist() == [0.4]
    assert exp.data(event="nope").empty and exp.data(key="nope", raw=True) == []


# -- since / end -----------------------------------------------------------------------------
@pytest.fixture
def timed(vigil_home):
    """Three events 30 ms apart; returns the experiment and their epoch times."""
    with om.runtime.experiment("timed") as exp:
        for i in range(3):
            exp.log_metric("m", float(i))
            time.sleep(0.03)
    times = [r["dt"].timestamp() for r in exp.data(raw=True)]
    return exp, times


def time_forms(epoch: float) -> list:
    """The same instant in every accepted form."""
    aware = dt.datetime.fromtimestamp(epoch, UTC)
    zurich = aware.astimezone(dt.timezone(dt.timedelta(hours=2)))
    return [
        aware, aware.replace(tzinfo=None), zurich, aware.isoformat(), aware.isoformat().replace("+00:00", "Z"),
        zurich.isoformat(), epoch, pd.Timestamp(aware),
    ]


def test_since_and_end_accept_every_absolute_form(timed):
    exp, (t0, t1, t2) = timed
    for form in time_forms((t0 + t1) / 2):
        assert exp.data(since=form)["value"].tolist() == [1.0, 2.0], repr(form)
        assert exp.data(end=form)["value"].tolist() == [0.0], repr(form)
    for since, end in zip(time_forms((t0 + t1) / 2), time_forms((t1 + t2) / 2)):
        assert exp.data(since=since, end=end)["value"].tolist() == [1.0]


@pytest.mark.parametrize("recent", ["2h", "1d", " 30 min ", "1.5H", "1w", "90s", dt.timedelta(hours=1)], ids=repr)
def test_relative_since_counts_back_from_now(timed, recent):
    exp, _ = timed
    assert exp.data(since=recent)["value"].tolist() == [0.0, 1.0, 2.0]
    assert exp.data(end=recent).empty  # every event is younger than that


def test_since_now_selects_nothing(timed):
    exp, _ = timed
    assert exp.data(since="0s").empty and exp.data(since=dt.timedelta(0)).empty
    assert len(exp.data(end=dt.timedelta(0))) == 3


@settings(max_examples=100, deadline=None)
@given(amount=st.integers(0, 10_000), unit=st.sampled_from(list({"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600,
                                                                   "hr": 3600, "d": 86400, "w": 604800}.items())),
       now=st.floats(1e9, 2e9))
def test_parse_time_relative_strings(amount, unit, now):
    name, seconds = unit
    assert parse_time(f"{amount}{name}", "since", now=now) == now - amount * seconds
    assert parse_time(f"{amount} {name.upper()}", "since", now=now) == now - amount * seconds


@settings(max_examples=100, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1),
                           timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-7)),
                                                      dt.timezone(dt.timedelta(hours=5, minutes=30))])))
def test_parse_time_iso_and_datetime_agree(moment):
    assert parse_time(moment, "since") == moment.timestamp()
    assert parse_time(moment.isoformat(), "end") == moment.timestamp()


# -- extra fields ----------------------------------------------------------------------------
def test_extra_field_filters(vigil_home):
    with om.runtime.experiment("fields") as exp:
        exp.log_metric("m", 1.0, model="rf", fold=1, flag=True, score=0.5)
        exp.log_metric("m", 2.0, model="lr", fold=2, flag=False, score=0.25)
        exp.log_metric("m", 3.0, model="rf", fold=2)
        exp.log_metric("m", 4.0)
        exp.log_artifact(b"x", "blob", model="rf")
    values = lambda frame: frame["value"].tolist()  # noqa: E731
    assert values(exp.data(event="metric", model="rf")) == [1.0, 3.0]
    assert values(exp.data(model=["rf", "lr"], event="metric")) == [1.0, 2.0, 3.0]
    assert values(exp.data(fold=2)) == [2.0, 3.0]
    assert values(exp.data(fold=2, model="rf")) == [3.0]
    assert values(exp.data(flag=True)) == [1.0]
    assert values(exp.data(flag=False)) == [2.0]
    assert values(exp.data(score=0.25)) == [2.0]
    assert values(exp.data(model=None)) == [4.0]
    assert exp.data(name="blob")["key"].tolist() == ["blob"]
    assert len(exp.data(node=socket.gethostname())) == 5
    assert exp.data(userid="somebody-else").empty
    assert exp.data(model="nope").empty


def same_field_value(stored, wanted) -> bool:
    """The model of an extra-field filter: equality within one JSON type (numbers across
    int/float, never bool), and None for a missing field."""
    if wanted is None:
        return stored is None
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return type(stored) is type(wanted) and stored == wanted
    if isinstance(wanted, str) or isinstance(stored, str):
        return type(stored) is type(wanted) and stored == wanted
    return stored is not None and stored == wanted


field_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0.0, -0.0, 1.0, 1.5, 1e300, -2.5e-300]), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "1", "true", "a", "null"]), st.text(max_size=4),
)


def test_extra_field_filters_match_the_model(vigil_home):
    names = iter(range(10**6))

    @settings(max_examples=60, deadline=None)
    @given(stored=st.lists(field_values, min_size=1, max_size=8), pick=st.integers(0, 7), other=field_values)
    def check(stored, pick, other):
        with om.runtime.experiment(f"model/{next(names)}") as exp:
            for i, value in enumerate(stored):
                if value is None:
                    exp.log_metric("m", float(i))  # no field at all
                else:
                    exp.log_metric("m", float(i), tag=value)
        for wanted in (stored[pick % len(stored)], other):
            got = [int(v) for v in exp.data(tag=wanted)["value"]]
            want = [i for i, value in enumerate(stored) if same_field_value(value, wanted)]
            assert got == want, f"tag={wanted!r} over {stored!r}"

    check()


# -- batches and cursors ---------------------------------------------------------------------
def test_batches_are_generators_of_frames_or_record_lists(vigil_home):
    with om.runtime.experiment("batches") as exp:
        exp.log_events("e", "k", list(range(10)), step=0)
        exp.log_param("p", 1)
    whole = exp.data(event="e")
    batches = exp.data(event="e", batchsize=3)
    assert inspect.isgenerator(batches)
    batches = list(batches)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert all(list(b.columns) == list(whole.columns) for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)

    raw = list(exp.data(event="e", batchsize=5, raw=True))
    assert [len(b) for b in raw] == [5, 5]  # an exact multiple ends without an empty batch
    assert [r for batch in raw for r in batch] == exp.data(event="e", raw=True)
    assert [len(b) for b in exp.data(batchsize=100)] == [11]


def test_lazy_cursor_pages_through_everything_in_order(vigil_home, monkeypatch):
    monkeypatch.setattr(provider_module, "_PAGE_ROWS", 4)
    with om.runtime.experiment("cursor") as exp:
        exp.log_events("e", "k", list(range(10)), step=0)
        exp.log_param("p", "x")
    cursor = exp.data(lazy=True, raw=True)
    first = next(cursor)
    assert set(first) == {"_id", "data"} and first["data"]["value"] == 0
    items = [first, *cursor]
    ids = [item["_id"] for item in items]
    assert ids == sorted(set(ids)) and len(ids) == 11
    assert [item["data"] for item in items] == exp.data(raw=True)
    assert [item["data"]["value"] for item in exp.data(lazy=True, key="k", step=[2, 7])] == [2, 7]


# -- bad filters -----------------------------------------------------------------------------
BAD_FILTERS = [
    ("run", "abc"), ("run", [1, "a"]), ("run", 1.5), ("run", True), ("run", []), ("run", slice(1, 3, 2)),
    ("run", slice("a", 2)), ("run", {"a": 1}),
    ("step", "x"), ("step", 1.5), ("step", [1, "a"]), ("step", []), ("step", True),
    ("since", [1]), ("since", "yesterday"), ("since", float("nan")), ("since", "2x"), ("since", True), ("end", object()), ("end", "13/01/2024"),
    ("batchsize", 0), ("batchsize", -1), ("batchsize", 1.5), ("batchsize", True), ("batchsize", "10"),
    ("key", 3), ("key", [3]), ("key", []), ("key", b"k"), ("event", 3), ("event", ["metric", 1]),
    ("model", object()), ("model", []), ("model", [1, [2]]), ("model", 2**70), ("1bad", 1), ("bad-name", "x"),
]
BAD_FIELD_NAMES = ("1bad", "bad-name")


MODES = {"frame": {}, "raw": {"raw": True}, "lazy": {"lazy": True}, "batches": {"batchsize": 2}}


@pytest.mark.parametrize("arg, value", BAD_FILTERS, ids=[f"{arg}={describe(value, 30)}" for arg, value in BAD_FILTERS])
def test_bad_filters_raise_invalid_input_at_the_call(five_runs, arg, value):
    before = five_runs.data(run="all", raw=True)
    shown = arg if arg in BAD_FIELD_NAMES else value  # a bad field name is itself the bad value
    for mode, options in MODES.items():
        if arg in options:
            continue
        with pytest.raises(InvalidInput) as info:
            five_runs.data(**{**options, arg: value})  # lazy and batched reads fail here, not on iteration
        message = str(info.value)
        assert message.startswith("data: ") and arg in message, f"{mode}: {message}"
        assert describe(shown)[:20] in message, f"{mode}: {message}"
    assert five_runs.data(run="all", raw=True) == before
    assert five_runs.latest_run == LATEST
