"""The body guard, driven as ASGI: what every request's body costs together."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bertsent.serve.guards import BodyGuard

Message = dict[str, Any]


def request(body: bytes, declared: bool = True) -> tuple[dict[str, Any], Any]:
    headers = [(b"content-length", str(len(body)).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "headers": headers}
    parts = [body[:10], body[10:]]  # two chunks, as a slow client sends them

    async def receive() -> Message:
        part = parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    return scope, receive


def test_bodies_held_at_once_are_capped_over_all_requests() -> None:
    """Each body under 4 MB, 2,048 connections: gigabytes held with no limit at all."""
    refused: list[str] = []
    answered: list[tuple[int, Message]] = []
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert len((await receive())["body"]) == 600  # the whole body, replayed
        await release.wait()  # held while the app works on it
        await send({"type": "http.response.start", "status": 200, "headers": []})

    guard = BodyGuard(app, max_bytes=1000, max_buffered=1000, on_refused=refused.append)

    async def call(body: bytes, declared: bool = True) -> int:
        statuses: list[int] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            elif message.get("body"):
                answered.append((statuses[-1], json.loads(message["body"])))

        await guard(*request(body, declared), send)
        return statuses[0]

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(call(b"x" * 600))
        await asyncio.sleep(0.01)
        assert guard.buffered == 600
        second = await call(b"y" * 600)  # declared: refused before it is read
        third = await call(b"z" * 600, declared=False)  # refused as it arrives
        release.set()
        done = await first
        fourth = await call(b"w" * 600)  # the budget is back once the first is answered
        return [done, second, third, fourth]

    assert asyncio.run(scenario()) == [200, 503, 503, 200]
    assert refused == ["bodies_buffered", "bodies_buffered"] and guard.buffered == 0
    assert answered[0][1]["error"]["code"] == "bodies_buffered"


def test_a_declared_length_that_never_arrives_holds_no_budget() -> None:
    """Content-Length: 3999999 and no body from 65 connections shut out every POST."""
    guard = BodyGuard(lambda *args: asyncio.sleep(0), max_bytes=1000, max_buffered=1000)
    arrived = asyncio.Event()

    async def silent() -> Message:
        arrived.set()
        await asyncio.sleep(3600)  # the body timeout would end it
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        return None

    async def scenario() -> int:
        scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"900")]}
        waiting = asyncio.ensure_future(guard(scope, silent, send))
        await arrived.wait()
        held = guard.buffered
        waiting.cancel()
        return held

    assert asyncio.run(scenario()) == 0 and guard.buffered == 0
