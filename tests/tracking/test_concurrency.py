"""Many processes logging to one experiment at once: no errors, unique run numbers,
every event present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vigil as om

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 8
RUNS = 3
METRICS = 500

WORKER = textwrap.dedent("""
    import json, os, sys, time
    import vigil as om

    go, worker, runs, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    exp = om.runtime.experiment("shared")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    numbers = []
    for _ in range(runs):
        with exp:
            numbers.append(exp.active_run())
            for i in range(metrics):
                exp.log_metric("m", float(worker), step=i)
    print(json.dumps(numbers), flush=True)
""")


@pytest.mark.slow
def test_processes_logging_to_one_experiment(vigil_home, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "VIGIL_HOME": str(vigil_home), "PYTHONPATH": str(REPO)}
    for name in ("VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL"):
        env.pop(name, None)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(go), str(w), str(RUNS), str(METRICS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        for w in range(PROCESSES)
    ]
    try:
        for proc in procs:  # start together: every worker has imported vigil
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        results = [proc.communicate(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)

    run_of_worker: dict[int, int] = {}
    for worker, (proc, (out, err)) in enumerate(zip(procs, results)):
        assert proc.returncode == 0, f"worker {worker} failed:\n{err}"
        assert "Traceback" not in err and "failed" not in err, f"worker {worker} reported errors:\n{err}"
        for run in json.loads(out):
            run_of_worker[run] = worker
    assert sorted(run_of_worker) == list(range(1, PROCESSES * RUNS + 1)), "run numbers were shared or skipped"

    exp = om.runtime.experiment("shared")
    frame = exp.data(run="all")
    assert len(frame) == PROCESSES * RUNS * METRICS
    for run, events in frame.groupby("run"):
        assert sorted(events["step"].astype(int)) == list(range(METRICS)), f"run {run} lost events"
        assert set(events["value"]) == {float(run_of_worker[run])}, f"run {run} holds another worker's events"
    runs = exp.runs()
    assert runs["status"].tolist() == ["STOPPED"] * PROCESSES * RUNS
    assert runs["ended"].notna().all()
