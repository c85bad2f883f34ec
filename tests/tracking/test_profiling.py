"""The ``profiling`` provider (vigil/tracking/profiling.py): a psutil sampler that
logs ``profile`` events while, and only while, a run is active."""

from __future__ import annotations

import threading
import time

import pytest

import vigil as om
from vigil.errors import InvalidInput
from vigil.tracking.profiling import ProfilingProvider

INTERVAL_S = 0.02


def profilers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vigil-profiler" and t.is_alive()]


def profile_count(name: str) -> int:
    return len(om.runtime.experiment(name).data(run="all", event="profile"))


def test_samples_while_active_and_the_thread_ends_with_the_context(vigil_home):
    assert profilers() == []
    with om.runtime.experiment("prof", provider="profiling", interval_s=INTERVAL_S) as exp:
        assert isinstance(exp, ProfilingProvider)
        assert len(profilers()) == 1
        om.runtime.ping()
        deadline = time.monotonic() + 10
        while exp.data(key="cpu_percent").shape[0] < 5 and time.monotonic() < deadline:
            time.sleep(INTERVAL_S)  # the sampler keeps logging while the block runs
    assert profilers() == [], "the sampler thread outlived its run"

    frame = exp.data(event="profile")
    assert {"cpu_percent", "memory_percent", "process_rss_mb", "process_threads"} <= set(frame["key"])
    assert frame["value"].dtype == "float64" and (frame["value"] >= 0).all()
    samples = frame["key"].eq("cpu_percent").sum()
    assert samples >= 5, f"expected a sample every {INTERVAL_S}s while the run was active, got {samples}"
    assert set(exp.data(run="all")["run"]) == {1}
    # task events of ping() land in the same run, between samples
    assert exp.data(key="ping")["event"].tolist() == ["task_call", "task_success"]

    stopped_at = profile_count("prof")
    time.sleep(10 * INTERVAL_S)
    assert profile_count("prof") == stopped_at, "profile events were added after the run ended"


def test_sampler_stops_when_the_block_raises(vigil_home):
    exp = om.runtime.experiment("prof-fail", provider="profiling", interval_s=INTERVAL_S)
    with pytest.raises(RuntimeError):
        with exp:
            time.sleep(3 * INTERVAL_S)
            raise RuntimeError("boom")
    assert profilers() == []
    assert exp.status() == "FAILED"
    count = profile_count("prof-fail")
    time.sleep(5 * INTERVAL_S)
    assert profile_count("prof-fail") == count > 0


def test_start_stop_outside_a_with_block_and_a_second_run(vigil_home):
    exp = om.runtime.experiment("prof-manual", provider="profiling", interval_s=INTERVAL_S)
    exp.start()
    exp.start()  # ends run 1 and its sampler, starts run 2 with a new one
    assert len(profilers()) == 1
    time.sleep(3 * INTERVAL_S)
    exp.stop()
    assert profilers() == []
    runs = set(exp.data(run="all", event="profile")["run"])
    assert runs == {1, 2}
    assert list(exp.runs()["status"]) == ["STOPPED", "STOPPED"]


def test_interval_from_the_environment(vigil_home, monkeypatch):
    monkeypatch.setenv("VIGIL_PROFILING_INTERVAL_S", "0.02")
    om.reload()
    exp = om.runtime.experiment("prof-env", provider="profiling")
    assert exp.interval_s == 0.02


@pytest.mark.parametrize("interval_s", [0, -1, 0.001, 10_000, "1", True])
def test_bad_interval_is_refused(vigil_home, interval_s):
    with pytest.raises(InvalidInput, match="interval_s"):
        om.runtime.experiment("prof-bad", provider="profiling", interval_s=interval_s)
