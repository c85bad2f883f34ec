"""The agent demo's scenario as a test: three agents, one real collector, alerts on the right metrics.

One run of :func:`vigil.demo_agent.run_scenario` (a collector subprocess on
this test's VIGIL_HOME, the digits models, 30 replayed windows per agent) is
shared by the tests of this module; :func:`vigil.demo_agent.agent_demo` runs
once more end to end.
"""

from __future__ import annotations

import io

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("rich")
pytest.importorskip("uvicorn")

from rich.console import Console  # noqa: E402

import vigil  # noqa: E402
from vigil.demo_agent import (  # noqa: E402
    AGENTS,
    FEATURE_METRICS,
    PREDICTION_METRICS,
    SCENARIO_WINDOWS,
    WARMUP_WINDOWS,
    agent_demo,
    report,
    run_scenario,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """One run of the scenario on its own VIGIL_HOME (the folder's autouse home is per test)."""
    home = tmp_path_factory.mktemp("demo-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_HOME", str(home))
        vigil.reload()
        try:
            yield run_scenario()
        finally:
            vigil.reload()
    vigil.reload()


def metrics_of(result, agent_id):
    return {a["labels"]["metric"] for a in result.agents[agent_id].alerts}


def test_every_window_of_every_agent_reached_the_collector(scenario):
    assert set(scenario.agents) == set(AGENTS)
    for agent_id, r in scenario.agents.items():
        assert r.windows == WARMUP_WINDOWS + SCENARIO_WINDOWS, agent_id
    assert not scenario.notes


def test_clean_agent_raises_no_alert(scenario):
    assert scenario.agents["clean"].alerts == []


def test_inverted_pixels_alert_on_feature_metrics_after_the_switch(scenario):
    r = scenario.agents["inverted"]
    assert metrics_of(scenario, "inverted") & FEATURE_METRICS
    assert r.before_switch == 0
    features = {a["labels"].get("feature") for a in r.alerts if a["labels"]["metric"] == "feature"}
    assert features and all(f.startswith("pc") for f in features)
    assert all(a["name"] == "metric_anomaly" and a["source"] == "agents/inverted" for a in r.alerts)


def test_unbalanced_model_alerts_on_prediction_metrics_only_after_the_switch(scenario):
    r = scenario.agents["unbalanced"]
    found = metrics_of(scenario, "unbalanced")
    assert found and found <= PREDICTION_METRICS, found   # same inputs as clean: no feature alert
    assert r.before_switch == 0
    switch = r.switch_at
    assert min(a["details"]["window_start"] for a in r.alerts) == switch   # the first window of the new model


def test_alerts_were_delivered_and_recorded(scenario):
    for agent_id in ("inverted", "unbalanced"):
        for a in scenario.agents[agent_id].alerts:
            assert [d["status"] for d in a["deliveries"]] == ["delivered"], a


def test_report_prints_the_verdict(scenario):
    out = io.StringIO()
    assert report(Console(file=out, width=200), scenario) is True
    text = out.getvalue()
    assert "verdict: the inverted inputs alerted" in text and "the clean agent raised no alert" in text
    for agent_id in AGENTS:
        assert agent_id in text


def test_agent_demo_end_to_end(vigil_home):
    """The demo as ``make demo`` runs it, on this test's own (autouse) VIGIL_HOME."""
    out = io.StringIO()
    assert agent_demo(Console(file=out, width=200)) is True, out.getvalue()
    assert (vigil_home / "logs").is_dir()   # the collector ran on this home
