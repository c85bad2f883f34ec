"""``kill -9`` of ``vigil scheduler`` in the middle of a job: the due time it had claimed is not run
again by the next scheduler (its lease stays), the next due time runs, and the store is sound."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import vigil as om
from tests.reliability.conftest import REPO, child_env, integrity_check
from tests.runtime.test_scheduler import Clock
from vigil.runtime.jobs import LEASE_KIND
from vigil.runtime.scheduler import Scheduler

UTC = dt.UTC

JOB = """
import os, pathlib, time
marks = pathlib.Path({marks!r})
(marks / f"ran-{{time.time_ns()}}").write_text(str(os.getpid()))
if (marks / "block").exists():
    time.sleep(120)                   # the scheduler is killed meanwhile
"""


def test_sigkill_mid_job_then_a_new_scheduler_neither_reruns_nor_skips(vigil_home, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "block").touch()
    om.jobs.put(JOB.format(marks=str(marks)), "sleepy")
    meta = om.jobs.schedule("sleepy", "every 5 minutes")
    record = {k: v for k, v in om.jobs.metadata("sleepy").items() if k not in ("name", "version", "created")}
    record["schedule"] = {**meta["schedule"], "since": time.time() - 86_400}   # scheduled yesterday
    om.jobs.stores.events.put_meta("job", "sleepy", record)
    om.reload()

    code = "import sys; from vigil.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "scheduler", "--interval-s", "0.2"],
                            env=child_env(vigil_home), cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not list(marks.glob("ran-*")):            # catch-up: the missed due time runs at once
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)             # the scheduler and its job, mid-job
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (marks / "block").unlink()

    assert integrity_check(vigil_home / "vigil.db") == "ok"
    om.reload()
    leases = om.jobs.stores.events.list_meta(LEASE_KIND)
    assert [lease["name"].split("@")[0] for lease in leases] == ["sleepy"]
    due = dt.datetime.strptime(leases[0]["name"].split("@")[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    clock = Clock(due + dt.timedelta(seconds=30))       # still the killed run's period
    again = Scheduler(clock=clock, catchup=True)
    assert again.tick() == [], "the due time the killed scheduler had claimed ran twice"
    assert len(list(marks.glob("ran-*"))) == 1
    clock.when = due + dt.timedelta(minutes=5)          # the next due time
    ran = again.tick()
    assert [(r["job"], r["status"]) for r in ran] == [("sleepy", "ok")]
    assert len(list(marks.glob("ran-*"))) == 2
    names = sorted(lease["name"] for lease in om.jobs.stores.events.list_meta(LEASE_KIND))
    assert names == [f"sleepy@{d:%Y%m%dT%H%M%SZ}" for d in (due, due + dt.timedelta(minutes=5))]
    history = om.jobs.history("sleepy")
    print(f"killed run due {due:%H:%M}; history after restart: {history[['status']].to_dict('list')}")
    assert history["status"].tolist() == ["interrupted", "ok"]   # the killed run is on record, once
    assert "ended without recording an outcome" in history["error"].iloc[0]
