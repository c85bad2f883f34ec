"""The dashboard's routes: server-rendered pages and the JSON they chart.

=============================================  =============================================
page                                           what it shows
=============================================  =============================================
``/``                                          counts, recent experiments, latest alerts
``/experiments?q=``                            every experiment, searchable
``/experiment?name=``                          runs table, metric chart, artifacts
``/compare?experiment=&runs=1,2``              params side by side, metric curves overlaid
``/events?experiment=&run=&event=&key=``       the event browser (filters of ``exp.data()``)
``/drift``, ``/monitor?name=&i=&j=``           monitors; per-column verdicts, overlays, report
``/agents``                                    live window metrics of agents, anomalies marked
``/models``, ``/datasets``, ``/jobs``          stored objects; jobs with history and "run now"
``/alerts``                                    every alert with its delivery outcome
``/login``                                     token form (only when the server needs a token)
=============================================  =============================================

JSON under ``/api/v1/ui/``: ``experiments``, ``runs``, ``events``,
``metric-series`` (downsampled in the store), ``artifact`` (download, bytes
as stored), ``monitors``, ``monitor``, ``distribution``, ``agent-metrics``,
``alerts``, ``jobs``, ``jobs/run`` (POST). Plotly.js is served from the
installed ``plotly`` package: the pages need no network.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from vigil.errors import InvalidInput, NotFound
from vigil.server.security import SESSION_COOKIE, session_value
from vigil.server.ui.catalog import Catalog, parse_runs

HERE = Path(__file__).parent
Name = Annotated[str, Query(min_length=1, max_length=256)]
Opt = Annotated[str | None, Query(max_length=256)]


def _plotly_js() -> Path:
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError:
        raise NotFound("plotly is not installed: pip install 'vigil-ml[server]'") from None
    if not path.exists():
        raise NotFound(f"plotly.min.js not found at {path}")
    return path


def _when(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _safe_next(target: str | None) -> str:
    """Only a local path is a valid place to go after login (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def add_dashboard(api: FastAPI, collector: Any, config: Any) -> None:
    """Register the dashboard on ``api``, reading the stores of ``collector`` (opened by the lifespan)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(when=_when, num=_num, q=lambda s: quote(str(s), safe=""))
    env.globals["token_required"] = bool(config.token)

    def page(template: str, request: Request, http_status: int = 200, **context: Any) -> HTMLResponse:
        body = env.get_template(template).render(request=request, path=request.url.path, **context)
        return HTMLResponse(body, status_code=http_status, headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                       "script-src 'self' 'unsafe-eval'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})

    def cat() -> Catalog:
        return Catalog(collector.stores)

    # errors: a page shows the message, JSON gets {"detail": ...}
    def failed(request: Request, exc: Exception, status: int) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return page("error.html", request, http_status=status, status_code=status, message=str(exc))

    @api.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return failed(request, exc, 404)

    @api.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> Response:
        return failed(request, exc, 422)

    # -- static ----------------------------------------------------------------------------------
    @api.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @api.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {"vigil.css": "text/css", "vigil.js": "text/javascript"}
        if name not in files:
            raise NotFound(f"no static file {name!r}")
        return FileResponse(HERE / "static" / name, media_type=files[name])

    # -- login -----------------------------------------------------------------------------------
    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: Opt = None) -> Response:
        return page("login.html", request, next=_safe_next(next), error=None)

    @api.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        token = (form.get("token") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        if not config.token:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(token.encode(), config.token.encode()):
            await asyncio.sleep(0.2)  # a little friction for guessing
            return page("login.html", request, next=target, error="That token is not valid.")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session_value(config.token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=7 * 86400)
        return response

    @api.get("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- pages ---------------------------------------------------------------------------------------
    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> Response:
        return page("overview.html", request, o=cat().overview())

    @api.get("/experiments", response_class=HTMLResponse, include_in_schema=False)
    def experiments_page(request: Request, q: Opt = None) -> Response:
        found = cat().experiments(q or "")
        return page("experiments.html", request, q=q or "",
                    experiments=[e for e in found if e["kind"] == "experiment"],
                    others=[e for e in found if e["kind"] != "experiment"])

    @api.get("/experiment", response_class=HTMLResponse, include_in_schema=False)
    def experiment_page(request: Request, name: Name, page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
                        per_page: Annotated[int, Query(ge=10, le=500)] = 50, status: Opt = None) -> Response:
        c = cat()
        data = c.runs(name)
        runs = data["runs"][::-1]  # newest first
        if status:
            runs = [r for r in runs if r["status"] == status.upper()]
        pages = max(1, -(-len(runs) // per_page))
        page_no = min(page_no, pages)
        shown = runs[(page_no - 1) * per_page: page_no * per_page]
        return page("experiment.html", request, name=name, data=data, runs=shown, page_no=page_no, pages=pages,
                    per_page=per_page, status=status or "", total=len(runs), artifacts=c.artifacts(name))

    @api.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, experiment: Name, runs: Annotated[str, Query(max_length=2000)]) -> Response:
        wanted = parse_runs(runs) or []
        if len(wanted) < 2:
            raise InvalidInput(f"runs must name at least two runs to compare, like '1,2'; got {runs!r}")
        data = cat().runs(experiment)
        by_run = {r["run"]: r for r in data["runs"]}
        missing = [r for r in wanted if r not in by_run]
        if missing:
            raise NotFound(f"experiment {experiment!r} has no run {missing[0]}")
        chosen = [by_run[r] for r in wanted]
        differ = {k for k in data["param_keys"] if len({json.dumps(r["params"].get(k)) for r in chosen}) > 1}
        return page("compare.html", request, name=experiment, data=data, runs=chosen, differ=differ,
                    run_ids=",".join(map(str, wanted)))

    @api.get("/events", response_class=HTMLResponse, include_in_schema=False)
    def events_page(request: Request, experiment: Name, run: Opt = None, event: Opt = None, key: Opt = None,
                    since: Opt = None, after: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
        found = cat().events(experiment, parse_runs(run, "run"), event or None, key or None, _since(since),
                             after, limit)
        return page("events.html", request, name=experiment, found=found,
                    f={"run": run or "", "event": event or "", "key": key or "", "since": since or ""}, limit=limit)

    @api.get("/drift", response_class=HTMLResponse, include_in_schema=False)
    def drift_page(request: Request) -> Response:
        return page("drift.html", request, monitors=cat().monitors())

    @api.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
    def monitor_page(request: Request, name: Name, i: Annotated[int | None, Query(ge=0)] = None,
                     j: Annotated[int | None, Query(ge=0)] = None) -> Response:
        return page("monitor.html", request, name=name, m=cat().monitor(name, i, j))

    @api.get("/monitor/report", response_class=HTMLResponse, include_in_schema=False)
    def monitor_report(name: Name, i: Annotated[int | None, Query(ge=0)] = None,
                       j: Annotated[int | None, Query(ge=0)] = None) -> Response:
        return HTMLResponse(cat().monitor_report(name, i, j), headers={
            "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'"})

    @api.get("/agents", response_class=HTMLResponse, include_in_schema=False)
    def agents_page(request: Request, refresh_s: Annotated[float, Query(ge=0.5, le=3600)] = 5.0) -> Response:
        return page("agents.html", request, agents=collector.agents(), refresh_s=refresh_s)

    @api.get("/models", response_class=HTMLResponse, include_in_schema=False)
    def models_page(request: Request) -> Response:
        return page("objects.html", request, title="Models", kind="model", items=cat().models())

    @api.get("/datasets", response_class=HTMLResponse, include_in_schema=False)
    def datasets_page(request: Request) -> Response:
        return page("objects.html", request, title="Datasets", kind="dataset", items=cat().datasets())

    @api.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
    def jobs_page(request: Request, name: Opt = None) -> Response:
        c = cat()
        jobs = c.jobs()
        chosen = name or (jobs[0]["name"] if jobs else None)
        return page("jobs.html", request, jobs=jobs, chosen=chosen, history=c.job_runs(chosen) if chosen else [])

    @api.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(request: Request) -> Response:
        return page("alerts.html", request, alerts=cat().alerts(limit=500))

    # -- JSON -----------------------------------------------------------------------------------------
    tags: list[Any] = ["dashboard"]

    @api.get("/api/v1/ui/experiments", tags=tags)
    def experiments_json(q: Opt = None) -> Any:
        """Every experiment with run count, last activity and the status of its latest run."""
        return {"experiments": cat().experiments(q or "")}

    @api.get("/api/v1/ui/runs", tags=tags)
    def runs_json(experiment: Name) -> Any:
        """An experiment's runs: status, times, params, last/min/max/count of each metric."""
        return cat().runs(experiment)

    @api.get("/api/v1/ui/events", tags=tags)
    def events_json(experiment: Name, run: Opt = None, event: Opt = None, key: Opt = None, since: Opt = None,
                    after: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Any:
        """A page of events (filters as ``exp.data()``); pass ``after=next_after`` for the next page."""
        return cat().events(experiment, parse_runs(run, "run"), event or None, key or None, _since(since), after, limit)

    @api.get("/api/v1/ui/metric-series", tags=tags)
    def metric_series_json(experiment: Name, key: Name, runs: Annotated[str | None, Query(max_length=2000)] = None,
                           points: Annotated[int, Query(ge=10, le=10_000)] = 1000) -> Any:
        """A metric per run, reduced in the store to at most ``points`` buckets (mean, min, max each)."""
        return cat().metric_series(experiment, key, parse_runs(runs), points)

    @api.get("/api/v1/ui/artifact", tags=tags)
    def artifact(experiment: Name, id: Annotated[int, Query(ge=1)]) -> Response:
        """The stored bytes of one artifact, as an attachment (never deserialized by the server)."""
        filename, data = cat().artifact_bytes(experiment, id)
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff"})

    @api.get("/api/v1/ui/monitors", tags=tags)
    def monitors_json() -> Any:
        """Drift monitors with snapshot counts and their last verdict."""
        return {"monitors": cat().monitors()}

    @api.get("/api/v1/ui/monitor", tags=tags)
    def monitor_json(name: Name, i: Annotated[int | None, Query(ge=0)] = None,
                     j: Annotated[int | None, Query(ge=0)] = None) -> Any:
        """A monitor's snapshots, captures and the comparison of snapshots i and j."""
        return cat().monitor(name, i, j)

    @api.get("/api/v1/ui/distribution", tags=tags)
    def distribution_json(name: Name, column: Name, i: Annotated[int | None, Query(ge=0)] = None,
                          j: Annotated[int | None, Query(ge=0)] = None) -> Any:
        """Shares per bin or category of one column in snapshots i and j."""
        return cat().distribution(name, column, i, j)

    @api.get("/api/v1/ui/agent-metrics", tags=tags)
    def agent_metrics(agent: Name) -> Any:
        """The series an agent reports (from its latest window): metric and labels."""
        known = {a["agent_id"]: a for a in collector.agents()}
        if agent not in known:
            raise NotFound(f"no agent {agent!r}")
        found = known[agent]
        return {"agent": agent, "series": cat().agent_series(found["experiment"], found.get("last_window_event_id"))}

    @api.get("/api/v1/ui/alerts", tags=tags)
    def alerts_json(limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> Any:
        """The latest alerts of every experiment, newest first, with delivery outcomes."""
        return {"alerts": cat().alerts(limit)}

    @api.get("/api/v1/ui/jobs", tags=tags)
    def jobs_json() -> Any:
        """Jobs with schedule and last run."""
        return {"jobs": cat().jobs()}

    @api.post("/api/v1/ui/jobs/run", tags=tags)
    def run_job(name: Name) -> Any:
        """Run a job now; answers with its run record (status ok / failed / timeout)."""
        return cat().run_job(name)


def _since(text: str | None) -> float | None:
    """``since`` as epoch seconds or an ISO date/time (UTC unless it says otherwise)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"since must be epoch seconds or an ISO date like 2026-11-23T10:00; got {text!r}") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
