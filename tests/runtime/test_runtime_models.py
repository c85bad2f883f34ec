"""``om.runtime.model(name)`` on both executors (vigil/runtime/proxies.py, executors.py, tasks.py):
the same tests run on the local executor and on a real Celery worker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vigil as om
from vigil.errors import InvalidInput, NotFound
from vigil.runtime.executors import TaskFailed


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.1 * rng.normal(size=200) > 0).astype(int)
    return X, y


def tmp_objects() -> list[str]:
    return om.datasets.stores.objects.list("runtime/tmp")


def test_fit_stores_a_new_version_and_predict_uses_it(executor, data, uid):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    name = f"clf-{uid}"
    om.models.put(LogisticRegression(), name, stage="dev")
    assert om.runtime.executor().name == executor
    meta = om.runtime.model(name).fit(X, y).get(timeout=60)
    assert meta == {"name": name, "version": 2}
    assert om.models.metadata(name)["attributes"] == {"stage": "dev"}
    fitted = om.models.get(name)
    pred = om.runtime.model(name).predict(X).get(timeout=60)
    np.testing.assert_array_equal(pred, fitted.predict(X))
    proba = om.runtime.model(name).predict_proba(X).get(timeout=60)
    np.testing.assert_allclose(proba, fitted.predict_proba(X))
    np.testing.assert_allclose(om.runtime.model(name).decision_function(X).get(timeout=60),
                               fitted.decision_function(X))
    assert om.runtime.model(name).score(X, y).get(timeout=60) == pytest.approx(fitted.score(X, y))
    assert tmp_objects() == [], "temporary payload objects were left behind"


def test_inputs_may_be_dataset_names_lists_and_frames(executor, data, uid):
    from sklearn.preprocessing import StandardScaler

    X, y = data
    om.datasets.put(X, f"X-{uid}")
    om.models.put(StandardScaler(), f"scaler-{uid}")
    om.runtime.model(f"scaler-{uid}").fit(f"X-{uid}").get(timeout=60)
    out = om.runtime.model(f"scaler-{uid}").transform(X.values.tolist()).get(timeout=60)
    np.testing.assert_allclose(out, StandardScaler().fit(X).transform(X.values))
    om.runtime.model(f"scaler-{uid}").partial_fit(X).get(timeout=60)
    assert om.models.metadata(f"scaler-{uid}")["version"] == 3


def test_errors_of_the_task_come_back_with_their_type(executor, data, uid):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    om.models.put(LogisticRegression(), f"unfitted-{uid}")
    with pytest.raises(TaskFailed, match="NotFittedError") as info:  # sklearn's own type: named, not imported
        om.runtime.model(f"unfitted-{uid}").predict(X).get(timeout=60)
    assert info.value.remote_type.endswith("NotFittedError")
    with pytest.raises(NotFound, match="missing"):
        om.runtime.model(f"missing-{uid}").predict(X).get(timeout=60)
    with pytest.raises(NotFound, match="no-such-dataset"):
        om.runtime.model(f"unfitted-{uid}").fit("no-such-dataset", y).get(timeout=60)
    om.runtime.model(f"unfitted-{uid}").fit(X, y).get(timeout=60)
    with pytest.raises(ValueError, match="features"):  # builtin types come back as themselves
        om.runtime.model(f"unfitted-{uid}").predict(np.zeros((2, 5))).get(timeout=60)
    assert tmp_objects() == []


def test_bad_arguments_are_refused_at_the_boundary(executor):
    with pytest.raises(InvalidInput, match="name"):
        om.runtime.model("../x")
    with pytest.raises(InvalidInput, match="X"):
        om.runtime.model("m").predict("../etc")
    with pytest.raises(InvalidInput, match="keyword"):
        om.runtime.model("m").predict([[1]], **{"not-an-identifier": 1})
    assert tmp_objects() == []


def test_ping_runs_where_tasks_run(executor):
    import os

    result = om.runtime.ping(zone="z")
    assert result["runtime"] == executor and result["labels"] == {"zone": "z"}
    assert (result["pid"] == os.getpid()) == (executor == "local")


def test_jobs_run_on_the_runtime(executor, uid):
    om.jobs.put("import os; print(os.environ['VIGIL_HOME'])", f"hello-{uid}")
    record = om.runtime.job(f"hello-{uid}").run().get(timeout=60)
    assert record["status"] == "ok" and record["stdout"].strip() == str(om.jobs.stores.settings.home)
    om.jobs.put("raise SystemExit('boom')", f"fails-{uid}")
    record = om.runtime.job(f"fails-{uid}").run().get(timeout=60)
    assert record["status"] == "failed" and record["error"] == "boom"


def test_get_times_out_with_timeout_error(executor, uid):
    if executor == "local":
        from vigil.runtime.executors import LocalExecutor

        om.runtime.executor(LocalExecutor(threads=1))
    om.jobs.put("import time; time.sleep(3)", f"slow-{uid}")
    result = om.runtime.job(f"slow-{uid}").run()
    with pytest.raises(TimeoutError):
        result.get(timeout=0.2)
    assert result.get(timeout=30)["status"] == "ok"
    if executor == "local":
        om.runtime.executor().close()


def test_a_worker_killed_mid_task_fails_the_call_instead_of_hanging(executor, uid, tmp_path):
    if executor == "local":
        pytest.skip("a worker process exists only on the celery executor")
    import os
    import signal
    import time

    pid_file = tmp_path / "pid"
    om.jobs.put(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getppid()))\ntime.sleep(60)",
                f"doomed-{uid}")
    result = om.runtime.job(f"doomed-{uid}").run()
    deadline = time.time() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.time() < deadline, "the job never started on the worker"
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the worker process executing the task
    started = time.time()
    with pytest.raises(TaskFailed, match="WorkerLost"):
        result.get(timeout=30)
    assert time.time() - started < 30
    # the worker replaced its process: later calls still run
    assert om.runtime.ping()["runtime"] == "celery"


def test_a_worker_killed_as_a_whole_fails_the_call_instead_of_hanging(tmp_path, monkeypatch, uid):
    """kill -9 of the whole worker (main process and pool): nobody is left to report the loss;
    the handle notices that the worker which started the task no longer answers."""
    import os
    import signal
    import time

    import vigil
    from tests.runtime.conftest import need_redis, purge_queue, start_worker, stop_worker

    need_redis()
    worker = start_worker(tmp_path, tmp_path / "home", f"vigil-doomed-{uid}", concurrency=1)
    try:
        for k, v in worker.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("VIGIL_CELERY_LIVENESS_S", "2")
        vigil.reload()
        om.jobs.put("import time; time.sleep(60)", "sleeper")
        result = om.runtime.job("sleeper").run()
        deadline = time.time() + 30
        while result._handle._result.state != "STARTED":
            assert time.time() < deadline, "the task never started"
            time.sleep(0.05)
        os.killpg(worker.proc.pid, signal.SIGKILL)
        started = time.time()
        with pytest.raises(TaskFailed, match="gone"):
            result.get()  # no timeout: must not hang
        assert time.time() - started < 20
    finally:
        stop_worker(worker)
        purge_queue(worker.queue)
        vigil.reload()


def test_payloads_are_json_with_arrays_as_temporary_objects(uid):
    """Any object with ``name`` and ``submit(payload) -> handle`` is an executor; this one
    records the payloads and runs them locally."""
    import json

    from sklearn.linear_model import LinearRegression

    from vigil.runtime.celery_app import make_app
    from vigil.runtime.executors import LocalExecutor

    class Recording(LocalExecutor):
        name = "recording"
        payloads: list = []

        def submit(self, payload):
            self.payloads.append(json.loads(json.dumps(payload)))  # JSON round trip: nothing else survives
            return super().submit(self.payloads[-1])

    recorder = Recording()
    om.runtime.executor(recorder)
    om.models.put(LinearRegression(), "lin")
    X = np.arange(20.0).reshape(-1, 1)
    om.datasets.put(X, "X")
    om.runtime.model("lin").fit("X", 2 * X[:, 0]).get()
    np.testing.assert_allclose(om.runtime.model("lin").predict(X).get(), 2 * X[:, 0])
    fit, predict = recorder.payloads
    assert fit["args"]["X"] == {"dataset": "X"}
    assert set(fit["args"]["Y"]) == {"object", "format", "info"} and fit["args"]["Y"]["format"] == "npy"
    assert predict["args"]["X"]["object"].startswith(f"runtime/tmp/{predict['call_id']}/")
    assert tmp_objects() == []
    conf = make_app().conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json" and conf.result_serializer == "json"
    assert conf.result_accept_content == ["json"]


def test_executor_selection(monkeypatch):
    from vigil.errors import ConfigError
    from vigil.runtime.executors import CeleryExecutor

    assert om.runtime.executor().name == "local"
    assert isinstance(om.runtime.executor("celery"), CeleryExecutor)  # connects nothing until a task is sent
    assert om.runtime.executor().name == "celery"
    with pytest.raises(InvalidInput, match="local, celery"):
        om.runtime.executor("dask")
    monkeypatch.setenv("VIGIL_RUNTIME", "spark")
    om.reload()
    with pytest.raises(ConfigError, match="VIGIL_RUNTIME"):
        om.runtime.executor()
