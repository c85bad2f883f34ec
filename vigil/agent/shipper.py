"""Delivery of spooled windows: sinks, and the shipper thread with backoff.

A *sink* takes the JSON body of one window and says what happened:

============  ==============================================================
outcome       meaning
============  ==============================================================
DELIVERED     stored (or already stored: a duplicate); the spool file is deleted
REJECTED      refused for good (HTTP 4xx other than 401/403/408/429): the file is
              deleted and counted as ``rejected``
RETRY         not now (connection error, timeout, 5xx, 408, 429, 401/403): the
              file stays; the shipper waits and retries
============  ==============================================================

401/403 are retried rather than dropped: the window is fine, the
credentials are not, and the windows should survive until the operator fixes
the token (the spool bound still applies). They are logged as errors.

The shipper sends the spool oldest first and stops at the first RETRY, so
windows arrive in order. Between failed passes it waits 0.5 s, 1 s, 2 s ...
up to ``backoff_max_s`` (+-20 % jitter, or the collector's ``Retry-After``).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from vigil.agent import wire
from vigil.agent.ratelog import RateLimitedLog
from vigil.agent.spool import Spool

DELIVERED, REJECTED, RETRY = "delivered", "rejected", "retry"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

logger = logging.getLogger("vigil.agent")


class HttpSink:
    """POST windows to a collector with :mod:`urllib` (no proxy for loopback addresses).

    Parameters
    ----------
    host : str
    port : int
    token : str, optional
        Sent as ``Authorization: Bearer <token>``.
    timeout_s : float
        Connect and read timeout of one request.
    """

    def __init__(self, host: str, port: int, token: str | None, timeout_s: float) -> None:
        self.url = wire.url(host, port)
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", "User-Agent": "vigil-agent"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)
        self.last_error = ""

    def __call__(self, body: bytes) -> tuple[str, float | None]:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read()
            return DELIVERED, None
        except urllib.error.HTTPError as exc:
            code = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            try:
                detail = exc.read(500).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - the body is only for the log
                detail = ""
            exc.close()
            self.last_error = f"HTTP {code} from {self.url}: {detail}".strip()
            if code in (401, 403, 408, 429) or code >= 500:
                return RETRY, retry_after
            return REJECTED, None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            self.last_error = f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}"
            return RETRY, None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class CallableSink:
    """Hand each window (a dict) to a function; an exception means RETRY.

    Examples
    --------
    >>> got = []
    >>> CallableSink(got.append)(b'{"window_id": "a:0"}')
    ('delivered', None)
    >>> got
    [{'window_id': 'a:0'}]
    """

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.fn = fn
        self.last_error = ""

    def __call__(self, body: bytes) -> tuple[str, float | None]:
        window = decode_window(self, body)
        if window is None:
            return REJECTED, None
        try:
            self.fn(window)
        except Exception as exc:  # noqa: BLE001 - the user's sink failed: keep the window, retry later
            self.last_error = f"the sink raised {type(exc).__name__}: {exc}"
            return RETRY, None
        return DELIVERED, None


def decode_window(sink: Any, body: bytes) -> dict[str, Any] | None:
    """The window in a spooled body, or None (with ``sink.last_error`` set) if it is unreadable."""
    try:
        return json.loads(body)
    except ValueError as exc:
        sink.last_error = f"unreadable window ({exc})"
        return None


class Shipper:
    """A daemon thread that delivers the spool to a sink, oldest first.

    Parameters
    ----------
    spool : Spool
    sink : callable
        ``sink(body) -> (outcome, retry_after_s)``.
    count : callable
        ``count(reason, n)`` records ``rejected`` windows.
    backoff_max_s : float
    log : RateLimitedLog
    name : str
        Thread name.
    """

    def __init__(self, spool: Spool, sink: Callable[[bytes], tuple[str, float | None]],
                 count: Callable[[str, int], None], backoff_max_s: float, log: RateLimitedLog,
                 name: str = "vigil-shipper") -> None:
        self.spool = spool
        self.sink = sink
        self.count = count
        self.backoff_max_s = backoff_max_s
        self.log = log
        self.delivered = 0
        self.rejected = 0
        self._wake = threading.Event()
        self._stopping = False
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Try now (a new window, or a flush): skips the current backoff wait."""
        self._wake.set()

    def stop(self, timeout_s: float) -> bool:
        """Make a last delivery pass within ``timeout_s`` and end the thread; True if it ended."""
        self._deadline = time.monotonic() + timeout_s
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s + 0.5)
        return not self._thread.is_alive()

    def _run(self) -> None:
        failures = 0
        while True:
            stopping = self._stopping
            try:
                done, retry_after = self.ship_pending()
            except Exception:  # noqa: BLE001 - the shipper must survive anything
                logger.exception("vigil agent: unexpected error while shipping windows")
                done, retry_after = False, None
            if stopping:
                return
            if done:
                failures = 0
                self._wake.wait(1.0)
            else:
                failures += 1
                delay = min(self.backoff_max_s, 0.5 * 2 ** min(failures - 1, 30))
                delay = retry_after if retry_after is not None else delay * random.uniform(0.8, 1.2)
                self._wake.wait(min(delay, self.backoff_max_s))
            self._wake.clear()

    def ship_pending(self) -> tuple[bool, float | None]:
        """Deliver spooled windows in order; (True, None) once the spool is empty."""
        for name in self.spool.names():
            if self._deadline is not None and time.monotonic() > self._deadline:
                return False, None
            body = self.spool.read(name)
            if body is None:
                continue   # removed meanwhile (evicted, or delivered by a sibling process)
            outcome, retry_after = self.sink(body)
            if outcome == RETRY:
                error = getattr(self.sink, "last_error", "")
                if error.startswith(("HTTP 401", "HTTP 403")):
                    self.log.error("auth", "vigil agent: the collector refused the credentials; windows "
                                   "stay spooled until the token is fixed (%s)", error)
                else:
                    self.log.warning("ship", "vigil agent: window %s not delivered, will retry (%s)",
                                     name, error)
                return False, retry_after
            if outcome == REJECTED:
                self.rejected += 1
                self.count("rejected", 1)
                self.log.error("rejected", "vigil agent: window %s rejected and dropped (%s)",
                               name, getattr(self.sink, "last_error", ""))
            else:
                self.delivered += 1
            self.spool.remove(name)
        return True, None
