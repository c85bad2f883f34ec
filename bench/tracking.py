"""Tracking benchmark: vigil beside MLflow, measured in the same run.

Four operations, each repetition in a fresh store, medians of the repetitions:

1. ``log_metric`` in a loop, calls/s. vigil's timing includes the final
   ``exp.flush()`` (everything durable); MLflow logs synchronously.
2. batch logging, values/s: vigil ``log_events`` in chunks of 10,000 (+ flush),
   MLflow ``MlflowClient.log_batch`` with 1,000 metrics per batch.
3. every metric of one experiment (10 runs x 100 keys x 1,000 steps) read into
   a DataFrame, seconds: vigil ``exp.data(run='all')``, MLflow ``search_runs``
   plus ``get_metric_history`` per run and key.
4. a filtered query, one run and one key (1,000 rows of that store), ms.

Both tools run on SQLite and, when the server answers, on PostgreSQL. MLflow
is two orders of magnitude slower, so it runs smaller sizes, shown beside each
figure. Prints the environment and one table to stdout, progress to stderr,
and writes ``bench/results/tracking.json``. Figures only: nothing is asserted
about timings (a wrong row count is an error: a wrong answer has no speed).

    python bench/tracking.py            # the full run (``make bench``)
    python bench/tracking.py --quick    # small sizes, one repetition
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from text_table import align

# MLflow's telemetry is off unless told otherwise; both variables are read on import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no schema-migration chatter per store
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"  # the synchronous API is what is measured

RESULTS = Path(__file__).resolve().parent / "results" / "tracking.json"
DEFAULT_PG = os.environ.get("VIGIL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUERY_CALLS = 5  # a filtered query is timed this many times per repetition; the median counts


@dataclass(frozen=True)
class Sizes:
    calls: int         # log_metric loop
    batch_values: int  # batch logging, in total
    batch_chunk: int   # values per batch call
    runs: int          # read layout: runs x keys x steps events in one experiment
    keys: int
    steps: int

    @property
    def events(self) -> int:
        return self.runs * self.keys * self.steps


FULL = {
    "vigil": Sizes(20_000, 1_000_000, 10_000, 10, 100, 1_000),
    "MLflow": Sizes(2_000, 50_000, 1_000, 10, 10, 1_000),
}
QUICK = {
    "vigil": Sizes(2_000, 100_000, 10_000, 10, 10, 1_000),
    "MLflow": Sizes(200, 5_000, 1_000, 4, 2, 1_000),
}

# (id, label, unit, higher is better)
OPERATIONS = [
    ("log_metric", "log_metric loop", "calls/s", True),
    ("log_batch", "batch logging", "values/s", True),
    ("read_all", "all events -> DataFrame", "s", False),
    ("query", "filtered query (1 run, 1 key)", "ms", False),
]
TARGETS = {"read_all": "target <= 2 s", "query": "target <= 50 ms"}

_t0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _t0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _check(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise RuntimeError(f"{what} returned {got:,} rows; expected {expected:,}")


# -- the tools ---------------------------------------------------------------------------------
class VigilTool:
    """vigil's public API on the default workspace, pointed at a fresh store per repetition."""

    name = "vigil"

    def open(self, scratch: Path, pg_url: str | None) -> None:
        import vigil

        os.environ["VIGIL_HOME"] = str(scratch / "vigil-home")
        if pg_url:
            os.environ["VIGIL_STORE_URL"] = pg_url
        else:
            os.environ.pop("VIGIL_STORE_URL", None)
        vigil.reload()

    def close(self) -> None:
        import vigil

        vigil.reload()
        os.environ.pop("VIGIL_STORE_URL", None)

    def _experiment(self, name: str) -> Any:
        import vigil as om

        exp = om.runtime.experiment(name)
        _ = exp.latest_run  # opens the store and creates the experiment before any timing
        return exp

    def log_metric(self, values: list[float]) -> float:
        exp = self._experiment("bench-log-metric")

        def loop() -> None:
            with exp:
                for i, v in enumerate(values):
                    exp.log_metric("loss", v, step=i)
                exp.flush()

        seconds, _ = _timed(loop)
        return seconds

    def log_batch(self, values: list[float], chunk: int) -> float:
        exp = self._experiment("bench-log-batch")

        def loop() -> None:
            with exp:
                for start in range(0, len(values), chunk):
                    exp.log_events("metric", "loss", values[start:start + chunk], step=start)
                exp.flush()

        seconds, _ = _timed(loop)
        return seconds

    def fill(self, sizes: Sizes, values: list[float]) -> float:
        self.exp = self._experiment("bench-read")
        series = values[: sizes.steps]

        def loop() -> None:
            for _ in range(sizes.runs):
                with self.exp:
                    for k in range(sizes.keys):
                        self.exp.log_events("metric", f"k{k:03d}", series, step=0)

        seconds, _ = _timed(loop)
        return seconds

    def read_all(self) -> tuple[float, int]:
        seconds, frame = _timed(lambda: self.exp.data(run="all"))
        return seconds, len(frame)

    def query(self, run_index: int, key: str) -> tuple[list[float], int]:
        times, rows = [], 0
        for _ in range(QUERY_CALLS):
            seconds, frame = _timed(lambda: self.exp.data(run=run_index + 1, key=key))
            times.append(seconds)
            rows = len(frame)
        return times, rows


class MlflowTool:
    """MLflow's tracking API on a SQLAlchemy store (SQLite file or PostgreSQL database)."""

    name = "MLflow"

    def open(self, scratch: Path, pg_url: str | None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.uri = pg_url.replace("postgresql://", "postgresql+psycopg://", 1) if pg_url else (
            f"sqlite:///{scratch / 'mlflow.db'}")
        self.artifacts = (scratch / "mlflow-artifacts").as_uri()
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)

    def close(self) -> None:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.end_run()

    def _experiment(self, name: str) -> str:
        return self.client.create_experiment(name, artifact_location=self.artifacts)

    def log_metric(self, values: list[float]) -> float:
        import mlflow

        exp_id = self._experiment("bench-log-metric")

        def loop() -> None:
            with mlflow.start_run(experiment_id=exp_id):
                for i, v in enumerate(values):
                    mlflow.log_metric("loss", v, step=i)

        seconds, _ = _timed(loop)
        return seconds

    def _log_series(self, run_id: str, key: str, values: list[float], start: int) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(key, v, ts, start + j) for j, v in enumerate(values)])

    def log_batch(self, values: list[float], chunk: int) -> float:
        exp_id = self._experiment("bench-log-batch")

        def loop() -> None:
            run_id = self.client.create_run(exp_id).info.run_id
            for start in range(0, len(values), chunk):
                self._log_series(run_id, "loss", values[start:start + chunk], start)
            self.client.set_terminated(run_id)

        seconds, _ = _timed(loop)
        return seconds

    def fill(self, sizes: Sizes, values: list[float]) -> float:
        self.exp_id = self._experiment("bench-read")
        self.run_ids: list[str] = []
        series = values[: sizes.steps]

        def loop() -> None:
            for _ in range(sizes.runs):
                run_id = self.client.create_run(self.exp_id).info.run_id
                for k in range(sizes.keys):
                    self._log_series(run_id, f"k{k:03d}", series, 0)
                self.client.set_terminated(run_id)
                self.run_ids.append(run_id)

        seconds, _ = _timed(loop)
        return seconds

    def read_all(self) -> tuple[float, int]:
        import pandas as pd

        def read() -> Any:
            cols: dict[str, list] = {"run_id": [], "key": [], "step": [], "value": [], "timestamp": []}
            for run in self.client.search_runs([self.exp_id], max_results=1000):
                run_id = run.info.run_id
                for key in run.data.metrics:
                    for m in self.client.get_metric_history(run_id, key):
                        cols["run_id"].append(run_id)
                        cols["key"].append(key)
                        cols["step"].append(m.step)
                        cols["value"].append(m.value)
                        cols["timestamp"].append(m.timestamp)
            return pd.DataFrame(cols)

        seconds, frame = _timed(read)
        return seconds, len(frame)

    def query(self, run_index: int, key: str) -> tuple[list[float], int]:
        times, rows = [], 0
        for _ in range(QUERY_CALLS):
            seconds, history = _timed(lambda: self.client.get_metric_history(self.run_ids[run_index], key))
            times.append(seconds)
            rows = len(history)
        return times, rows


# -- PostgreSQL scratch databases --------------------------------------------------------------
class Postgres:
    """Creates and drops scratch databases on the server of ``admin_url``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.base = admin_url.rsplit("/", 1)[0]

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self, name: str) -> str:
        self.drop(name)
        self._admin(f'CREATE DATABASE "{name}"')
        return f"{self.base}/{name}"

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- one repetition ----------------------------------------------------------------------------
def run_tool(tool: Any, sizes: Sizes, backend: str, rep: int, pg: Postgres | None,
             values: list[float]) -> dict[str, dict[str, Any]]:
    """All four operations of one tool on one backend, in a fresh store."""
    scratch = Path(tempfile.mkdtemp(prefix=f"vigil-bench-{tool.name.lower()}-"))
    db = f"vigil_bench_{tool.name.lower()}_r{rep}"
    pg_url = pg.create(db) if backend == "postgresql" and pg is not None else None
    label = f"rep {rep} {tool.name} {backend}"
    out: dict[str, dict[str, Any]] = {}
    try:
        tool.open(scratch, pg_url)

        seconds = tool.log_metric(values[: sizes.calls])
        out["log_metric"] = {"value": sizes.calls / seconds, "n": sizes.calls, "seconds": seconds}
        say(f"{label}: log_metric x{sizes.calls:,}: {seconds:.2f} s ({sizes.calls / seconds:,.0f} calls/s)")

        seconds = tool.log_batch(values[: sizes.batch_values], sizes.batch_chunk)
        rate = sizes.batch_values / seconds
        out["log_batch"] = {"value": rate, "n": sizes.batch_values, "chunk": sizes.batch_chunk,
                            "seconds": seconds}
        say(f"{label}: batch of {sizes.batch_values:,}: {seconds:.2f} s ({rate:,.0f} values/s)")

        setup = tool.fill(sizes, values)
        say(f"{label}: wrote {sizes.runs} runs x {sizes.keys} keys x {sizes.steps:,} steps in {setup:.1f} s")
        seconds, rows = tool.read_all()
        _check(f"{tool.name} read_all", rows, sizes.events)
        out["read_all"] = {"value": seconds, "n": sizes.events, "setup_seconds": setup,
                           "layout": [sizes.runs, sizes.keys, sizes.steps]}
        say(f"{label}: read {rows:,} events into a DataFrame: {seconds:.2f} s")

        key = f"k{sizes.keys // 2:03d}"
        times, rows = tool.query(sizes.runs // 2, key)
        _check(f"{tool.name} query", rows, sizes.steps)
        ms = statistics.median(times) * 1000
        out["query"] = {"value": ms, "n": sizes.steps, "of": sizes.events,
                        "calls_ms": [t * 1000 for t in times]}
        say(f"{label}: query run {sizes.runs // 2 + 1}, key {key}: {rows:,} rows, median {ms:.1f} ms "
            f"(first {times[0] * 1000:.1f} ms)")
    finally:
        tool.close()
        if pg_url and pg is not None:
            pg.drop(db)
        shutil.rmtree(scratch, ignore_errors=True)
    return out


# -- environment and table ---------------------------------------------------------------------
def environment(pg_version: str | None) -> dict[str, str]:
    import sqlite3

    import adbc_driver_sqlite.dbapi as adbc
    import mlflow
    import pandas
    import pyarrow
    import sqlalchemy

    import vigil

    with adbc.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT sqlite_version()")
        adbc_sqlite = cur.fetchone()[0]
    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "vigil": vigil.__version__,
        "mlflow": mlflow.__version__,
        "sqlite_vigil_adbc": adbc_sqlite,
        "sqlite_mlflow_sqlite3": sqlite3.sqlite_version,
        "postgresql": pg_version or "not run",
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "platform": platform.platform(),
        "load_average_1min": f"{os.getloadavg()[0]:.1f}",
    }


def environment_line(env: dict[str, str]) -> str:
    sqlite = env["sqlite_vigil_adbc"]
    if env["sqlite_mlflow_sqlite3"] != sqlite:
        sqlite = f"{sqlite} (vigil, ADBC) / {env['sqlite_mlflow_sqlite3']} (MLflow, sqlite3)"
    return (f"CPUs {env['cpus']} | Python {env['python']} | vigil {env['vigil']} | MLflow {env['mlflow']} | "
            f"SQLite {sqlite} | PostgreSQL {env['postgresql']} | pandas {env['pandas']} | "
            f"pyarrow {env['pyarrow']} | SQLAlchemy {env['sqlalchemy']} | "
            f"load average {env['load_average_1min']} at start")


def _figure(op: str, value: float) -> str:
    if op in ("log_metric", "log_batch"):
        return f"{value:,.0f}"
    if op == "read_all":
        return f"{value:.2f} s"
    return f"{value:.1f} ms"


def _count(op: str, entry: dict[str, Any]) -> str:
    n = entry["n"]
    if op == "log_metric":
        return f"{n:,} calls"
    if op == "log_batch":
        return f"{n:,} values, {entry['chunk']:,}/call"
    if op == "read_all":
        return f"{n:,} events"
    return f"{n:,} of {entry['of']:,}"


def _ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.1f}x"


def summarize(raw: dict[str, dict[str, dict[str, list]]]) -> list[dict[str, Any]]:
    """Medians per backend, operation and tool, with the ratio (>1: vigil is better)."""
    rows = []
    for backend, by_op in raw.items():
        for op, label, unit, higher in OPERATIONS:
            row: dict[str, Any] = {"backend": backend, "operation": op, "label": label, "unit": unit}
            for tool, reps in by_op[op].items():
                if reps:
                    sizes = {k: v for k, v in reps[0].items() if k in ("n", "chunk", "of", "layout")}
                    row[tool] = {"median": statistics.median(r["value"] for r in reps),
                                 "reps": [r["value"] for r in reps], **sizes, "details": reps}
            if "vigil" in row and "MLflow" in row:
                v, m = row["vigil"]["median"], row["MLflow"]["median"]
                if op == "read_all":  # the sizes differ: compare events read per second
                    v, m = row["vigil"]["n"] / v, row["MLflow"]["n"] / m
                    higher = True
                row["ratio"] = v / m if higher else m / v
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    header = ["operation", "store", "vigil", "(n)", "MLflow", "(n)", "vigil vs MLflow"]
    lines = [header]
    for row in rows:
        op = row["operation"]
        label = f"{row['label']}, {row['unit']}"
        if op in TARGETS:
            label += f" ({TARGETS[op]})"
        cells = [label, row["backend"]]
        for tool in ("vigil", "MLflow"):
            if tool in row:
                cells += [_figure(op, row[tool]["median"]), _count(op, row[tool])]
            else:
                cells += ["-", "not run"]
        cells.append(_ratio(row["ratio"]) if "ratio" in row else "-")
        lines.append(cells)
    return align(lines, right={2, 4, 6})


NOTES = """\
Medians of {reps} repetition(s), each in a fresh store (new SQLite file / new PostgreSQL database).
Ratio: vigil/MLflow for throughputs, MLflow/vigil for times; above 1 means vigil is better.
vigil: log_metric and batch timings include the final exp.flush() (all events committed);
  batch = exp.log_events('metric', key, chunk, step=start); read = exp.data(run='all');
  query = exp.data(run=R, key=K), median of {calls} calls.
MLflow {mlflow}: synchronous fluent mlflow.log_metric; MlflowClient.log_batch of Metric objects;
  read = search_runs + get_metric_history per run and key, into a DataFrame;
  query = get_metric_history(run_id, key) (a list of Metric objects, no DataFrame), median of {calls} calls.
  MLflow runs smaller sizes (shown in (n)): at the full sizes this run would take ~20 min longer.
  The read sizes differ, so its ratio compares events read per second; the query returns the same
  1,000 rows from MLflow's smaller store (an indexed lookup: if anything that favours MLflow).
Machines are noisy: compare figures within one run only."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and one repetition (smoke test)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, --quick 1)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both)")
    parser.add_argument("--pg-url", default=DEFAULT_PG,
                        help="an existing database on the PostgreSQL server, for creating scratch "
                             f"databases (default $VIGIL_BENCH_PG_URL or {DEFAULT_PG})")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        parser.error(f"--reps must be >= 1; got {reps}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"sqlite", "postgresql"})
    if unknown or not backends:
        parser.error(f"--backends takes sqlite and/or postgresql; got {args.backends!r}")
    sizes = QUICK if args.quick else FULL

    notes: list[str] = []
    pg: Postgres | None = None
    pg_version = None
    if "postgresql" in backends:
        pg = Postgres(args.pg_url)
        try:
            pg_version = pg.version()
        except Exception as exc:  # noqa: BLE001 - no server: run what can run and say so
            reason = (str(exc).strip().splitlines() or [""])[0]
            notes.append(f"PostgreSQL skipped: cannot connect to {args.pg_url} ({type(exc).__name__}: {reason})")
            say(notes[-1])
            backends.remove("postgresql")
            pg = None
    if not backends:
        print("nothing to run: no backend available", file=sys.stderr)
        return 1

    say("importing vigil and MLflow")
    env = environment(pg_version)
    say(environment_line(env))
    values = [float(x) for x in __import__("numpy").random.default_rng(7).random(
        max(s.batch_values for s in sizes.values()))]

    tools = [VigilTool(), MlflowTool()]
    raw: dict[str, dict[str, dict[str, list]]] = {
        b: {op: {t.name: [] for t in tools} for op, *_ in OPERATIONS} for b in backends}
    for rep in range(1, reps + 1):
        for backend in backends:
            for tool in tools:
                result = run_tool(tool, sizes[tool.name], backend, rep, pg, values)
                for op, entry in result.items():
                    raw[backend][op][tool.name].append(entry)

    rows = summarize(raw)
    print(environment_line(env))
    print()
    print(table(rows))
    print()
    print(NOTES.format(reps=reps, calls=QUERY_CALLS, mlflow=env["mlflow"]))
    if "postgresql" in backends:
        notes.insert(0, "On PostgreSQL both tools use psycopg 3 (MLflow through postgresql+psycopg://), "
                        "a new database per repetition.")
    for note in notes:
        print(note)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "tracking", "quick": args.quick, "repetitions": reps,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": env,
        "sizes": {name: asdict(s) for name, s in sizes.items()}, "query_calls": QUERY_CALLS,
        "results": rows, "notes": notes,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"wrote {args.out} in {time.perf_counter() - _t0:.0f} s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
