"""ASGI middleware of the collector: bearer-token check and request body limit.

Both are plain ASGI (no request object is built), run before routing, and
answer in JSON. The token is compared in constant time
(:func:`hmac.compare_digest`) and never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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


class BearerAuth:
    """Require ``Authorization: Bearer <token>`` on every HTTP request but ``GET /api/v1/health``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        scheme, _, credentials = given.strip().partition(b" ")
        # the scheme is case-insensitive (RFC 7235); the token is compared in constant time
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self._token):
            detail = "missing bearer token" if not given else "invalid bearer token"
            await _json(send, 401, f"{detail}: send 'Authorization: Bearer <token>'",
                        [(b"www-authenticate", b'Bearer realm="vigil"')])
            return
        await self.app(scope, receive, send)


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
