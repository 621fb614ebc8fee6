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


async def send_error(
    send: Send, status: int, code: str, message: str, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON error in the service's ``{"error": {...}}`` shape, sent straight from ASGI."""
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += list(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """Refuse bodies over ``max_bytes`` (413), bodies that are not UTF-8 (400), and any
    body while those held by every request together would pass ``max_buffered`` (503:
    the limits per request alone let 2,048 connections hold gigabytes).

    The body is read here, bounded, so a chunked upload without Content-Length cannot
    grow past the limits either; it is then replayed to the app unchanged. A body
    counts against the budget as it arrives, until its request is answered; a declared
    length that would not fit is refused before anything is read. ``on_refused`` hears
    the reason of each refusal.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_buffered: int,
        on_refused: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_buffered = max_buffered
        self.on_refused = on_refused
        self.buffered = 0  # one event loop: no lock needed between awaits

    async def refuse(self, send: Send, status: int, code: str, message: str) -> None:
        self.on_refused(code)
        extra = [(b"retry-after", b"1")] if status == 503 else []
        await send_error(send, status, code, message, extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes"
        busy = "too many request bodies are being received at once; retry"
        declared = dict(scope["headers"]).get(b"content-length")
        expected = int(declared) if declared is not None and declared.isdigit() else 0
        if expected > self.max_bytes:
            await self.refuse(send, 413, "body_too_large", too_large)
            return
        # a declared length only refuses early; what counts is what has arrived (a
        # client declaring 4 MB and sending nothing must not hold the budget)
        if self.buffered + expected > self.max_buffered:
            await self.refuse(send, 503, "bodies_buffered", busy)
            return
        held = 0
        try:
            chunks = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                held += len(chunks[-1])
                self.buffered += len(chunks[-1])
                if held > self.max_bytes:
                    await self.refuse(send, 413, "body_too_large", too_large)
                    return
                if self.buffered > self.max_buffered:
                    await self.refuse(send, 503, "bodies_buffered", busy)
                    return
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            del chunks
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                why = f"request body is not valid UTF-8 (byte {error.start})"
                await self.refuse(send, 400, "invalid_utf8", why)
                return
            await self.app(scope, _replaying(body, receive), send)
        finally:
            self.buffered -= held


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first gives the app the whole ``body`` read by the guard."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


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
