"""An on-disk cache shared by runs, for results that take minutes to recompute.

An LLM's answers and a distillation teacher's scores are the same for the same
inputs; keeping them in one SQLite file lets a rerun, a resumed run or the next
seed's run skip the work (and continue where an interrupted one stopped).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class KeyValueCache:
    """Text values in one table of a SQLite file, keyed by hashes of their inputs.

    ``path`` None (or empty) turns the cache off: nothing is found, nothing is kept.
    Safe to share between threads; the file may be used by several processes.
    """

    def __init__(self, path: str | Path | None, table: str) -> None:
        self.connection: sqlite3.Connection | None = None
        self.table = table
        self.lock = threading.Lock()
        if not path:
            return
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(str(file), check_same_thread=False, timeout=30)
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )

    @staticmethod
    def key(inputs: dict[str, Any]) -> str:
        """A key for JSON-serialisable ``inputs``, e.g. ``{"model": ..., "text": ...}``."""
        text = json.dumps(inputs, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        if self.connection is None:
            return None
        with self.lock:
            # SELECT *: files written before the value column was named "value" still read
            row = self.connection.execute(
                f"SELECT * FROM {self.table} WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[1])

    def put(self, key: str, value: str) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Keep all ``(key, value)`` pairs in one transaction."""
        if self.connection is None:
            return
        with self.lock, self.connection:
            self.connection.executemany(
                f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", list(items)
            )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def __enter__(self) -> KeyValueCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
