"""``om.jobs``: named Python scripts, versioned in the metadata store, run and scheduled.

``run`` executes a script in a subprocess (``sys.executable``, a temporary
working folder, the workspace's ``VIGIL_*`` settings in the environment, a
time limit) and records the run as a ``job_run`` event in the experiment
``jobs/<name>``: status (``ok``/``failed``/``timeout``), start, end, return
code, the tail of stdout/stderr and the error. A ``job_started`` event is
logged (durably) before the script starts, so a run whose runner was killed
shows in ``history`` as ``interrupted`` rather than not at all.
A schedule (:mod:`vigil.runtime.schedule`) is kept in the job's record;
``vigil scheduler`` runs the jobs when they are due.

Jupyter notebooks are not supported (running them needs a kernel).
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from vigil.errors import NotFound, invalid
from vigil.store.names import check_name

_List = list  # the classes below have a method called list
KIND = "job"
LEASE_KIND = "job-lease"
MAX_OUTPUT_CHARS = 10_000
_RECORD_FIELDS = ("name", "version", "created")


_NODE = socket.gethostname()


def job_runs(events: Iterable[tuple[int, str, Any]]) -> _List[dict[str, Any]]:
    """One record per run, by run number, from ``(run, event, value)`` of ``job_started``/``job_run`` events.

    A run's ``job_run`` (its outcome) wins; a run with only ``job_started`` is
    ``running`` while the process that runs it lives (on this host), else
    ``interrupted`` (killed before it could record an outcome).
    """
    by_run: dict[int, dict[str, Any]] = {}
    for run, event, value in events:
        if event == "job_run" or run not in by_run:
            by_run[run] = {"run": run, **_outcome(event, value if isinstance(value, dict) else {})}
    return [by_run[run] for run in sorted(by_run)]


def _outcome(event: str, value: dict[str, Any]) -> dict[str, Any]:
    if event == "job_run":
        return value
    pid, node = value.get("pid"), value.get("node")
    alive = node == _NODE and isinstance(pid, int) and _alive(pid)
    if node != _NODE:
        status, error = "running", f"started on {node}; no outcome recorded yet"
    elif alive:
        status, error = "running", None
    else:
        status, error = "interrupted", f"the process that ran it (pid {pid}) ended without recording an outcome"
    return {"status": status, "started": value.get("started"), "error": error}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return True


def _tail(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else "...[truncated]\n" + text[-MAX_OUTPUT_CHARS:]


class Jobs:
    """Put, get, list, run, schedule and drop job scripts.

    Examples
    --------
    >>> import vigil as om
    >>> om.jobs.put("print('hello')", 'doc-job')['version'] >= 1
    True
    >>> om.jobs.get('doc-job')
    "print('hello')"
    """

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    def put(self, source: str, name: str, **attributes: Any) -> dict[str, Any]:
        """Store ``source`` as a new version of job ``name`` (an existing schedule is kept)."""
        check_name(name, "jobs.put", "name")
        if not isinstance(source, str):
            raise invalid("jobs.put", "source", source, "Python source code as a str")
        try:
            ast.parse(source)
        except SyntaxError as exc:
            raise invalid("jobs.put", "source", source, f"valid Python ({exc.msg} at line {exc.lineno})") from None
        current = self.stores.events.find_meta(KIND, name)
        record = {"source": source, "attributes": attributes, "updated": time.time(),
                  "schedule": None if current is None else current.get("schedule")}
        return {**record, "name": name, "version": self.stores.events.put_meta(KIND, name, record)}

    def create(self, source: str, name: str, schedule: str | None = None, **attributes: Any) -> dict[str, Any]:
        """``put`` the job, then ``schedule`` it if a schedule is given (validated first)."""
        if schedule is not None:
            from vigil.runtime.schedule import to_cron

            to_cron(schedule)
        meta = self.put(source, name, **attributes)
        return self.schedule(name, schedule) if schedule is not None else meta

    def get(self, name: str) -> str:
        return self.metadata(name)["source"]

    def metadata(self, name: str) -> dict[str, Any]:
        check_name(name, "jobs.get", "name")
        meta = self.stores.events.find_meta(KIND, name)
        if meta is None:
            raise NotFound(f"job {name!r} does not exist")
        return meta

    def list(self, prefix: str = "") -> list[str]:
        return [m["name"] for m in self.stores.events.list_meta(KIND, prefix)]

    def drop(self, name: str, force: bool = False) -> bool:
        check_name(name, "jobs.drop", "name")
        if self.stores.events.find_meta(KIND, name) is None:
            if force:
                return False
            raise NotFound(f"job {name!r} does not exist")
        self.stores.events.drop_meta(KIND, name)
        for lease in self.stores.events.list_meta(LEASE_KIND, f"{name}@"):
            self.stores.events.drop_meta(LEASE_KIND, lease["name"])
        return True

    # -- schedules -----------------------------------------------------------------------------
    def _reput(self, name: str, **changes: Any) -> dict[str, Any]:
        meta = self.metadata(name)
        record = {k: v for k, v in meta.items() if k not in _RECORD_FIELDS}
        record.update(changes, updated=time.time())
        return {**record, "name": name, "version": self.stores.events.put_meta(KIND, name, record)}

    def schedule(self, name: str, schedule: str) -> dict[str, Any]:
        """Run ``name`` on ``schedule`` (a phrase like ``'daily at 06:00'`` or cron), from now on."""
        from vigil.runtime.schedule import to_cron

        cron = to_cron(schedule)
        return self._reput(name, schedule={"spec": schedule, "cron": cron, "since": time.time()})

    def unschedule(self, name: str) -> dict[str, Any]:
        """Remove the schedule of ``name`` (the job stays)."""
        return self._reput(name, schedule=None)

    def scheduled(self) -> _List[dict[str, Any]]:
        """Metadata of the jobs that have a schedule."""
        return [m for m in self.stores.events.list_meta(KIND) if m.get("schedule")]

    # -- running -------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        s = self.stores.settings
        env.update({
            "VIGIL_HOME": str(s.home), "VIGIL_STORE_URL": s.store_url, "VIGIL_ARTIFACTS_URL": s.artifacts_url,
            "VIGIL_ARTIFACTS_OPTIONS": json.dumps(dict(s.artifacts_options)), "VIGIL_USERID": s.userid,
        })
        if s.tracking_providers:
            env["VIGIL_TRACKING_PROVIDERS"] = s.tracking_providers
        for key in ("VIGIL_RUNTIME", "VIGIL_CELERY_BROKER", "VIGIL_CELERY_BACKEND", "VIGIL_CELERY_QUEUE",
                    "VIGIL_AUTOTRACK_MAX_ROWS", "VIGIL_FLUSH_INTERVAL_MS"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        return env

    def run(self, name: str, timeout_s: float | None = None) -> dict[str, Any]:
        """Run the job in a subprocess now; returns the run record (also logged in ``jobs/<name>``).

        Examples
        --------
        >>> import vigil as om
        >>> _ = om.jobs.put("print('hi')", 'doc-run')
        >>> r = om.jobs.run('doc-run'); r['status'], r['stdout']
        ('ok', 'hi\\n')
        """
        source = self.get(name)
        if timeout_s is None:
            from vigil.runtime.settings import RuntimeSettings

            timeout_s = RuntimeSettings.from_env().job_timeout_s
        elif isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise invalid("jobs.run", "timeout_s", timeout_s, "a number of seconds > 0")
        self.stores.flush()  # the job reads what this process logged
        started = time.time()
        # durable before the job starts: a runner killed mid-job (kill -9) leaves this run behind,
        # which history() reports as "interrupted"
        exp = self._experiment(name)
        exp.start()
        exp.log_event("job_started", name, {"job": name, "started": started, "pid": os.getpid(), "node": _NODE})
        exp.flush()
        status, out, err = "ok", "", ""
        code: int | None = 0
        error: str | None = None
        with tempfile.TemporaryDirectory(prefix="vigil-job-") as cwd:
            script = os.path.join(cwd, "job.py")
            with open(script, "w", encoding="utf-8") as fh:
                fh.write(source)
            try:
                proc = subprocess.run([sys.executable, script], cwd=cwd, env=self._env(), capture_output=True,
                                      text=True, timeout=timeout_s, check=False)
                code, out, err = proc.returncode, proc.stdout, proc.stderr
                if code != 0:
                    status = "failed"
                    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
                    error = lines[-1] if lines else f"exit code {code}"
            except subprocess.TimeoutExpired as exc:
                status, code = "timeout", None
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
                error = f"the job did not finish within {timeout_s} s"
        ended = time.time()
        record = {"job": name, "status": status, "started": started, "ended": ended, "duration_s": ended - started,
                  "returncode": code, "stdout": _tail(out), "stderr": _tail(err), "error": error}
        exp.log_event("job_run", name, record, status=record["status"])
        exp.stop("STOPPED" if record["status"] == "ok" else "FAILED")
        return record

    def _experiment(self, name: str) -> Any:
        from vigil.tracking.provider import DefaultProvider

        return DefaultProvider(f"jobs/{name}", self.stores)

    def history(self, name: str):
        """A DataFrame of the runs of ``name``: status, started, ended, duration, return code, error, output."""
        import pandas as pd

        check_name(name, "jobs.history", "name")
        columns = ["run", "status", "started", "ended", "duration_s", "returncode", "error", "stdout", "stderr"]
        records = self._experiment(name).data(run="all", event=["job_started", "job_run"], raw=True)
        frame = pd.DataFrame(job_runs((r["run"], r["event"], r["value"]) for r in records), columns=columns)
        for col in ("started", "ended"):
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
        return frame
