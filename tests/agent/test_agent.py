"""The agent: windows aligned to the period, drops counted per reason, never raising, bounded."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, scalar_dtypes

from tests.agent.conftest import T0, FakeClock, dirichlet, sink_agent, value
from vigil.agent import MonitoringAgent, processor, wire
from vigil.agent.validation import REASONS


def test_windows_are_aligned_to_the_period(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, frequency=5)
    plan = [(T0 + 0.0, 3), (T0 + 299.999, 4), (T0 + 300.0, 5), (T0 + 1234.5, 6)]
    for t, n in plan:
        clock.t = t
        agent.collect_data(dirichlet(n, 3))
    clock.t = T0 + 1500 + 2          # past the end (+ grace) of the last window
    assert agent.flush(5)
    got = [(w["start"], w["end"], w["rows_seen"], w["window_id"]) for w in windows]
    assert got == [
        (T0, T0 + 300, 7, f"t:{int(T0 * 1000)}"),
        (T0 + 300, T0 + 600, 5, f"t:{int((T0 + 300) * 1000)}"),
        (T0 + 1200, T0 + 1500, 6, f"t:{int((T0 + 1200) * 1000)}"),   # empty periods give no window
    ]
    agent.close()
    assert len(windows) == 3


def test_fractional_minutes_and_close_flushes_the_open_window(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, frequency=0.25)        # 15 s
    clock.t = T0 + 40.2
    agent.collect_data(dirichlet(2, 3))
    assert agent.flush(5) and windows == []                             # still open
    agent.close()
    assert [(w["start"], w["end"]) for w in windows] == [(T0 + 30, T0 + 45)]


def test_a_late_batch_goes_to_the_next_window_never_a_second_copy(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, frequency=5)
    agent.collect_data(dirichlet(2, 3))
    clock.t = T0 + 302
    agent.flush(5)                                                      # closes [T0, T0 + 300)
    clock.t = T0 + 299                                                  # a batch stamped before the end
    agent.collect_data(dirichlet(3, 3))
    agent.close()
    assert [(w["start"], w["rows_seen"]) for w in windows] == [(T0, 2), (T0 + 300, 3)]


def test_an_agent_restarted_within_a_closed_window_uses_the_next_one(tmp_path, clock):
    windows: list = []
    first = sink_agent(tmp_path, clock, windows)
    first.collect_data(dirichlet(2, 3))
    first.close()                                   # window [T0, T0 + 300) closed early
    second = sink_agent(tmp_path, clock, windows)   # same id and spool, same instant
    second.collect_data(dirichlet(3, 3))
    second.close()
    assert [(w["window_id"], w["rows_seen"]) for w in windows] == [
        (f"t:{int(T0 * 1000)}", 2), (f"t:{int((T0 + 300) * 1000)}", 3)]


def test_real_clock_closes_windows_on_time(tmp_path):
    windows: list = []
    agent = MonitoringAgent(frequency=0.002, n_classes=2, agent_id="rt", sink=windows.append,
                            spool_dir=tmp_path)                         # 120 ms windows
    agent.collect_data([[0.3, 0.7]])
    deadline = time.monotonic() + 5
    while not windows and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(windows) == 1 and windows[0]["end"] - windows[0]["start"] == pytest.approx(0.12, abs=1e-5)
    agent.close()


def drops(window: dict) -> dict:
    return {k: v for k, v in window["dropped"].items() if v}


def test_every_drop_reason_is_counted(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, n_classes=3, max_buffer_size=1000)
    good = dirichlet(10, 3)
    agent.collect_data(good, np.ones((10, 2)), np.zeros(10, dtype=int))     # 10 rows seen; schema: 2 features, labels
    agent.collect_data("not a matrix")                                      # bad_type (1 row)
    agent.collect_data(None)                                                # bad_type (1 row)
    agent.collect_data(np.ones((2, 2, 3)))                                  # bad_shape (2 rows)
    agent.collect_data(dirichlet(4, 5))                                     # n_classes (4 rows)
    agent.collect_data(good[:3], np.ones((2, 2)))                           # bad_shape: 2 input rows for 3
    agent.collect_data(good[:3], label_matrix=np.zeros((3, 2)))             # bad_shape: labels neither (n,) nor one-hot
    agent.collect_data(good[:5], np.ones((5, 3)), np.zeros(5, dtype=int))   # feature_mismatch (5 rows)
    bad = good[:6].copy()
    bad[0, 0] = np.nan                                                      # nan_proba
    bad[1] = [-0.1, 0.6, 0.5]                                               # proba_range
    bad[2] = [0.5, 0.5, 0.5]                                                # proba_sum
    agent.collect_data(bad, np.ones((6, 2)), np.array([0, 1, 2, 7, -1, 1]))  # + 2 bad labels (rows kept)
    agent.collect_data(good[:4])                                            # inputs_missing + labels_missing (4)
    agent.close()
    (w,) = windows
    assert drops(w) == {"bad_type": 2, "bad_shape": 8, "n_classes": 4, "feature_mismatch": 5,
                        "nan_proba": 1, "proba_range": 1, "proba_sum": 1, "bad_label": 2,
                        "inputs_missing": 4, "labels_missing": 4}
    assert w["rows_seen"] == 10 + 3 + 4
    assert set(w["dropped"]) == set(REASONS)
    assert value(w, "dropped", stat="nan_proba") == 1
    # rows without inputs count as missing features; unlabelled rows are not in the label metrics
    assert value(w, "feature", feature="f0", stat="missing") == 4
    cm_total = sum(p["value"] for p in w["points"] if p["metric"] == "confusion")
    assert cm_total == 10 + 1                  # 3 kept rows of `bad`, 2 of them with bad labels


def test_drops_are_logged_at_a_limited_rate(tmp_path, clock, caplog):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows)
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        for _ in range(50):
            agent.collect_data(dirichlet(3, 5))                             # n_classes, 50 times
        agent.collect_data(dirichlet(3, 3))
        agent.close()
    messages = [r.getMessage() for r in caplog.records if "n_classes columns" in r.getMessage()]
    assert len(messages) == 1
    assert windows[0]["dropped"]["n_classes"] == 150


def test_lists_frames_and_dtypes_are_accepted(tmp_path, clock):
    pd = pytest.importorskip("pandas")
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, n_classes=2)
    agent.collect_data([[0.2, 0.8], [0.6, 0.4]], [[1.0, 2.0], [3.0, 4.0]], [1, 0])
    agent.collect_data(pd.DataFrame({"a": [0.1], "b": [0.9]}), pd.DataFrame({"x": [5.0], "y": [6.0]}),
                       pd.Series([1]))
    agent.collect_data(np.array([0.5, 0.5], dtype=np.float32), np.array([7, 8]), np.array([[0, 1]]))
    agent.collect_data(np.array([[1, 0]]), np.array([[9.0, 10.0]]), [[1]])           # int probabilities
    agent.close()
    (w,) = windows
    assert w["rows_seen"] == 5 and not drops(w)
    assert value(w, "feature", feature="f0", stat="max") == 9.0     # names: f0, f1 (first batch: a list)
    assert value(w, "accuracy") == pytest.approx(3 / 5)       # [0.5, 0.5] is class 0; [1, 0] is class 0


junk = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=5),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=2), st.none()), max_size=6),
    st.lists(st.lists(st.one_of(st.floats(), st.integers(-3, 3), st.none()), max_size=4), max_size=6),
    arrays(scalar_dtypes(), array_shapes(min_dims=0, max_dims=3, max_side=5)),
    arrays(np.float64, st.tuples(st.integers(0, 6), st.just(3)), elements=st.floats(allow_nan=True)),
    arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(0, 4)), elements=st.floats(-2, 2)),
    arrays(np.int64, st.tuples(st.integers(0, 6), st.integers(1, 3)), elements=st.integers(-2, 4)),
    arrays(object, st.tuples(st.integers(1, 4), st.integers(1, 3)),
           elements=st.one_of(st.none(), st.text(max_size=2), st.floats(), st.integers())),
)


@pytest.fixture(scope="module")
def fuzz_agent(tmp_path_factory):
    windows: list = []
    agent = MonitoringAgent(n_classes=3, agent_id="fuzz", sink=windows.append, max_buffer_size=20,
                            spool_dir=tmp_path_factory.mktemp("fuzz"), clock=FakeClock(), seed=0)
    yield agent, windows
    agent.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(proba=junk, inputs=junk, labels=junk)
def test_collect_data_never_raises(fuzz_agent, proba, inputs, labels):
    agent, _ = fuzz_agent
    before = agent.totals()["dropped"].get("internal_error", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a warning would be an exception: counted as internal_error
        agent.collect_data(proba, inputs, labels)
        agent.collect_data(predict_proba_matrix=proba)
        agent.collect_data(dirichlet(2, 3), inputs, labels)
        agent.flush(5)
    # junk is dropped and counted under its reason; an internal error would be a bug
    assert agent.totals()["dropped"].get("internal_error", 0) == before


def test_after_the_fuzzing_the_agent_still_works(fuzz_agent):
    agent, windows = fuzz_agent
    assert agent.flush(10)
    assert agent._processor._thread.is_alive()
    agent.collect_data(dirichlet(5, 3))
    agent.close()
    assert windows and all(wire.problems(w) == [] for w in windows)
    assert windows[-1]["rows_seen"] >= 5
    assert agent.totals()["dropped"].get("internal_error", 0) == 0   # junk is counted, never a crash


def test_the_sample_is_bounded_and_rows_are_conserved(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, max_buffer_size=50)
    for i in range(100):
        agent.collect_data(dirichlet(1000, 3, seed=i), np.ones((1000, 4)))
    agent.flush(10)
    current = agent._processor.current
    assert current.sample_proba.shape == (50, 3) and current.sample_num.shape == (50, 4)
    agent.close()
    (w,) = windows
    assert w["rows_seen"] == 100_000 and w["rows_sampled"] == 50
    assert len(w["sample"]["proba"]) == 50 and len(w["sample"]["inputs"]) == 50


def test_a_slow_agent_thread_drops_batches_as_overflow(tmp_path, clock, monkeypatch):
    fold = processor.Processor._fold

    def slow_fold(self, window, group):
        time.sleep(0.02)
        fold(self, window, group)

    monkeypatch.setattr(processor.Processor, "_fold", slow_fold)
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows, max_queue_rows=2000)
    offered = 0
    for i in range(300):
        agent.collect_data(dirichlet(500, 3, seed=i))
        offered += 500
    agent.close(30)
    (w,) = windows
    assert w["dropped"]["overflow"] > 0
    assert w["rows_seen"] + w["dropped"]["overflow"] == offered          # every row accounted for
    assert agent.totals()["rows_seen"] == w["rows_seen"]


def test_collect_after_close_is_ignored_and_close_is_idempotent(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows)
    with agent:
        agent.collect_data(dirichlet(3, 3))
    agent.collect_data(dirichlet(3, 3))
    assert agent.close() is True and agent.flush(0.1) is True
    assert [w["rows_seen"] for w in windows] == [3]


def test_several_threads_collect_at_once(tmp_path, clock):
    import threading

    windows: list = []
    agent = sink_agent(tmp_path, clock, windows)

    def work(seed):
        for i in range(50):
            agent.collect_data(dirichlet(10, 3, seed=seed * 100 + i))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    agent.close()
    assert windows[0]["rows_seen"] == 4 * 50 * 10
