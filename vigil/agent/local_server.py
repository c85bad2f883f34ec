"""A collector on this machine: reuse the one answering on the port, or start one.

``MonitoringAgent.run_local_server()`` calls :func:`ensure_collector`. The
collector is ``python -m vigil.server --listen localhost --port PORT`` in a
child process, with the environment of the host (so the same
``VIGIL_HOME``); its output goes to ``$VIGIL_HOME/logs/collector-PORT.log``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from vigil.agent import wire
from vigil.errors import TransportError

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_healthy(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True if ``GET /api/v1/health`` on host:port answers ``{"status": "ok"}``.

    Examples
    --------
    >>> is_healthy('127.0.0.1', 9, timeout_s=0.2)   # the discard port: nobody answers
    False
    """
    try:
        with _NO_PROXY.open(wire.url(host, port, wire.HEALTH_PATH), timeout=timeout_s) as response:
            return json.loads(response.read(10_000)).get("status") == "ok"
    except (OSError, ValueError, AttributeError, urllib.error.URLError):
        return False


def collector_command(port: int) -> list[str]:
    """The command that starts the collector on the local interface."""
    return [sys.executable, "-m", "vigil.server", "--listen", "localhost", "--port", str(port)]


def ensure_collector(host: str, port: int, timeout_s: float = 30.0,
                     command: Sequence[str] | None = None,
                     log_path: Path | None = None) -> subprocess.Popen | None:
    """Reuse a healthy collector on host:port, or start one and wait until it is healthy.

    Returns the child process when one was started, None when an existing
    collector was reused. Raises :class:`~vigil.errors.TransportError` when
    the child exits or is not healthy within ``timeout_s`` (the child is
    then terminated and the end of its log is quoted).
    """
    if is_healthy(host, port):
        return None
    argv = list(command) if command is not None else collector_command(port)
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    except OSError as exc:
        raise TransportError(f"run_local_server: cannot start the collector {argv!r}: {exc}") from None
    finally:
        if log is not None:
            log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise TransportError(
                f"run_local_server: the collector exited with code {child.returncode} before it was "
                f"healthy on {host}:{port} (is the port taken?){_tail(log_path)}")
        if is_healthy(host, port, timeout_s=0.5):
            return child
        time.sleep(0.1)
    stop(child)
    raise TransportError(
        f"run_local_server: the collector did not answer GET {wire.HEALTH_PATH} on {host}:{port} "
        f"within {timeout_s:g} s{_tail(log_path)}")


def stop(child: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """Terminate a collector started by :func:`ensure_collector` (kill it if it lingers)."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout_s)


def _tail(log_path: Path | None, chars: int = 2000) -> str:
    if log_path is None:
        return ""
    try:
        text = log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
    return f"; its log ({log_path}) ends with:\n{text}" if text.strip() else f"; its log is {log_path}"
