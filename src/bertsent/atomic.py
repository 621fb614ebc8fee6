"""Write files and directories so that readers only ever see a complete result."""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


NEW_PATH_HINT = "choose a new output path (an earlier bertsent output there is replaced)"
OVERWRITE_HINT = "pass --overwrite to replace it, or choose a new output path"


def check_replaceable(
    target: Path,
    marker: str | None,
    what: str = "bertsent output",
    *,
    overwrite: bool | None = None,
) -> None:
    """Refuse a ``target`` that exists unless it is a folder we wrote (it holds ``marker``).

    A user's folder or file given as an output is never renamed aside and deleted,
    unless the user asked for exactly that.

    Args:
        overwrite: ``True``: anything there may be replaced (``--overwrite``).
            ``False``: refuse, and say that ``--overwrite`` forces it. ``None``: refuse,
            for commands that have no such option.

    Raises:
        OutputExistsError: naming the target and what it would have to be.
    """
    target = Path(target)
    here = Path.cwd()
    if target.resolve() in (here, *here.parents):  # replacing it would delete this folder
        raise OutputExistsError(
            f"{target} is the current folder or holds it: refusing to replace it",
            hint="give a new folder for the output, e.g. runs/model",
        )
    if not target.exists() and not target.is_symlink():
        return
    refuse_mount_point(target)
    if overwrite or (marker is not None and target.is_dir() and (target / marker).is_file()):
        return
    kind = "folder" if target.is_dir() else "file"
    raise OutputExistsError(
        f"{target} is an existing {kind} that is not a {what}: refusing to replace it",
        hint=NEW_PATH_HINT if overwrite is None else OVERWRITE_HINT,
    )


def check_file_replaceable(
    target: Path, what: str | None = None, *, overwrite: bool = False
) -> None:
    """Refuse an existing file at ``target`` unless ``overwrite``; never replace a folder.

    A plain file carries no marker saying bertsent wrote it, so any existing one is
    the user's. ``what`` names what an acceptable file would be (callers that can tell
    their own files, e.g. a report by its title, pass ``overwrite=True`` for those).

    Raises:
        OutputExistsError: naming the file (or folder) that is in the way.
    """
    target = Path(target)
    if target.is_dir() and not target.is_symlink():
        raise OutputExistsError(
            f"{target} is an existing folder: refusing to replace it with a file",
            hint="give the path of a file to write, not a folder",
        )
    if not target.exists() and not target.is_symlink():
        return
    refuse_mount_point(target)
    if overwrite:
        return
    kind = f"file that is not a {what}" if what else "file"
    raise OutputExistsError(
        f"{target} is an existing {kind}: refusing to replace it", hint=OVERWRITE_HINT
    )


def refuse_mount_point(target: Path) -> None:
    """A mount point (a container's bind mount, say) cannot be renamed: the swap would
    fail after all the work. Refused before it, with the way round.

    Raises:
        OutputExistsError: naming it.
    """
    if os.path.ismount(target):
        raise OutputExistsError(
            f"{target} is a mount point: an output cannot be put in its place",
            hint=f"write inside it instead, e.g. {Path(target) / 'output'}",
        )


# The first key of every JSON object a command writes as its output names the command,
# so a rerun can tell its own earlier file from a user's (an image cannot say so).
OUTPUT_KEY = "bertsent"


def marked(command: str, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` with ``{"bertsent": command}`` as its first key, for :func:`written_by`."""
    return {OUTPUT_KEY: command, **{k: v for k, v in content.items() if k != OUTPUT_KEY}}


def written_by(path: Path, command: str) -> bool:
    """Whether ``path`` is a JSON file bertsent's ``command`` wrote (see :func:`marked`).

    Only the first bytes are read, so a large file of the user's costs nothing.
    """
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(256)
    except OSError:  # missing, a folder, unreadable
        return False
    pattern = rb'\s*\{\s*"' + OUTPUT_KEY.encode() + rb'"\s*:\s*"' + re.escape(command.encode())
    return re.match(pattern + rb'"', head) is not None


def check_files_in_folder(
    folder: Path, files: Sequence[str], what: str, *, replaceable: bool = False
) -> None:
    """Refuse to write ``files`` into ``folder`` over existing ones unless ``replaceable``.

    For commands that add files to a folder that may hold other things: the caller
    decides from its own marker (e.g. a JSON file :func:`written_by` it) or
    ``--overwrite`` whether the ``files`` there are its to replace. Nothing else in
    ``folder`` is looked at or touched.

    Raises:
        OutputExistsError: ``folder`` is a file, or naming the first file in the way.
    """
    folder = Path(folder)
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise OutputExistsError(
            f"{folder} is an existing file: refusing to replace it with a {what} folder",
            hint="give the path of a folder to write into",
        )
    for name in files:
        check_file_replaceable(folder / name, f"{what} output", overwrite=replaceable)


@contextmanager
def atomic_directory(
    target: Path,
    marker: str | None = None,
    what: str = "bertsent output",
    *,
    overwrite: bool | None = None,
) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success it replaces ``target``.

    An existing ``target`` is replaced only when it holds ``marker`` (our own earlier
    output, e.g. ``bertsent.json``); anything else raises before any work is done.
    If the block raises (or the process dies), ``target`` is left as it was and the
    temporary folder is removed (or, after a hard kill, left beside it with a
    ``.tmp`` suffix, never in its place). ``overwrite`` is as in :func:`check_replaceable`.

    Raises:
        OutputExistsError: ``target`` exists and is not ours to replace.
    """
    target = Path(target)
    check_replaceable(target, marker, what, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_name(target)
    temporary = Path(tempfile.mkdtemp(suffix, prefix, target.parent))
    try:
        yield temporary
        check_replaceable(target, marker, what, overwrite=overwrite)  # nothing new meanwhile
        _follow_umask(temporary)
        _sync_tree(temporary)  # on the disk before it replaces anything
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    try:
        _swap_in(temporary, target)
    except OSError as error:  # the work is done: keep it where the user can find it
        raise OutputExistsError(
            f"{target} could not be replaced ({error}); the finished output is in {temporary}",
            hint=f"move {temporary} into place yourself, or write to another path",
        ) from error
    except BaseException:  # Ctrl-C between the renames: the old output is back in place
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def flush_to_disk(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's list of names) to the disk: a rename is
    journaled before the data it names, so after a power cut the new name could stand
    on an empty file while the old output was already deleted."""
    folder = getattr(os, "O_DIRECTORY", None)  # not on Windows, which syncs no folders
    if path.is_dir() and folder is None:
        return
    try:
        handle = os.open(path, os.O_RDONLY | (folder if path.is_dir() and folder else 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # a file system that cannot sync a folder
        pass
    finally:
        os.close(handle)


def _sync_tree(folder: Path) -> None:
    """:func:`flush_to_disk` every file and folder under ``folder``, then ``folder`` itself."""
    for inside in folder.rglob("*"):
        if not inside.is_symlink():
            flush_to_disk(inside)
    flush_to_disk(folder)


def _follow_umask(folder: Path) -> None:
    """mkdtemp makes the folder private, and some writers (safetensors) their files too;
    a model folder is not private: everything follows the umask, as a plain write would."""
    umask = _umask()
    for inside in folder.rglob("*"):
        if inside.is_file() and not inside.is_symlink():
            inside.chmod(0o666 & ~umask)
        elif inside.is_dir() and not inside.is_symlink():
            inside.chmod(0o777 & ~umask)
    folder.chmod(0o777 & ~umask)


def _swap_in(temporary: Path, target: Path) -> None:
    """Put ``temporary`` where ``target`` is: the old one moves aside under a name no
    earlier run can have left (one per process id was: a stale one from a process of the
    same id, PID 1 in every container, failed every later save), and comes back if the
    new one cannot take its place."""
    if not (target.exists() or target.is_symlink()):
        os.rename(temporary, target)
        flush_to_disk(target.parent)
        return
    backup = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, backup)
    try:
        os.rename(temporary, target)
    except BaseException:
        if not (target.exists() or target.is_symlink()):
            os.rename(backup, target)
        raise
    flush_to_disk(target.parent)  # the new name is on the disk before the old output goes
    remove_path(backup)  # a folder, or a file (or link) the user let --overwrite replace


def remove_path(path: Path) -> None:
    """Remove ``path``: a folder with what it holds, or a file or link (never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _temporary_name(target: Path) -> tuple[str, str]:
    """The prefix and suffix of the temporaries that stand in for ``target``."""
    return f".{target.name}.", ".tmp"


def left_temporaries(target: Path) -> list[Path]:
    """What writes to ``target`` cut short by a hard kill left beside it (and not those
    of a longer name that starts with it: tempfile's random part is 8 characters)."""
    prefix, suffix = _temporary_name(Path(target))
    pattern = f"{glob.escape(prefix)}{'?' * 8}{suffix}"
    return sorted(Path(target).parent.glob(pattern))


@contextmanager
def atomic_file(target: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``.

    With ``overwrite=False`` an existing ``target`` is refused before the block runs,
    and again at the rename, so a file that appeared meanwhile is not replaced either.

    Raises:
        OutputExistsError: ``overwrite`` is false and ``target`` exists.
    """
    target = Path(target)
    if not overwrite:
        check_file_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_name(target)
    handle, name = tempfile.mkstemp(suffix, prefix, target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(0o666 & ~_umask())  # mkstemp makes it private
        flush_to_disk(temporary)
        publish_file(temporary, target, overwrite=overwrite)
        flush_to_disk(target.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def publish_file(source: Path, target: Path, *, overwrite: bool) -> None:
    """Rename the finished ``source`` to ``target`` in one step.

    Without ``overwrite`` the rename never replaces a file: a hard link appears only
    where nothing is (a plain rename would silently replace a file created since the
    output was checked), then ``source`` is removed.

    Raises:
        OutputExistsError: ``overwrite`` is false and ``target`` exists.
    """
    if overwrite:
        os.replace(source, target)
        return
    try:
        os.link(source, target)
    except FileExistsError:
        check_file_replaceable(target)  # raises, naming it
        raise
    except OSError:  # no hard links on this file system: check, then rename
        check_file_replaceable(target)
        os.replace(source, target)
        return
    source.unlink()


def write_text_atomic(target: Path, text: str, *, overwrite: bool = True) -> None:
    """Replace ``target`` with ``text`` in one step (``overwrite`` as in :func:`atomic_file`)."""
    with atomic_file(target, overwrite=overwrite) as temporary:
        temporary.write_text(text, encoding="utf-8")
