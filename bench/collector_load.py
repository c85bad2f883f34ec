"""Collector load benchmark: many agents posting windows to a real server over loopback.

Starts ``python -m vigil.server`` as a subprocess on a fresh VIGIL_HOME, then
``--agents`` agents (threads spread over ``--procs`` client processes, one
keep-alive HTTP connection each, standard library ``http.client``) post
windows back to back for ``--seconds``. Each window is small: about
``--points`` metric points (pred1/spread12/entropy statistics, class
frequencies and counts, feature statistics, accuracy ...) and a sample of
``--sample-rows`` rows (probabilities of 10 classes, 5 inputs, labels), some
16 kB of JSON. A window that is not acknowledged (connection error, 503) is
sent again, as the agent does. Clients and server share the machine's cores,
so each agent takes its windows' values from a pool of 16 generated before
it starts (every window has its own id and times; the server's work is the
same): ``--fresh`` generates every window anew, at ~1 ms of client CPU each.

Afterwards the server is stopped (SIGTERM) and the store is read back: every
acknowledged window must be there exactly once (``lost`` and ``duplicates``
must be 0; anything else exits 1). Prints windows/s and latency percentiles of
acknowledged posts (after one warm-up window per agent, which creates its
experiment; not timed), the CPU seconds the server and the clients used
(Linux: the server's from /proc; per window, the figure that survives a busy
machine best), the server's peak memory and how many windows each commit
carried. Figures only: nothing is asserted about speed.

By default every agent sends its next window as soon as the last one is
acknowledged (closed loop: the server's capacity; latency is then mostly
queueing). ``--rate R`` paces the agents to R windows/s in total (open loop),
for latencies below saturation.

    python bench/collector_load.py               # 32 agents, 30 s, as fast as acknowledged
    python bench/collector_load.py --seconds 5
    python bench/collector_load.py --rate 50     # 50 windows/s offered
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

N_CLASSES = 10
N_FEATURES = 5
STATS = ("mean", "std", "min", "max", "range", "median", "q25", "q75", "iqr")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_window(agent_id: str, index: int, points: int, rows: int, rng: random.Random) -> bytes:
    start = 1_795_000_000.0 + 300.0 * index
    pts: list[dict[str, Any]] = []

    def add(metric: str, value: float, stat: str | None = None, cls: str | None = None,
            feature: str | None = None) -> None:
        pts.append({"metric": metric, "stat": stat, "class": cls, "feature": feature, "category": None,
                    "value": value})

    add("rows_seen", 1000.0)
    add("rows_sampled", float(rows))
    for metric in ("pred1", "spread12", "entropy"):
        for stat in STATS:
            add(metric, rng.random(), stat)
    for k in range(N_CLASSES):
        add("pred_class_freq", rng.random(), cls=str(k))
        add("pred_class_count", float(rng.randint(0, 100)), cls=str(k))
    f = 0
    while len(pts) < points - 3:
        for stat in (*STATS, "missing"):
            add("feature", rng.gauss(0, 1), stat, feature=f"f{f % N_FEATURES}_{f // N_FEATURES}")
            if len(pts) >= points - 3:
                break
        f += 1
    add("accuracy", rng.random())
    add("f1_macro", rng.random())
    add("estimated_accuracy", rng.random())
    window = {
        "schema": "vigil.window/1", "agent_id": agent_id, "window_id": f"{agent_id}:{round(start * 1000)}",
        "start": start, "end": start + 300.0, "n_classes": N_CLASSES, "rows_seen": 1000, "rows_sampled": rows,
        "dropped": {"nan_proba": 0}, "points": pts,
        "sample": {
            "proba": [[round(rng.random() / N_CLASSES, 4) for _ in range(N_CLASSES)] for _ in range(rows)],
            "inputs": [[round(rng.gauss(0, 1), 4) for _ in range(N_FEATURES)] for _ in range(rows)],
            "labels": [rng.randrange(N_CLASSES) for _ in range(rows)],
            "feature_names": [f"f{j}" for j in range(N_FEATURES)],
        },
    }
    return json.dumps(window, separators=(",", ":")).encode()


class WindowBodies:
    """An agent's window bodies, cheap to make: ``pool`` windows of random values are generated
    once, and window ``i`` is pool entry ``i % pool`` with its own id, start and end.

    The server gets the same work as from fresh windows (the same size and shape;
    each window distinct by id and time), but the clients, which share the
    machine's cores with the server, spend ~20 us per window instead of ~1 ms.
    """

    def __init__(self, agent_id: str, points: int, rows: int, pool: int = 16) -> None:
        rng = random.Random(agent_id)
        self.agent_id = agent_id
        self.tails: list[bytes] = []
        for i in range(pool):
            window = json.loads(make_window(agent_id, i, points, rows, rng))
            head = {k: window.pop(k) for k in ("schema", "agent_id", "window_id", "start", "end")}
            assert head["agent_id"] == agent_id
            self.tails.append(json.dumps(window, separators=(",", ":"))[1:].encode())

    def __call__(self, index: int) -> bytes:
        start = 1_795_000_000.0 + 300.0 * index
        head = (f'{{"schema":"vigil.window/1","agent_id":"{self.agent_id}",'
                f'"window_id":"{self.agent_id}:{round(start * 1000)}","start":{start!r},"end":{start + 300.0!r},')
        return head.encode() + self.tails[index % len(self.tails)]


def agent_loop(agent_id: str, port: int, deadline: float, points: int, rows: int, interval_s: float,
               fresh: bool, out: dict[str, Any]) -> None:
    rng = random.Random(agent_id)
    if fresh:
        def make_body(i: int) -> bytes:
            return make_window(agent_id, i, points, rows, rng)
    else:
        make_body = WindowBodies(agent_id, points, rows)
    next_send = time.monotonic() + rng.random() * interval_s
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    acked: list[str] = []
    errors = 0
    index = 0
    body = make_body(index)
    while time.monotonic() < deadline:
        if interval_s:
            pause = next_send - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/windows", body, headers)
            response = conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            errors += 1
            time.sleep(0.05)
            continue
        if status in (200, 201):
            latencies.append(time.perf_counter() - t0)
            acked.append(json.loads(answer)["window_id"])
            index += 1
            next_send += interval_s
            body = make_body(index)
        else:
            errors += 1
            if status < 500:
                raise SystemExit(f"{agent_id}: HTTP {status}: {answer[:300]!r}")
            time.sleep(0.05)
    conn.close()
    out[agent_id] = {"latencies": latencies, "acked": acked, "errors": errors}


def client_process(agent_ids: list[str], port: int, deadline_wall: float, points: int, rows: int,
                   interval_s: float, fresh: bool, results: Any) -> None:
    deadline = time.monotonic() + (deadline_wall - time.time())
    out: dict[str, Any] = {}
    threads = [threading.Thread(target=agent_loop, args=(a, port, deadline, points, rows, interval_s, fresh, out))
               for a in agent_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def warm_up(agent_ids: list[str], port: int, points: int, rows: int) -> dict[str, str]:
    """One window per agent before the clock starts (creates the agents' experiments and runs)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    ids = {}
    for agent_id in agent_ids:
        conn.request("POST", "/api/v1/windows", make_window(agent_id, -1, points, rows, random.Random(0)),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            raise SystemExit(f"warm-up of {agent_id}: HTTP {response.status}: {answer[:300]!r}")
        ids[agent_id] = json.loads(answer)["window_id"]
    conn.close()
    return ids


def wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not become healthy")


def count_stored(home: Path, agent_ids: list[str]) -> dict[str, list[str]]:
    os.environ["VIGIL_HOME"] = str(home)
    from vigil.store.base import EventQuery
    from vigil.store.registry import open_event_store

    store = open_event_store(f"sqlite:///{home / 'vigil.db'}")
    found: dict[str, list[str]] = {}
    for agent_id in agent_ids:
        record = store.find_experiment(f"agents/{agent_id}")
        if record is None:
            found[agent_id] = []
            continue
        table = store.query(EventQuery(record.id, events=("window",)))
        found[agent_id] = table.column("key").to_pylist()
    store.close()
    return found


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_mb(pid: int) -> float:
    """Peak resident memory of a running process in MiB (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=32)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--procs", type=int, default=4, help="client processes the agents are spread over")
    p.add_argument("--points", type=int, default=100, help="metric points per window")
    p.add_argument("--sample-rows", type=int, default=50, help="rows of the sample per window")
    p.add_argument("--rate", type=float, default=0.0, help="windows/s offered in total (0: closed loop)")
    p.add_argument("--ingest-threads", type=int, default=2, help="the server's --ingest-threads")
    p.add_argument("--fresh", action="store_true",
                   help="generate every window anew (~1 ms of client CPU each; default: from a pool of 16 per agent)")
    p.add_argument("--keep", action="store_true", help="keep the VIGIL_HOME of the run")
    args = p.parse_args()

    load_before = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="vigil-load-"))
    port = free_port()
    env = {**os.environ, "VIGIL_HOME": str(home)}
    for var in ("VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL", "VIGIL_TOKEN"):
        env.pop(var, None)
    log_path = home / "server.log"
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "vigil.server", "--port", str(port), "--log-level", "info",
                                   "--ingest-threads", str(args.ingest_threads)],
                                  env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, server)
        agent_ids = [f"load{i:02d}" for i in range(args.agents)]
        warmup = warm_up(agent_ids, port, args.points, args.sample_rows)
        body_size = len(make_window("load00", 0, args.points, args.sample_rows, random.Random(0)))
        procs = max(1, min(args.procs, args.agents))
        groups = [agent_ids[i::procs] for i in range(procs)]
        results: Any = mp.get_context("spawn").Queue()
        server_cpu_before = process_cpu_s(server.pid)
        started = time.time()
        deadline = started + args.seconds
        interval_s = args.agents / args.rate if args.rate > 0 else 0.0
        workers = [mp.get_context("spawn").Process(
            target=client_process, args=(g, port, deadline, args.points, args.sample_rows, interval_s, args.fresh, results))
            for g in groups]
        for w in workers:
            w.start()
        merged: dict[str, Any] = {}
        for _ in workers:
            merged.update(results.get(timeout=args.seconds + 120))
        elapsed = time.time() - started
        for w in workers:
            w.join()
        server_cpu = process_cpu_s(server.pid) - server_cpu_before
        server_peak_mb = process_peak_mb(server.pid)
        clients_cpu = children_cpu_s()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies = sorted(x for r in merged.values() for x in r["latencies"])
    acked = {a: [warmup[a], *r["acked"]] for a, r in merged.items()}
    errors = sum(r["errors"] for r in merged.values())
    stored = count_stored(home, agent_ids)
    n_acked = sum(len(r["acked"]) for r in merged.values())  # timed windows (warm-up excluded)
    lost = sum(len(set(acked[a]) - set(stored[a])) for a in agent_ids)
    duplicates = sum(len(stored[a]) - len(set(stored[a])) for a in agent_ids)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")
    offered = f"{args.rate:g} windows/s offered" if args.rate > 0 else "closed loop (next window on ack)"
    print(f"load: {args.agents} agents in {procs} client processes, {args.seconds:g} s, {offered}; "
          f"window = {args.points} points + {args.sample_rows} sample rows ({body_size} bytes of JSON)")
    print(f"windows acknowledged: {n_acked} in {elapsed:.1f} s = {n_acked / elapsed:.0f} windows/s "
          f"({n_acked * args.points / elapsed:.0f} points/s)")
    print(f"latency of acknowledged posts: p50 {percentile(latencies, 0.50) * 1000:.1f} ms, "
          f"p90 {percentile(latencies, 0.90) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000 if latencies else float('nan'):.1f} ms")
    print(f"CPU time: server {server_cpu:.1f} s ({server_cpu / max(n_acked, 1) * 1000:.2f} ms per window), "
          f"clients {clients_cpu:.1f} s, of {elapsed * (os.cpu_count() or 1):.1f} core-seconds; "
          f"server peak memory {server_peak_mb:.0f} MiB")
    print(f"posts retried (connection error or 503): {errors}")
    extra = sum(len(set(stored[a]) - set(acked[a])) for a in agent_ids)
    print(f"stored windows: {sum(len(v) for v in stored.values())} ({len(warmup)} warm-up + {n_acked} timed); "
          f"acknowledged but lost: {lost}; stored twice: {duplicates}; stored, never acknowledged: {extra}")
    clean = server.returncode in (0, -signal.SIGTERM) and "collector stopped" in log_path.read_text(errors="replace")
    print(f"server stopped cleanly on SIGTERM: {'yes' if clean else f'NO (exit {server.returncode})'}")
    commits = re.search(r"\((\d+) windows in (\d+) commits\)", log_path.read_text(errors="replace"))
    if commits:
        print(f"group commit: {commits[1]} windows in {commits[2]} transactions "
              f"({int(commits[1]) / max(int(commits[2]), 1):.1f} per commit)")
    if args.keep:
        print(f"VIGIL_HOME kept: {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if lost == 0 and duplicates == 0 and clean else 1


if __name__ == "__main__":
    sys.exit(main())
