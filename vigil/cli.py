"""L3: the ``vigil`` command line, a thin layer over the library.

Exit codes: 0 success, 1 a vigil error (one line on stderr; the traceback
only with ``--debug``), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from vigil.errors import VigilError


def _table(rows: list[dict[str, Any]], title: str) -> None:
    if not rows:
        print(f"{title}: none")
        return
    columns = list(rows[0])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        print("\t".join(columns))
        for r in rows:
            print("\t".join(str(r[c]) for c in columns))
        return
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(_fmt(r[c]) for c in columns))
    Console().print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    return "" if value is None or value is getattr(__import__("pandas"), "NA", None) else str(value)


def _emit(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
    else:
        _table(rows, title)


def _iso(ts: float | None) -> str | None:
    import datetime as dt

    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def cmd_experiments(args: argparse.Namespace) -> int:
    import vigil as om
    from vigil.store import default_stores

    stores = default_stores()
    if args.action == "list":
        rows = [{"name": e["name"], "runs": e["runs"], "created": _iso(e["created"]),
                 "last_activity": _iso(e["last_activity"])} for e in stores.events.list_experiments()]
        _emit(rows, "experiments", args.json)
        return 0
    if not args.name:
        raise _Usage(f"vigil experiments {args.action} needs an experiment NAME")
    record = stores.events.find_experiment(args.name)
    if record is None:
        from vigil.errors import NotFound

        raise NotFound(f"experiment {args.name!r} does not exist; see `vigil experiments list`")
    exp = om.runtime.experiment(args.name)
    if args.action == "show":
        rows = [{"run": r.run, "status": r.status, "started": _iso(r.started), "ended": _iso(r.ended),
                 "duration_s": None if r.ended is None else round(r.ended - r.started, 3),
                 "node": r.node, "userid": r.userid} for r in stores.events.list_runs(record.id)]
        _emit(rows, f"runs of {args.name}", args.json)
        return 0
    frame = exp.data(run=args.run or "all", event=args.event, key=args.key, since=args.since)
    if args.limit:
        frame = frame.tail(args.limit)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        frame = frame.drop(columns=["experiment"])
        _table(frame.astype(object).to_dict("records"), f"events of {args.name}")
    return 0


def cmd_runtime(args: argparse.Namespace) -> int:
    import vigil as om

    result = om.runtime.ping()
    _emit([result] if not args.json else result, "runtime ping", args.json)  # type: ignore[arg-type]
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from vigil.demo import STORIES, run_demo

    return run_demo(STORIES if args.story == "all" else (args.story,))


def cmd_server(args: argparse.Namespace) -> int:
    from vigil.server.serve import config_from_args, serve

    serve(config_from_args(args))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """``vigil ui``: the server with its dashboard on this workspace, opened in a browser."""
    import threading
    import time
    import urllib.request
    import webbrowser

    from vigil.server.serve import config_from_args, serve

    config = config_from_args(args)
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{config.port}/"
    print(f"vigil dashboard: {url}  (Ctrl-C stops it)", flush=True)

    def open_when_up() -> None:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "api/v1/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        webbrowser.open(url)

    if not args.no_browser:
        threading.Thread(target=open_when_up, daemon=True).start()
    serve(config)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import os

    from vigil.export.anodot import export_jsonl

    token = args.token or os.environ.get("VIGIL_ANODOT_TOKEN")
    if not token:
        raise _Usage("vigil export anodot needs --token (or VIGIL_ANODOT_TOKEN): the Anodot data collection token")
    report = export_jsonl(args.input, token, args.url, batch_size=args.batch_size, rate_per_s=args.rate)
    print(f"sent {report.sent} points in {report.batches} batches; skipped {report.skipped} without a value; "
          f"{report.retries} retries; {report.rejected} reported as errors by Anodot")
    return 0


class _Usage(Exception):
    pass


def _run_spec(text: str) -> Any:
    if text in ("all", "*"):
        return text
    try:
        return [int(p) for p in text.split(",")] if "," in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run must be an int, a comma list of ints, 'all' or '*'; got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil", description="Experiment tracking and model monitoring.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("experiments", help="list experiments, show runs, print events")
    e.add_argument("action", choices=["list", "show", "data"])
    e.add_argument("name", nargs="?")
    e.add_argument("--run", type=_run_spec, default=None)
    e.add_argument("--event")
    e.add_argument("--key")
    e.add_argument("--since")
    e.add_argument("--limit", type=int, default=50, help="last N events (0: all)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_experiments)

    r = sub.add_parser("runtime", help="the runtime")
    r.add_argument("action", choices=["ping"])
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runtime)

    d = sub.add_parser("demo", help="run the end-to-end demo on the embedded default")
    d.add_argument("story", nargs="?", default="all", choices=["all", "tracking", "drift", "runtime", "agent"])
    d.set_defaults(func=cmd_demo)

    from vigil.server.serve import add_arguments

    s = sub.add_parser("server", help="run the collector server (agents post windows to it)")
    add_arguments(s)
    s.set_defaults(func=cmd_server)

    u = sub.add_parser("ui", help="open the web dashboard on this workspace (the server, local interface)")
    add_arguments(u)
    u.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the URL")
    u.set_defaults(func=cmd_ui)

    x = sub.add_parser("export", help="send exported metric points to another system")
    x.add_argument("target", choices=["anodot"])
    x.add_argument("--input", required=True,
                   help="JSON Lines file, folder of *.jsonl or glob (the collector writes $VIGIL_HOME/exports/jsonl)")
    x.add_argument("--token", help="Anodot data collection token (default $VIGIL_ANODOT_TOKEN)")
    x.add_argument("--url", default=None, help="metrics endpoint (default https://api.anodot.com/api/v1/metrics)")
    x.add_argument("--batch-size", type=int, default=1000, help="points per request, at most 1000")
    x.add_argument("--rate", type=float, default=2000.0, help="points per second, at most 2000")
    x.set_defaults(func=cmd_export)

    from vigil.runtime_cli import add_parsers as add_runtime_parsers

    add_runtime_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _Usage as exc:
        p.print_usage(sys.stderr)
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    except VigilError as exc:
        if args.debug:
            raise
        print(f"vigil: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
