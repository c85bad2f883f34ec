"""The HTTP API of the collector (v1), on FastAPI.

=========================================  ====================================================
endpoint                                   answer
=========================================  ====================================================
``GET  /api/v1/health``                    ``{"status": "ok", ...}`` (never needs the token)
``POST /api/v1/windows``                   201 ``{"stored": true}``; 200 ``{"stored": false}``
                                           (duplicate); 401, 413, 415, 422, 503 (retry)
``GET  /api/v1/agents``                    agents with window count and last window end
``GET  /api/v1/agents/{id}/series``        ``?metric=pred1&stat=mean&cls=3&feature=f0&category=
                                           &since=&until=``: ``{"agent_id", "metric", "points":
                                           [{"t", "value", ...}]}`` by window end
``GET  /api/v1/agents/{id}/alerts``        the agent's latest ``alert`` events
``GET  /api/v1/series``                    ``?metric=accuracy&agents=a,b``: one series per agent
``GET  /metrics``                          Prometheus exposition of the latest windows
``GET  /api/v1/openapi.json``              the OpenAPI schema (``/api/v1/docs``: its UI)
``GET  /`` and ``/api/v1/ui/...``           the web dashboard (:mod:`vigil.server.ui`)
=========================================  ====================================================

Errors are JSON ``{"detail": ...}``; for a bad payload or query, ``detail``
is a list of ``{"loc", "msg", "type"}`` naming the field. Bad input never
yields a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

import vigil
from vigil.config import Settings
from vigil.server.collector import BadWindow, Collector, Unavailable
from vigil.server.config import ServerConfig
from vigil.server.schemas import AgentList, ErrorDetail, Health, Series, SeriesSet, Window, WindowAck
from vigil.server.security import HEALTH_PATH, BearerAuth, BodyLimit

log = logging.getLogger("vigil.server")

AgentPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="agent id")]
MetricQuery = Annotated[str, Query(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="metric name")]
LabelQuery = Annotated[str | None, Query(max_length=256)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "missing or invalid bearer token"},
    422: {"model": ErrorDetail, "description": "invalid input; detail names the field"},
}


class CollectorApp:
    """The ASGI application: token check, body limit, then the FastAPI routes.

    ``api`` is the FastAPI instance and ``collector`` the
    :class:`~vigil.server.collector.Collector` behind it (opened and closed by
    the ASGI lifespan).
    """

    def __init__(self, config: ServerConfig | None = None, settings: Settings | None = None) -> None:
        self.config = (config or ServerConfig()).check()
        self.collector = Collector(self.config, settings)
        self.api = _build_api(self.collector, self.config)
        app: Any = BodyLimit(WindowRoute(self.api, self.collector, self.config), self.config.max_body_bytes)
        if self.config.token:
            app = BearerAuth(app, self.config.token)
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


def create_app(config: ServerConfig | None = None, settings: Settings | None = None) -> CollectorApp:
    """The collector as an ASGI app (for uvicorn, or ``fastapi.testclient.TestClient``).

    Parameters
    ----------
    config : ServerConfig, optional
        Checked here: an exposed address without a token raises ConfigError.
    settings : vigil.config.Settings, optional
        The workspace (default: the ``VIGIL_*`` environment).

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> with TestClient(create_app(ServerConfig(alert_channels=()))) as client:
    ...     client.get('/api/v1/health').json()['status']
    'ok'
    """
    return CollectorApp(config, settings)


async def store_window(collector: Collector, config: ServerConfig, content_type: str | None,
                       body: bytes) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """``POST /api/v1/windows``: (status, JSON answer, extra headers); answers once the window is committed."""
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        return 415, {"detail": f"Content-Type must be application/json; got {ctype!r}"}, None
    loop = asyncio.get_running_loop()
    try:
        window = collector.parse(body)
        if collector.admits_without_io(window):
            # CPU only (no store I/O): here, with no thread hop or GIL hand-over
            stored, wid, unit = collector.admit(window)
        else:  # an agent's first window, or one the store must be asked about
            stored, wid, unit = await loop.run_in_executor(collector.executor, collector.admit, window)
        if unit is not None and not unit.committed:
            committed = loop.create_future()
            unit.add_done_callback(lambda: loop.call_soon_threadsafe(_resolve, committed))
            try:
                await asyncio.wait_for(committed, config.commit_timeout_s)
            except TimeoutError:
                raise collector.not_committed(wid) from None
    except BadWindow as exc:
        return 422, {"detail": exc.errors}, None
    except Unavailable as exc:
        return 503, {"detail": str(exc)}, {"Retry-After": str(exc.retry_after_s)}
    return (201 if stored else 200), {"stored": stored, "window_id": wid}, None


class WindowRoute:
    """``POST /api/v1/windows`` straight to :func:`store_window`; every other request to the FastAPI app.

    The route the agents hit hundreds of times a second skips FastAPI's
    routing, dependency and middleware layers (measured: about a tenth of the
    collector's CPU per window); the FastAPI route of the same path, which
    calls the same function, is what the OpenAPI schema documents. Sits inside
    :class:`~vigil.server.security.BodyLimit` (and the token check), so the
    body arrives whole and within the limit.
    """

    PATH = "/api/v1/windows"

    def __init__(self, app: Any, collector: Collector, config: ServerConfig) -> None:
        self.app = app
        self.collector = collector
        self.config = config

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.PATH:
            await self.app(scope, receive, send)
            return
        content_type = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), None)
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            status, answer, headers = await store_window(self.collector, self.config, content_type, b"".join(chunks))
        except Exception:  # noqa: BLE001 - as FastAPI would: a 500, logged, never a dropped connection
            log.exception("vigil: POST %s failed", self.PATH)
            status, answer, headers = 500, {"detail": "internal error; see the server log"}, None
        data = json.dumps(answer, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]})
        await send({"type": "http.response.body", "body": data})


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _build_api(collector: Collector, config: ServerConfig) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(collector.open)
        try:
            yield
        finally:
            await run_in_threadpool(collector.close)

    api = FastAPI(title="vigil collector", version=vigil.__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None,
                  description="Receives the windows of vigil monitoring agents; serves their series.")

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                              for e in exc.errors()])

    @api.get(HEALTH_PATH, response_model=Health, tags=["meta"])
    async def health() -> Health:
        """Liveness; never needs the token."""
        return Health(version=vigil.__version__, token_required=config.token_required)

    @api.post("/api/v1/windows", status_code=201, response_model=WindowAck, tags=["windows"],
              responses={200: {"model": WindowAck, "description": "duplicate: stored before"},
                         **_ERRORS, 413: {"model": ErrorDetail, "description": "body too large"},
                         415: {"model": ErrorDetail, "description": "not JSON"},
                         503: {"model": ErrorDetail, "description": "cannot store now; retry (Retry-After)"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Window"}}}}})
    async def post_window(request: Request) -> Response:
        """Store one window of an agent (exactly once per ``window_id``); answers once it is committed."""
        status, answer, headers = await store_window(collector, config, request.headers.get("content-type"),
                                                     await request.body())
        return JSONResponse(answer, status_code=status, headers=headers)

    @api.get("/api/v1/agents", response_model=AgentList, tags=["series"], responses=_ERRORS)
    def agents() -> dict[str, Any]:
        """Every agent with stored windows, its window count and the end of its latest window."""
        return {"agents": collector.agents()}

    @api.get("/api/v1/agents/{agent_id}/series", response_model=Series, response_model_by_alias=True,
             tags=["series"], responses={**_ERRORS, 404: {"model": ErrorDetail}})
    def agent_series(agent_id: AgentPath, metric: MetricQuery, stat: LabelQuery = None, cls: LabelQuery = None,
                     feature: LabelQuery = None, category: LabelQuery = None,
                     since: Annotated[float | None, Query(description="window end >= since (epoch s)")] = None,
                     until: Annotated[float | None, Query(description="window end <= until (epoch s)")] = None,
                     ) -> dict[str, Any]:
        """One agent's values of a metric, ordered by window end; filters match the point's labels."""
        points = collector.series(agent_id, metric, since, until, stat=stat, cls=cls, feature=feature,
                                  category=category)
        if points is None:
            raise HTTPException(404, f"no agent {agent_id!r}; see GET /api/v1/agents")
        return {"agent_id": agent_id, "metric": metric, "points": points}

    @api.get("/api/v1/series", response_model=SeriesSet, response_model_by_alias=True, tags=["series"],
             responses={**_ERRORS, 404: {"model": ErrorDetail}})
    def compare(metric: MetricQuery,
                agents: Annotated[str, Query(description="comma-separated agent ids", max_length=10_000)],
                stat: LabelQuery = None, cls: LabelQuery = None, feature: LabelQuery = None,
                category: LabelQuery = None, since: float | None = None, until: float | None = None,
                ) -> dict[str, Any]:
        """The same metric for several agents (canaries on the same traffic), one series each."""
        ids = [a.strip() for a in agents.split(",") if a.strip()]
        if not ids:
            raise RequestValidationError([{"loc": ("query", "agents"), "msg": "give at least one agent id",
                                           "type": "value_error"}])
        series, missing = [], []
        for agent_id in ids:
            points = collector.series(agent_id, metric, since, until, stat=stat, cls=cls, feature=feature,
                                      category=category)
            if points is None:
                missing.append(agent_id)
            else:
                series.append({"agent_id": agent_id, "metric": metric, "points": points})
        if missing:
            raise HTTPException(404, f"no agent {', '.join(map(repr, missing))}; see GET /api/v1/agents")
        return {"metric": metric, "series": series}

    @api.get("/api/v1/agents/{agent_id}/alerts", tags=["alerts"], responses={**_ERRORS, 404: {"model": ErrorDetail}})
    def agent_alerts(agent_id: AgentPath, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        """The agent's latest alerts (anomalies) with their delivery outcomes, newest last."""
        found = collector.alerts(agent_id, limit)
        if found is None:
            raise HTTPException(404, f"no agent {agent_id!r}; see GET /api/v1/agents")
        return {"agent_id": agent_id, "alerts": found}

    @api.get("/metrics", tags=["meta"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}})
    async def metrics() -> Response:
        """Gauges of the latest window of every agent (see vigil.server.prometheus)."""
        from vigil.server.prometheus import CONTENT_TYPE_LATEST

        return Response(collector.gauges.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description,
                                 routes=api.routes)
            window = Window.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(window.pop("$defs", {}))
            components["Window"] = window
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    try:
        import jinja2  # noqa: F401 - the dashboard's templates
    except ImportError:
        log.warning("vigil: the dashboard needs jinja2 and plotly: pip install 'vigil-ml[server]'")
    else:
        from vigil.server.ui.routes import add_dashboard

        add_dashboard(api, collector, config)
    return api
