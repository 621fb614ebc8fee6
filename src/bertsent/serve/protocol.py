"""uvicorn's HTTP protocol with the read limits it lacks: deadlines and a connection cap.

uvicorn arms its keep-alive timer only after a response, so a fresh connection that
sends half a request line, or a body one byte a second, holds its socket for as long
as the client likes (slow-loris). This subclass of uvicorn's httptools protocol gives
each request a deadline for its head (request line and headers, counted from the
connection or from the request's first byte) and one for its body (counted from the
end of the headers), bounds the size of the head, and answers connections over a cap
with 503 at accept, so a flood of idle sockets cannot exhaust file descriptors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from bertsent.serve.guards import READ_TIMEOUT
from bertsent.serve.settings import ServeSettings

# a refused connection gets this long to read the 503 before it is closed
LINGER_S = 1.0


def canned_response(status: str, code: str, message: str, extra: bytes = b"") -> bytes:
    """A complete ``Connection: close`` response in the service's JSON error shape."""
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n".encode()
        + extra
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )


class GuardedProtocol(HttpToolsProtocol):
    """Per connection: a head deadline, a body deadline, a head size limit; a global cap.

    Use ``guarded_protocol(settings, on_refusal)``, which fills in the limits.

    >>> protocol = guarded_protocol(ServeSettings(model_dir="m"), print)  # doctest: +SKIP
    >>> protocol.header_timeout  # doctest: +SKIP
    5.0
    """

    header_timeout = 5.0
    body_timeout = 10.0
    max_header_bytes = 65_536
    max_connections = 2048

    @staticmethod
    def on_refusal(reason: str) -> None:
        """Called with ``header_timeout``, ``body_timeout``, ``header_too_large`` or
        ``too_many_connections``; the server counts them in its metrics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._head_bytes = 0
        self._head_started = False  # a byte of the current request has arrived
        self._heads_completed = 0  # in this connection, to know what a chunk held
        self._messages_completed = 0
        self._refused = False

    # connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refuse_at_accept(transport)
            return
        super().connection_made(transport)
        self._start_head()

    def _refuse_at_accept(self, transport: asyncio.Transport) -> None:
        """503 without reading the request; closed after a short linger so it is read."""
        self._refused = True
        self.transport = transport
        transport.write(
            canned_response(
                "503 Service Unavailable",
                "too_many_connections",
                f"the server holds {self.max_connections} connections; retry later",
                extra=b"retry-after: 1\r\n",
            )
        )
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)
        self.on_refusal("too_many_connections")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the linger ends
        heads_before, ends_before = self._heads_completed, self._messages_completed
        super().data_received(data)
        # count chunks that are all head; one that also ended a head or a request is not
        # counted (it may hold a large body, and a pipelined client's next request can
        # begin in it), so the cap can be passed by one chunk at most
        if self.transport.is_closing() or not self._reading_head:
            return
        if self._heads_completed == heads_before and self._messages_completed == ends_before:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._close_with(
                    canned_response(
                        "431 Request Header Fields Too Large",
                        "headers_too_large",
                        f"request line and headers over {self.max_header_bytes} bytes",
                    )
                )
                self.on_refusal("header_too_large")

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head()
        self._cancel_body()
        if self._refused:
            return
        super().connection_lost(exc)

    # the head of each request: from connect (or its first byte) to the end of headers

    def _start_head(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head(self) -> None:
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if not self._reading_head:  # a later request on a kept-alive connection
            self._start_head()

    def on_headers_complete(self) -> None:
        self._cancel_head()
        self._head_started = False
        self._heads_completed += 1
        super().on_headers_complete()
        # the body's deadline starts now (for a pipelined request it includes the wait
        # for the one before: reading is paused meanwhile, so it cannot trickle either)
        if self.cycle is not None and self.cycle.more_body:
            self._cancel_body()
            self._body_timer = self.loop.call_later(
                self.body_timeout, self._body_timed_out, self.cycle
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            message = f"request headers not received within {self.header_timeout:g} s"
            self._close_with(canned_response("408 Request Timeout", "request_timeout", message))
        else:
            self.transport.close()  # never sent a byte: nothing to answer
        self.on_refusal("header_timeout")

    # the body: from the end of the headers until the last byte

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._messages_completed += 1
        self._cancel_body()

    def _body_timed_out(self, cycle: RequestResponseCycle) -> None:
        self._body_timer = None
        if self.transport.is_closing() or cycle.disconnected:
            return
        if cycle.response_started:
            self.transport.close()  # answered early (e.g. 413) but the body still trickles
        else:
            cycle.scope[READ_TIMEOUT] = True  # type: ignore[literal-required]
            message = f"request body not received within {self.body_timeout:g} s"
            self._close_with(canned_response("408 Request Timeout", "request_timeout", message))
        # the app sees a disconnect and can send nothing more on this connection
        cycle.disconnected = True
        cycle.message_event.set()
        self.on_refusal("body_timeout")

    def _close_with(self, response: bytes) -> None:
        self.transport.write(response)
        self.transport.close()


def guarded_protocol(
    settings: ServeSettings, on_refusal: Callable[[str], None]
) -> type[GuardedProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with ``settings``' limits.

    >>> config = uvicorn.Config(app, http=guarded_protocol(settings, print))  # doctest: +SKIP
    """
    limits: dict[str, Any] = {
        "header_timeout": settings.header_timeout_s,
        "body_timeout": settings.body_timeout,
        "max_header_bytes": settings.max_header_bytes,
        "max_connections": settings.max_connections,
        "on_refusal": staticmethod(on_refusal),
    }
    return type("GuardedProtocol", (GuardedProtocol,), limits)
