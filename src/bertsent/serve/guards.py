"""ASGI middleware that runs before FastAPI parses anything: body limits and metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bertsent.serve.metrics import ServiceMetrics, route_of

# the key the connection guard sets in the scope of a request whose body timed out
READ_TIMEOUT = "bertsent.read_timeout"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """A JSON error in the service's ``{"error": {...}}`` shape, sent straight from ASGI."""
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """Refuse bodies over ``max_bytes`` (413) and bodies that are not UTF-8 (400).

    The body is read here, bounded, so a chunked upload without Content-Length cannot
    grow past the limit either; it is then replayed to the app unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, "body_too_large", too_large)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await send_error(send, 413, "body_too_large", too_large)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            await send_error(
                send, 400, "invalid_utf8", f"request body is not valid UTF-8 (byte {error.start})"
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class RequestMetrics:
    """Count every request by route and status and time it, including refused ones.

    A request that ends without a response counts as 408 when its body did not arrive
    in time (the connection guard answered it) and as 499 when its client left.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Sequence[Any]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's route list, filled in after this is built

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        client_left = False

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def watch_disconnect() -> Message:
            nonlocal client_left
            message = await receive()
            client_left = client_left or message["type"] == "http.disconnect"
            return message

        self.metrics.in_flight += 1
        try:
            await self.app(scope, watch_disconnect, record_status)
        finally:
            self.metrics.in_flight -= 1
            if status is None:
                status = 408 if scope.get(READ_TIMEOUT) else 499 if client_left else 500
            self.metrics.observe_request(
                route_of(scope, self.routes), status, time.perf_counter() - started
            )
