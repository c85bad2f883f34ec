"""L3: the runtime's ``vigil`` subcommands: models, datasets, jobs, worker, scheduler.

Added to the parser of :mod:`vigil.cli` by :func:`add_parsers`. Tables are
printed with rich, ``--json`` prints JSON for scripts; vigil errors exit 1
with one line (``vigil --debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any


def _emit(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    from vigil import cli

    cli._emit(rows, title, as_json)


def _iso(ts: Any) -> Any:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(float(ts), dt.UTC).isoformat(timespec="seconds")


def _need_name(args: argparse.Namespace, what: str) -> str:
    if not args.name:
        from vigil.cli import _Usage

        raise _Usage(f"vigil {what} {args.action} needs a NAME")
    return args.name


def cmd_models(args: argparse.Namespace) -> int:
    import vigil as om

    if args.action == "list":
        rows = [{"name": m["name"], "version": m["version"], "format": m["format"],
                 "class": m.get("info", {}).get("class"), "updated": _iso(m.get("updated")),
                 "links": ", ".join(lk["experiment"] for lk in om.models.links(m["name"]))}
                for m in om.models.stores.events.list_meta("model", args.prefix or "")]
        _emit(rows, "models", args.json)
        return 0
    meta = om.models.metadata(_need_name(args, "models"))
    if args.json:
        print(json.dumps(meta, default=str, indent=1))
        return 0
    print(f"model {args.name}: {meta.get('info', {}).get('class')} ({meta['format']}), "
          f"version {meta['version']}, {len(meta['links'])} link(s)")
    rows = [{"version": v["version"], "format": v["format"], "created": _iso(v.get("created")),
             "attributes": json.dumps(v.get("attributes") or {})}
            for v in om.models.versions(args.name)]
    _emit(rows, f"versions of model {args.name}", False)
    _emit([{k: (_iso(v) if k == "linked" else json.dumps(v) if isinstance(v, (dict, list)) else v)
            for k, v in lk.items()} for lk in meta["links"]], f"links of model {args.name}", False)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    import vigil as om

    if args.action == "list":
        rows = [{"name": m["name"], "version": m["version"], "format": m["format"], "parts": len(m["parts"]),
                 "rows": m.get("info", {}).get("rows"), "updated": _iso(m.get("updated"))}
                for m in om.datasets.stores.events.list_meta("dataset", args.prefix or "")]
        _emit(rows, "datasets", args.json)
        return 0
    name = _need_name(args, "datasets")
    meta = om.datasets.metadata(name)
    if args.json:
        print(json.dumps(meta, default=str, indent=1))
        return 0
    _emit([{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in meta.items()}],
          f"dataset {name}", False)
    value = om.datasets.get(name)
    print(value.head(args.limit).to_string() if hasattr(value, "head") else repr(value)[:2000])
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    import vigil as om

    if args.action == "list":
        rows = [{"name": m["name"], "version": m["version"],
                 "schedule": (m.get("schedule") or {}).get("spec"), "cron": (m.get("schedule") or {}).get("cron"),
                 "updated": _iso(m.get("updated"))}
                for m in om.jobs.stores.events.list_meta("job", args.prefix or "")]
        _emit(rows, "jobs", args.json)
        return 0
    name = _need_name(args, "jobs")
    if args.action == "run":
        record = om.runtime.job(name).run(timeout_s=args.timeout_s).get()
        if args.json:
            print(json.dumps(record, default=str, indent=1))
        else:
            print(record["stdout"], end="")
            print(f"job {name}: {record['status']} in {record['duration_s']:.3f} s"
                  + (f": {record['error']}" if record["error"] else ""))
        return 0 if record["status"] == "ok" else 1
    if args.action == "schedule":
        if not args.schedule:
            from vigil.cli import _Usage

            raise _Usage("vigil jobs schedule needs NAME and SCHEDULE ('daily at 06:00', cron, ...)")
        meta = om.jobs.schedule(name, args.schedule)
        print(f"job {name}: scheduled {meta['schedule']['spec']!r} (cron {meta['schedule']['cron']})")
        return 0
    if args.action == "unschedule":
        om.jobs.unschedule(name)
        print(f"job {name}: unscheduled")
        return 0
    frame = om.jobs.history(name).tail(args.limit)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        _emit(frame.drop(columns=["stdout", "stderr"]).astype(object).to_dict("records"), f"runs of job {name}", False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from vigil.runtime.celery_app import app
    from vigil.runtime.settings import RuntimeSettings

    queue = args.queue or RuntimeSettings.from_env().queue
    argv = ["worker", "-Q", queue, "-c", str(args.concurrency), "-P", args.pool, "-l", args.loglevel,
            "--without-gossip", "--without-mingle"]
    if args.hostname:
        argv += ["-n", args.hostname]
    app.worker_main(argv=argv)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from vigil.runtime.scheduler import Scheduler

    clock: Any = time.time
    if args.now:
        try:
            fixed = dt.datetime.fromisoformat(args.now)
        except ValueError:
            from vigil.cli import _Usage

            raise _Usage(f"--now must be an ISO date-time; got {args.now!r}") from None
        if fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=dt.UTC)
        clock = fixed.timestamp
    scheduler = Scheduler(catchup=not args.no_catchup, clock=clock)

    def show(record: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps({k: record.get(k) for k in ("job", "due", "owner", "status", "error")}), flush=True)
        else:
            print(f"{record['due']} {record['job']}: {record.get('status')}"
                  + (f" ({record['error']})" if record.get("error") else ""), flush=True)

    if args.once:
        for record in scheduler.tick():
            show(record)
        return 0
    try:
        scheduler.run(args.interval_s, on_run=show)
    except KeyboardInterrupt:
        pass
    return 0


def add_parsers(sub: Any) -> None:
    """Add the runtime's subcommands to the ``vigil`` parser."""
    m = sub.add_parser("models", help="list stored models, show versions and links")
    m.add_argument("action", choices=["list", "show"])
    m.add_argument("name", nargs="?")
    m.add_argument("--prefix", default="")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("datasets", help="list stored datasets, show one")
    d.add_argument("action", choices=["list", "show"])
    d.add_argument("name", nargs="?")
    d.add_argument("--prefix", default="")
    d.add_argument("--limit", type=int, default=10, help="rows shown")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_datasets)

    j = sub.add_parser("jobs", help="list, run, schedule jobs and show their history")
    j.add_argument("action", choices=["list", "run", "schedule", "unschedule", "history"])
    j.add_argument("name", nargs="?")
    j.add_argument("schedule", nargs="?", help="for schedule: 'daily', 'daily at 06:00', cron ...")
    j.add_argument("--prefix", default="")
    j.add_argument("--timeout-s", type=float, default=None)
    j.add_argument("--limit", type=int, default=20)
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=cmd_jobs)

    w = sub.add_parser("worker", help="start a Celery worker of the runtime (VIGIL_CELERY_BROKER)")
    w.add_argument("--concurrency", type=int, default=2)
    w.add_argument("--pool", default="prefork", choices=["prefork", "threads"],
                   help="not solo: a busy solo worker cannot answer the liveness pings of callers")
    w.add_argument("--queue", default=None, help="default VIGIL_CELERY_QUEUE or 'vigil'")
    w.add_argument("--loglevel", default="info")
    w.add_argument("--hostname", default=None)
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("scheduler", help="run scheduled jobs when they are due")
    s.add_argument("--once", action="store_true", help="one tick, then exit")
    s.add_argument("--now", default=None, help="ISO time to use as now (with --once, for tests)")
    s.add_argument("--no-catchup", action="store_true", help="do not run jobs missed while no scheduler ran")
    s.add_argument("--interval-s", type=float, default=5.0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_scheduler)
