"""A stub collector for tests: the wire contract in a thread, with failure modes.

:class:`StubCollector` answers ``POST /api/v1/windows`` like the real
collector (validation, bearer token, deduplication by ``window_id``) and
``GET /api/v1/health``, and can be told to fail (``mode = 500`` or any
status code) to exercise spooling and retries. It keeps what it stored in
memory. ``python -m vigil.agent.testing --port 8000`` runs it standalone.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vigil.agent import wire


class StubCollector:
    """An in-memory collector on ``host:port`` (port 0: any free port).

    Attributes
    ----------
    windows : dict
        window_id -> window, in the order first stored.
    received : list of str
        window_id of every well-formed POST, duplicates included.
    answers : list of int
        HTTP status of every POST answered, in order.
    mode : int or None
        None: behave; an HTTP status code: answer every POST with it.
    token : str or None
        When set, POSTs need ``Authorization: Bearer <token>`` (else 401).

    Examples
    --------
    >>> import urllib.request
    >>> with StubCollector() as stub:
    ...     with urllib.request.urlopen(stub.url + '/api/v1/health') as r:
    ...         print(r.read().decode())
    {"status": "ok"}
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.host = host
        self.token = token
        self.mode: int | None = None
        self.windows: dict[str, dict[str, Any]] = {}
        self.received: list[str] = []
        self.answers: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StubCollector:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vigil-stub-collector", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StubCollector:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def receive(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The answer of the collector to one POST: (status, JSON body)."""
        status, payload = self._answer(body, authorization)
        with self._lock:
            self.answers.append(status)
        return status, payload

    def _answer(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, Any]]:
        if self.mode is not None:
            return self.mode, {"error": f"stub mode {self.mode}"}
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, {"error": "bad or missing bearer token"}
        try:
            window = json.loads(body)
        except ValueError as exc:
            return 400, {"error": f"not JSON: {exc}"}
        found = wire.problems(window)
        if found:
            return 422, {"error": "; ".join(found)}
        with self._lock:
            self.received.append(window["window_id"])
            if window["window_id"] in self.windows:
                return 200, {"stored": False}
            self.windows[window["window_id"]] = window
        return 201, {"stored": True}


def _handler(stub: StubCollector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == wire.HEALTH_PATH:
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != wire.PATH:
                self._answer(404, {"error": "not found"})
                return
            self._answer(*stub.receive(body, self.headers.get("Authorization")))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.agent.testing", description=__doc__)
    parser.add_argument("--listen", default="localhost", help="'localhost' or 'all'")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    host = "0.0.0.0" if args.listen == "all" else "127.0.0.1"
    stub = StubCollector(host, args.port, args.token)
    try:
        stub._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        stub._server.server_close()


if __name__ == "__main__":
    main()
