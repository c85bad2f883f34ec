"""Drift benchmark: vigil beside Evidently, NannyML and whylogs, measured in the same run.

The same seeded data for every tool: 20 numeric + 2 categorical columns, a
reference and a current side of N rows each, a shift injected in three
columns (``x00`` mean + 0.2 sd, ``x01`` sd x 1.5, ``c0`` 10 points of
frequency moved between categories; see ``bench/peers/drift_data.py``).

Every measurement runs in a fresh worker process (``python bench/drift.py
--worker ...``) that imports its tool, calls it once on 2,000 rows, builds the
frames itself, then times profile reference + profile current + compare, and
reports its peak resident memory (``ru_maxrss``, nothing subtracted). A "data
only" worker builds the same frames and nothing else, so the overhead of each
tool shows. The orchestrator imports nothing heavy: a child's ``ru_maxrss``
cannot start below its parent's footprint.

One more vigil row, "from Parquet, chunked": a first worker writes the same
frames to two Parquet files (row groups of vigil's chunk size) and exits; a
fresh worker then profiles each file with ``profile(path)``, which streams it
in chunks, and compares. Its peak RSS is that worker's: it never holds the
frames, so it shows vigil's bounded-memory path beside the peers' in-memory
peaks (not like for like: the peers were handed both frames in memory).

Also: vigil ``compare`` of two 100-column snapshots (ms), and the numpy floor
(one ``np.histogram`` per numeric column on fixed edges, one thread) against
vigil's profile of one side, whose numeric columns run on
``vigil.profile.frame.PROFILE_THREADS`` threads (``VIGIL_PROFILE_THREADS=1``
for one; the peers use one). Prints
one table to stdout, progress to stderr, and writes
``bench/results/drift.json``. Figures only: nothing is asserted.

    python bench/drift.py                   # 100,000 and 1,000,000 rows (``make bench``)
    python bench/drift.py --quick           # 100,000 rows, one repetition
    python bench/drift.py --sizes 250k --tools vigil,nannyml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from text_table import align

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "drift.json"
EXPECTED = ["x00", "x01", "c0"]  # peers.drift_data.SHIFTED (not imported here: it imports numpy)
COMPARE_COLUMNS, COMPARE_ROWS, COMPARE_REPS = 100, 20_000, 5

# Every peer's telemetry off, read in each tool's source: Evidently (DO_NOT_TRACK, and its
# iterative_telemetry's ITERATIVE_DO_NOT_TRACK; EVIDENTLY_DISABLE_TELEMETRY for its legacy UI),
# NannyML (NML_DISABLE_USAGE_LOGGING), whylogs (WHYLOGS_NO_ANALYTICS). The workers inherit them.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "NML_DISABLE_USAGE_LOGGING": "1",
    "WHYLOGS_NO_ANALYTICS": "True",
    "MPLBACKEND": "Agg",
}

# key: (label, distribution for the version, is a peer)
TOOLS = {
    "data": ("data only", "pandas", False),
    "vigil": ("vigil", "vigil-ml", False),
    "parquet": ("vigil", "vigil-ml", False),  # the same, from Parquet files in chunks (see parquet_run)
    "evidently": ("Evidently", "evidently", True),
    "nannyml": ("NannyML", "nannyml", True),
    "whylogs": ("whylogs", "whylogs", True),
}
PEERS = [k for k, (_, _, peer) in TOOLS.items() if peer]
RESULT_MARK = "@@drift-result "

_t0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _t0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _rows(text: str) -> int:
    t = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    value = int(float(t[:-1] if scale > 1 else t) * scale)
    if value < 1_000:
        raise argparse.ArgumentTypeError(f"a size must be at least 1,000 rows; got {text!r}")
    return value


# -- workers ---------------------------------------------------------------------------------------
def parquet_write(rows: int, folder: str) -> dict[str, Any]:
    """Write the seeded reference and current frames to ``folder`` as two Parquet files,
    in row groups of vigil's chunk size (a streaming reader decodes one row group at a time)."""
    from peers import drift_data

    from vigil.profile.frame import CHUNK_ROWS

    start = time.perf_counter()
    for side in ("reference", "current"):
        drift_data.frame(rows, side).to_parquet(Path(folder) / f"{side}.parquet", index=False,
                                                row_group_size=CHUNK_ROWS)
    return {"seconds": time.perf_counter() - start,
            "mb": sum(f.stat().st_size for f in Path(folder).glob("*.parquet")) / 2 ** 20}


def parquet_run(rows: int, folder: str) -> dict[str, Any]:
    """vigil's measurement, with each side read from its Parquet file chunk by chunk by
    ``profile(path)``: this process never holds a whole frame."""
    import gc

    from peers import drift_data, drift_tools

    from vigil.drift import compare
    from vigil.profile import profile
    from vigil.profile.frame import CHUNK_ROWS

    start = time.perf_counter()
    drift_tools._vigil_import()
    import pyarrow.parquet  # noqa: F401  (profile(path) would import it in the timed part)

    out: dict[str, Any] = {"import_s": time.perf_counter() - start, "peak_after_import_mb": drift_tools._peak_mb()}
    warm_ref, warm_cur = drift_data.frames(drift_tools.WARM_ROWS, seed_offset=1)
    start = time.perf_counter()
    drift_tools._vigil(warm_ref, warm_cur)
    out["first_call_s"] = time.perf_counter() - start
    del warm_ref, warm_cur
    gc.collect()
    out["peak_before_mb"] = drift_tools._peak_mb()
    ref, cur = (str(Path(folder) / f"{side}.parquet") for side in ("reference", "current"))
    state: dict[str, Any] = {}
    phases, flagged = drift_tools._phased([
        ("profile reference", lambda: state.setdefault("base", profile(ref))),
        ("profile current", lambda: state.setdefault("cur", profile(cur, state["base"].schema))),
        ("compare", lambda: compare(state["base"], state["cur"]).drifted_columns),
    ])
    out.update(phases=phases, flagged=flagged, seconds=sum(phases.values()), peak_mb=drift_tools._peak_mb(),
               chunk_rows=CHUNK_ROWS, rows_profiled=state["base"].rows + state["cur"].rows)
    return out


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from peers import drift_tools

    kind = spec["kind"]
    if kind == "tool":
        return drift_tools.measure(spec["tool"], spec["rows"])
    if kind == "parquet-write":
        return parquet_write(spec["rows"], spec["dir"])
    if kind == "parquet":
        return parquet_run(spec["rows"], spec["dir"])
    if kind == "floor":
        return drift_tools.histogram_floor(spec["rows"], spec["reps"])
    if kind == "compare":
        return drift_tools.compare_many(COMPARE_COLUMNS, COMPARE_ROWS, COMPARE_REPS)
    raise ValueError(f"unknown worker kind {kind!r}")


def spawn(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON result, or {'error': ...}."""
    env = {**os.environ, **TELEMETRY_OFF}
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                              capture_output=True, text=True, env=env, timeout=timeout_s, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s", "process_s": time.perf_counter() - start}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            result["process_s"] = time.perf_counter() - start
            return result
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"exit {proc.returncode}: {tail[:300]}", "process_s": time.perf_counter() - start}


# -- summary and table -----------------------------------------------------------------------------
def summarize(tool: str, rows: int, reps: list[dict[str, Any]]) -> dict[str, Any]:
    label, dist, _ = TOOLS[tool]
    row: dict[str, Any] = {"tool": tool, "label": label, "version": _version(dist), "rows": rows, "reps": reps}
    good = [r for r in reps if "error" not in r]
    if not good:
        row["error"] = reps[0]["error"] if reps else "not run"
        return row
    med = statistics.median
    row.update(n=len(good), seconds=med(r["seconds"] for r in good), peak_mb=med(r["peak_mb"] for r in good),
               phases={k: med(r["phases"][k] for r in good) for k in good[0]["phases"]},
               first_call_s=med(r["first_call_s"] for r in good) if "first_call_s" in good[0] else None,
               flagged=good[0]["flagged"], stable=all(r["flagged"] == good[0]["flagged"] for r in good),
               flagged_every=[c for c in good[0]["flagged"] if all(c in r["flagged"] for r in good)],
               flagged_any=sorted({c for r in good for c in r["flagged"]}, key=lambda c: (c[0] != "x", c)),
               false_by_rep=[len([c for c in r["flagged"] if c not in EXPECTED]) for r in good])
    for key in ("possible", "methods", "chunks", "chunk_alerts", "chunk_rows"):
        if key in good[0]:
            row[key] = good[0][key]
    for key in ("peak_after_import_mb", "peak_before_mb"):
        if key in good[0]:
            row[key] = med(r[key] for r in good)
    return row


SHORT = {"profile reference": "ref", "profile current": "cur", "compare": "cmp", "report.run": "run",
         "read verdicts": "read", "fit reference": "fit", "calculate current": "calc",
         "log reference": "log ref", "log current": "log cur", "drift scores": "scores"}


def _phases(row: dict[str, Any]) -> str:
    return " + ".join(f"{SHORT.get(k, k)} {v:.2f}" for k, v in row.get("phases", {}).items())


def _flags(row: dict[str, Any]) -> tuple[str, str]:
    if row["tool"] == "data" or "flagged" not in row:
        return "", ""
    every, anywhere = row["flagged_every"], row["flagged_any"]  # in every repetition / in any
    found = [c for c in EXPECTED if c in every]
    missed = [c for c in EXPECTED if c not in every]
    hit = f"{len(found)}/{len(EXPECTED)}" + (f" (missed {' '.join(missed)})" if missed else "")
    false = [c for c in anywhere if c not in EXPECTED]
    counts = sorted(row["false_by_rep"])
    n = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]} by rep"
    fp = n + (f": {' '.join(false)}" if false else "")
    if row.get("chunk_alerts"):
        unshifted = [c for c in row["chunk_alerts"] if c not in EXPECTED]
        alerts = sum(row["chunk_alerts"][c] for c in unshifted)
        fp += f" ({alerts}/{len(unshifted) * row['chunks']} unshifted column-chunks)"
    if row.get("possible"):
        fp += f" (+{len(row['possible'])} 'possible')"
    return hit, fp


def _rows_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else f"{n:,}"


def table(rows: list[dict[str, Any]]) -> str:
    header = ["rows", "tool", "reps", "end to end s", "x vigil", "phases, s", "1st call s",
              "peak RSS MB", "x vigil", "above data-only", "shifted found", "false positives"]
    lines = [header]
    vigil = {r["rows"]: r for r in rows if r["tool"] == "vigil" and "error" not in r}
    data = {r["rows"]: r for r in rows if r["tool"] == "data" and "error" not in r}
    for r in rows:
        name = (f"data only (pandas {r['version']})" if r["tool"] == "data"
                else f"{r['label']} {r['version'] or '(not installed)'}")
        if r["tool"] == "parquet":
            name += ", from Parquet, chunked"
        if "error" in r:
            lines.append([_rows_label(r["rows"]), name, "0", "-", "", f"not run: {r['error']}"] + [""] * 6)
            continue
        v, d = vigil.get(r["rows"]), data.get(r["rows"])
        timed = r["tool"] != "data"
        hit, fp = _flags(r)
        lines.append([
            _rows_label(r["rows"]), name, str(r["n"]),
            f"{r['seconds']:.2f}" if timed else "-",
            f"{r['seconds'] / v['seconds']:.1f}" if timed and v else "",
            _phases(r) if timed else "builds both frames, nothing else",
            f"{r['first_call_s']:.2f}" if r.get("first_call_s") is not None else "",
            f"{r['peak_mb']:,.0f}",
            f"{r['peak_mb'] / v['peak_mb']:.2f}" if v and timed else "",
            f"{r['peak_mb'] - d['peak_mb']:+,.0f}" if d and timed and r["tool"] != "parquet" else "",
            hit, fp,
        ])
    return align(lines, right={2, 3, 4, 6, 7, 8, 9})


def targets(rows: list[dict[str, Any]], floors: dict[int, dict[str, Any]], many: dict[str, Any]) -> list[str]:
    out = []
    sizes = sorted({r["rows"] for r in rows})
    if not sizes:
        return out
    n = sizes[-1]
    at = {r["tool"]: r for r in rows if r["rows"] == n and "error" not in r}
    v, data, pq = at.get("vigil"), at.get("data"), at.get("parquet")
    peers = [at[p] for p in PEERS if p in at]
    label = f"{_rows_label(n)} x 22"

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    if v:
        out.append(f"vigil end to end <= 2 s at {label}: {v['seconds']:.2f} s, {mark(v['seconds'] <= 2.0)}")
    if v and peers:
        fast = min(peers, key=lambda r: r["seconds"])
        out.append(f"vigil ahead of every peer at {label}: fastest peer {fast['label']} {fast['seconds']:.2f} s "
                   f"= {fast['seconds'] / v['seconds']:.1f}x vigil, {mark(v['seconds'] < fast['seconds'])}")
        lean = min(peers, key=lambda r: r["peak_mb"])
        line = (f"vigil peak memory < 1/3 of the best peer's at {label}: {v['peak_mb']:,.0f} MB vs "
                f"{lean['label']} {lean['peak_mb']:,.0f} MB = {v['peak_mb'] / lean['peak_mb']:.2f}, "
                f"{mark(v['peak_mb'] < lean['peak_mb'] / 3)}")
        out.append(line)
        if data:
            d = data["peak_mb"]
            over = {r["label"]: r["peak_mb"] - d for r in peers}
            best = min(over, key=lambda k: over[k])
            vo = v["peak_mb"] - d
            out.append(f"  the same above the data-only process ({d:,.0f} MB): vigil {vo:+,.0f} MB vs {best} "
                       f"{over[best]:+,.0f} MB = {vo / over[best]:.2f}, {mark(vo < over[best] / 3)}")
    if pq and peers:
        lean = min(peers, key=lambda r: r["peak_mb"])
        out.append(f"  vigil from Parquet, chunked ({pq['chunk_rows']:,}-row chunks, both sides streamed from files): "
                   f"process peak {pq['peak_mb']:,.0f} MB (of which imports and the warm-up call "
                   f"{pq['peak_before_mb']:,.0f} MB) vs {lean['label']} {lean['peak_mb']:,.0f} MB = "
                   f"{pq['peak_mb'] / lean['peak_mb']:.2f}, {mark(pq['peak_mb'] < lean['peak_mb'] / 3)}; "
                   f"not like for like: the peers were handed both frames in memory")
    if "ms" in many:
        out.append(f"vigil compare of two {many['columns']}-column snapshots ({many['numeric']} numeric, "
                   f"{many['categorical']} categorical) <= 100 ms: {many['ms']:.1f} ms (median of "
                   f"{len(many['reps_ms'])}; first call in the process {many['first_call_ms']:.0f} ms), "
                   f"{mark(many['ms'] <= 100)}")
    elif many:
        out.append(f"vigil compare of two {COMPARE_COLUMNS}-column snapshots: not run ({many.get('error')})")
    for size in sizes:
        floor = floors.get(size, {})
        vs = next((r for r in rows if r["rows"] == size and r["tool"] == "vigil" and "error" not in r), None)
        if "seconds" not in floor or vs is None:
            continue
        f = floor["seconds"]
        cur, ref = vs["phases"]["profile current"], vs["phases"]["profile reference"]
        out.append(f"vigil profile of one side <= 3x the numpy floor at {_rows_label(size)}: floor "
                   f"{f:.3f} s ({floor['columns']} x np.histogram, fixed edges, median of {len(floor['reps'])}); "
                   f"the floor on 1 thread, vigil's numeric columns on {_profile_threads()}; "
                   f"current side (schema given, 22 columns) {cur:.2f} s = {cur / f:.1f}x, {mark(cur <= 3 * f)}; "
                   f"reference side (edges chosen) {ref:.2f} s = {ref / f:.1f}x")
    return out


def _profile_threads() -> str:
    try:
        from vigil.profile.frame import PROFILE_THREADS
    except ImportError:
        return "? threads"
    return f"{PROFILE_THREADS} thread{'s' if PROFILE_THREADS > 1 else ''}"


NOTES = """\
Each repetition is a fresh process that builds the same seeded frames (reference + current, {rows} rows each).
End to end = profile reference + profile current + compare, including reading each tool's verdict, after one
  untimed-in-the-total call on 2,000 rows ('1st call s': lazy imports and caches; the timed call is warm).
Peak RSS = ru_maxrss of that process (imports + both frames + the tool), nothing subtracted; 'data only' builds the
  frames and nothing else (numpy + pandas imported); 'above data-only' = peak - the data-only peak, MB (imports and
  the tool's working memory). x vigil = figure / vigil's at the same size (>1: vigil is faster / leaner).
'from Parquet, chunked': vigil reads each side from a Parquet file written beforehand by another process (row groups
  of its chunk size) with profile(path), which streams it in chunks; the process never holds a frame, so its peak
  is imports + one chunk + the profiles, and 'above data-only' does not apply. Its time includes Parquet decoding.
Repetitions (reps): vigil and data only {reps} each; a peer repeats (up to {reps}) only while one more process would
  keep its total at that size under {budget:.0f} s, so the slow peers ran once at the larger sizes. Figures are medians.
Flags, by each tool's default rule. Expected: {expected}; every other column is unshifted.
  vigil: DriftResult.drifted_columns (Benjamini-Hochberg-adjusted tests and a minimum effect size).
  Evidently: per-column 'Value Drift' tests that fail ({ev_methods}).
  NannyML: any of the 10 analysis chunks alerting ({nml_methods}; thresholds from the 10 reference chunks).
  whylogs: drift_category == 'DRIFT' ({why_methods}); 'possible' = POSSIBLE_DRIFT, not counted as flagged.
All tools run in one virtual environment ({python}), same interpreter, same pandas.
Machines are noisy: compare figures within one run only."""


def _methods(rows: list[dict[str, Any]], tool: str) -> str:
    found = sorted({m for r in rows if r["tool"] == tool for m in r.get("methods", [])})
    return ", ".join(found) if found else "not run"


def environment() -> dict[str, str]:
    env = {"cpus": str(os.cpu_count()), "python": platform.python_version(), "executable": sys.executable,
           "platform": platform.platform(), "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    for dist in ("vigil-ml", "pandas", "numpy", "scipy", "datasketches", "evidently", "nannyml", "whylogs"):
        env[dist] = _version(dist) or "not installed"
    return env


def environment_line(env: dict[str, str]) -> str:
    return (f"CPUs {env['cpus']} | Python {env['python']} | vigil {env['vigil-ml']} | pandas {env['pandas']} | "
            f"numpy {env['numpy']} | scipy {env['scipy']} | datasketches {env['datasketches']} | "
            f"Evidently {env['evidently']} | NannyML {env['nannyml']} | whylogs {env['whylogs']} | "
            f"load average at start {env['load_start']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows and one repetition (smoke test)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated rows per side, e.g. 100k,1M (default 100k,1M; --quick 100k)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, --quick 1)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated subset of {', '.join(TOOLS)} (default all)")
    parser.add_argument("--peer-budget-s", type=float, default=60.0,
                        help="a peer repeats while its time at one size stays under this (default 60 s)")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per worker process (default 900 s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(RESULT_MARK + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0

    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        parser.error(f"--reps must be >= 1; got {reps}")
    try:
        sizes = sorted({_rows(s) for s in (args.sizes or ("100k" if args.quick else "100k,1M")).split(",") if s.strip()})
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(f"--sizes takes rows such as 100000,1M; {exc}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or not tools:
        parser.error(f"--tools takes a subset of {', '.join(TOOLS)}; got {args.tools!r}")
    tools = [t for t in TOOLS if t in tools]  # fixed order

    env = environment()
    say(environment_line(env))
    rows: list[dict[str, Any]] = []
    floors: dict[int, dict[str, Any]] = {}
    for n in sizes:
        folder = tempfile.mkdtemp(prefix="vigil-drift-bench-") if "parquet" in tools else ""
        if folder:
            written = spawn({"kind": "parquet-write", "rows": n, "dir": folder}, args.timeout_s)
            say(f"{_rows_label(n)} Parquet files: {written.get('mb', float('nan')):,.0f} MB written in "
                f"{written.get('seconds', float('nan')):.1f} s {written.get('error', '')}")
        for tool in tools:
            results: list[dict[str, Any]] = []
            spent = 0.0
            for rep in range(1, reps + 1):
                spec = ({"kind": "parquet", "rows": n, "dir": folder} if tool == "parquet"
                        else {"kind": "tool", "tool": tool, "rows": n})
                result = spawn(spec, args.timeout_s)
                results.append(result)
                spent += result["process_s"]
                if "error" in result:
                    say(f"{_rows_label(n)} {tool} rep {rep}: {result['error']}")
                    break
                say(f"{_rows_label(n)} {tool} rep {rep}: {result['seconds']:.2f} s, peak {result['peak_mb']:,.0f} MB, "
                    f"flagged {result['flagged']} (process {result['process_s']:.0f} s)")
                if TOOLS[tool][2] and spent + result["process_s"] > args.peer_budget_s:
                    break  # another repetition would take this peer past its budget at this size
            rows.append(summarize(tool, n, results))
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        if "vigil" in tools:
            floors[n] = spawn({"kind": "floor", "rows": n, "reps": max(reps, 3)}, args.timeout_s)
            say(f"{_rows_label(n)} numpy floor: {floors[n].get('seconds', float('nan')):.3f} s "
                f"{floors[n].get('error', '')}")
    many: dict[str, Any] = {}
    if "vigil" in tools:
        many = spawn({"kind": "compare"}, args.timeout_s)
        say(f"compare of two {COMPARE_COLUMNS}-column snapshots: {many.get('ms', float('nan')):.1f} ms "
            f"{many.get('error', '')}")

    print(environment_line(env))
    print()
    print(table(rows))
    print()
    lines = targets(rows, floors, many)
    if lines:
        print("Targets (shown, not asserted):")
        for line in lines:
            print(f"  {line}")
        print()
    print(NOTES.format(rows=" and ".join(f"{s:,}" for s in sizes), reps=reps, budget=args.peer_budget_s,
                       ev_methods=_methods(rows, "evidently"), nml_methods=_methods(rows, "nannyml"),
                       why_methods=_methods(rows, "whylogs"), expected=" ".join(EXPECTED),
                       python=f"{sys.prefix}, pandas {env['pandas']}"))

    env["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    env["orchestrator_peak_mb"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "drift", "quick": args.quick, "repetitions": reps, "sizes": sizes,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": env,
              "telemetry_env": TELEMETRY_OFF, "peer_budget_s": args.peer_budget_s, "expected": EXPECTED,
              "results": rows, "numpy_floor": {str(k): v for k, v in floors.items()}, "compare_many": many,
              "targets": lines}
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"wrote {args.out} in {time.perf_counter() - _t0:.0f} s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
