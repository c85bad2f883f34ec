"""The wire format: what the agent sends passes the checks the collector applies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.agent.conftest import T0, dirichlet, sink_agent
from vigil.agent import wire


def test_agent_windows_are_well_formed_json(tmp_path, clock):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows)
    x = np.ones((6, 2))
    x[0, 0] = np.nan
    agent.collect_data(dirichlet(6, 3), x, np.array([0, 1, 2, 0, 1, 2]))
    agent.close()
    (window,) = windows
    assert wire.problems(window) == []
    body = wire.encode(window)
    assert b"NaN" not in body and b"Infinity" not in body
    assert json.loads(body) == window
    assert window["window_id"] == f"t:{int(T0 * 1000)}"
    assert window["sample"]["inputs"][0][0] is None                 # missing values are null
    assert {p["metric"] for p in window["points"]} <= wire.METRICS


@pytest.mark.parametrize(("change", "problem"), [
    ({"schema": "other/1"}, "schema must be"),
    ({"window_id": "t:1"}, "window_id must be agent_id:start_ms"),
    ({"agent_id": "a b"}, "agent_id must be"),
    ({"end": 0.0}, "start and end must be"),
    ({"n_classes": 1}, "n_classes must be an int >= 2"),
    ({"rows_seen": -1}, "rows_seen must be an int >= 0"),
    ({"dropped": {"x": 1.5}}, "dropped must be an object"),
    ({"points": [{"metric": "nope", "stat": None, "class": None, "feature": None, "category": None,
                  "value": 1.0}]}, "unknown metric"),
    ({"points": [{"metric": "accuracy", "stat": None, "class": None, "feature": None, "category": None,
                  "value": float("nan")}]}, "finite number"),
    ({"sample": None}, "sample must be an object"),
])
def test_problems_names_what_is_wrong(tmp_path, clock, change, problem):
    windows: list = []
    agent = sink_agent(tmp_path, clock, windows)
    agent.collect_data(dirichlet(2, 3))
    agent.close()
    bad = {**windows[0], **change}
    assert any(problem in p for p in wire.problems(bad)), wire.problems(bad)


def test_missing_keys_and_points():
    assert wire.problems({}) [0] == "missing key 'schema'"
    assert wire.point("accuracy", float("inf")) is None
    assert wire.point("confusion", 3, cls=1, category="2")["class"] == "1"
