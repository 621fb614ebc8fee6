"""The answer cache: a file it cannot use is named before any work, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bertsent.cache import KeyValueCache
from bertsent.errors import ConfigError


def test_answers_are_kept_and_found_again(tmp_path: Path) -> None:
    with KeyValueCache(tmp_path / "deep" / "answers.sqlite", "answers") as cache:
        cache.put("k", "positive")
    with KeyValueCache(tmp_path / "deep" / "answers.sqlite", "answers") as cache:
        assert cache.get("k") == "positive" and cache.get("other") is None
    with KeyValueCache("", "answers") as off:  # no file: nothing kept
        off.put("k", "v")
        assert off.get("k") is None


@pytest.mark.parametrize("kind", ["not a database", "a folder", "under a file"])
def test_a_file_that_is_no_cache_is_named_when_opened(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "answers.sqlite"
    if kind == "not a database":
        path.write_bytes(b"these are my notes, not SQLite" * 100)
    elif kind == "a folder":
        path.mkdir()
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "answers.sqlite"
    with pytest.raises(ConfigError, match=f"the cache {path} cannot be used") as error:
        KeyValueCache(path, "answers")
    assert error.value.hint is not None and "'' for no cache" in error.value.hint


def test_a_table_of_another_shape_is_named_when_read(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE answers (id INTEGER, text TEXT)")
    cache = KeyValueCache(path, "answers")
    with pytest.raises(ConfigError, match=r"other\.sqlite cannot be used .*no such column"):
        cache.get("k")


def test_a_cache_that_cannot_be_written_is_still_read_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.sqlite"
    with KeyValueCache(path, "answers") as cache:
        cache.put("kept", "positive")
    cache = KeyValueCache(path, "answers")
    assert cache.connection is not None
    cache.connection.execute("PRAGMA query_only = ON")  # as a read-only file answers a write
    cache.put("new", "negative")  # warned, not raised: the results are only not kept
    cache.put("newer", "negative")
    assert cache.get("kept") == "positive" and cache.get("new") is None
    warnings = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1 and str(path) in warnings[0]


def test_a_cache_another_process_holds_is_a_miss_not_a_broken_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A parallel seed's run, or a sqlite3 shell: "database is locked" said "delete it"
    on a read, and switched writing off for the rest of the run on a write."""
    path = tmp_path / "cache.sqlite"
    cache = KeyValueCache(path, "answers", timeout=0.1)
    cache.put("a", "kept before")
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    assert cache.get("a") is None  # a miss: the work is done again
    cache.put("b", "not kept now")
    assert "is busy" in caplog.text and cache.writable
    holder.execute("ROLLBACK")
    holder.close()
    cache.put("c", "kept after")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("kept before", None, "kept after")
    # held as it opens: not "cannot be used ... delete it", and used once it is free
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    held = KeyValueCache(path, "answers", timeout=0.1)
    assert held.get("a") is None and "busy as this run starts" in caplog.text
    held.put("d", "not kept")
    holder.execute("ROLLBACK")
    holder.close()
    held.put("e", "kept once free")
    assert (held.get("a"), held.get("d"), held.get("e")) == ("kept before", None, "kept once free")
    cache.close()
