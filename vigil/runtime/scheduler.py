"""``vigil scheduler``: run scheduled jobs when they are due, once per due time.

Each tick looks at every job with a schedule. A job whose next due time
has come is run on the runtime (``om.runtime.job(name).run()``) by the one
scheduler that wins the *lease* of that due time.

Lease: a metadata record of kind ``job-lease`` named ``<job>@<due time>``.
``put_meta`` allocates versions under the ``(kind, name, version)`` primary
key, so for one name exactly one writer gets version 1, however many
schedulers race: that writer runs the job, the others see version > 1 and
skip it. The lease records the owner (host, pid) and the time.

Missed runs: on start, with ``catchup=True`` (default), a job whose latest
due time passed while no scheduler ran (and after it was scheduled) runs
once, now; with ``catchup=False`` only future due times count.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from vigil.runtime.jobs import LEASE_KIND, Jobs
from vigil.runtime.schedule import _croniter

log = logging.getLogger("vigil.scheduler")

UTC = dt.UTC


def lease_name(job: str, due: dt.datetime) -> str:
    """The lease record's name of one due time of a job.

    Examples
    --------
    >>> lease_name('etl', dt.datetime(2026, 1, 2, 6, 0, tzinfo=UTC))
    'etl@20260102T060000Z'
    """
    return f"{job}@{due.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def acquire(events: Any, job: str, due: dt.datetime, owner: str) -> bool:
    """True for exactly one caller per (job, due time), across processes sharing the store."""
    return events.put_meta(LEASE_KIND, lease_name(job, due), {"owner": owner, "acquired": time.time()}) == 1


def prune_leases(events: Any, before: dt.datetime) -> int:
    """Drop the leases of due times before ``before``, except each job's latest (which a
    restart with catchup consults, however long ago it was); returns how many were dropped."""
    by_job: dict[str, list[tuple[dt.datetime, str]]] = {}
    for record in events.list_meta(LEASE_KIND):
        job, _, stamp = record["name"].rpartition("@")
        try:
            due = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        by_job.setdefault(job, []).append((due, record["name"]))
    dropped = 0
    for leases in by_job.values():
        leases.sort()
        for due, name in leases[:-1]:
            if due < before:
                events.drop_meta(LEASE_KIND, name)
                dropped += 1
    return dropped


class Scheduler:
    """Runs due jobs; call :meth:`tick` (tests, ``--once``) or :meth:`run` (a loop).

    Parameters
    ----------
    runtime : vigil.runtime.Runtime, optional
    catchup : bool
        Run a job once on start if a due time was missed while no scheduler ran.
    clock : callable, optional
        Returns the current time as epoch seconds (tests pass a fake clock).
    wait : bool
        Wait for each job run to finish (default); else leave it running on the executor.
    """

    def __init__(self, runtime: Any = None, catchup: bool = True, clock: Callable[[], float] = time.time,
                 wait: bool = True) -> None:
        if runtime is None:
            from vigil.runtime import default_runtime

            runtime = default_runtime()
        self.runtime = runtime
        self.catchup = bool(catchup)
        self.clock = clock
        self.wait = wait
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._next: dict[str, tuple[str, dt.datetime]] = {}
        self.ran: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._pruned: dt.datetime | None = None
        #: leases are kept this long after their due time (a restart within it will not rerun a job)
        self.lease_keep = dt.timedelta(days=2)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), UTC)

    def _first_due(self, meta: dict[str, Any], now: dt.datetime) -> dt.datetime:
        cron = meta["schedule"]["cron"]
        it = _croniter()(cron, now)
        if self.catchup:
            previous = it.get_prev(dt.datetime)
            since = dt.datetime.fromtimestamp(meta["schedule"].get("since", 0), UTC)
            if previous >= since:
                return previous  # missed while no scheduler ran: due now (the lease says if it ran)
            it = _croniter()(cron, now)
        return it.get_next(dt.datetime)

    def due(self, now: dt.datetime | None = None) -> list[tuple[str, dt.datetime]]:
        """The (job, due time) pairs due at ``now``; advances each job's next due time."""
        now = now or self._now()
        jobs = Jobs(self.runtime.stores)
        out = []
        seen = set()
        for meta in jobs.scheduled():
            name, cron = meta["name"], meta["schedule"]["cron"]
            seen.add(name)
            state = self._next.get(name)
            try:
                if state is None or state[0] != cron:
                    state = (cron, self._first_due(meta, now))
                if state[1] <= now:
                    out.append((name, state[1]))
                    state = (cron, _croniter()(cron, now).get_next(dt.datetime))  # missed ones: once
            except ValueError as exc:  # a stored cron that names no date (written before it was refused)
                log.error("vigil scheduler: job %r has a schedule that never comes due (%r): %s; skipped",
                          name, cron, exc)
                continue
            self._next[name] = state
        for gone in set(self._next) - seen:
            del self._next[gone]
        return out

    def tick(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Run what is due now (the jobs whose lease this scheduler wins); returns their records."""
        records = []
        events = self.runtime.stores.events
        now = now or self._now()
        if self._pruned is None or now - self._pruned >= dt.timedelta(hours=1):
            prune_leases(events, now - self.lease_keep)
            self._pruned = now
        for name, due in self.due(now):
            if not acquire(events, name, due, self.owner):
                continue
            result = self.runtime.job(name).run()
            record: dict[str, Any] = {"job": name, "due": due.isoformat(), "owner": self.owner}
            if self.wait:
                try:
                    record.update(result.get())
                except Exception as exc:  # noqa: BLE001 - a failing job must not stop the scheduler
                    record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            records.append(record)
            self.ran.append(record)
        return records

    def run(self, interval_s: float = 1.0, on_run: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Tick every ``interval_s`` seconds until :meth:`stop` (or KeyboardInterrupt)."""
        while not self._stop.is_set():
            for record in self.tick():
                if on_run is not None:
                    on_run(record)
            self._stop.wait(interval_s)

    def stop(self) -> None:
        self._stop.set()
