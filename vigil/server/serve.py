"""Run the collector: ``vigil server`` and ``python -m vigil.server`` (same flags).

::

    vigil server                                  # 127.0.0.1:8000, no token needed
    VIGIL_TOKEN=... vigil server --listen all     # every interface: a token is required
    vigil server --port 9000 --alert log --alert slack+https://hooks.slack.com/services/...

Prefer ``VIGIL_TOKEN`` to ``--token``: command lines are visible to other
users of the machine (``ps``). The token is never logged.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError, MissingDependency, VigilError

log = logging.getLogger("vigil.server")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The server's flags, shared by ``vigil server`` and ``python -m vigil.server``."""
    p.add_argument("--listen", default="localhost",
                   help="'localhost' (127.0.0.1, default), 'all' (0.0.0.0: needs a token) or an IP address")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--token", default=None,
                   help="bearer token clients must send (default: $VIGIL_TOKEN; required unless loopback)")
    p.add_argument("--max-body-mb", type=float, default=None,
                   help="largest accepted request body in MiB (default 8; or $VIGIL_SERVER_MAX_BODY_BYTES)")
    p.add_argument("--jsonl-dir", type=Path, default=None,
                   help="folder of the JSON Lines export (default $VIGIL_HOME/exports/jsonl)")
    p.add_argument("--no-jsonl", action="store_true", help="do not write the JSON Lines export")
    p.add_argument("--jsonl-rotate-s", type=float, default=3600.0, help="start a new file every N s (default 3600)")
    p.add_argument("--jsonl-max-mb", type=float, default=64.0, help="start a new file at N MiB (default 64)")
    p.add_argument("--prometheus-max-series", type=int, default=10_000,
                   help="cap on label sets of the /metrics gauges (default 10000; more are dropped and counted)")
    p.add_argument("--no-anomaly", action="store_true", help="do not run anomaly detection on the series")
    p.add_argument("--alert", action="append", default=None, metavar="SPEC",
                   help="alert channel, repeatable: 'log' (default), an http(s) webhook URL, "
                        "'slack+https://...', 'alertmanager+http://...', 'smtp://host:port?from=..&to=..'")
    p.add_argument("--alert-cooldown-s", type=float, default=3600.0,
                   help="do not resend the same alert within N s (default 3600)")
    p.add_argument("--ingest-threads", type=int, default=2,
                   help="threads that write windows into the store (default 2; more for remote object stores)")
    p.add_argument("--commit-linger-ms", type=float, default=5.0,
                   help="group commit: a commit waits up to N ms for more windows (default 5; 0: commit at once)")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    from vigil.server.config import ServerConfig, resolve_host

    overrides: dict[str, Any] = {
        "host": resolve_host(args.listen), "port": args.port, "token": args.token,
        "jsonl_dir": args.jsonl_dir, "jsonl": not args.no_jsonl, "jsonl_rotate_s": args.jsonl_rotate_s,
        "jsonl_max_bytes": int(args.jsonl_max_mb * 2**20), "prometheus_max_series": args.prometheus_max_series,
        "anomaly": not args.no_anomaly, "alert_channels": tuple(args.alert or ["log"]),
        "alert_cooldown_s": args.alert_cooldown_s, "access_log": args.access_log, "log_level": args.log_level,
        "ingest_threads": args.ingest_threads, "commit_linger_s": args.commit_linger_ms / 1000.0,
    }
    if args.max_body_mb is not None:
        overrides["max_body_bytes"] = int(args.max_body_mb * 2**20)
    config = ServerConfig.from_env(**overrides)
    from vigil.drift.alerts import channels_from_specs

    channels_from_specs(list(config.alert_channels))  # refuse a bad spec before starting
    return config


def serve(config: Any) -> None:
    """Run the collector until SIGINT/SIGTERM; on the way out every accepted window is committed."""
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency("uvicorn", "server", "the collector server") from None
    from vigil.server.app import create_app

    if not logging.getLogger("vigil").handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("vigil").addHandler(handler)
        logging.getLogger("vigil").setLevel(config.log_level.upper())
    app = create_app(config)
    sock = _listen(config.host, config.port)  # bound here: a busy port is a clear ConfigError (exit 1)
    host = f"[{config.host}]" if ":" in config.host else config.host
    log.info("vigil collector on http://%s:%d (token %s, max body %d bytes)", host, sock.getsockname()[1],
             "required" if config.token_required else "not required", config.max_body_bytes)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level=config.log_level, access_log=config.access_log, server_header=False,
        proxy_headers=False, timeout_graceful_shutdown=30, lifespan="on"))
    tune_gc()
    server.run(sockets=[sock])


#: Allocations between young-generation collections in a server process (CPython's default is 700).
GC_YOUNG_THRESHOLD = 100_000


def tune_gc() -> None:
    """Garbage collection for a long-running collector process (not for library use).

    Every window allocates a few thousand short-lived objects (its points,
    its sample rows), so at CPython's default thresholds the cyclic collector
    ran several times per window and a full collection walked every object
    the imports left behind. Measured with ``bench/collector_load.py`` (32
    agents, 2 cores): that was a quarter of the server's CPU and most of its
    p99. Here the objects alive at startup are frozen out of collection
    (``gc.freeze``) and the young generation is collected every
    :data:`GC_YOUNG_THRESHOLD` allocations. Reference counting still frees
    nearly everything at once; only cycles wait longer, and they are few.
    """
    import gc

    import vigil.server.collector  # noqa: F401 - what the collector imports on startup, frozen with the rest
    import vigil.server.prometheus  # noqa: F401
    import vigil.server.watch  # noqa: F401
    import vigil.store.registry  # noqa: F401

    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"vigil server: cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vigil.server``: exit 0, 1 on a vigil error (bad settings), 2 on usage errors."""
    p = add_arguments(argparse.ArgumentParser(prog="python -m vigil.server", description="vigil collector server"))
    args = p.parse_args(argv)
    try:
        serve(config_from_args(args))
    except VigilError as exc:
        print(f"vigil: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
