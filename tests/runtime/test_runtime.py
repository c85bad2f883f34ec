"""The runtime (vigil/runtime/runtime.py): ``om.runtime.experiment()`` and
``om.runtime.ping()``, logged as task events inside an experiment."""

from __future__ import annotations

import os
import socket
import threading

import pytest

import vigil as om
from vigil.config import Settings
from vigil.runtime import Runtime, default_runtime
from vigil.store.registry import Stores
from vigil.tracking import DefaultProvider, current_experiment
from vigil.tracking.profiling import ProfilingProvider

PING_KEYS = {"node", "pid", "platform", "python", "cpu_count", "runtime", "time", "labels"}


def test_ping_describes_the_node_and_logs_nothing_outside_an_experiment(vigil_home):
    result = om.runtime.ping(zone="a")
    assert set(result) == PING_KEYS
    assert result["node"] == socket.gethostname() and result["pid"] == os.getpid()
    assert result["labels"] == {"zone": "a"} and result["runtime"] == "local"
    assert result["cpu_count"] == os.cpu_count()
    assert not vigil_home.exists(), "ping outside an experiment must not touch the stores"


def test_ping_inside_an_experiment_is_logged_as_task_events(vigil_home):
    with om.runtime.experiment("tasks") as exp:
        result = om.runtime.ping(zone="a")
    call, success = exp.data(key="ping", raw=True)
    assert (call["event"], success["event"]) == ("task_call", "task_success")
    assert call["value"] == {"args": [], "kwargs": {"zone": "a"}}
    assert success["value"]["result"] == result
    assert success["value"]["latency_ms"] >= 0
    assert call["dt"] <= success["dt"]
    # after the block, nothing is logged any more
    om.runtime.ping()
    assert len(exp.data(run="all", key="ping")) == 2


def test_ping_logs_to_the_innermost_experiment(vigil_home):
    outer = om.runtime.experiment("outer")
    inner = om.runtime.experiment("outer/inner")
    assert current_experiment() is None
    with outer:
        assert current_experiment() is outer
        with inner:
            assert current_experiment() is inner
            om.runtime.ping(where="inner")
        assert current_experiment() is outer
        om.runtime.ping(where="outer")
    assert current_experiment() is None
    assert [r["value"]["kwargs"] for r in inner.data(event="task_call", raw=True)] == [{"where": "inner"}]
    assert [r["value"]["kwargs"] for r in outer.data(event="task_call", raw=True)] == [{"where": "outer"}]


def test_re_entering_the_same_experiment_restores_the_context(vigil_home):
    exp = om.runtime.experiment("again")
    with exp:
        with exp:  # a new run; it ends the outer one
            om.runtime.ping()
        assert current_experiment() is exp
    assert current_experiment() is None, "the experiment stayed current after its with blocks ended"
    om.runtime.ping()  # logs nothing, and does not try to log to a stopped run
    assert exp.runs()["status"].tolist() == ["STOPPED", "STOPPED"]
    assert exp.data(run="all")["run"].tolist() == [2, 2]


def test_current_experiment_is_per_thread(vigil_home):
    seen = []
    with om.runtime.experiment("threads") as exp:
        worker = threading.Thread(target=lambda: seen.append(current_experiment()))
        worker.start()
        worker.join()
        assert current_experiment() is exp
    assert seen == [None]


def test_experiment_picks_the_provider_and_passes_options(vigil_home):
    assert type(om.runtime.experiment("a")) is DefaultProvider
    exp = om.runtime.experiment("b", provider="profiling", interval_s=0.5)
    assert isinstance(exp, ProfilingProvider) and exp.interval_s == 0.5
    assert default_runtime() is default_runtime()
    om.reload()
    assert isinstance(default_runtime(), Runtime)


def test_a_runtime_on_its_own_stores(vigil_home, tmp_path):
    other = Settings.from_env({"VIGIL_HOME": str(tmp_path / "elsewhere")})
    stores = Stores.open(other)
    try:
        with Runtime(stores).experiment("mine") as exp:
            exp.log_metric("m", 1.0)
            om.runtime.ping()
        assert exp.data(key="m")["value"].tolist() == [1.0]
        assert len(exp.data(key="ping")) == 2
    finally:
        stores.close()
    assert (tmp_path / "elsewhere" / "vigil.db").exists()
    assert not vigil_home.exists(), "a runtime on its own stores wrote to the default workspace"


@pytest.mark.parametrize("name", ["../x", "/abs", "a\\b", "a\x00b", "x" * 300])
def test_experiment_validates_its_name(vigil_home, name):
    with pytest.raises(ValueError, match="experiment"):
        om.runtime.experiment(name)
