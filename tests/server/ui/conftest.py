"""Browser tests of the dashboard: one populated workspace, live servers, Debian's chromium.

The workspace (``ui_data``) is built once per package through vigil's public
API; ``ui_server`` and ``ui_server_token`` serve it with uvicorn in a thread.
Playwright drives ``/usr/bin/chromium`` (``VIGIL_TEST_CHROMIUM``); it never
downloads a browser. Without chromium or playwright the browser tests skip,
except under ``CI=true``, where that is a failure (as for PostgreSQL).
Screenshots go to ``test-artifacts/ui/<name>.png`` at the repository root.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pytest

import vigil
from tests.fixtures import service_unavailable, workspace_at

CHROMIUM = os.environ.get("VIGIL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "ui"
TOKEN = "x" * 24
EXPERIMENT = "ui-demo"
MONITOR = "housing"
MONITOR_EXPERIMENT = f"monitors/data/{MONITOR}"
SHIFTED, UNSHIFTED, CATEGORICAL = "price", "rooms", "region"
AGENTS = ("canary-a", "canary-b")
WINDOWS_PER_AGENT = 6
PERIOD_S = 300.0
HTML_PAYLOAD = '<img src="x" class="injected" onerror="window.__injected = 1"><b class="injected">bold</b>'


@dataclass
class UIData:
    """What the workspace holds, for the assertions."""

    home: Path
    settings: Any
    experiment: str = EXPERIMENT
    other_experiment: str = "baseline-sweep"
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # run -> {status, lr, depth, loss, accuracy}
    artifact: str = "weights.bin"
    artifact_bytes: bytes = b""
    monitor: str = MONITOR_EXPERIMENT
    shifted: str = SHIFTED
    unshifted: str = UNSHIFTED
    model: str = "digits-model"
    dataset: str = "sales"
    job: str = "nightly"
    job_schedule: str = "daily"
    agents: tuple[str, ...] = AGENTS


# -- the workspace ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _isolated_home(ui_home):
    """Overrides tests/server/conftest.py: these tests share one populated home instead of an empty one each."""
    return ui_home


@pytest.fixture(scope="package")
def ui_home(tmp_path_factory) -> Iterator[Path]:
    """VIGIL_HOME of the dashboard tests, the default workspace while they run; restored afterwards."""
    with workspace_at(tmp_path_factory.mktemp("vigil-ui") / "vigil-home") as home:
        yield home


def _experiment(data: UIData) -> None:
    exp = vigil.runtime.experiment(EXPERIMENT)
    for run, (lr, depth) in enumerate([(0.1, 3), (0.01, 5), (0.001, 7)], start=1):
        losses = [float(np.exp(-step * lr * 2) + 0.1 * run) for step in range(50)]
        accuracy = round(0.7 + 0.05 * run, 4)
        failed = run == 3
        try:
            with exp:
                exp.log_param("lr", lr)
                exp.log_param("depth", depth)
                for step, loss in enumerate(losses):
                    exp.log_metric("loss", loss, step=step)
                exp.log_metric("accuracy", accuracy, step=49)
                if run == 2:  # markup in a value must be shown as text, never parsed
                    exp.log_param("note", HTML_PAYLOAD)
                if run == 1:
                    data.artifact_bytes = bytes(range(256)) * 4
                    exp.log_artifact(data.artifact_bytes, data.artifact)
                    exp.log_artifact({"lr": lr, "depth": depth}, "config")
                if failed:
                    raise RuntimeError("diverged (on purpose: a FAILED run for the dashboard)")
        except RuntimeError:
            pass
        data.runs[run] = {"status": "FAILED" if failed else "STOPPED", "lr": lr, "depth": depth,
                          "loss": losses[-1], "accuracy": accuracy}
    for run, expected in data.runs.items():
        assert exp.status(run) == expected["status"], run
    with vigil.runtime.experiment(data.other_experiment) as other:  # a second row for the search box to hide
        other.log_param("lr", 0.5)
        other.log_metric("loss", 1.0, step=0)


def _drift() -> None:
    from vigil.drift import DataDriftMonitor

    rng = np.random.default_rng(6)
    n = 5000

    def frame(shift_sd: float) -> pd.DataFrame:
        return pd.DataFrame({
            UNSHIFTED: rng.normal(5.0, 1.5, n),
            SHIFTED: rng.normal(300.0 + 50.0 * shift_sd, 50.0, n),
            CATEGORICAL: rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        })

    mon = DataDriftMonitor(MONITOR)
    mon.snapshot(frame(0.0))
    mon.snapshot(frame(1.0))
    result = mon.capture(alerts=[{"statistic": "drift", "severity": "warning", "channels": ["log"]}])
    assert result.drifted_columns == [SHIFTED], result.summary()
    assert result.alerts, "the drift rule must have fired"


def _runtime(data: UIData) -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    vigil.models.put(LogisticRegression(max_iter=300).fit(X / 16.0, y), data.model)
    rng = np.random.default_rng(1)
    vigil.datasets.put(pd.DataFrame({"store": rng.choice(["a", "b", "c"], 500), "units": rng.integers(0, 50, 500),
                                     "revenue": rng.gamma(2.0, 30.0, 500)}), data.dataset)
    vigil.jobs.create("print('nightly ok')\n", data.job, schedule=data.job_schedule)
    record = vigil.jobs.run(data.job)
    assert record["status"] == "ok", record


def _agents() -> None:
    from vigil.agent import MonitoringAgent

    class Clock:
        t = 0.0

        def __call__(self) -> float:
            return self.t

    first = (time.time() // PERIOD_S - WINDOWS_PER_AGENT - 1) * PERIOD_S   # recent, aligned windows
    for k, agent_id in enumerate(AGENTS):
        clock = Clock()
        clock.t = first + 1.0
        rng = np.random.default_rng(10 + k)
        agent = MonitoringAgent(frequency=PERIOD_S / 60, max_buffer_size=50, n_classes=3, agent_id=agent_id,
                                server_IP=None, clock=clock, seed=k)
        for i in range(WINDOWS_PER_AGENT + 1):       # the last batch closes window WINDOWS_PER_AGENT - 1
            clock.t = first + i * PERIOD_S + 1.0
            proba = rng.dirichlet([4.0 + k + i, 2.0, 1.0], size=200)
            labels = np.where(rng.random(200) < 0.8, proba.argmax(axis=1), rng.integers(0, 3, 200))
            agent.collect_data(predict_proba_matrix=proba, input_matrix=rng.normal(size=(200, 2)),
                               label_matrix=labels)
        assert agent.close(30), agent.totals()
        windows = vigil.runtime.experiment(f"agents/{agent_id}").data(run="all", event="window", raw=True)
        assert len(windows) >= WINDOWS_PER_AGENT + 1, (agent_id, len(windows))


@pytest.fixture(scope="package")
def ui_data(ui_home: Path) -> UIData:
    """The workspace of the dashboard tests, filled once through the public API."""
    from vigil.config import Settings

    data = UIData(home=ui_home, settings=Settings.from_env())
    _experiment(data)
    _drift()
    _runtime(data)
    _agents()
    return data


# -- live servers ----------------------------------------------------------------------------------
class LiveServer:
    """``create_app(config, settings)`` under uvicorn in a daemon thread on 127.0.0.1:<free port>."""

    def __init__(self, config: Any, settings: Any) -> None:
        import uvicorn

        from vigil.server.app import create_app

        self.app = create_app(config, settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                   lifespan="on", timeout_graceful_shutdown=10))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"ui-server-{self.port}", daemon=True)

    def start(self, timeout_s: float = 30.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the dashboard server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.sock.close()


def _serve(data: UIData, token: str | None) -> Iterator[str]:
    from vigil.server.config import ServerConfig

    config = ServerConfig(host="127.0.0.1", port=0, token=token, jsonl=False, anomaly=False,
                          alert_channels=("log",))
    server = LiveServer(config, data.settings).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="package")
def ui_server(ui_data: UIData) -> Iterator[str]:
    """Base URL of the dashboard over ``ui_data``, no token."""
    yield from _serve(ui_data, None)


@pytest.fixture(scope="package")
def ui_server_token(ui_data: UIData) -> Iterator[str]:
    """Base URL of the dashboard over ``ui_data`` with the token ``TOKEN`` required."""
    yield from _serve(ui_data, TOKEN)


# -- the browser -----------------------------------------------------------------------------------
def _browser_unavailable(why: str) -> NoReturn:
    service_unavailable("chromium and playwright (the browser tests)", why)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright (never a downloaded browser)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _browser_unavailable(f"playwright is not installed ({exc})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _browser_unavailable(f"no executable {CHROMIUM} (make test installs Debian's chromium)")
    with sync_playwright() as pw:
        try:
            instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            _browser_unavailable(f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        try:
            yield instance
        finally:
            instance.close()


class ConsoleErrors(list):
    """Console messages of type error and uncaught page errors, as text."""

    def record(self, page: Any) -> None:
        page.on("console", lambda msg: self.append(f"console.{msg.type}: {msg.text} ({msg.location})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.append(f"pageerror: {exc}"))


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(browser: Any, console_errors: ConsoleErrors) -> Iterator[Any]:
    """A fresh browser context and page; every test ends with no console errors on it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    p = context.new_page()
    console_errors.record(p)
    try:
        yield p
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``test-artifacts/ui/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def clean_console(errors: ConsoleErrors, page: Any = None) -> None:
    """Fail with every console error seen so far (after letting pending scripts settle)."""
    if page is not None:
        page.wait_for_timeout(100)
    assert list(errors) == [], "console errors:\n" + "\n".join(errors)
