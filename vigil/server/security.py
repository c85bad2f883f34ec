"""ASGI middleware of the server: token check (bearer header or dashboard session) and body limit.

Both are plain ASGI (no request object is built), run before routing, and
answer in JSON. The token is compared in constant time
(:func:`hmac.compare_digest`) and never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATH = "/api/v1/health"


async def _json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


SESSION_COOKIE = "vigil_session"
LOGIN_PATH = "/login"
#: Reachable without a token (path -> methods): liveness, the login page and its style sheet.
PUBLIC = {HEALTH_PATH: ("GET", "HEAD"), LOGIN_PATH: ("GET", "HEAD", "POST"), "/static/vigil.css": ("GET", "HEAD")}
CSRF_HEADER = b"x-vigil-csrf"


def session_value(token: str) -> str:
    """What the dashboard's session cookie holds: an HMAC of a fixed label under the token.

    The token itself never goes into a cookie; the value changes when the
    token does, which ends every session.

    Examples
    --------
    >>> v = session_value('t' * 24); len(v), v == session_value('t' * 24), v == session_value('u' * 24)
    (64, True, False)
    """
    return hmac.new(token.encode(), b"vigil dashboard session v1", "sha256").hexdigest()


def _cookie(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key == b"cookie":
            for part in value.split(b";"):
                k, _, v = part.strip().partition(b"=")
                if k == name:
                    return v
    return b""


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((v for k, v in headers if k == name), b"")


class BearerAuth:
    """Require the token on every HTTP request but ``GET /api/v1/health`` and the login page.

    The token comes as ``Authorization: Bearer <token>`` (agents, scripts)
    or as the dashboard's session cookie set by ``POST /login`` (browsers).
    Both are compared in constant time. A browser asking for a page without
    either (``Accept: text/html``) is sent to the login page; everything else gets 401. A request
    authenticated by the cookie alone may only change something (POST, PUT,
    DELETE ...) with the ``X-Vigil-CSRF: 1`` header, which a cross-site form
    cannot send: no cross-site request forgery.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()
        self._session = session_value(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in PUBLIC.get(scope["path"], ()):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        given = _header(headers, b"authorization")
        scheme, _, credentials = given.strip().partition(b" ")
        # the scheme is case-insensitive (RFC 7235); the token is compared in constant time
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token):
            await self.app(scope, receive, send)
            return
        session = _cookie(headers, SESSION_COOKIE.encode())
        if session and hmac.compare_digest(session, self._session):
            if scope["method"] in ("GET", "HEAD", "OPTIONS") or _header(headers, CSRF_HEADER) == b"1":
                await self.app(scope, receive, send)
                return
            await _json(send, 403, "a change made with the dashboard's session cookie needs the header X-Vigil-CSRF: 1")
            return
        path = scope["path"]
        wants_page = b"text/html" in _header(headers, b"accept")
        if scope["method"] in ("GET", "HEAD") and wants_page and not path.startswith("/api/") and path != "/metrics":
            target = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            location = LOGIN_PATH + "?" + urlencode({"next": target})
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", location.encode("latin-1")), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        detail = "missing bearer token" if not given else "invalid bearer token"
        await _json(send, 401, f"{detail}: send 'Authorization: Bearer <token>'",
                    [(b"www-authenticate", b'Bearer realm="vigil"')])


class BodyLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes`` (declared or streamed).

    The body is read here, before the app runs, and replayed to it; a body
    that grows past the limit is refused as soon as it does.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body larger than {self.max_bytes} bytes; send smaller windows or raise --max-body-mb"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _json(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await _json(send, 413, too_large)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _json(send, 413, too_large)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        data = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
