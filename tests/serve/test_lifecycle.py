"""Requests whose client left are never scored; shutdown drains with readiness at 503."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import start_server


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.slow
def test_work_of_a_client_that_left_is_not_scored(trained_model_dir: Path) -> None:
    # a batch waits 1 s for company once its first request arrives
    server = start_server(trained_model_dir, "--max-wait-ms", "1000", "--max-batch-size", "64")
    try:
        body = json.dumps({"texts": ["left early", "never read", "the answer"]}).encode()
        leaver = socket.create_connection(("127.0.0.1", server.port))
        leaver.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        time.sleep(0.3)  # queued, waiting for its batch
        leaver.close()
        # this one waits in the same batch window (or the next) and is answered
        reply = httpx.post(f"{server.url}/v1/predict", json={"texts": ["stayed"]}, timeout=30)
        assert reply.status_code == 200
        assert metric(server.url, "bertsent_texts_total") == 1  # not 4
        assert metric(server.url, "bertsent_cancelled_texts_total") == 3
        assert metric(server.url, 'bertsent_rejected_total{reason="client_left"}') == 1
    finally:
        server.stop()


@pytest.mark.slow
def test_readiness_answers_503_while_requests_in_flight_drain(trained_model_dir: Path) -> None:
    server = start_server(trained_model_dir, "--max-wait-ms", "2000", "--max-batch-size", "64")
    answers: list[httpx.Response] = []
    in_flight = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}/v1/predict", json={"texts": ["in flight"]}, timeout=30)
        )
    )
    in_flight.start()
    time.sleep(0.5)  # waiting for its 2 s batch
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        ready = httpx.get(f"{server.url}/readyz")  # a refused connection would raise here
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "shutting_down"
        assert ready.headers["Retry-After"] == "1"
        late = httpx.post(f"{server.url}/v1/predict", json={"texts": ["too late"]})
        assert late.status_code == 503 and late.json()["error"]["code"] == "shutting_down"
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive, just leaving
        assert in_flight.is_alive()  # all of that happened while it drained
    finally:
        in_flight.join(timeout=30)
        code = server.stop()
    assert answers[0].status_code == 200
    assert code in (0, -signal.SIGTERM)
