"""Progress bars appear on a terminal for named work, and never under -q."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

SCORE_UNDER_A_NAME = """
import logging, sys
import bertsent
from bertsent.progress import progress
logging.getLogger("bertsent").setLevel(logging.WARNING if sys.argv[2] == "quiet" else logging.INFO)
model = bertsent.load(sys.argv[1], batch_size=2)
with progress("scoring the test split"):
    model.predict_proba(["a superb film", "a dull mess"] * 20)
"""


def stderr_on_a_terminal(model_dir: Path, mode: str) -> str:
    """Run the scoring with stderr on a pseudo-terminal, as in a user's shell."""
    controller, terminal = pty.openpty()
    rows_columns = struct.pack("HHHH", 24, 100, 0, 0)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, rows_columns)  # a new pty is 0 columns wide
    process = subprocess.Popen(
        [sys.executable, "-c", SCORE_UNDER_A_NAME, str(model_dir), mode],
        stderr=terminal,
        stdout=subprocess.DEVNULL,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=120) == 0
    os.close(controller)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["verbose", "quiet"])
def test_named_scoring_shows_a_bar_unless_quiet(trained_model_dir: Path, mode: str) -> None:
    shown = stderr_on_a_terminal(trained_model_dir, mode)
    if mode == "verbose":
        assert "scoring the test split" in shown
        assert "/40 [" in shown and "review/s" in shown
    else:
        assert "scoring the test split" not in shown
