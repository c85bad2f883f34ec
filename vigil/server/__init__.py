"""L3: the collector server (``vigil server``): receives agents' windows, serves their series.

==============================  ===============================================================
module                          concept
==============================  ===============================================================
:mod:`~vigil.server.app`        the HTTP API (FastAPI), :func:`create_app`
:mod:`~vigil.server.collector`  validate, deduplicate, store windows; what an ack guarantees
:mod:`~vigil.server.writer`     group commit of whole windows
:mod:`~vigil.server.schemas`    the JSON schemas (pydantic)
:mod:`~vigil.server.security`   bearer token and body limit (ASGI middleware)
:mod:`~vigil.server.prometheus` ``/metrics`` gauges with a cap on label sets
:mod:`~vigil.server.watch`      anomaly detection on every series, as alerts
:mod:`~vigil.server.config`     settings; refuses unsafe ones
:mod:`~vigil.server.serve`      command line and uvicorn
==============================  ===============================================================

Needs the ``server`` extra (``pip install 'vigil-ml[server]'``). Importing this
package imports nothing heavy; the modules load on use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ServerConfig"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from vigil.server.app import create_app

        return create_app
    if name == "ServerConfig":
        from vigil.server.config import ServerConfig

        return ServerConfig
    raise AttributeError(f"module 'vigil.server' has no attribute {name!r}")
