"""Soak: the real collector (``python -m vigil.server``) under 32 agents for ``VIGIL_SOAK_S`` seconds
(default 600). Runs only with ``VIGIL_SOAK=1`` (``make soak``).

Asserts that the server's resident memory stays flat (the median of the last minute within +20 %
of the median of the first minute after a minute of warm-up; both spans shrink for runs shorter
than 4 minutes) and that every acknowledged window is stored exactly once. Prints windows/s and
latency percentiles (figures, not assertions)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.reliability.conftest import REPO, child_env
from tests.server.factory import ServerProcess

pytestmark = [pytest.mark.soak, pytest.mark.timeout(0)]

AGENTS, PROCS = 32, 4
RATE_PER_AGENT = float(os.environ.get("VIGIL_SOAK_RATE", "4"))   # windows/s offered by each agent

CLIENT = textwrap.dedent("""
    import http.client, json, sys, threading, time
    from tests.server.factory import window

    port, prefix, n, seconds, rate, out = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                           float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    end = time.monotonic() + seconds
    result = {"acked": {}, "stored": 0, "duplicates": 0, "retries": 0, "latencies": []}
    lock = threading.Lock()

    def agent(agent_id):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i, next_at = 0, time.monotonic()
        while time.monotonic() < end:
            body = json.dumps(window(agent_id, i, rows=20)).encode()
            sent = time.monotonic()
            while True:                                    # an agent sends until acknowledged
                try:
                    conn.request("POST", "/api/v1/windows", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    answer = r.read()
                    if r.status in (200, 201):
                        break
                    retry = float(r.headers.get("Retry-After") or 0.2)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    retry = 0.2
                with lock:
                    result["retries"] += 1
                time.sleep(min(retry, 1.0))
            stored = json.loads(answer)["stored"]
            with lock:
                result["latencies"].append(time.monotonic() - sent)
                result["stored" if stored else "duplicates"] += 1
            i += 1
            next_at += 1.0 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        result["acked"][agent_id] = i

    threads = [threading.Thread(target=agent, args=(f"{prefix}{j}",)) for j in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as fh:
        json.dump(result, fh)
""")

COUNT = textwrap.dedent("""
    import json, sqlite3, sys
    c = sqlite3.connect(sys.argv[1])
    rows = c.execute("SELECT x.name, count(*), count(DISTINCT e.key) FROM vigil_events e "
                     "JOIN vigil_experiments x ON x.id = e.exp_id WHERE e.event = 'window' GROUP BY x.name")
    print(json.dumps({name: [n, distinct] for name, n, distinct in rows}))
""")


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def test_collector_memory_stays_flat_and_nothing_is_lost_under_32_agents(vigil_home, tmp_path):
    seconds = float(os.environ.get("VIGIL_SOAK_S", "600"))
    span = min(60.0, seconds / 4)                        # warm-up, and each measured span
    server = ServerProcess(vigil_home).start()
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while not stop.wait(1.0):
            rss = rss_bytes(server.proc.pid)
            if rss:
                samples.append((time.monotonic() - t0, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outs = [tmp_path / f"client-{k}.json" for k in range(PROCS)]
    clients = [subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port), f"s{k}-", str(AGENTS // PROCS),
                                 str(seconds), str(RATE_PER_AGENT), str(out)], env=child_env(vigil_home), cwd=REPO)
               for k, out in enumerate(outs)]
    try:
        for c in clients:
            assert c.wait(timeout=seconds + 300) == 0
    finally:
        stop.set()
        for c in clients:
            c.kill()
            c.wait(timeout=30)
        code = server.stop()
    assert code in (0, -15), server.output()[-2000:]
    elapsed = time.monotonic() - t0

    results = [json.loads(out.read_text()) for out in outs]
    acked = {a: n for r in results for a, n in r["acked"].items()}
    latencies = sorted(x for r in results for x in r["latencies"])
    total = sum(acked.values())
    stored = json.loads(subprocess.run([sys.executable, "-c", COUNT, str(vigil_home / "vigil.db")],
                                       capture_output=True, text=True, check=True).stdout)
    first = [rss for t, rss in samples if span <= t < 2 * span]
    last = [rss for t, rss in samples if t >= seconds - span]
    q = statistics.quantiles(latencies, n=100)
    print(f"\nsoak {seconds:.0f}s, {AGENTS} agents at {RATE_PER_AGENT}/s each: {total} windows acknowledged, "
          f"{total / elapsed:.1f} windows/s, latency p50 {q[49] * 1000:.1f} ms p99 {q[98] * 1000:.1f} ms, "
          f"retries {sum(r['retries'] for r in results)}, duplicates answered {sum(r['duplicates'] for r in results)}")
    print(f"server RSS: first span median {statistics.median(first) / 2**20:.1f} MiB, last span median "
          f"{statistics.median(last) / 2**20:.1f} MiB, max {max(r for _, r in samples) / 2**20:.1f} MiB "
          f"({len(samples)} samples)")

    wrong = {a: (n, stored.get(f"agents/{a}")) for a, n in acked.items() if stored.get(f"agents/{a}") != [n, n]}
    assert not wrong, f"acknowledged windows lost or stored twice (acked, [stored, distinct]): {wrong}"
    assert len(acked) == AGENTS and total > 0
    assert statistics.median(last) <= 1.2 * statistics.median(first), "the server's memory grew"
