"""The API's front door, one ASGI middleware: the key, the body size and the content type.

It runs before routing and body parsing, in this order, so a caller without the key learns
nothing else (not even whether a path exists or a body parses): ``/v1`` without a valid
``X-API-Key`` is a 401; a body over ``api_max_body_bytes`` a 413; a body that is not JSON a 415.
The key is compared in constant time. With no key configured, ``/v1`` refuses every request
unless ``allow_insecure_api`` is set (logged once at startup).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rebalancer.api.problems import PROBLEM_JSON

API_KEY_HEADER = "X-API-Key"
PROTECTED_PREFIX = "/v1"
_BODY_METHODS = {"POST", "PUT", "PATCH"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)


def key_matches(supplied: str | None, expected: str | None) -> bool:
    """Constant-time comparison; no expected key matches nothing."""
    if supplied is None or expected is None:
        return False
    return hmac.compare_digest(supplied.encode(), expected.encode())


async def _problem(send: Send, status: int, title: str, detail: str, **headers: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body.encode()})


class Guard:
    """ASGI middleware enforcing the key on ``/v1`` and the body limits on every route."""

    def __init__(
        self, app: ASGIApp, *, api_key: str | None, insecure: bool, max_body_bytes: int
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.insecure = insecure and api_key is None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope.get("path", "")
        if (path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")) and not (
            self.insecure or key_matches(headers.get(API_KEY_HEADER.lower()), self.api_key)
        ):
            await _problem(
                send, 401, "Unauthorized", f"missing or invalid {API_KEY_HEADER} header",
                www_authenticate="ApiKey",
            )  # fmt: skip
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and not (media == "application/json" or media.endswith("+json")):
            await _problem(
                send, 415, "Unsupported Media Type",
                f"send the body as application/json, not {media or 'no content type'}",
            )  # fmt: skip
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _problem(
            send, 413, "Content Too Large",
            f"the body is larger than {self.max_body_bytes:,} bytes",
        )  # fmt: skip
