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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@contextmanager
def service_page(url: str) -> Iterator[tuple[Any, list[str]]]:
    """The service's page open in Debian's chromium, with the console errors and warnings
    and page errors it shows collected; skips where chromium is missing."""
    from tests.conftest import CHROMIUM, CHROMIUM_FLAGS

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (make setup)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url + "/")
        try:
            yield page, problems
        finally:
            browser.close()


def analyse_in_page(
    url: str, fields: dict[str, str], read: tuple[str, ...] = (), run: dict[str, str] | None = None
) -> dict[str, Any]:
    """Fill the service page's ``fields`` (selector: value), press Analyse and, once a
    result (or an error) is shown, return the text of each selector in ``read`` ("" where
    absent) and the value of each script in ``run`` (by name). A console error or
    warning, or a page error, fails the test."""
    with service_page(url) as (page, problems):
        for selector, value in fields.items():
            page.fill(selector, value)
        page.click("#go")
        page.wait_for_selector("#label, #error", timeout=30_000)
        shown: dict[str, Any] = {
            selector: page.inner_text(selector) if page.query_selector(selector) else ""
            for selector in read
        }
        shown |= {name: page.evaluate(script) for name, script in (run or {}).items()}
    assert problems == []
    return shown
