"""Writing a benchmark's results: in one step, with the command that made them."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from bertsent.atomic import write_text_atomic


def save_results(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as JSON to ``path`` atomically (a run cut short leaves the last
    complete file, never half of one), with the command line unless it holds one."""
    record = {**record, "command": record.get("command") or shlex.join(["python", *sys.argv])}
    write_text_atomic(Path(path), json.dumps(record, indent=2) + "\n")
    return Path(path)
