"""Connections that never finish their request are closed; too many are refused at accept.

Raw sockets against a real ``bertsent serve`` process, as a slow-loris client would
use them. The deadlines are short here (1 s for headers, 1.5 s for a body) so the
tests are quick; the margins are generous for a loaded machine.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import Server, start_server

HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 1.5
MARGIN = 2.0  # scheduling on a shared 2-core machine, not the server's deadline


@pytest.fixture(scope="module")
def guarded(trained_model_dir: Path) -> Iterator[Server]:
    running = start_server(
        trained_model_dir,
        "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
    )  # fmt: skip
    yield running
    running.stop()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(HEADER_TIMEOUT + BODY_TIMEOUT + 2 * MARGIN)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def metric(server: Server, line_start: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


PARTIAL_HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic"
PARTIAL_BODY = (
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 200\r\n\r\n" + b'{"texts": ["a slow'
)


def test_half_open_connections_are_closed_at_their_deadlines(guarded: Server) -> None:
    started = time.monotonic()
    head, body, idle = connect(guarded), connect(guarded), connect(guarded)
    head.sendall(PARTIAL_HEAD)
    body.sendall(PARTIAL_BODY)
    # the service keeps answering meanwhile
    reply = httpx.post(f"{guarded.url}/v1/predict", json={"texts": ["a fine film"]})
    assert reply.status_code == 200
    answers = {}
    for name, sock, deadline in (
        ("head", head, HEADER_TIMEOUT),
        ("idle", idle, HEADER_TIMEOUT),
        ("body", body, BODY_TIMEOUT),
    ):
        answers[name] = read_until_closed(sock)
        closed_after = time.monotonic() - started
        assert deadline - 0.2 <= closed_after <= deadline + MARGIN, (name, closed_after)
    for name in ("head", "body"):
        status, _, rest = answers[name].partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout"
        assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert answers["idle"] == b""  # it never sent a byte: nothing to answer
    assert metric(guarded, 'bertsent_rejected_total{reason="header_timeout"}') >= 2
    assert metric(guarded, 'bertsent_rejected_total{reason="body_timeout"}') >= 1
    assert metric(guarded, 'bertsent_requests_total{route="/v1/predict",status="408"}') >= 1


def test_a_body_trickled_past_the_deadline_gets_408_not_an_answer(guarded: Server) -> None:
    body = json.dumps({"texts": ["one byte at a time"]}).encode()
    sock = connect(guarded)
    sock.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    started = time.monotonic()
    for byte in body:  # 36 bytes over 3.6 s: more than twice the body deadline
        if select.select([sock], [], [], 0)[0]:
            break  # the server answered before the body was complete
        sock.sendall(bytes([byte]))
        time.sleep(0.1)
    answered_after = time.monotonic() - started
    assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    assert BODY_TIMEOUT - 0.2 <= answered_after <= BODY_TIMEOUT + MARGIN


def test_a_kept_alive_connection_gets_a_head_deadline_for_its_next_request(
    guarded: Server,
) -> None:
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = b""
    while not first.endswith(b'{"status":"ok"}'):  # the whole first answer
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")  # and then nothing
    started = time.monotonic()
    assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started <= HEADER_TIMEOUT + MARGIN


def test_oversized_headers_get_431(guarded: Server) -> None:
    sock = connect(guarded)
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 100) for i in range(700))  # ~80 KB
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused mid-send
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding)
    assert read_until_closed(sock).startswith(b"HTTP/1.1 431 ")


def test_a_pipelined_request_that_begins_in_the_last_body_chunk_is_answered(
    guarded: Server,
) -> None:
    # the read that ends a 100 KB body also holds the next request's first bytes: only
    # head bytes count toward the 64 KiB head limit, so both requests are answered
    body = json.dumps({"texts": ["good " * 999] * 20}).encode()
    following = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock = connect(guarded)
    sock.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:-70_000]
    )
    time.sleep(0.3)
    sock.sendall(body[-70_000:] + following[:10])  # one read of over 64 KiB, mostly body
    time.sleep(0.3)
    sock.sendall(following[10:])
    received = b""
    while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(b'{"status":"ok"}'):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {received[:200]!r}"
        received += chunk
    sock.close()
    assert re.findall(rb"HTTP/1\.1 \d{3}", received) == [b"HTTP/1.1 200", b"HTTP/1.1 200"]


# a server with a small connection cap and a key from the environment


@pytest.fixture(scope="module")
def capped(trained_model_dir: Path) -> Iterator[Server]:
    running = start_server(
        trained_model_dir, "--max-connections", "3",
        env={"BERTSENT_SERVE_API_KEY": "from-the-environment"},
    )  # fmt: skip
    yield running
    running.stop()


def test_port_0_prints_the_port_it_bound(capped: Server) -> None:
    assert capped.port != 0
    assert httpx.get(f"{capped.url}/readyz").status_code == 200


def test_connections_over_the_cap_get_503_at_once(capped: Server) -> None:
    held = [connect(capped) for _ in range(3)]
    time.sleep(0.3)  # accepted in order: these three hold the places
    extra = connect(capped)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = read_until_closed(extra)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 1" in answer and b"too_many_connections" in answer
    for sock in held:
        sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{capped.url}/healthz").status_code == 200  # places free again


def test_api_key_from_the_environment_is_required(capped: Server) -> None:
    post = f"{capped.url}/v1/predict"
    assert httpx.post(post, json={"texts": ["fine"]}).status_code == 401
    key = {"X-API-Key": "from-the-environment"}
    assert httpx.post(post, json={"texts": ["fine"]}, headers=key).status_code == 200
