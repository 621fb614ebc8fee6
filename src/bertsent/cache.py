"""An on-disk cache shared by runs, for results that take minutes to recompute.

An LLM's answers and a distillation teacher's scores are the same for the same
inputs; keeping them in one SQLite file lets a rerun, a resumed run or the next
seed's run skip the work (and continue where an interrupted one stopped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bertsent.errors import ConfigError

logger = logging.getLogger(__name__)

UNUSABLE_HINT = (
    "it only saves time: delete it, or give another file (--llm-cache, --teacher-cache), "
    "or '' for no cache"
)


def _busy(error: sqlite3.OperationalError) -> bool:
    """A lock another connection holds past the timeout: passing, not a broken file."""
    return "locked" in str(error) or "busy" in str(error)


class KeyValueCache:
    """Text values in one table of a SQLite file, keyed by hashes of their inputs.

    ``path`` None (or empty) turns the cache off: nothing is found, nothing is kept.
    Safe to share between threads; the file may be used by several processes: one that
    another process holds longer than ``timeout`` seconds reads as a miss and keeps
    nothing new that moment. A file that cannot be written (read-only) is still read:
    the run goes on without keeping its new results, with a warning.

    Raises:
        ConfigError: ``path`` cannot be opened or read as such a cache (naming it).
    """

    def __init__(self, path: str | Path | None, table: str, *, timeout: float = 30.0) -> None:
        self.connection: sqlite3.Connection | None = None
        self.table = table
        self.lock = threading.Lock()
        self.writable = True
        self.file = Path(path).expanduser() if path else None
        if self.file is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(
                str(self.file), check_same_thread=False, timeout=timeout
            )
        except (sqlite3.Error, OSError) as exc:
            raise self._unusable(exc) from None
        self.prepared = False  # the table made and readable: done once the file is free
        if not self._prepare():
            logger.warning("the cache %s is busy as this run starts: it is read and kept "
                           "once the other process lets it go", self.file)  # fmt: skip

    def _prepare(self) -> bool:
        """Make the table (once) and check that it reads; False while another process
        holds the file (it is fine, only busy: asked again at the next use).

        Raises:
            ConfigError: the file is not such a cache.
        """
        if self.prepared or self.connection is None:
            return self.prepared
        try:
            with self.lock:
                self.connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} "
                    "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                return False
            if "readonly" not in str(exc):
                raise self._unusable(exc) from None
            self._stop_writing(exc)  # a table there already is read as it is
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        try:
            with self.lock:
                self.connection.execute(f"SELECT * FROM {self.table} LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                return False
            raise self._unusable(exc) from None
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        self.prepared = True
        return True

    def _unusable(self, exc: BaseException) -> ConfigError:
        self.close()
        return ConfigError(
            f"the cache {self.file} cannot be used ({type(exc).__name__}: {exc})",
            hint=UNUSABLE_HINT,
        )

    def _stop_writing(self, exc: BaseException) -> None:
        if self.writable:
            logger.warning("cannot write to the cache %s (%s): new results are not kept",
                           self.file, exc)  # fmt: skip
        self.writable = False

    @staticmethod
    def key(inputs: dict[str, Any]) -> str:
        """A key for JSON-serialisable ``inputs``, e.g. ``{"model": ..., "text": ...}``."""
        text = json.dumps(inputs, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        if self.connection is None or not self._prepare():
            return None
        try:
            with self.lock:
                # SELECT *: files written before the value column was named "value" still read
                row = self.connection.execute(
                    f"SELECT * FROM {self.table} WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise self._unusable(exc) from None
            # another process holds the file (a parallel seed, a sqlite3 shell): a miss,
            # the work is done again, the file is fine
            logger.debug("the cache %s is busy (%s): read as a miss", self.file, exc)
            return None
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        return None if row is None else str(row[1])

    def put(self, key: str, value: str) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Keep all ``(key, value)`` pairs in one transaction."""
        if self.connection is None or not self.writable:
            return
        pending = list(items)
        if not self._prepare():
            logger.warning("the cache %s is busy: %d results not kept", self.file, len(pending))
            return
        try:
            with self.lock, self.connection:
                self.connection.executemany(
                    f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", pending
                )
        except sqlite3.OperationalError as exc:
            if _busy(exc):  # these results are not kept; the next ones may be
                logger.warning("the cache %s is busy (%s): %d results not kept",
                               self.file, exc, len(pending))  # fmt: skip
                return
            self._stop_writing(exc)  # read-only, disk full: the run goes on
        except sqlite3.DatabaseError as exc:  # the file was damaged meanwhile
            self._stop_writing(exc)

    def close(self) -> None:
        with self.lock:  # not under another thread's query
            if self.connection is not None:
                self.connection.close()
                self.connection = None

    def __enter__(self) -> KeyValueCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
