"""A million metric events: the dashboard's curves are downsampled in the store, extremes kept."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import vigil
from tests.server.ui.conftest import clean_console, shot

BIG = "ui-big"
EVENTS_PER_RUN = 500_000
MAX_POINTS_PER_RUN = 2_000
CHUNK = 100_000


@pytest.fixture(scope="module")
def big_experiment(ui_data) -> dict[int, np.ndarray]:
    """Two runs of 500,000 ``loss`` values each, logged in batches; one spike down and one up per run."""
    rng = np.random.default_rng(7)
    exp = vigil.runtime.experiment(BIG)
    values: dict[int, np.ndarray] = {}
    for run in (1, 2):
        curve = 1.0 / np.sqrt(1.0 + np.arange(EVENTS_PER_RUN) / 1000.0) + rng.normal(0.0, 0.01, EVENTS_PER_RUN)
        curve[123_457 * run] = -5.0 * run              # extremes inside a bucket, never at a bucket edge
        curve[EVENTS_PER_RUN - 98_765 * run] = 7.0 * run
        with exp:
            for start in range(0, EVENTS_PER_RUN, CHUNK):
                exp.log_events("metric", "loss", curve[start:start + CHUNK].tolist(), step=start)
        values[run] = curve
    exp.flush()
    return values


def test_metric_series_is_downsampled_and_keeps_the_extremes(ui_server, big_experiment):
    with httpx.Client(base_url=ui_server, timeout=120) as client:
        answer = client.get("/api/v1/ui/metric-series", params={"experiment": BIG, "key": "loss"})
    assert answer.status_code == 200, answer.text
    series = {s["run"]: s for s in answer.json()["runs"]}
    assert set(series) == set(big_experiment)
    for run, curve in big_experiment.items():
        s = series[run]
        assert 0 < len(s["x"]) <= MAX_POINTS_PER_RUN, (run, len(s["x"]))
        assert min(v for v in s["min"] if v is not None) == pytest.approx(curve.min())
        assert max(v for v in s["max"] if v is not None) == pytest.approx(curve.max())
        assert s["x"][0] <= EVENTS_PER_RUN * 0.01 and s["x"][-1] >= EVENTS_PER_RUN * 0.99  # the whole range
        if "count" in s:
            assert sum(s["count"]) == EVENTS_PER_RUN


def test_experiment_page_draws_a_million_events(page, ui_server, big_experiment, console_errors):
    response = page.goto(f"{ui_server}/experiment?name={BIG}")
    assert response is not None and response.status == 200
    page.wait_for_selector("div#metric-chart .main-svg", state="attached", timeout=60_000)
    page.wait_for_function("(document.getElementById('metric-chart').data || []).length >= 1", timeout=60_000)
    drawn = page.evaluate("document.getElementById('metric-chart').data.map(t => t.x.length)")
    assert all(n <= 2 * MAX_POINTS_PER_RUN for n in drawn), drawn   # a band (min and max) may double a trace
    shot(page, "experiment-big")
    clean_console(console_errors, page)
