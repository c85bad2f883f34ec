from __future__ import annotations

import socket

import numpy as np
import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below and by tests
from vigil.agent import MonitoringAgent
from vigil.agent.testing import StubCollector

#: 2026-11-22 00:00:00 UTC, a multiple of 5 minutes: the start of a window.
T0 = 1795392000.0


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    """Every test in this folder runs on its own, empty VIGIL_HOME."""
    return vigil_home


class FakeClock:
    """Epoch seconds under the test's control."""

    def __init__(self, t: float = T0 + 1.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stub():
    with StubCollector() as collector:
        yield collector


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dirichlet(n: int, k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def sink_agent(tmp_path, clock, windows: list, **options) -> MonitoringAgent:
    """An agent that hands windows to ``windows.append`` (no server), on the fake clock."""
    options.setdefault("n_classes", 3)
    options.setdefault("agent_id", "t")
    options.setdefault("seed", 0)
    return MonitoringAgent(sink=windows.append, spool_dir=tmp_path / "spool", clock=clock, **options)


def points(window: dict, metric: str, **match) -> dict:
    """{(stat, class, feature, category): value} of one metric, filtered by ``match`` (``cls`` = class)."""
    if "cls" in match:
        match["class"] = match.pop("cls")
    out = {}
    for p in window["points"]:
        if p["metric"] == metric and all(p[k] == v for k, v in match.items()):
            out[(p["stat"], p["class"], p["feature"], p["category"])] = p["value"]
    return out


def value(window: dict, metric: str, **match) -> float:
    found = points(window, metric, **match)
    assert len(found) == 1, (metric, match, found)
    return next(iter(found.values()))
