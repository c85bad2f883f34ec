"""The runtime issue's story end to end (vigil/demo_runtime.py and everything under it).

A regression model on scikit-learn's bundled diabetes data (the issue's
California housing data needs a download) is fitted and used through the
runtime with autotracking; ``exp.track(..., monitor=True, schedule='daily')``
creates the monitor job; the job's first run takes the baseline; shifted
traffic follows; ``vigil scheduler --once`` (a subprocess) runs the due job,
which flags the shifted columns and posts one alert to a local webhook.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest

import vigil as om
from vigil.demo_runtime import (
    SHIFTED,
    WebhookReceiver,
    load_data,
    run_scheduler_once,
    runtime_demo,
    scheduler_now,
)

MODEL, DATASET, EXPERIMENT = "california", "housing", "housing"
JOB = f"monitors/{EXPERIMENT}/{MODEL}"


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def test_the_issue_story_end_to_end(hook):
    from sklearn.linear_model import LinearRegression

    data = load_data()
    X, Y, X_new, X_shifted = data["X_train"], data["y_train"], data["X_new"], data["X_shifted"]
    alerts = [{"statistic": "drift", "severity": "warning", "channels": [{"webhook": hook.url}]}]

    # the issue's code, as written (X is a dataset name)
    om.models.put(LinearRegression(), MODEL)
    om.datasets.put(X, DATASET)
    with om.runtime.experiment(EXPERIMENT, autotrack=True) as exp:
        exp.track(MODEL, monitor=True, schedule="daily", alerts=alerts)
        om.runtime.model(MODEL).fit(DATASET, Y).get(timeout=60)
        predicted = om.runtime.model(MODEL).predict(X_new).get(timeout=60)

    # stored: the model (fitted, a new version) and the dataset
    assert om.models.list() == [MODEL] and om.models.metadata(MODEL)["version"] == 2
    fitted = om.models.get(MODEL)
    np.testing.assert_allclose(predicted, fitted.predict(X_new))
    assert om.datasets.list() == [DATASET]
    assert om.datasets.get(DATASET).equals(X)

    # autotracked: task events and the data, each with the model and the call's id
    events = exp.data(run="all", raw=True)
    calls = [e for e in events if e["event"] == "task_call"]
    assert [c["key"] for c in calls] == ["fit", "predict"]
    assert calls[0]["value"]["args"]["X"] == {"dataset": DATASET}
    fit_id, predict_id = (c["call_id"] for c in calls)
    assert [(e["key"], e["call_id"]) for e in events if e["event"] == "task_success"] == [
        ("fit", fit_id), ("predict", predict_id)]
    data_events = [e for e in events if e["event"] == "data"]
    assert [(e["key"], e["call_id"]) for e in data_events] == [
        ("X", fit_id), ("labels", fit_id), ("X", predict_id), ("Y", predict_id)]
    assert all(e["model"] == MODEL for e in calls + data_events)
    assert [e["rows"] for e in data_events] == [len(X), len(X), len(X_new), len(X_new)]

    # the monitor job exists, scheduled daily; its first run (by hand) takes the baseline, no alert
    assert JOB in om.jobs.list()
    assert om.jobs.metadata(JOB)["schedule"]["cron"] == "0 0 * * *"
    baseline = om.jobs.run(JOB)
    assert baseline["status"] == "ok", baseline["stderr"]
    assert len(exp.as_monitor(MODEL).snapshots()) == 1
    assert exp.data(run="all", event="drift", raw=True) == []
    assert exp.data(run="all", event="alert", raw=True) == [] and hook.received == []

    # shifted traffic, outside any with-block: tracked through the model's link
    om.runtime.model(MODEL).predict(X_shifted).get(timeout=60)
    assert [e["key"] for e in exp.data(run="all", event="data", raw=True)][-2:] == ["X", "Y"]

    # the scheduler subprocess: nothing before the due time, the due job once, not twice
    due_at = scheduler_now(JOB)
    assert run_scheduler_once(due_at - dt.timedelta(minutes=2)) == []
    ran = run_scheduler_once(due_at)
    assert [(r["job"], r["status"]) for r in ran] == [(JOB, "ok")], ran
    assert ran[0]["due"] == (due_at - dt.timedelta(seconds=30)).isoformat()
    assert run_scheduler_once(due_at) == [], "the same due time ran twice"
    history = om.jobs.history(JOB)
    assert history["status"].tolist() == ["ok", "ok"]
    assert (history["ended"] >= history["started"]).all()

    # the drift result: the shifted inputs drifted, the other inputs did not
    drift = exp.data(run="all", event="drift", raw=True)
    assert len(drift) == 1
    flagged = drift[0]["value"]["drifted_columns"]
    shifted = {f"X.{c}" for c in SHIFTED}
    assert {c for c in flagged if c.startswith("X.")} == shifted
    assert "prediction" in flagged  # the model's output follows bmi and bp
    columns = exp.as_monitor(MODEL).compare("baseline").columns.set_index("column")["drift"]
    assert set(columns[columns].index) == set(flagged)
    assert not columns[[f"X.{c}" for c in X.columns if c not in SHIFTED]].any()

    # exactly one alert reached the webhook, as JSON
    assert len(hook.received) == 1
    body = hook.received[0]
    assert set(body) == {"name", "severity", "summary", "details", "source", "labels", "fired_at"}
    assert body["name"] == "drift" and body["severity"] == "warning" and body["source"] == MODEL
    assert body["labels"] == {"monitor": MODEL}
    assert body["details"]["drifted_columns"] == flagged
    assert body["details"]["n_target"] == len(X_shifted)
    assert all(c in body["summary"] for c in shifted)

    # ... and the experiment recorded it as delivered
    recorded = exp.data(run="all", event="alert", raw=True)
    assert len(recorded) == 1 and recorded[0]["key"] == "drift"
    deliveries = recorded[0]["value"]["deliveries"]
    assert [(d["channel"], d["status"]) for d in deliveries] == [("webhook", "delivered")]
    assert hook.url not in str(recorded[0]["value"]), "the webhook URL (a secret) was recorded"


def test_the_demo_tells_the_story_and_is_repeatable():
    from rich.console import Console

    out = io.StringIO()
    assert runtime_demo(Console(file=out, width=120)) is True, out.getvalue()
    text = " ".join(out.getvalue().split())  # rich wraps long lines
    assert "bundled diabetes data" in text and "California housing data needs a download" in text
    assert "vigil scheduler --once --now" in text and "the story held" in text
    assert runtime_demo(Console(file=io.StringIO(), width=120)) is True, "a second run on the same workspace failed"
    assert len(om.jobs.history("monitors/demo/diabetes/diabetes")) == 2


def test_the_demo_does_not_run_the_workspaces_other_jobs():
    from rich.console import Console

    om.jobs.create("print('mine')", "nightly", schedule="daily")
    out = io.StringIO()
    assert runtime_demo(Console(file=out, width=120)) is True, out.getvalue()
    assert "other jobs would be due" in out.getvalue()
    assert om.jobs.history("nightly").empty
    ran = run_scheduler_once(scheduler_now("nightly"))
    assert [r["job"] for r in ran] == ["nightly"], "the demo took the job's lease or left its own job due"
