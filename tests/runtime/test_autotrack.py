"""Autotracking (vigil/runtime/tasks.py) and exp.track / exp.as_monitor / monitor jobs
(vigil/tracking/provider.py, vigil/runtime/monitors.py), on both executors."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest

import vigil as om
from vigil.drift.model import ModelDriftMonitor
from vigil.errors import InvalidInput, NotFound
from vigil.runtime.monitors import _render, render


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    return X, (X["a"] > 0).astype(int)


def test_calls_in_an_experiment_log_task_events_and_data(executor, data, uid):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    name = f"clf-{uid}"
    om.models.put(LogisticRegression(), name)
    with om.runtime.experiment(f"exp-{uid}", autotrack=True) as exp:
        om.runtime.model(name).fit(X, y).get(timeout=60)
        pred = om.runtime.model(name).predict(X).get(timeout=60)
        proba = om.runtime.model(name).predict_proba(X).get(timeout=60)
    events = exp.data(raw=True)
    assert {e["run"] for e in events} == {1}, "the task did not log into the caller's run"
    calls = [e for e in events if e["event"] == "task_call"]
    assert [c["key"] for c in calls] == ["fit", "predict", "predict_proba"]
    ok = [e for e in events if e["event"] == "task_success"]
    assert len(ok) == 3 and all(e["value"]["latency_ms"] >= 0 for e in ok)
    data_events = [(e["key"], e["call_id"]) for e in events if e["event"] == "data"]
    ids = [c["call_id"] for c in calls]
    assert data_events == [("X", ids[0]), ("labels", ids[0]), ("X", ids[1]), ("Y", ids[1]),
                           ("X", ids[2]), ("proba", ids[2])]
    assert all(e["model"] == name and e["rows"] == 300 for e in events if e["event"] == "data")
    np.testing.assert_array_equal(exp.restore_data("Y"), pred)
    np.testing.assert_allclose(exp.restore_data("proba"), proba)
    pd.testing.assert_frame_equal(exp.restore_data("X", latest=False)[0], X)


def test_without_autotrack_only_task_events_and_failures_are_logged(executor, data, uid):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    om.models.put(LogisticRegression(), f"m-{uid}")
    with om.runtime.experiment(f"plain-{uid}") as exp:
        with pytest.raises(Exception, match="NotFitted"):
            om.runtime.model(f"m-{uid}").predict(X).get(timeout=60)
    events = exp.data(raw=True)
    assert [e["event"] for e in events] == ["task_call", "task_failure"]
    failure = events[1]["value"]
    assert failure["type"] == "NotFittedError" and "fitted" in failure["message"] and failure["latency_ms"] >= 0


def test_large_inputs_are_sampled_with_the_same_rows(executor, uid, monkeypatch):
    from sklearn.linear_model import LinearRegression

    monkeypatch.setenv("VIGIL_AUTOTRACK_MAX_ROWS", "50")
    om.reload()
    X = np.arange(1000.0).reshape(-1, 1)
    om.models.put(LinearRegression(), f"lin-{uid}")
    with om.runtime.experiment(f"big-{uid}", autotrack=True) as exp:
        om.runtime.model(f"lin-{uid}").fit(X, 3 * X[:, 0]).get(timeout=60)
        om.runtime.model(f"lin-{uid}").predict(X).get(timeout=60)
    logged = {(e["key"], e["call_id"]): (exp._resolve(e["value"]), e["rows"]) for e in exp.data(event="data", raw=True)}
    for (key, _call), (value, rows) in logged.items():
        assert len(value) == 50 and rows == 1000, key
    fit_x, fit_y = (v for (k, c), (v, _) in logged.items() if k in ("X", "labels") and c == list(logged)[0][1])
    np.testing.assert_allclose(np.asarray(fit_y), 3 * np.asarray(fit_x)[:, 0])  # same rows for X and labels
    assert len(np.unique(fit_x)) == 50


def test_track_links_the_model_so_later_calls_are_tracked(executor, data, uid):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    name = f"linked-{uid}"
    om.models.put(LogisticRegression(), name)
    with om.runtime.experiment(f"home-{uid}") as exp:
        link = exp.track(name)
    assert link["experiment"] == f"home-{uid}" and link["monitor"] is False
    assert [lk["experiment"] for lk in om.models.metadata(name)["links"]] == [f"home-{uid}"]
    om.runtime.model(name).fit(X, y).get(timeout=60)  # no experiment context
    assert [lk["experiment"] for lk in om.models.metadata(name)["links"]] == [f"home-{uid}"], "fit lost the link"
    keys = exp.data(run="all", event="data", raw=True)
    assert [e["key"] for e in keys] == ["X", "labels"] and keys[0]["model"] == name
    with pytest.raises(NotFound):
        exp.track(f"nope-{uid}")
    with pytest.raises(InvalidInput, match="monitor=True"):
        exp.track(name, schedule="daily")


def test_the_issue_end_to_end(executor, data, uid):
    X, y = data
    from sklearn.linear_model import LogisticRegression

    name, experiment = f"california-{uid}", f"housing-{uid}"
    om.models.put(LogisticRegression(), name)
    om.datasets.put(X, f"housing-X-{uid}")
    with om.runtime.experiment(experiment, autotrack=True) as exp:
        exp.track(name, monitor=True, schedule="daily", alerts=["drift"])
        om.runtime.model(name).fit(f"housing-X-{uid}", y).get(timeout=60)
        om.runtime.model(name).predict(X).get(timeout=60)
    job = f"monitors/{experiment}/{name}"
    assert job in om.jobs.list()
    assert om.jobs.metadata(job)["schedule"]["cron"] == "0 0 * * *"
    first = om.runtime.job(job).run().get(timeout=120)
    assert first["status"] == "ok", first["stderr"]
    with om.runtime.experiment(experiment, autotrack=True):
        om.runtime.model(name).predict(X + 3).get(timeout=60)  # shifted traffic
    second = om.jobs.run(job)
    assert second["status"] == "ok", second["stderr"]
    mon = exp.as_monitor(name, store=om.models)
    assert isinstance(mon, ModelDriftMonitor) and len(mon.snapshots()) == 2
    drift = exp.data(run="all", event="drift", raw=True)
    assert len(drift) == 1 and drift[0]["value"]["drift"] is True
    assert exp.data(run="all", event="alert", raw=True), "the drift alert was not captured"
    assert om.jobs.history(job)["status"].tolist() == ["ok", "ok"]


HOSTILE = ["x'); __import__('os').system('echo pwned'); ('", "a\nimport os", 'q"uote', "back\\slash",
           "tab\tname", "'''", "__import__('os')"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_by_track(name):
    with pytest.raises(InvalidInput):
        render("housing", name)
    with pytest.raises(InvalidInput):
        render(name, "model")


@pytest.mark.parametrize("name", HOSTILE + ["a'b\nc = 1"])
def test_the_renderer_holds_on_its_own(name):
    source = _render(name, name, name, [{"statistic": name, "threshold": 1}])
    tree = ast.parse(source)
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds == ["Import", "Assign", "Assign", "Assign", "Assign", "With"], "a name added a statement"
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}
    assert values == {"experiment": name, "name": name, "provider": name,
                      "alerts": [{"statistic": name, "threshold": 1}]}


def test_alerts_must_be_json_able_rules():
    with pytest.raises(InvalidInput, match="alerts"):
        render("housing", "m", alerts=[object()])
    with pytest.raises(InvalidInput, match="alerts"):
        render("housing", "m", alerts=[{"no_such_field": 1}])
    with pytest.raises(InvalidInput, match="alerts"):
        render("housing", "m", alerts=[{"threshold": float("nan")}])
    from vigil.drift.rules import DriftRule

    assert "'psi'" in render("housing", "m", alerts=[DriftRule(statistic="psi", threshold=0.2)])


def test_track_refuses_hostile_names_and_writes_nothing():
    from sklearn.linear_model import LinearRegression

    om.models.put(LinearRegression(), "m")
    with om.runtime.experiment("housing") as exp:
        for bad in ("m'\nimport os", "m/../x", "m\n"):
            with pytest.raises(InvalidInput):
                exp.track(bad, monitor=True)
        with pytest.raises(InvalidInput, match="schedule"):
            exp.track("m", monitor=True, schedule="whenever")
        with pytest.raises(InvalidInput, match="alerts"):
            exp.track("m", monitor=True, alerts=[{"severity": "apocalyptic"}])
    assert om.jobs.list() == [] and om.models.metadata("m")["links"] == []


def test_monitor_needs_a_runtime_experiment():
    from sklearn.linear_model import LinearRegression

    from vigil.tracking.provider import DefaultProvider

    om.models.put(LinearRegression(), "m")
    with pytest.raises(InvalidInput, match="om.runtime.experiment"):
        DefaultProvider("direct").track("m", monitor=True)
