"""Agent benchmark: what ``collect_data`` costs the serving thread, and how much one agent absorbs.

The batch is the one of the issue: a 1,000 x 10 probability matrix plus a
1,000 x 20 float feature matrix (labels none; windows of 5 minutes, sample
500 rows). Windows go to a callable sink that discards them, so no network
or disk is on the measured path (the spool still gets its one file per
window).

Three ways to run the same window code:

- ``agent (back-to-back)``: ``collect_data`` called in a tight loop, >= 20,000
  calls; the agent thread cannot keep up with tens of millions of rows/s, so
  most batches overflow (refused before they are copied). This is the
  caller's cost when the agent is saturated and competing for the GIL.
- ``agent (paced 1M rows/s)``: one batch every millisecond (the caller sleeps
  in between, releasing the GIL as a server waiting for requests does); the
  realistic case, the agent thread busy alongside the caller.
- ``synchronous baseline``: the same checks and the same window update
  (:class:`vigil.agent.window.Window`) done on the caller's thread, which is
  how an agent without a worker thread behaves.
- ``MLWatcher-style buffer``: MLWatcher's caller path as its ``agent.py``
  does it, re-implemented here: a format check, then the buffer filled with
  ``np.append`` and, once full, a per-row Python reservoir loop
  (``random.randint`` for every row) on the caller's thread. MLWatcher
  computes its metrics later, on its server, from that sample only (so its
  counts and means are not exact). Its ``sanity_check`` module was not
  available; an equivalent shape and NaN check stands in for it.

Latency: ``time.perf_counter_ns`` around each call. Sustained throughput:
``collect_data`` as fast as possible for ``--seconds``, then ``close()``;
rows processed by the agent thread (``totals()['rows_seen']``) per second of
wall time, and the rows dropped as ``overflow``. Figures only; nothing is
asserted.

    .venv/bin/python bench/agent_overhead.py                 # ~20 s
    .venv/bin/python bench/agent_overhead.py --calls 50000 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("VIGIL_HOME", tempfile.mkdtemp(prefix="vigil-bench-agent-"))

from vigil.agent import MonitoringAgent  # noqa: E402 - VIGIL_HOME first
from vigil.agent.features import FeatureSchema  # noqa: E402
from vigil.agent.validation import row_problems  # noqa: E402
from vigil.agent.window import Window  # noqa: E402

N_ROWS, N_CLASSES, N_FEATURES = 1_000, 10, 20


def make_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(N_CLASSES), size=N_ROWS), rng.normal(size=(N_ROWS, N_FEATURES))


def new_agent(name: str) -> MonitoringAgent:
    return MonitoringAgent(frequency=5, max_buffer_size=500, n_classes=N_CLASSES, agent_id=name,
                           sink=lambda window: None, spool_dir=tempfile.mkdtemp(prefix="spool-"), seed=0)


def percentiles(ns: list[int]) -> tuple[float, float]:
    q = statistics.quantiles(ns, n=100, method="inclusive")
    return q[49] / 1000.0, q[98] / 1000.0


def wait_until(t: float) -> None:
    """Sleep (releasing the GIL, as a server waiting for requests does) until perf_counter() >= t."""
    delay = t - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def latency_agent(calls: int, proba: np.ndarray, inputs: np.ndarray, pace_s: float | None) -> dict:
    agent = new_agent(f"bench-lat-{'paced' if pace_s else 'loop'}")
    agent.start()
    clock = time.perf_counter_ns
    times = []
    for _ in range(200):                       # warm up (thread start, first window)
        agent.collect_data(proba, inputs)
    agent.flush(30)
    next_t = time.perf_counter()
    for _ in range(calls):
        if pace_s:
            next_t += pace_s
            wait_until(next_t)
        t0 = clock()
        agent.collect_data(predict_proba_matrix=proba, input_matrix=inputs)
        times.append(clock() - t0)
    agent.close(60)
    p50, p99 = percentiles(times)
    return {"p50_us": p50, "p99_us": p99, "overflow": agent.totals()["dropped"].get("overflow", 0)}


class MLWatcherStyleBuffer:
    """The caller-thread work of MLWatcher's collect_data (buffer + per-row reservoir loop)."""

    def __init__(self, max_buffer_size: int, n_classes: int) -> None:
        self.capacity = max_buffer_size
        self.n_classes = n_classes
        self.proba: np.ndarray | None = None
        self.inputs: np.ndarray | None = None
        self.held = 0
        self.sampled = 0

    def check(self, proba, inputs):
        proba = np.asarray(proba, dtype=np.float64)
        inputs = None if inputs is None else np.asarray(inputs, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != self.n_classes or np.isnan(proba).any():
            return None, None
        if inputs is not None and (inputs.ndim != 2 or inputs.shape[0] != proba.shape[0]):
            return None, None
        return proba, inputs

    def collect_data(self, proba, inputs=None) -> None:
        proba, inputs = self.check(proba, inputs)
        if proba is None:
            return
        room = self.capacity - self.held
        if room > 0:
            head_p, proba = proba[:room], proba[room:]
            head_x, inputs = (None, None) if inputs is None else (inputs[:room], inputs[room:])
            if self.proba is None:
                self.proba, self.inputs = head_p, head_x
            else:
                self.proba = np.append(self.proba, head_p, axis=0)
                if head_x is not None:
                    self.inputs = np.append(self.inputs, head_x, axis=0)
            self.held += len(head_p)
        if len(proba):
            r = len(self.proba)
            for j in range(len(proba)):
                i = random.randint(0, r + self.sampled + j)
                if i < r:
                    self.proba[i, :] = proba[j, :]
                    if inputs is not None:
                        self.inputs[i, :] = inputs[j, :]
            self.sampled += len(proba)


def latency_mlwatcher(calls: int, proba: np.ndarray, inputs: np.ndarray) -> dict:
    buffer = MLWatcherStyleBuffer(500, N_CLASSES)
    for _ in range(200):
        buffer.collect_data(proba, inputs)
    clock = time.perf_counter_ns
    times = []
    for _ in range(calls):
        t0 = clock()
        buffer.collect_data(proba, inputs)
        times.append(clock() - t0)
    p50, p99 = percentiles(times)
    return {"p50_us": p50, "p99_us": p99, "overflow": 0}


def sustained_mlwatcher(seconds: float, proba: np.ndarray, inputs: np.ndarray) -> dict:
    buffer = MLWatcherStyleBuffer(500, N_CLASSES)
    rows = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        buffer.collect_data(proba, inputs)
        rows += N_ROWS
    elapsed = time.perf_counter() - t0
    return {"offered_rows_s": rows / elapsed, "processed_rows_s": rows / elapsed, "overflow": 0}


def sync_update(window: Window, schema: FeatureSchema, proba: np.ndarray, inputs: np.ndarray) -> None:
    """What the agent thread does with one batch, done on the caller's thread."""
    p = proba.astype(np.float64, copy=False)
    schema.bind(inputs, None)
    num, cat = schema.split(inputs)
    problems = row_problems(p, 1e-3)
    if problems is not None:
        keep, _ = problems
        p, num, cat = p[keep], num[keep], cat[keep]
    window.update(p, None, num, cat)


def latency_sync(calls: int, proba: np.ndarray, inputs: np.ndarray) -> dict:
    schema = FeatureSchema()
    window = Window(0, 300_000, N_CLASSES, 500, np.random.default_rng(0), None, schema)
    for _ in range(200):
        sync_update(window, schema, proba, inputs)
    clock = time.perf_counter_ns
    times = []
    for _ in range(calls):
        t0 = clock()
        sync_update(window, schema, proba, inputs)
        times.append(clock() - t0)
    p50, p99 = percentiles(times)
    return {"p50_us": p50, "p99_us": p99, "overflow": 0}


def sustained_agent(seconds: float, proba: np.ndarray, inputs: np.ndarray) -> dict:
    agent = new_agent("bench-sustained")
    agent.start()
    offered = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        agent.collect_data(proba, inputs)
        offered += N_ROWS
    agent.close(120)
    elapsed = time.perf_counter() - t0
    totals = agent.totals()
    return {"offered_rows_s": offered / elapsed, "processed_rows_s": totals["rows_seen"] / elapsed,
            "overflow": totals["dropped"].get("overflow", 0)}


def sustained_paced(seconds: float, rate_rows_s: float, proba: np.ndarray, inputs: np.ndarray) -> dict:
    agent = new_agent("bench-paced")
    agent.start()
    offered = 0
    pace = N_ROWS / rate_rows_s
    t0 = time.perf_counter()
    next_t, end = t0, t0 + seconds
    while next_t < end:
        next_t += pace
        wait_until(next_t)
        agent.collect_data(proba, inputs)
        offered += N_ROWS
    agent.close(120)
    elapsed = time.perf_counter() - t0
    totals = agent.totals()
    return {"offered_rows_s": offered / elapsed, "processed_rows_s": totals["rows_seen"] / elapsed,
            "overflow": totals["dropped"].get("overflow", 0)}


def sustained_sync(seconds: float, proba: np.ndarray, inputs: np.ndarray) -> dict:
    schema = FeatureSchema()
    window = Window(0, 300_000, N_CLASSES, 500, np.random.default_rng(0), None, schema)
    rows = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        sync_update(window, schema, proba, inputs)
        rows += N_ROWS
    elapsed = time.perf_counter() - t0
    return {"offered_rows_s": rows / elapsed, "processed_rows_s": rows / elapsed, "overflow": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per latency run (>= 20,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each sustained run")
    args = parser.parse_args()
    proba, inputs = make_batch()
    print(f"# python {sys.version.split()[0]}, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}", file=sys.stderr)
    print(f"# batch: {N_ROWS} x {N_CLASSES} proba + {N_ROWS} x {N_FEATURES} features", file=sys.stderr)
    load_before = _load()
    paced_calls = max(args.calls, int(args.seconds * 1000))
    latency = [
        ("agent (back-to-back)", args.calls, latency_agent(args.calls, proba, inputs, None)),
        ("agent (paced 1M rows/s)", paced_calls, latency_agent(paced_calls, proba, inputs, N_ROWS / 1e6)),
        ("synchronous baseline", args.calls, latency_sync(args.calls, proba, inputs)),
        ("MLWatcher-style buffer", args.calls // 4, latency_mlwatcher(args.calls // 4, proba, inputs)),
    ]
    sustained = [
        ("agent (back-to-back)", sustained_agent(args.seconds, proba, inputs)),
        ("agent (paced 1M rows/s)", sustained_paced(args.seconds, 1e6, proba, inputs)),
        ("agent (paced 2M rows/s)", sustained_paced(args.seconds, 2e6, proba, inputs)),
        ("synchronous baseline", sustained_sync(args.seconds, proba, inputs)),
        ("MLWatcher-style buffer", sustained_mlwatcher(args.seconds, proba, inputs)),
    ]
    base = latency[1][2]
    print()
    print(f"load average before: {load_before}, after: {_load()}")
    print("caller-thread cost of one collect_data (1,000 x 10 proba + 1,000 x 20 features)")
    print(f"{'mode':<26}{'calls':>8}{'p50 us':>10}{'p99 us':>10}{'p50 / paced':>13}{'p99 / paced':>13}"
          f"{'calls overflowed':>18}")
    for name, calls, r in latency:
        share = r["overflow"] / (calls * N_ROWS) if "agent" in name else 0.0
        print(f"{name:<26}{calls:>8}{r['p50_us']:>10.1f}{r['p99_us']:>10.1f}"
              f"{r['p50_us'] / base['p50_us']:>12.1f}x{r['p99_us'] / base['p99_us']:>12.1f}x{share:>17.0%}")
    print()
    print(f"sustained, {args.seconds:g} s into one agent (processed = rows in closed windows / wall time, "
          "close() included)")
    print(f"{'mode':<26}{'offered rows/s':>16}{'processed rows/s':>18}{'overflow rows':>15}")
    for name, r in sustained:
        print(f"{name:<26}{r['offered_rows_s']:>16,.0f}{r['processed_rows_s']:>18,.0f}{r['overflow']:>15,}")


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
