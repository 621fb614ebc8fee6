"""Write files and directories so that readers only ever see a complete result."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bertsent.errors import OutputExistsError


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the common 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def check_replaceable(target: Path, marker: str | None, what: str = "bertsent output") -> None:
    """Refuse a ``target`` that exists unless it is a folder we wrote (it holds ``marker``).

    A user's folder or file given as an output is never renamed aside and deleted.

    Raises:
        OutputExistsError: naming the target and what it would have to be.
    """
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if marker is not None and target.is_dir() and (target / marker).is_file():
        return
    kind = "folder" if target.is_dir() else "file"
    raise OutputExistsError(
        f"{target} is an existing {kind} that is not a {what}: refusing to replace it",
        hint="choose a new output path (an earlier bertsent output there is replaced)",
    )


@contextmanager
def atomic_directory(
    target: Path, marker: str | None = None, what: str = "bertsent output"
) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success it replaces ``target``.

    An existing ``target`` is replaced only when it holds ``marker`` (our own earlier
    output, e.g. ``bertsent.json``); anything else raises before any work is done.
    If the block raises (or the process dies), ``target`` is left as it was and the
    temporary folder is removed (or, after a hard kill, left beside it with a
    ``.tmp`` suffix, never in its place).

    Raises:
        OutputExistsError: ``target`` exists and is not ours to replace.
    """
    target = Path(target)
    check_replaceable(target, marker, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield temporary
        check_replaceable(target, marker, what)  # nothing new appeared meanwhile
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    temporary.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model folder is not
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, backup)
        os.rename(temporary, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.rename(temporary, target)


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.chmod(0o666 & ~_umask())  # mkstemp makes it private
    os.replace(temporary, target)


def write_text_atomic(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` in one step."""
    with atomic_file(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
