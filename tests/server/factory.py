"""Windows in the agent's wire format, and small local servers that record what they receive."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = 1_795_418_400.0
STATS = ("mean", "std", "min", "max", "range", "median", "q25", "q75", "iqr")


def window(agent_id: str = "1", index: int = 0, n_classes: int = 3, pred1: float = 0.9, rows: int = 6,
           accuracy: float | None = 0.8, period_s: float = 300.0, seed: int | None = None) -> dict[str, Any]:
    """A valid window: pred1 statistics, class frequencies, one feature, accuracy, a small sample."""
    import random

    rng = random.Random(seed if seed is not None else index)
    start = T0 + period_s * index
    points = [{"metric": "rows_seen", "stat": None, "class": None, "feature": None, "category": None,
               "value": 100.0}]
    for stat in STATS:
        points.append({"metric": "pred1", "stat": stat, "class": None, "feature": None, "category": None,
                       "value": pred1 + (0.001 * rng.random() if stat == "mean" else 0.0)})
    for k in range(n_classes):
        points.append({"metric": "pred_class_freq", "stat": None, "class": str(k), "feature": None,
                       "category": None, "value": 1.0 / n_classes})
    points.append({"metric": "feature", "stat": "mean", "class": None, "feature": "f0", "category": None,
                   "value": 1.5})
    points.append({"metric": "feature_category_freq", "stat": None, "class": None, "feature": "colour",
                   "category": "red", "value": 0.25})
    if accuracy is not None:
        points.append({"metric": "accuracy", "stat": None, "class": None, "feature": None, "category": None,
                       "value": accuracy})
    proba = [[round(1.0 / n_classes, 6)] * n_classes for _ in range(rows)]
    return {
        "schema": "vigil.window/1", "agent_id": agent_id, "window_id": f"{agent_id}:{round(start * 1000)}",
        "start": start, "end": start + period_s, "n_classes": n_classes, "rows_seen": 100, "rows_sampled": rows,
        "dropped": {"nan_proba": 0}, "points": points,
        "sample": {"proba": proba, "inputs": [[1.0, None] for _ in range(rows)],
                   "labels": [i % n_classes for i in range(rows)], "feature_names": ["f0", "f1"]},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """An HTTP server on 127.0.0.1:<free port> that records every request.

    ``fail_first`` requests are answered with ``fail_status``; the others with 200.
    """

    def __init__(self, fail_first: int = 0, fail_status: int = 503, answer: bytes = b"{}") -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.answer = answer
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with recorder.lock:
                    recorder.requests.append({"t": time.monotonic(), "path": self.path, "body": body,
                                              "headers": dict(self.headers)})
                    failing = len(recorder.requests) <= recorder.fail_first
                status = recorder.fail_status if failing else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.answer)))
                self.end_headers()
                self.wfile.write(recorder.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json(self, i: int) -> Any:
        return json.loads(self.requests[i]["body"])

    def wait_for(self, n: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.01)


class ServerProcess:
    """``python -m vigil.server`` in a subprocess on a free port, stderr captured to a file."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.args = ["--port", str(self.port), *args]
        self.env = {k: v for k, v in os.environ.items() if k != "VIGIL_TOKEN"}
        self.env.update({"VIGIL_HOME": str(home), **(env or {})})
        self.log = home.parent / f"server-{self.port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> ServerProcess:
        home_log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "vigil.server", *self.args], env=self.env,
                                     stdout=home_log, stderr=subprocess.STDOUT)
        home_log.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise AssertionError(f"server not healthy within {timeout_s}s: {self.output()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        return self.proc.returncode


def request(method: str, url: str, body: Any = None, token: str | None = None,
            headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one HTTP request with urllib."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        exc.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def retry_until(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = fn()
            if ok(result):
                return result
        except OSError:
            result = None
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up; last result {result!r}")
        time.sleep(0.05)
