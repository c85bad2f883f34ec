"""The dashboard in a real browser: every page of the contract, no console errors, a screenshot each.

The element ids and attributes used here are the page contract of the
dashboard (``vigil/server/ui``); the server has no token (see test_auth.py).
"""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from tests.server.ui.conftest import HTML_PAYLOAD, PERIOD_S, clean_console, shot
from vigil.agent import MonitoringAgent

pytestmark = pytest.mark.usefixtures("ui_data")
NAV = {"/experiments", "/drift", "/agents", "/models", "/datasets", "/jobs", "/alerts"}


def open_page(page, url: str):
    """Navigate and require a 200 page."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_load_state("load")
    return response


def where(page) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(page.url)
    return parts.path, parse_qs(parts.query)


def traces(page, element_id: str) -> int:
    """Number of Plotly traces drawn in the div ``element_id``."""
    return page.evaluate(f"(document.getElementById({element_id!r}).data || []).length")


def wait_traces(page, element_id: str, n: int, op: str = "==") -> None:
    page.wait_for_selector(f"#{element_id} .main-svg", state="attached")
    page.wait_for_function(f"(document.getElementById({element_id!r}).data || []).length {op} {n}")


def texts(page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def number(text: str) -> float:
    found = re.search(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text.replace(",", ""))
    assert found, f"no number in {text!r}"
    return float(found.group(0))


def assert_shown_as_text(page, selector: str) -> None:
    """The HTML payload logged as a param appears literally in ``selector`` and created no element."""
    assert HTML_PAYLOAD in page.locator(selector).inner_text(), selector
    assert page.locator(".injected").count() == 0
    assert page.evaluate("window.__injected === undefined")


def set_field(form, name: str, value: str) -> None:
    field = form.locator(f"[name={name}]")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


# -- overview and experiments ------------------------------------------------------------------------
def test_overview_links_every_section(page, ui_server, console_errors):
    open_page(page, f"{ui_server}/")
    links = set(page.eval_on_selector_all("nav a", "links => links.map(a => a.pathname)"))
    assert NAV <= links, f"nav lacks {sorted(NAV - links)}"
    shot(page, "overview")
    clean_console(console_errors, page)


def test_experiments_list_search_and_open(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiments")
    row = page.locator(f'table#experiments tbody tr[data-experiment="{ui_data.experiment}"]')
    other = page.locator(f'table#experiments tbody tr[data-experiment="{ui_data.other_experiment}"]')
    assert row.count() == 1 and other.count() == 1
    assert row.locator("td.runs").inner_text().strip() == "3"
    shot(page, "experiments")

    page.fill("input#search", "ui-de")           # client side: rows hide, nothing is reloaded
    other.wait_for(state="hidden")
    assert row.is_visible()
    page.fill("input#search", "")
    other.wait_for(state="visible")

    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/experiment\?"))
    path, query = where(page)
    assert path == "/experiment" and query["name"] == [ui_data.experiment]
    clean_console(console_errors, page)


def test_experiment_runs_table(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    for run, expected in ui_data.runs.items():
        row = page.locator(f'table#runs tbody tr[data-run="{run}"]')
        assert row.count() == 1, run
        assert row.locator("td.status").inner_text().strip() == expected["status"]
        assert row.locator(f'input.run-select[value="{run}"]').count() == 1
        assert math.isclose(number(row.locator('td[data-param="lr"]').inner_text()), expected["lr"], rel_tol=1e-6)
        shown = number(row.locator('td[data-metric="loss"]').inner_text())
        assert math.isclose(shown, expected["loss"], rel_tol=5e-3), (run, shown, expected["loss"])
    assert_shown_as_text(page, 'table#runs tbody tr[data-run="2"] td[data-param="note"]')
    shot(page, "experiment")
    clean_console(console_errors, page)


def test_experiment_runs_sort_by_header(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    header = page.locator("table#runs th[data-sort]").filter(has_text="loss").first
    loss = {str(run): r["loss"] for run, r in ui_data.runs.items()}

    def order() -> list[str]:
        return page.eval_on_selector_all("table#runs tbody tr[data-run]", "rows => rows.map(r => r.dataset.run)")

    header.click()
    first = order()
    values = [loss[r] for r in first]
    assert values in (sorted(values), sorted(values, reverse=True)), first
    header.click()
    assert order() == first[::-1]
    clean_console(console_errors, page)


def test_experiment_metric_chart(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    options = page.eval_on_selector_all("select#metric option", "os => os.map(o => o.value)")
    assert {"loss", "accuracy"} <= set(options), options
    for key, steps in (("loss", 50), ("accuracy", 1), ("loss", 50)):   # the chart follows the select
        page.select_option("select#metric", key)
        wait_traces(page, "metric-chart", 1, ">=")
        page.wait_for_function("n => document.getElementById('metric-chart').data.every(t => t.x.length === n)",
                               arg=steps)
    shot(page, "experiment-chart")
    clean_console(console_errors, page)


def test_experiment_artifact_downloads_its_bytes(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    rows = page.locator("table#artifacts tbody tr")
    assert rows.count() >= 1
    link = rows.filter(has_text=ui_data.artifact).locator("a.download").first
    href = link.evaluate("a => a.href")
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment"), response.headers
    assert response.body() == ui_data.artifact_bytes
    clean_console(console_errors, page)


def test_experiment_browse_events_link(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    page.click("a#browse-events")
    page.wait_for_url(re.compile(r"/events\?"))
    path, query = where(page)
    assert path == "/events" and query["experiment"] == [ui_data.experiment]
    clean_console(console_errors, page)


def test_compare_two_runs(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/experiment?name={ui_data.experiment}")
    page.check('input.run-select[value="1"]')
    page.check('input.run-select[value="2"]')
    page.click("button#compare")
    page.wait_for_url(re.compile(r"/compare\?"))
    path, query = where(page)
    assert path == "/compare" and query["experiment"] == [ui_data.experiment]
    assert query["runs"][0] in ("1,2", "2,1"), query
    assert page.locator('table#params th[data-run="1"]').count() == 1
    assert page.locator('table#params th[data-run="2"]').count() == 1
    lr = page.locator('table#params tr[data-param="lr"]')
    assert lr.count() == 1 and "0.01" in lr.inner_text()
    assert_shown_as_text(page, 'table#params tr[data-param="note"]')
    wait_traces(page, "compare-chart", 2, ">=")
    shot(page, "compare")
    clean_console(console_errors, page)


def test_events_filter(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/events?experiment={ui_data.experiment}")
    form = page.locator("form#event-filter")
    for name in ("run", "event", "key", "since"):
        assert form.locator(f"[name={name}]").count() == 1, name
    assert page.locator("table#events tbody tr").count() > 3
    assert_shown_as_text(page, "table#events")
    filter_events(page, event="metric", key="accuracy")
    page.wait_for_function("""() => {
        const rows = [...document.querySelectorAll('table#events tbody tr')];
        return rows.length > 0 && rows.every(r =>
            r.querySelector('td.event')?.textContent.trim() === 'metric' &&
            r.querySelector('td.key')?.textContent.trim() === 'accuracy');
    }""")
    assert len(texts(page, "table#events tbody tr td.key")) == len(ui_data.runs)  # one accuracy per run
    shot(page, "events")

    filter_events(page, run="2")
    page.wait_for_function("document.querySelectorAll('table#events tbody tr td.key').length === 1")
    filter_events(page, since="2100-01-01")
    page.wait_for_function("document.querySelectorAll('table#events tbody tr td.key').length === 0")
    clean_console(console_errors, page)


def filter_events(page, **fields: str) -> None:
    form = page.locator("form#event-filter")
    for name, value in fields.items():
        set_field(form, name, value)
    form.evaluate("f => f.requestSubmit()")


# -- drift -------------------------------------------------------------------------------------------
def test_drift_monitor_page(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/drift")
    row = page.locator(f'table#monitors tbody tr[data-monitor="{ui_data.monitor}"]')
    assert row.count() == 1
    shot(page, "drift")
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/monitor\?"))
    path, query = where(page)
    assert path == "/monitor" and query["name"] == [ui_data.monitor]

    assert "drift" in page.locator("#verdict").inner_text().lower()
    verdict = 'table#drift-columns tbody tr[data-column="{}"] td.verdict'
    assert page.locator(verdict.format(ui_data.shifted)).inner_text().strip() == "drift"
    assert page.locator(verdict.format(ui_data.unshifted)).inner_text().strip() == "ok"
    page.wait_for_selector("div#timeline .main-svg", state="attached")

    page.click(f'table#drift-columns tbody tr[data-column="{ui_data.shifted}"]')
    wait_traces(page, "dist-chart", 2)
    names = page.evaluate("document.getElementById('dist-chart').data.map(t => (t.name || '').toLowerCase())")
    assert any("baseline" in n for n in names), names
    shot(page, "monitor")

    report = page.request.get(page.locator("a#report").evaluate("a => a.href"))
    assert report.status == 200 and report.headers["content-type"].startswith("text/html")
    assert ui_data.shifted in report.text()
    clean_console(console_errors, page)


# -- agents ------------------------------------------------------------------------------------------
def test_agents_chart_and_live_refresh(page, ui_server, ui_data, console_errors, tmp_path):
    open_page(page, f"{ui_server}/agents?refresh_s=1")
    boxes = {a: page.locator(f'input.agent-select[value="{a}"]') for a in ui_data.agents}
    for agent, box in boxes.items():
        assert box.count() == 1, agent
        box.check()
    options = page.eval_on_selector_all("select#agent-metric option", "os => os.map(o => o.value)")
    assert options, "select#agent-metric has no metrics"
    wait_traces(page, "agent-chart", len(ui_data.agents))
    shot(page, "agents")
    boxes[ui_data.agents[1]].uncheck()
    wait_traces(page, "agent-chart", 1)

    # a new window reaches the collector over HTTP: the open page draws it without a reload
    page.evaluate("window.__no_reload = true")
    before = page.locator("#last-refresh").inner_text()
    points = page.evaluate("document.getElementById('agent-chart').data[0].x.length")
    post_window(ui_server, ui_data.agents[0], tmp_path)
    page.wait_for_function("before => document.getElementById('last-refresh').textContent !== before",
                           arg=before, timeout=3_500)
    page.wait_for_function("n => document.getElementById('agent-chart').data[0].x.length === n + 1",
                           arg=points, timeout=3_500)
    assert page.evaluate("window.__no_reload === true"), "the page reloaded instead of refreshing its data"
    clean_console(console_errors, page)


def post_window(base_url: str, agent_id: str, spool) -> None:
    """One more window of ``agent_id``, the period after its last stored one, sent to the live collector."""
    agents = {a["agent_id"]: a for a in httpx.get(f"{base_url}/api/v1/agents", timeout=30).json()["agents"]}
    t = agents[agent_id]["last_window_end"] + 1.0
    port = int(base_url.rsplit(":", 1)[1])
    agent = MonitoringAgent(frequency=PERIOD_S / 60, n_classes=3, agent_id=agent_id, server_IP="127.0.0.1",
                            server_port=port, spool_dir=spool, clock=lambda: t, seed=0)
    agent.collect_data(predict_proba_matrix=np.random.default_rng(3).dirichlet([5.0, 2.0, 1.0], size=100))
    assert agent.close(30), agent.totals()


# -- models, datasets, jobs, alerts ------------------------------------------------------------------
def test_models_page(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/models")
    assert page.locator(f'table#models tbody tr[data-model="{ui_data.model}"]').count() == 1
    shot(page, "models")
    clean_console(console_errors, page)


def test_datasets_page(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/datasets")
    assert page.locator(f'tr[data-dataset="{ui_data.dataset}"]').count() == 1
    shot(page, "datasets")
    clean_console(console_errors, page)


def test_jobs_page_run_now(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/jobs")
    row = page.locator(f'tr[data-job="{ui_data.job}"]')
    assert row.count() == 1 and ui_data.job_schedule in row.inner_text()
    runs = page.locator("table#job-runs tbody tr")
    before = runs.count()
    shot(page, "jobs")
    status = page.locator("#job-status").inner_text()
    row.locator("button.run-now").click()
    page.wait_for_function("""before => {
        const text = document.getElementById('job-status').textContent;
        return text !== before && /\\b(ok|failed)\\b/i.test(text);
    }""", arg=status, timeout=60_000)
    assert "ok" in page.locator("#job-status").inner_text().lower()
    page.wait_for_function(f"document.querySelectorAll('table#job-runs tbody tr').length === {before + 1}")
    shot(page, "jobs-ran")
    clean_console(console_errors, page)


def test_alerts_page(page, ui_server, ui_data, console_errors):
    open_page(page, f"{ui_server}/alerts")
    rows = page.locator("table#alerts tbody tr")
    assert rows.count() >= 1
    drift = rows.filter(has_text=ui_data.monitor.rsplit("/", 1)[-1])
    assert drift.count() >= 1, texts(page, "table#alerts tbody tr")
    assert "delivered" in drift.first.locator("td.delivery").inner_text()
    shot(page, "alerts")
    clean_console(console_errors, page)
