"""Job runs, history, schedules and the scheduler (vigil/runtime/jobs.py, schedule.py, scheduler.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

import vigil as om
from vigil.errors import InvalidInput
from vigil.runtime.schedule import next_runs, to_cron
from vigil.runtime.scheduler import Scheduler, acquire

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


class Clock:
    def __init__(self, when: dt.datetime) -> None:
        self.when = when

    def __call__(self) -> float:
        return self.when.timestamp()


@pytest.mark.parametrize("phrase, cron", [
    ("hourly", "0 * * * *"), ("daily", "0 0 * * *"), ("daily at 06:00", "0 6 * * *"),
    ("weekly on monday at 08:30", "30 8 * * 1"), ("every 5 minutes", "*/5 * * * *"), ("*/7 * * * *", "*/7 * * * *"),
])
def test_phrases(phrase, cron):
    assert to_cron(phrase) == cron


def test_daily_means_once_a_day_at_midnight():
    runs = next_runs("daily", at(2026, 3, 2, 12, 0), 7)
    assert len({r.date() for r in runs}) == 7 and all((r.hour, r.minute) == (0, 0) for r in runs)
    assert next_runs("weekly on monday at 08:30", at(2026, 3, 3), 1)[0] == at(2026, 3, 9, 8, 30)


def test_run_records_status_output_and_history():
    om.jobs.put("print('out'); import sys; print('err', file=sys.stderr)", "ok")
    record = om.jobs.run("ok")
    assert record["status"] == "ok" and record["stdout"] == "out\n" and "err" in record["stderr"]
    assert record["returncode"] == 0 and record["ended"] >= record["started"]
    om.jobs.put("print('x' * 50000); raise ValueError('bad thing')", "bad")
    record = om.jobs.run("bad")
    assert record["status"] == "failed" and record["error"] == "ValueError: bad thing"
    assert len(record["stdout"]) < 11_000 and record["stdout"].startswith("...[truncated]")
    om.jobs.put("import time; time.sleep(10)", "slow")
    record = om.jobs.run("slow", timeout_s=0.5)
    assert record["status"] == "timeout" and "0.5" in record["error"]
    history = om.jobs.history("bad")
    assert history["status"].tolist() == ["failed"] and history["error"].tolist() == ["ValueError: bad thing"]
    assert om.runtime.experiment("jobs/bad").runs()["status"].tolist() == ["FAILED"]
    with pytest.raises(InvalidInput, match="timeout_s"):
        om.jobs.run("ok", timeout_s=-1)


def test_a_run_without_an_outcome_is_running_while_its_runner_lives_then_interrupted():
    """What a runner killed mid-job leaves (a ``job_started`` event, no ``job_run``) is on record."""
    import socket

    om.jobs.put("print('x')", "cut")
    exp = om.runtime.experiment("jobs/cut")
    exp.start()
    exp.log_event("job_started", "cut", {"job": "cut", "started": 1.0, "pid": os.getpid(),
                                         "node": socket.gethostname()})
    exp.flush()
    assert om.jobs.history("cut")["status"].tolist() == ["running"]       # this process still lives
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    exp.log_event("job_started", "cut", {"job": "cut", "started": 2.0, "pid": int(dead.stdout), "node":
                                         socket.gethostname()})   # a second record of the run: first wins
    exp.start()
    exp.log_event("job_started", "cut", {"job": "cut", "started": 3.0, "pid": int(dead.stdout),
                                         "node": socket.gethostname()})
    exp.stop()
    assert om.jobs.run("cut")["status"] == "ok"
    history = om.jobs.history("cut")
    assert history["run"].tolist() == [1, 2, 3]
    assert history["status"].tolist() == ["running", "interrupted", "ok"]
    assert f"pid {int(dead.stdout)}" in history["error"].iloc[1]


def test_schedule_unschedule_and_put_keeps_the_schedule():
    om.jobs.create("x = 1", "etl", schedule="daily at 06:00")
    assert om.jobs.metadata("etl")["schedule"]["cron"] == "0 6 * * *"
    om.jobs.put("x = 2", "etl")
    assert om.jobs.metadata("etl")["schedule"]["cron"] == "0 6 * * *"
    assert [m["name"] for m in om.jobs.scheduled()] == ["etl"]
    om.jobs.unschedule("etl")
    assert om.jobs.scheduled() == []
    with pytest.raises(InvalidInput, match="schedule"):
        om.jobs.schedule("etl", "sometimes")
    with pytest.raises(InvalidInput, match="schedule"):
        om.jobs.create("x = 1", "other", schedule="never")
    assert "other" not in om.jobs.list()


def scheduled_job(name: str, schedule: str, since: dt.datetime) -> None:
    om.jobs.put("print('ran')", name)
    meta = om.jobs.schedule(name, schedule)
    # pretend it was scheduled at `since`
    record = {k: v for k, v in om.jobs.metadata(name).items() if k not in ("name", "version", "created")}
    record["schedule"] = {**meta["schedule"], "since": since.timestamp()}
    om.jobs.stores.events.put_meta("job", name, record)


def test_a_job_runs_once_per_due_time():
    scheduled_job("tick", "every 5 minutes", at(2026, 1, 1, 0, 0))
    clock = Clock(at(2026, 1, 1, 0, 1))
    s = Scheduler(clock=clock, catchup=False)
    assert s.tick() == []
    clock.when = at(2026, 1, 1, 0, 5)
    assert [r["status"] for r in s.tick()] == ["ok"]
    assert s.tick() == [], "the same due time ran twice"
    clock.when = at(2026, 1, 1, 0, 23)  # three due times passed: once
    assert len(s.tick()) == 1
    assert len(om.jobs.history("tick")) == 2


def test_two_schedulers_never_run_the_same_due_time_twice():
    scheduled_job("shared", "every 5 minutes", at(2026, 1, 1))
    clock = Clock(at(2026, 1, 1, 0, 1))
    a, b = Scheduler(clock=clock, catchup=False), Scheduler(clock=clock, catchup=False)
    a.tick(), b.tick()
    clock.when = at(2026, 1, 1, 0, 5)
    assert len(b.tick()) + len(a.tick()) == 1
    clock.when = at(2026, 1, 1, 0, 10)
    assert len(a.tick()) + len(b.tick()) == 1
    assert len(om.jobs.history("shared")) == 2
    assert acquire(om.jobs.stores.events, "shared", at(2026, 1, 1, 0, 10), "late") is False


def test_missed_runs_run_once_on_start_with_catchup():
    scheduled_job("nightly", "daily", at(2026, 1, 1, 12))
    late = Clock(at(2026, 1, 4, 9))  # three midnights passed with no scheduler
    assert Scheduler(clock=late, catchup=False).tick() == []
    ran = Scheduler(clock=late, catchup=True).tick()
    assert [r["due"] for r in ran] == [at(2026, 1, 4).isoformat()]
    assert Scheduler(clock=late, catchup=True).tick() == [], "a restart ran the caught-up job again"
    scheduled_job("fresh", "daily", at(2026, 1, 4, 8))
    assert Scheduler(clock=late, catchup=True).tick() == [], "a job scheduled after its last due time ran"


def test_two_scheduler_processes_run_a_due_job_exactly_once(vigil_home):
    scheduled_job("race", "every 5 minutes", at(2026, 1, 1))
    om.jobs.stores.flush()
    env = {k: v for k, v in os.environ.items()}
    cmd = [sys.executable, "-m", "vigil.cli", "scheduler", "--once", "--json", "--now", "2026-01-01T00:05:30"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    lines = [json.loads(line) for out, _ in outs for line in out.splitlines() if line.strip()]
    assert [(r["job"], r["status"]) for r in lines] == [("race", "ok")], outs
    assert len(om.jobs.history("race")) == 1


def test_the_loop_runs_due_jobs_until_stopped():
    import threading

    scheduled_job("looped", "every 5 minutes", at(2026, 1, 1))
    clock = Clock(at(2026, 1, 1, 0, 4, 59))
    s = Scheduler(clock=clock, catchup=False)
    seen: list[dict] = []
    thread = threading.Thread(target=s.run, kwargs={"interval_s": 0.01, "on_run": seen.append})
    thread.start()
    try:
        import time

        time.sleep(0.1)
        assert seen == []
        clock.when = at(2026, 1, 1, 0, 5, 1)
        deadline = time.time() + 20
        while not seen and time.time() < deadline:
            time.sleep(0.02)
    finally:
        s.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert [(r["job"], r["status"]) for r in seen] == [("looped", "ok")]


def test_old_leases_are_pruned():
    from vigil.runtime.jobs import LEASE_KIND
    from vigil.runtime.scheduler import prune_leases

    events = om.jobs.stores.events
    assert acquire(events, "j", at(2026, 1, 1), "me") and acquire(events, "j", at(2026, 1, 5), "me")
    assert acquire(events, "weekly", at(2025, 12, 29), "me")
    assert prune_leases(events, at(2026, 1, 3)) == 1  # each job's latest lease stays, however old
    assert [m["name"] for m in events.list_meta(LEASE_KIND)] == ["j@20260105T000000Z", "weekly@20251229T000000Z"]
    om.jobs.put("x = 1", "j")
    om.jobs.drop("j")
    assert [m["name"] for m in events.list_meta(LEASE_KIND)] == ["weekly@20251229T000000Z"]


def test_a_stored_schedule_that_never_comes_due_is_skipped_not_fatal(caplog):
    """A job record holding a cron with no date (stored before such crons were refused) must not stop
    the scheduler: that job is skipped with an error in the log, the others still run."""
    import datetime as dt

    import vigil as om
    from vigil.runtime.jobs import KIND
    from vigil.runtime.scheduler import Scheduler

    om.jobs.create("print('fine')", "fine", schedule="every 1 minutes")
    om.jobs.put("print('never')", "never")
    meta = om.jobs.metadata("never")
    from vigil.store import default_stores

    stores = default_stores()
    record = {k: v for k, v in meta.items() if k not in ("name", "version", "created")}
    stores.events.put_meta(KIND, "never", {**record, "schedule": {"spec": "0 0 31 2 *", "cron": "0 0 31 2 *",
                                                                  "since": 0.0}})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    due = Scheduler().due(later)
    assert [name for name, _ in due] == ["fine"]
    assert "never comes due" in caplog.text
