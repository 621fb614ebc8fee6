"""A real ``bertsent serve`` process on a free port, started the way a user starts it."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM (graceful shutdown), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def announced_url(process: subprocess.Popen[str], deadline: float) -> str:
    """The address in the server's "serving ... on URL" line (read raw: no buffering)."""
    assert process.stdout is not None
    fd, printed = process.stdout.fileno(), b""
    while time.monotonic() < deadline and process.poll() is None:
        if select.select([fd], [], [], 0.2)[0]:
            printed += os.read(fd, 65536)
            if found := re.search(rb"serving .* on (http://[\d.]+:\d+)/", printed):
                return found.group(1).decode()
    raise RuntimeError(f"server printed no address: {printed.decode(errors='replace')}")


def start_server(model_dir: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Start the CLI server and wait until /readyz answers 200.

    ``--port 0`` lets the server bind a free port itself, so no other process can take
    it between our choosing and its binding; the URL is read from what it prints.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "bertsent", "serve", str(model_dir), "--port", "0", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    try:
        url = announced_url(process, deadline)
    except RuntimeError:
        process.kill()  # never leave a server behind
        raise
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {process.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url, process)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready in 120 s")


# small limits so tests can reach them cheaply
LIMITS = {
    "BERTSENT_SERVE_MAX_TEXTS_PER_REQUEST": "8",
    "BERTSENT_SERVE_MAX_CHARS_PER_TEXT": "200",
    "BERTSENT_SERVE_MAX_BODY_BYTES": "4000",
}


@pytest.fixture(scope="package")
def server(trained_model_dir: Path) -> Iterator[Server]:
    running = start_server(trained_model_dir, "--max-wait-ms", "5", env=LIMITS)
    yield running
    running.stop()
