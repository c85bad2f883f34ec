"""The runtime part of ``make demo``: a tracked, monitored regression model, end to end.

The story of the runtime issue, on the current workspace (``VIGIL_HOME``):

1. store a linear regression and its training data (scikit-learn's bundled
   diabetes dataset: the issue's California housing data needs a download);
2. in an experiment with ``autotrack=True``: ``exp.track(model, monitor=True,
   schedule='daily', alerts=...)``, then fit and predict through
   ``om.runtime.model(...)``; inputs and predictions are logged by the runtime;
3. run the monitor job once by hand: its first snapshot is the baseline;
4. predict on shifted inputs (``bmi`` and ``bp`` + 1 standard deviation);
5. run ``vigil scheduler --once --now <the job's next due time>`` as a
   subprocess: the scheduler runs the due monitor job, which snapshots the
   new traffic, compares it with the baseline and sends the drift alert to a
   webhook, here a small HTTP receiver on ``127.0.0.1`` in this process.

The demo clears its own model, dataset, experiment and job first, so it can
be run again and again.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from vigil.runtime.scheduler import Scheduler

MODEL = "diabetes"
DATASET = "diabetes"
EXPERIMENT = "demo/diabetes"
SHIFTED = ("bmi", "bp")


class WebhookReceiver:
    """A local HTTP endpoint that keeps the JSON bodies POSTed to it (a stand-in for Slack & co).

    Examples
    --------
    >>> import urllib.request
    >>> with WebhookReceiver() as hook:
    ...     _ = urllib.request.urlopen(urllib.request.Request(hook.url, data=b'{"a": 1}', method='POST'))
    >>> hook.received
    [{'a': 1}]
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.received: list[Any] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("WebhookReceiver: start() it first")
        return f"http://{self.host}:{self._server.server_port}/alerts"

    def start(self) -> WebhookReceiver:
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    received.append(json.loads(body))
                    self.send_response(200)
                except ValueError:
                    self.send_response(400)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="vigil-demo-webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def job_name(experiment: str = EXPERIMENT, model: str = MODEL) -> str:
    """The monitor job ``exp.track(model, monitor=True)`` creates.

    Examples
    --------
    >>> job_name()
    'monitors/demo/diabetes/diabetes'
    """
    from vigil.runtime.monitors import job_name as monitor_job

    return monitor_job(experiment, model)


def load_data(seed: int = 0) -> dict[str, Any]:
    """Diabetes features split into training and new traffic, and the new traffic shifted.

    Examples
    --------
    >>> d = load_data()
    >>> len(d['X_train']), len(d['X_new'])
    (287, 155)
    >>> shift = (d['X_shifted'] - d['X_new']).mean().round(4)
    >>> shift[shift != 0].index.tolist()
    ['bmi', 'bp']
    """
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_new, y_train, _ = train_test_split(X, y, test_size=0.35, random_state=seed)
    X_shifted = X_new.copy()
    for col in SHIFTED:
        X_shifted[col] = X_shifted[col] + X_train[col].std()
    return {"X_train": X_train, "y_train": y_train.to_numpy(), "X_new": X_new, "X_shifted": X_shifted}


def clear(experiment: str = EXPERIMENT, model: str = MODEL, dataset: str = DATASET) -> None:
    """Remove what an earlier run of the story left: experiment, monitor job and its history, model, dataset."""
    import vigil as om

    job = job_name(experiment, model)
    om.runtime.experiment(experiment).clear(force=True)
    om.runtime.experiment(f"jobs/{job}").clear(force=True)
    om.jobs.drop(job, force=True)
    om.models.drop(model, force=True)
    om.datasets.drop(dataset, force=True)


def scheduler_now(job: str) -> dt.datetime:
    """A time 30 s after the job's next due time: ``vigil scheduler --once --now`` finds it due then."""
    import vigil as om
    from vigil.runtime.schedule import next_runs

    meta = om.jobs.metadata(job)
    return next_runs(meta["schedule"]["cron"], dt.datetime.now(dt.UTC))[0] + dt.timedelta(seconds=30)


def others_due(job: str, now: dt.datetime) -> list[str]:
    """Scheduled jobs other than ``job`` that a scheduler would run at ``now`` (a dry run: no lease taken)."""
    return sorted({name for name, _ in Scheduler(clock=now.timestamp).due(now) if name != job})


class OneJobScheduler(Scheduler):
    """The scheduler restricted to one job: the demo must not run (or take the leases of) other jobs."""

    def __init__(self, job: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    def due(self, now: dt.datetime | None = None) -> list[tuple[str, dt.datetime]]:
        return [d for d in super().due(now) if d[0] == self.job]


def run_scheduler_once(now: dt.datetime, timeout_s: float = 300) -> list[dict[str, Any]]:
    """``vigil scheduler --once --json --now <now>`` in a subprocess on this workspace; its records."""
    from vigil.store import default_stores

    default_stores().flush()  # the scheduler and its job read what this process logged
    proc = subprocess.run([sys.executable, "-m", "vigil.cli", "scheduler", "--once", "--json",
                           "--now", now.isoformat()], env=dict(os.environ), capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if proc.returncode != 0:
        from vigil.errors import VigilError

        raise VigilError(f"demo: `vigil scheduler --once --now {now.isoformat()}` exited with {proc.returncode}: "
                         f"{proc.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]


def _fmt(ts: Any) -> str:
    return ts.strftime("%H:%M:%S.%f")[:-3] if hasattr(ts, "strftime") else str(ts)


def runtime_demo(console: Any) -> bool:
    """Tell the story (see the module docstring) on ``console`` (a rich Console); True if it held:
    no alert after the baseline run, the shifted columns flagged and no other input, one alert received."""
    from rich.table import Table
    from sklearn.linear_model import LinearRegression

    import vigil as om

    started = time.perf_counter()
    job = job_name()
    data = load_data()
    console.rule("[bold]vigil demo: runtime, autotracking, a scheduled drift monitor")
    console.print("dataset: scikit-learn's bundled diabetes data (regression, 442 rows, 10 features); the issue's "
                  "California housing data needs a download, so the demo uses this one instead")
    clear()
    with WebhookReceiver() as hook:
        alerts = [{"statistic": "drift", "severity": "warning", "channels": [{"webhook": hook.url}]}]
        om.models.put(LinearRegression(), MODEL)
        om.datasets.put(data["X_train"], DATASET)
        with om.runtime.experiment(EXPERIMENT, autotrack=True) as exp:
            exp.track(MODEL, monitor=True, schedule="daily", alerts=alerts)
            fitted = om.runtime.model(MODEL).fit(DATASET, data["y_train"]).get()
            om.runtime.model(MODEL).predict(data["X_new"]).get()
        events = exp.data(run="all", raw=True)
        counts: dict[str, int] = {}
        for e in events:
            key = e["event"] if e["event"] != "data" else f"data:{e['key']}"
            counts[key] = counts.get(key, 0) + 1
        console.print(f"model {MODEL!r} fitted on the runtime from dataset {DATASET!r} "
                      f"({len(data['X_train'])} rows), stored as version {fitted['version']}; "
                      f"predicted {len(data['X_new'])} new rows")
        console.print(f"autotracked in experiment {EXPERIMENT!r}: {counts}")
        console.print(f"om.jobs.list(): {[j for j in om.jobs.list() if j.startswith('monitors/')]} "
                      f"(schedule {om.jobs.metadata(job)['schedule']['spec']!r}, "
                      f"cron {om.jobs.metadata(job)['schedule']['cron']!r}); alerts go to {hook.url}")

        baseline = om.jobs.run(job)
        base_alerts = len(exp.data(run="all", event="alert", raw=True)) + len(hook.received)
        console.print(f"om.jobs.run({job!r}): {baseline['status']}, the first snapshot is the baseline "
                      f"(alerts: {base_alerts})")

        om.runtime.model(MODEL).predict(data["X_shifted"]).get()  # no with-block: tracked through the link
        console.print(f"predicted {len(data['X_shifted'])} rows with {' and '.join(SHIFTED)} shifted by +1 sd "
                      f"(outside any with-block: the model's link to {EXPERIMENT!r} tracks the call)")

        now = scheduler_now(job)
        others = others_due(job, now)
        if others:  # never steal the due times of the workspace's other jobs
            console.print(f"[yellow]other jobs would be due at {now:%Y-%m-%d %H:%M:%S}Z too ({others}): "
                          f"ticking an in-process scheduler for {job!r} only instead of `vigil scheduler`")
            ran = [{k: r.get(k) for k in ("job", "due", "status", "error")}
                   for r in OneJobScheduler(job, clock=now.timestamp).tick()]
        else:
            console.print(f"$ vigil scheduler --once --now {now.isoformat(timespec='seconds')}")
            ran = run_scheduler_once(now)
        for r in ran:
            console.print(f"  scheduler ran {r['job']} (due {r['due']}): {r['status']}"
                          + (f" ({r['error']})" if r.get("error") else ""))

        history = om.jobs.history(job)
        table = Table(title=f"om.jobs.history({job!r})")
        for col in ("run", "status", "started", "ended", "duration_s"):
            table.add_column(col)
        for _, row in history.iterrows():
            table.add_row(str(row["run"]), row["status"], _fmt(row["started"]), _fmt(row["ended"]),
                          f"{row['duration_s']:.2f}")
        console.print(table)

        drift = exp.data(run="all", event="drift", raw=True)
        flagged = drift[-1]["value"]["drifted_columns"] if drift else []
        result = exp.as_monitor(MODEL).compare("baseline")
        cols = result.columns
        table = Table(title="drift: baseline (normal traffic) vs shifted traffic")
        for col in ("column", "drift", "tests flagged", "p adjusted"):
            table.add_column(col)
        for _, row in cols.iterrows():
            table.add_row(row["column"], "[red]yes" if row["drift"] else "no", row["tests_flagged"] or "",
                          f"{row['p_adjusted']:.3g}")
        console.print(table)
        console.print(f"columns flagged by the monitor job: {flagged}")
        if "prediction" in flagged:
            console.print("  (prediction drifts too: the model's output follows bmi and bp)")

        console.print(f"webhook receiver got {len(hook.received)} alert(s):")
        for body in hook.received:
            summary = {k: body.get(k) for k in ("name", "severity", "summary", "source", "labels")}
            summary["drifted_columns"] = (body.get("details") or {}).get("drifted_columns")
            console.print_json(json.dumps(summary))
        recorded = exp.data(run="all", event="alert", raw=True)
        statuses = [d["status"] for e in recorded for d in e["value"].get("deliveries", [])]
        console.print(f"'alert' events in {EXPERIMENT!r}: {len(recorded)}, deliveries: {statuses}")

    shifted = {f"X.{c}" for c in SHIFTED}
    other_inputs = {c for c in flagged if c.startswith("X.")} - shifted
    ok = (baseline["status"] == "ok" and base_alerts == 0 and [r["status"] for r in ran] == ["ok"]
          and shifted <= set(flagged) and not other_inputs and len(hook.received) == 1
          and statuses == ["delivered"])
    console.print(("[green]the story held" if ok else "[red]the story did NOT hold")
                  + f" ({time.perf_counter() - started:.1f}s). Explore with: vigil jobs history {job}  |  "
                  f"vigil experiments data {EXPERIMENT} --event alert --run all")
    return ok
