"""The contract every event store passes (vigil.store.base.EventStore).

Each test runs on every backend: SQLite in a temporary directory and
PostgreSQL in the session's throwaway database (emptied before each test).
A known defect of one backend is marked ``xfail(strict=True)`` with its
reason, so the mark has to go when the defect is fixed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import struct
import threading
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import StoreError
from vigil.store.base import CORE_FILTER_FIELDS, EVENT_COLUMNS, EVENT_SCHEMA, EventQuery, EventStore
from vigil.store.postgres import PostgresEventStore
from vigil.store.registry import open_event_store
from vigil.store.sqlite import SqliteEventStore

STORES = {"sqlite": SqliteEventStore, "postgresql": PostgresEventStore}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
INJECTIONS = ("x' OR '1'='1", "'; DROP TABLE vigil_events; --", 'a"b', "k') OR 1=1 --", "%", "_", "\\")
SQLITE_LOSES_NAN_AND_NULL = (
    "SqliteEventStore reads value_num through coalesce(value_num, 0.0) and SQLite stores NaN as "
    "NULL, so NaN and None come back as 0.0"
)
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/vigil.db"
    return request.getfixturevalue("pg_empty_url")


@pytest.fixture
def store(store_url: str) -> Any:
    opened = open_event_store(store_url)
    yield opened
    opened.close()


def xfail_on(request: pytest.FixtureRequest, backend: str, broken: str, reason: str) -> None:
    """Expect this test to fail on the ``broken`` backend, and to be told when it passes."""
    if backend == broken:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def event(exp_id: int, run: int = 1, event: str = "metric", key: str = "loss", value_num: float | None = 0.5,
          value_json: str | None = None, step: int | None = 0, dt: float = 1000.0, node: str = "n1",
          userid: str = "u1", name: str | None = None, extra: dict | str | None = None) -> tuple:
    """One row in EVENT_COLUMNS order; ``extra`` may be given as a dict."""
    if isinstance(extra, dict):
        extra = json.dumps(extra)
    return (exp_id, run, event, key, value_num, value_json, step, dt, node, userid, name, extra)


def append_ids(store: Any, exp_id: int, rows: list[tuple]) -> list[int]:
    """Append ``rows`` (all of experiment ``exp_id``) and return their ids, in order."""
    before = store.query(EventQuery(exp_id)).column("id").to_pylist()
    store.append(rows)
    ids = store.query(EventQuery(exp_id, after_id=max(before, default=0))).column("id").to_pylist()
    assert len(ids) == len(rows)
    return ids


def canonical(table: Any) -> list[dict[str, Any]]:
    """Rows of an event table, comparable across backends (NaN equal to NaN, extra parsed)."""
    assert table.schema == EVENT_SCHEMA
    rows = table.to_pylist()
    for r in rows:
        if r["value_num"] is not None and math.isnan(r["value_num"]):
            r["value_num"] = "NaN"
        if r["extra"] is not None:  # PostgreSQL keeps JSONB: same JSON, other key order and spacing
            r["extra"] = json.loads(r["extra"])
    return rows


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


# -- lifecycle ---------------------------------------------------------------------------
def test_store_satisfies_the_protocol(store: Any) -> None:
    assert isinstance(store, EventStore)


def test_open_twice_and_reopen_keep_the_data(store: Any, store_url: str, backend: str) -> None:
    exp = store.ensure_experiment("a")
    store.append([event(exp.id)])
    store.open()
    same = [store_url]
    if backend == "postgresql":  # every scheme of the registry reaches the same database
        same += [store_url.replace("postgresql://", f"{scheme}://", 1) for scheme in ("postgres", "postgresql+psycopg")]
    for url in same:
        other = open_event_store(url)
        try:
            other.open()
            assert other.find_experiment("a") == exp
            assert other.count(EventQuery(exp.id)) == 1
        finally:
            other.close()
    store.close()
    store.open()  # a closed store reopens
    assert store.count(EventQuery(exp.id)) == 1


def test_many_stores_opening_a_new_database_at_once(backend: str, store_url: str) -> None:
    if backend == "postgresql":  # start from a database without tables
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS vigil_events, vigil_runs, vigil_experiments, "
                         "vigil_meta, vigil_schema")
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        one = STORES[backend](store_url)
        try:
            barrier.wait()
            one.open()
            one.ensure_experiment("shared")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            one.close()

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reopened = open_event_store(store_url)
    try:
        assert [e["name"] for e in reopened.list_experiments()] == ["shared"]
    finally:
        reopened.close()


# -- experiments and runs ----------------------------------------------------------------
def test_experiments(store: Any) -> None:
    assert store.find_experiment("a") is None
    assert store.list_experiments() == []
    before = time.time()
    a = store.ensure_experiment("a")
    b = store.ensure_experiment("a/b")
    assert store.ensure_experiment("a") == a
    assert store.find_experiment("a") == a
    assert a.name == "a" and len(a.uid) == 32 and a.uid != b.uid and a.id != b.id
    assert before - 1 <= a.created <= time.time() + 1
    store.start_run(b.id, a.created + 50, "n", "u")
    listed = store.list_experiments()
    assert [e["name"] for e in listed] == ["a", "a/b"]
    assert listed[0] == {"name": "a", "created": a.created, "runs": 0, "last_activity": a.created}
    assert listed[1]["runs"] == 1 and listed[1]["last_activity"] == a.created + 50


def test_run_numbers_are_per_experiment(store: Any) -> None:
    a = store.ensure_experiment("a")
    b = store.ensure_experiment("b")
    assert store.latest_run(a.id) == 0
    assert [store.start_run(a.id, 10.0 + i, "node", "me") for i in range(3)] == [1, 2, 3]
    assert store.start_run(b.id, 20.0, "other", "you") == 1
    assert store.latest_run(a.id) == 3 and store.latest_run(b.id) == 1
    assert store.latest_run(10_000) == 0

    run = store.find_run(a.id, 2)
    assert (run.run, run.status, run.started, run.ended, run.node, run.userid) == (
        2, "STARTED", 11.0, None, "node", "me")
    assert store.find_run(a.id, 4) is None and store.find_run(b.id, 2) is None

    store.set_run_status(a.id, 2, "STOPPED", 15.0)
    store.set_run_status(a.id, 3, "FAILED", 16.0)
    assert [(r.run, r.status, r.ended) for r in store.list_runs(a.id)] == [
        (1, "STARTED", None), (2, "STOPPED", 15.0), (3, "FAILED", 16.0)]
    store.set_run_status(a.id, 2, "STARTED", 17.0)  # restarted: no end time
    assert store.find_run(a.id, 2).ended is None
    assert [r.run for r in store.list_runs(b.id)] == [1]
    assert store.list_runs(10_000) == []


def test_start_run_of_a_missing_experiment_fails(store: Any) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        store.start_run(10_000, 1.0, "n", "u")


def test_concurrent_start_run_numbers_are_unique_and_contiguous(store: Any) -> None:
    exp = store.ensure_experiment("busy")
    numbers: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            got = [store.start_run(exp.id, time.time(), "n", "u") for _ in range(20)]
            numbers.extend(got)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 161))
    assert store.latest_run(exp.id) == 160
    assert [r.run for r in store.list_runs(exp.id)] == list(range(1, 161))


def _start_runs_in_child(store: Any, exp_id: int, queue: Any) -> None:
    queue.put([store.start_run(exp_id, 1.0, "child", "u") for _ in range(5)])


@pytest.mark.slow
def test_forked_children_share_the_store_object(store: Any) -> None:
    exp = store.ensure_experiment("forked")
    assert store.start_run(exp.id, 1.0, "parent", "u") == 1  # the parent holds pooled connections
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_start_runs_in_child, args=(store, exp.id, queue)) for _ in range(3)]
    for c in children:
        c.start()
    got = [n for _ in children for n in queue.get(timeout=60)]
    for c in children:
        c.join(timeout=60)
        assert c.exitcode == 0
    assert store.start_run(exp.id, 2.0, "parent", "u") == 17  # the parent's connections still work
    assert sorted(got) == list(range(2, 17))


def test_delete_experiment_removes_only_that_experiment(store: Any) -> None:
    exps = {name: store.ensure_experiment(name) for name in ("a", "a/b", "ab", "b")}
    for exp in exps.values():
        store.start_run(exp.id, 1.0, "n", "u")
        store.append([event(exp.id, key=k) for k in ("x", "y")])
    store.delete_experiment(exps["a"].id)

    assert store.find_experiment("a") is None
    assert store.count(EventQuery(exps["a"].id)) == 0 and store.list_runs(exps["a"].id) == []
    for name in ("a/b", "ab", "b"):
        assert store.find_experiment(name) == exps[name]
        assert store.count(EventQuery(exps[name].id)) == 2
        assert [r.run for r in store.list_runs(exps[name].id)] == [1]
    again = store.ensure_experiment("a")
    assert store.start_run(again.id, 2.0, "n", "u") == 1
    assert store.count(EventQuery(again.id)) == 0


# -- events ------------------------------------------------------------------------------
EXTRAS: list[dict[str, Any] | None] = [
    {"k": "a", "n": 1}, {"k": "b", "n": 1.0}, {"k": "1", "n": 2.5}, {"k": None, "n": True},
    {"n": "1"}, None, {"k": "a", "n": False, "f": 0.25}, {"k": 1},
]


@pytest.fixture
def sample(store: Any) -> tuple[Any, int, list[tuple], list[int]]:
    """An experiment with varied events (and a neighbour with similar ones)."""
    exp = store.ensure_experiment("sample")
    rows = []
    for i in range(24):
        rows.append(event(
            exp.id, run=1 + i % 3, event=("metric", "param", "text")[(i // 2) % 3],
            key=("loss", "acc", "lr", "x' OR '1'='1")[i % 4], value_num=i / 4,
            value_json=None if i % 2 else json.dumps({"i": i}), step=None if i % 5 == 4 else i % 5,
            dt=1000.0 + i, node=("n1", "n2")[i % 2], userid=("u1", "u2", "u3")[i % 3],
            name=None if i % 4 == 3 else f"name{i % 2}", extra=EXTRAS[i % len(EXTRAS)],
        ))
    ids = append_ids(store, exp.id, rows)
    neighbour = store.ensure_experiment("sample/other")
    store.append([event(neighbour.id, key=r[3], extra=r[11]) for r in rows])
    return store, exp.id, rows, ids


def expected_ids(q: EventQuery, rows: list[tuple], ids: list[int]) -> list[int]:
    out = [i for i, r in zip(ids, rows) if python_matches(q, i, dict(zip(EVENT_COLUMNS, r)))]
    if q.limit is None:
        return out
    return (out[len(out) - q.limit:] if q.limit else []) if q.latest else out[:q.limit]


def python_matches(q: EventQuery, id_: int, r: dict[str, Any]) -> bool:
    """What EventQuery means, written in plain Python."""
    if r["exp_id"] != q.experiment_id or id_ <= q.after_id:
        return False
    for col, values in (("run", q.runs), ("event", q.events), ("key", q.keys), ("step", q.steps)):
        if values is not None and (r[col] is None or r[col] not in values):
            return False
    if (q.since is not None and r["dt"] < q.since) or (q.end is not None and r["dt"] > q.end):
        return False
    extra = json.loads(r["extra"]) if r["extra"] else {}
    return all(any(field_equals(name, v, r, extra) for v in values) for name, values in q.fields)


def field_equals(name: str, v: Any, r: dict[str, Any], extra: dict[str, Any]) -> bool:
    if name in CORE_FILTER_FIELDS:
        return r[name] is None if v is None else r[name] == v
    x = extra.get(name)
    if v is None:
        return x is None
    if isinstance(v, bool) or isinstance(x, bool):
        return x is v
    if isinstance(v, (int, float)):
        return isinstance(x, (int, float)) and x == v
    return isinstance(x, str) and x == v


FILTERS = {
    "all": {},
    "one run": {"runs": (2,)},
    "two runs": {"runs": (1, 3)},
    "no runs": {"runs": ()},
    "events": {"events": ("text",)},
    "keys": {"keys": ("loss", "acc")},
    "missing key": {"keys": ("nope",)},
    "steps": {"steps": (0, 3)},
    "since": {"since": 1010.0},
    "end": {"end": 1005.0},
    "since and end": {"since": 1003.0, "end": 1006.0},
    "node": {"fields": (("node", ("n2",)),)},
    "userid": {"fields": (("userid", ("u1", "u3")),)},
    "name": {"fields": (("name", ("name1",)),)},
    "name is None": {"fields": (("name", (None,)),)},
    "extra str": {"fields": (("k", ("a",)),)},
    "extra str is not a number": {"fields": (("k", ("1",)),)},
    "extra int": {"fields": (("n", (1,)),)},
    "extra int matches float": {"fields": (("n", (2.5, 1)),)},
    "extra float": {"fields": (("f", (0.25,)),)},
    "extra bool": {"fields": (("n", (True,)),)},
    "extra false is not 0": {"fields": (("n", (False,)),)},
    "extra None is missing or null": {"fields": (("k", (None,)),)},
    "extra mixed": {"fields": (("k", ("b", 1, None)),)},
    "extra no values": {"fields": (("k", ()),)},
    "fields combined": {"fields": (("node", ("n1",)), ("n", (1, True)))},
    "everything": {"runs": (1, 2), "keys": ("loss", "lr"), "since": 1001.0, "end": 1020.0,
                   "fields": (("userid", ("u1", "u2")),)},
    "limit": {"limit": 5},
    "limit zero": {"limit": 0},
    "filter and limit": {"keys": ("acc",), "limit": 2},
    "latest": {"limit": 5, "latest": True},
    "filter and latest": {"keys": ("acc",), "since": 1001.0, "limit": 2, "latest": True},
    "latest zero": {"limit": 0, "latest": True},
    "latest without limit": {"runs": (2,), "latest": True},
}


ALL_OR_NOTHING = {"all", "no runs", "missing key", "extra no values", "limit zero", "latest zero"}


@pytest.mark.parametrize("case", FILTERS)
def test_query_filters(sample: Any, case: str) -> None:
    store, exp_id, rows, ids = sample
    q = EventQuery(exp_id, **FILTERS[case])
    want = expected_ids(q, rows, ids)
    assert case in ALL_OR_NOTHING or 0 < len(want) < len(rows)  # the case can fail
    got = store.query(q)
    assert got.schema == EVENT_SCHEMA
    assert got.column("id").to_pylist() == want
    assert store.count(dataclasses.replace(q, limit=None)) == len(
        expected_ids(dataclasses.replace(q, limit=None), rows, ids))


def test_integers_no_column_can_hold_match_nothing(sample: Any) -> None:
    store, exp_id, rows, ids = sample
    for q in (EventQuery(exp_id, runs=(2**40,)), EventQuery(exp_id, runs=(-(2**40), 1), steps=(2**64,)),
              EventQuery(2**40), EventQuery(exp_id, after_id=2**64)):
        assert store.query(q).num_rows == 0 and store.count(q) == 0
    assert store.count(EventQuery(exp_id, runs=(2**40, 1))) == sum(r[1] == 1 for r in rows)


def test_query_after_id_pages_through_in_id_order(sample: Any) -> None:
    store, exp_id, rows, ids = sample
    assert ids == sorted(ids)
    assert store.query(EventQuery(exp_id, after_id=ids[9])).column("id").to_pylist() == ids[10:]
    assert store.count(EventQuery(exp_id, after_id=ids[-1])) == 0
    pages, after = [], 0
    while page := store.query(EventQuery(exp_id, keys=("loss", "lr"), after_id=after, limit=3)).to_pylist():
        pages.append([r["id"] for r in page])
        after = page[-1]["id"]
    assert [i for p in pages for i in p] == expected_ids(EventQuery(exp_id, keys=("loss", "lr")), rows, ids)
    assert all(len(p) == 3 for p in pages[:-1])


def test_query_returns_the_appended_values(sample: Any) -> None:
    store, exp_id, rows, ids = sample
    got = canonical(store.query(EventQuery(exp_id)))
    assert [g["id"] for g in got] == ids
    for r, g in zip(rows, got):
        want = dict(zip(EVENT_COLUMNS, r))
        want["extra"] = json.loads(want["extra"]) if want["extra"] else None
        assert {c: g[c] for c in EVENT_SCHEMA.names[1:]} == {c: want[c] for c in EVENT_SCHEMA.names[1:]}


@pytest.mark.slow
def test_large_results_come_back_whole_and_in_order(store: Any) -> None:
    # Big enough for a store to read in several chunks or streams.
    exp = store.ensure_experiment("large")
    other = store.ensure_experiment("large/other")
    rows = [event(exp.id, run=1 + i % 7, key=("loss", "acc", "ünï\ncode")[i % 3], value_num=i / 3,
                  value_json=None if i % 5 else f'"{i}"', step=None if i % 11 == 0 else i, dt=float(i),
                  name=None if i % 2 else "n" * (1 + i % 40), extra=None if i % 3 else {"i": i})
            for i in range(150_000)]
    for start in range(0, len(rows), 25_000):  # interleave another experiment's ids
        store.append(rows[start:start + 25_000])
        store.append([event(other.id)] * 1000)
    ids = store.query(EventQuery(exp.id)).column("id").to_pylist()
    assert len(ids) == len(rows) and ids == sorted(set(ids))
    for q in (EventQuery(exp.id), EventQuery(exp.id, limit=100_000), EventQuery(exp.id, after_id=ids[70_000]),
              EventQuery(exp.id, keys=("ünï\ncode",), limit=40_000)):
        want = expected_ids(q, rows, ids)
        got = store.query(q)
        assert got.column("id").to_pylist() == want
        by_id = dict(zip(ids, rows))
        sample_rows = canonical(got.take(list(range(0, got.num_rows, 997))))
        for g in sample_rows:
            r = dict(zip(EVENT_COLUMNS, by_id[g["id"]]))
            assert [g[c] for c in EVENT_SCHEMA.names[1:-1]] == [r[c] for c in EVENT_SCHEMA.names[1:-1]]
            assert g["extra"] == (json.loads(r["extra"]) if r["extra"] else None)


def test_query_of_an_empty_experiment(store: Any) -> None:
    exp = store.ensure_experiment("empty")
    table = store.query(EventQuery(exp.id))
    assert table.schema == EVENT_SCHEMA and table.num_rows == 0
    assert store.count(EventQuery(exp.id)) == 0
    store.append([])
    assert store.count(EventQuery(exp.id)) == 0


def test_text_round_trips_exactly(store: Any) -> None:
    exp = store.ensure_experiment("text")
    texts = ['comma, "quote"', "new\nline\r\n", "tab\tback\\slash", "\\N", "NULL", "ünïcødé ✓ 🚀",
             " padded ", "'single'"]
    rows = [event(exp.id, event=t, key=t, value_json=json.dumps(t), node=t, userid=t, name=t,
                  extra={"t": t}) for t in texts]
    rows.append(event(exp.id, event="", key="", node="", userid=""))
    store.append(rows)
    got = store.query(EventQuery(exp.id)).to_pylist()
    for t, g in zip(texts, got):
        assert (g["event"], g["key"], g["node"], g["userid"], g["name"]) == (t, t, t, t, t)
        assert json.loads(g["value_json"]) == t and json.loads(g["extra"]) == {"t": t}
    assert (got[-1]["event"], got[-1]["key"], got[-1]["node"], got[-1]["userid"]) == ("", "", "", "")
    for t in texts:
        assert store.count(EventQuery(exp.id, keys=(t,), fields=(("node", (t,)), ("t", (t,))))) == 1


def test_extreme_and_infinite_values_round_trip_exactly(store: Any) -> None:
    exp = store.ensure_experiment("floats")
    values = [math.inf, -math.inf, 5e-324, -5e-324, 1.7976931348623157e308, 0.1 + 0.2, -1.5, 1e-300, 2.0**60]
    store.append([event(exp.id, value_num=v, dt=v if math.isfinite(v) else 0.0, step=2**62 - i)
                  for i, v in enumerate(values)])
    got = store.query(EventQuery(exp.id))
    assert [bits(v) for v in got.column("value_num").to_pylist()] == [bits(v) for v in values]
    assert [bits(v) for v in got.column("dt").to_pylist()] == [
        bits(v if math.isfinite(v) else 0.0) for v in values]
    assert got.column("step").to_pylist() == [2**62 - i for i in range(len(values))]


def test_nan_round_trips(store: Any, request: pytest.FixtureRequest, backend: str) -> None:
    xfail_on(request, backend, "sqlite", SQLITE_LOSES_NAN_AND_NULL)
    exp = store.ensure_experiment("nan")
    store.append([event(exp.id, value_num=math.nan), event(exp.id, value_num=1.0)])
    got = store.query(EventQuery(exp.id)).column("value_num").to_pylist()
    assert math.isnan(got[0]) and got[1] == 1.0


def test_none_value_num_round_trips(store: Any, request: pytest.FixtureRequest, backend: str) -> None:
    xfail_on(request, backend, "sqlite", SQLITE_LOSES_NAN_AND_NULL)
    exp = store.ensure_experiment("none")
    store.append([event(exp.id, value_num=None), event(exp.id, value_num=0.0)])
    assert store.query(EventQuery(exp.id)).column("value_num").to_pylist() == [None, 0.0]


def test_none_in_nullable_columns(store: Any) -> None:
    exp = store.ensure_experiment("nulls")
    store.append([
        event(exp.id, value_json=None, step=None, name=None, extra=None),
        event(exp.id, value_json="1", step=7, name="x", extra={"a": 1}),
    ])
    got = store.query(EventQuery(exp.id)).to_pylist()
    assert [(g["value_json"], g["step"], g["name"]) for g in got] == [(None, None, None), ("1", 7, "x")]
    assert got[0]["extra"] is None and json.loads(got[1]["extra"]) == {"a": 1}
    assert store.count(EventQuery(exp.id, steps=(7,))) == 1
    assert store.count(EventQuery(exp.id, fields=(("name", (None,)),))) == 1
    assert store.count(EventQuery(exp.id, fields=(("a", (None,)),))) == 1  # no extra at all


def test_injection_attempts_match_nothing_and_break_nothing(store: Any) -> None:
    exp = store.ensure_experiment("victim")
    store.append([event(exp.id, key="plain", extra={"plain": "v"}) for _ in range(3)])
    store.put_meta("dataset", "data", {"uri": "u"})
    for bad in INJECTIONS:
        queries = [
            EventQuery(exp.id, keys=(bad,)), EventQuery(exp.id, events=(bad,)),
            EventQuery(exp.id, fields=(("node", (bad,)),)), EventQuery(exp.id, fields=(("plain", (bad,)),)),
            EventQuery(exp.id, fields=((bad, ("v",)),)), EventQuery(exp.id, fields=((bad, (1, True)),)),
        ]
        for q in queries:
            assert store.query(q).num_rows == 0, q
            assert store.count(q) == 0, q
        assert store.find_experiment(bad) is None
        assert store.find_meta("dataset", bad) is None
        assert store.list_meta("dataset", prefix=bad) == []
        assert store.count(EventQuery(exp.id, fields=((bad, (None,)),))) == 3  # a missing field is None
    assert store.count(EventQuery(exp.id)) == 3
    assert store.count(EventQuery(exp.id, fields=(("plain", ("v",)),))) == 3
    assert [m["name"] for m in store.list_meta("dataset")] == ["data"]
    # odd field names are stored and found as any other
    store.append([event(exp.id, key="odd", extra={bad: bad}) for bad in INJECTIONS])
    for bad in INJECTIONS:
        assert store.query(EventQuery(exp.id, fields=((bad, (bad,)),))).column("key").to_pylist() == ["odd"]
    odd = store.ensure_experiment("x' OR '1'='1")
    assert store.find_experiment("x' OR '1'='1") == odd and store.start_run(odd.id, 1.0, "n", "u") == 1


BAD_ROWS = {
    "text in an integer column": lambda exp_id: event(exp_id, run="x"),
    "too few fields": lambda exp_id: event(exp_id)[:-1],
    "None in a required column": lambda exp_id: event(exp_id, key=None),
}


@pytest.mark.parametrize("make_row", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_row_the_store_cannot_take_is_not_a_store_error(
    store: Any, request: pytest.FixtureRequest, backend: str, make_row: Any
) -> None:
    # The write-behind buffer retries a StoreError forever and drops rows failing otherwise.
    if make_row is BAD_ROWS["None in a required column"]:
        xfail_on(request, backend, "sqlite", "SqliteEventStore raises StoreError for a NOT NULL violation")
    exp = store.ensure_experiment("bad")
    with pytest.raises(Exception) as raised:  # noqa: B017 - any error but StoreError
        store.append([event(exp.id, key="good"), make_row(exp.id)])
    assert not isinstance(raised.value, StoreError), raised.value
    assert store.count(EventQuery(exp.id)) == 0  # nothing of the batch was kept
    store.append([event(exp.id, key="good")])
    assert store.query(EventQuery(exp.id)).column("key").to_pylist() == ["good"]


# -- metadata ----------------------------------------------------------------------------
def test_meta_versions(store: Any) -> None:
    assert store.find_meta("model", "m") is None
    assert [store.put_meta("model", "m", {"uri": f"v{i}"}) for i in (1, 2, 3)] == [1, 2, 3]
    assert store.put_meta("dataset", "m", {"uri": "d"}) == 1  # versions are per kind and name
    latest = store.find_meta("model", "m")
    assert (latest["uri"], latest["name"], latest["version"]) == ("v3", "m", 3)
    assert isinstance(latest["created"], float)
    assert store.find_meta("model", "m", version=1)["uri"] == "v1"
    assert store.find_meta("model", "m", version=9) is None
    assert store.find_meta("model", "other") is None


def test_list_meta_latest_per_name_and_prefix(store: Any) -> None:
    for name in ("models/b", "models/a", "models/a", "model", "modelsx", "Models/c", "m%d", "m_d", "mad"):
        store.put_meta("model", name, {"uri": name})
    store.put_meta("dataset", "models/z", {"uri": "z"})
    listed = store.list_meta("model")  # the order of mixed case and punctuation is the collation's
    assert sorted((m["name"], m["version"], m["uri"]) for m in listed) == [
        ("Models/c", 1, "Models/c"), ("m%d", 1, "m%d"), ("m_d", 1, "m_d"), ("mad", 1, "mad"),
        ("model", 1, "model"), ("models/a", 2, "models/a"), ("models/b", 1, "models/b"),
        ("modelsx", 1, "modelsx")]
    assert [m["name"] for m in store.list_meta("model", prefix="models/")] == ["models/a", "models/b"]
    assert [m["name"] for m in store.list_meta("model", prefix="model")] == [
        "model", "models/a", "models/b", "modelsx"]
    assert [m["name"] for m in store.list_meta("model", prefix="m%")] == ["m%d"]
    assert [m["name"] for m in store.list_meta("model", prefix="m_")] == ["m_d"]
    assert store.list_meta("nothing") == []


def test_drop_meta(store: Any) -> None:
    for _ in range(3):
        store.put_meta("job", "j", {"x": 1})
    store.put_meta("job", "k", {"x": 2})
    assert store.drop_meta("job", "j") == 3
    assert store.find_meta("job", "j") is None
    assert store.drop_meta("job", "j") == 0
    assert store.find_meta("job", "k")["x"] == 2
    assert store.put_meta("job", "j", {"x": 3}) == 1


def test_concurrent_put_meta_versions_are_unique(store: Any) -> None:
    versions: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            versions.extend(store.put_meta("model", "hot", {"t": time.time()}) for _ in range(10))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(versions) == list(range(1, 41))


# -- properties --------------------------------------------------------------------------
FIELD_NAMES = ("node", "userid", "name", "k", "j")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.5, 1.0, -2.0, 2.5]),
    st.sampled_from(["a", "b", "1", "true", "x' OR '1'='1"]),
)
core_values = st.one_of(st.none(), st.sampled_from(["n1", "nœud", "u2", "a", "1"]))
extras = st.one_of(st.none(), st.dictionaries(st.sampled_from(["k", "j", "z"]), scalars, max_size=3))
rows_strategy = st.lists(st.fixed_dictionaries({
    "exp": st.sampled_from([0, 0, 0, 1]),
    "run": st.integers(1, 3),
    "event": st.sampled_from(["metric", "param", "text"]),
    "key": st.sampled_from(["loss", "acc", "lr", "x' OR '1'='1"]),
    "value_num": st.floats(allow_nan=False),
    "value_json": st.one_of(st.none(), st.sampled_from(['"s"', "1", "[1, 2]", '{"a": null}'])),
    "step": st.one_of(st.none(), st.integers(0, 4), st.integers(-(2**63), 2**63 - 1)),
    "dt": st.floats(0, 20, allow_nan=False),
    "node": st.sampled_from(["n1", "n2", "nœud"]),
    "userid": st.sampled_from(["u1", "u2"]),
    "name": st.one_of(st.none(), st.sampled_from(["a", "b", "1"])),
    "extra": extras,
}), max_size=25)
queries_strategy = st.fixed_dictionaries({
    "runs": st.one_of(st.none(), st.tuples(st.integers(1, 4)), st.lists(st.integers(1, 4), max_size=3).map(tuple)),
    "events": st.one_of(st.none(), st.lists(st.sampled_from(["metric", "param", "text"]), max_size=2).map(tuple)),
    "keys": st.one_of(st.none(), st.lists(st.sampled_from(["loss", "acc", "x' OR '1'='1"]), max_size=2).map(tuple)),
    "steps": st.one_of(st.none(), st.lists(st.integers(0, 4), max_size=3).map(tuple)),
    "since": st.one_of(st.none(), st.floats(0, 20)),
    "end": st.one_of(st.none(), st.floats(0, 20)),
    "fields": st.lists(st.sampled_from(FIELD_NAMES).flatmap(
        lambda name: st.tuples(st.just(name), st.lists(
            core_values if name in CORE_FILTER_FIELDS else scalars, max_size=3).map(tuple))
    ), max_size=2).map(tuple),
    "after": st.integers(0, 25),
    "limit": st.one_of(st.none(), st.integers(0, 10)),
})


def append_drawn(store: Any, drawn_rows: list[dict[str, Any]]) -> tuple[int, list[tuple], list[int]]:
    """Append drawn rows to two fresh experiments; return the first's id, its rows and ids."""
    tag = uuid.uuid4().hex
    exps = [store.ensure_experiment(f"prop/{tag}"), store.ensure_experiment(f"prop/{tag}/other")]
    rows = [event(exps[d["exp"]].id, **{k: v for k, v in d.items() if k != "exp"}) for d in drawn_rows]
    store.append(rows)
    mine = [r for r in rows if r[0] == exps[0].id]
    ids = store.query(EventQuery(exps[0].id)).column("id").to_pylist()
    assert len(ids) == len(mine)
    return exps[0].id, mine, ids


def drawn_query(exp_id: int, ids: list[int], drawn: dict[str, Any]) -> EventQuery:
    after = drawn.pop("after") % (len(ids) + 1)
    return EventQuery(exp_id, after_id=ids[after - 1] if after else 0, **drawn)


@HYPOTHESIS
@given(drawn_rows=rows_strategy, drawn=queries_strategy)
def test_query_equals_the_same_filter_in_python(store: Any, drawn_rows: list, drawn: dict) -> None:
    exp_id, rows, ids = append_drawn(store, drawn_rows)
    q = drawn_query(exp_id, ids, drawn)
    want = expected_ids(q, rows, ids)
    got = store.query(q)
    assert got.column("id").to_pylist() == want
    by_id = dict(zip(ids, rows))
    for g in canonical(got):
        r = dict(zip(EVENT_COLUMNS, by_id[g["id"]]))
        assert [g[c] for c in EVENT_SCHEMA.names[1:-1]] == [r[c] for c in EVENT_SCHEMA.names[1:-1]]
        assert g["extra"] == (json.loads(r["extra"]) if r["extra"] else None)
    assert store.count(dataclasses.replace(q, limit=None)) == len(
        expected_ids(dataclasses.replace(q, limit=None), rows, ids))


@pytest.fixture
def sqlite_and_postgresql(pg_empty_url: str, tmp_path: Any) -> Any:
    stores = [open_event_store(f"sqlite:///{tmp_path}/same.db"), open_event_store(pg_empty_url)]
    yield stores
    for one in stores:
        one.close()


@pytest.mark.postgres
@HYPOTHESIS
@given(drawn_rows=rows_strategy, queries=st.lists(queries_strategy, min_size=1, max_size=3))
def test_postgresql_and_sqlite_return_identical_tables(
    sqlite_and_postgresql: list[Any], drawn_rows: list, queries: list
) -> None:
    # Drawn values avoid what SQLite cannot return yet (see test_nan_round_trips and
    # test_none_value_num_round_trips): value_num is never NaN nor None.
    appended = [append_drawn(one, drawn_rows) for one in sqlite_and_postgresql]
    assert len(appended[0][2]) == len(appended[1][2])
    for drawn in queries:
        tables = [one.query(drawn_query(exp_id, ids, dict(drawn)))
                  for one, (exp_id, _, ids) in zip(sqlite_and_postgresql, appended)]
        sqlite_rows, pg_rows = (canonical(t) for t in tables)
        for rows_, (_, _, ids) in zip((sqlite_rows, pg_rows), appended):
            for r in rows_:  # ids differ across backends only by where the experiment starts
                r["id"] -= ids[0]
        assert sqlite_rows == pg_rows


# -- aggregates for dashboards ---------------------------------------------------------------------
def test_metric_summary_gives_count_min_max_and_last_per_run_and_key(store: Any) -> None:
    exp = store.ensure_experiment("agg").id
    other = store.ensure_experiment("other").id
    store.append([event(exp, 1, key="loss", value_num=v, step=i) for i, v in enumerate([3.0, 1.0, 2.0])]
                 + [event(exp, 2, key="loss", value_num=5.0), event(exp, 1, key="acc", value_num=0.5),
                    event(exp, 1, event="param", key="lr", value_num=None, value_json="0.1"),
                    event(other, 1, key="loss", value_num=-1.0)])
    assert store.metric_summary(exp) == [(1, "acc", 1, 0.5, 0.5, 0.5), (1, "loss", 3, 1.0, 3.0, 2.0),
                                         (2, "loss", 1, 5.0, 5.0, 5.0)]
    assert store.metric_summary(store.ensure_experiment("empty").id) == []


def test_metric_series_keeps_short_runs_whole_and_buckets_long_ones_keeping_extremes(store: Any) -> None:
    exp = store.ensure_experiment("series").id
    values = [math.sin(i / 7.0) * (1 + i % 13) for i in range(2000)]
    store.append([event(exp, 1, key="loss", value_num=v, step=i) for i, v in enumerate(values)]
                 + [event(exp, 2, key="loss", value_num=float(i), step=i) for i in range(5)]
                 + [event(exp, 3, key="acc", value_num=1.0, step=None, dt=1000.0 + i) for i in range(3)])
    rows = store.metric_series(exp, "loss", None, 100)
    long = [r for r in rows if r[0] == 1]
    short = [r for r in rows if r[0] == 2]
    assert 50 <= len(long) <= 100
    assert sum(r[5] for r in long) == 2000
    assert min(r[3] for r in long) == min(values) and max(r[4] for r in long) == max(values)
    assert [r[1] for r in long] == sorted(r[1] for r in long)
    assert short == [(2, float(i), float(i), float(i), float(i), 1) for i in range(5)]
    assert store.metric_series(exp, "loss", [2], 100) == short
    # no step: the time is the x axis
    assert [r[1] for r in store.metric_series(exp, "acc")] == [1000.0, 1001.0, 1002.0]
    assert store.metric_series(exp, "nope") == []
    for injection in INJECTIONS:
        assert store.metric_series(exp, injection) == []
