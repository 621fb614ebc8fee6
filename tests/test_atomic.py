"""Outputs never replace what a user keeps there: only bertsent's own earlier output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertsent.atomic import (
    OVERWRITE_HINT,
    atomic_directory,
    atomic_file,
    check_file_replaceable,
    left_temporaries,
)
from bertsent.cli import main
from bertsent.errors import OutputExistsError


def _train_baseline(dataset_dir: Path, output: Path, *options: str) -> int:
    return main(["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir), "--output",
                 str(output), *options])  # fmt: skip


def test_train_refuses_a_folder_that_is_not_a_model_and_leaves_it_untouched(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "notes.txt").write_text("my notes")
    shutil.copy(dataset_dir / "train.csv", project / "data" / "small.csv")
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    assert _train_baseline(dataset_dir, project) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before
    assert (project / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # nothing left beside


def test_the_current_folder_is_never_an_output_even_with_overwrite(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    here = tmp_path / "project" / "work"
    here.mkdir(parents=True)
    (here / "notes.txt").write_text("my notes")
    monkeypatch.chdir(here)
    for output in (".", "..", str(here)):
        assert _train_baseline(dataset_dir, Path(output), "--overwrite") == 2
        assert "is the current folder or holds it" in capsys.readouterr().err
    assert (here / "notes.txt").read_text() == "my notes"


def test_train_refuses_an_existing_file(dataset_dir: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing.csv"
    existing.write_text("text,label\n")
    assert _train_baseline(dataset_dir, existing) == 2
    assert existing.read_text() == "text,label\n"


def test_train_replaces_a_user_folder_or_file_only_with_overwrite(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, file = tmp_path / "folder", tmp_path / "file.csv"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    file.write_text("text,label\n")
    for target in (folder, file):
        assert _train_baseline(dataset_dir, target) == 2
        assert OVERWRITE_HINT in capsys.readouterr().err
        assert _train_baseline(dataset_dir, target, "--overwrite") == 0
        assert sorted(p.name for p in target.iterdir()) == [
            "bertsent.json",
            "pipeline.json",
            "pipeline.safetensors",
            "train_texts.npy",
            "vocabulary.json",
        ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.csv", "folder"]


def test_train_replaces_its_own_earlier_model(dataset_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    assert _train_baseline(dataset_dir, output) == 0
    first = json.loads((output / "bertsent.json").read_text())
    (output / "bertsent.json").write_text(json.dumps({**first, "marker": "old"}))
    assert _train_baseline(dataset_dir, output) == 0
    assert "marker" not in json.loads((output / "bertsent.json").read_text())


def test_atomic_directory_checks_before_the_work_and_again_before_the_swap(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError), atomic_directory(target, "bertsent.json"):
        pytest.fail("the block must not run")
    fresh = tmp_path / "fresh"
    with pytest.raises(OutputExistsError), atomic_directory(fresh, "bertsent.json") as folder:
        (folder / "bertsent.json").write_text("{}")
        fresh.mkdir()  # a user's folder appeared while we worked
    assert list(fresh.iterdir()) == [] and (target / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]


def test_a_stale_backup_does_not_stop_the_swap_and_a_failed_swap_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    target = tmp_path / "model"
    target.mkdir()
    (target / "bertsent.json").write_text('{"v": 1}')
    # left by an earlier process of this id (PID 1 in every container): it failed the swap
    stale = tmp_path / f".model.old-{os.getpid()}"
    stale.mkdir()
    (stale / "bertsent.json").write_text("{}")
    with atomic_directory(target, "bertsent.json") as folder:
        (folder / "bertsent.json").write_text('{"v": 2}')
    assert (target / "bertsent.json").read_text() == '{"v": 2}'

    rename = os.rename

    def busy_target(source: str | Path, destination: str | Path) -> None:
        if Path(source).name.endswith(".tmp"):  # the new folder cannot take the place
            raise OSError(16, "Device or resource busy")
        rename(source, destination)

    monkeypatch.setattr(os, "rename", busy_target)
    with (
        pytest.raises(OutputExistsError, match=r"busy.*the finished output is in") as error,
        atomic_directory(target, "bertsent.json") as f,
    ):
        (f / "bertsent.json").write_text('{"v": 3}')
    assert (target / "bertsent.json").read_text() == '{"v": 2}'  # the old model, in place
    # and the finished one is kept, named (it was deleted: hours of training gone)
    assert (f / "bertsent.json").read_text() == '{"v": 3}' and str(f) in error.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stale.name, "model", f.name])
    shutil.rmtree(f)

    def pressed(source: str | Path, destination: str | Path) -> None:
        if Path(source).name.endswith(".tmp"):  # Ctrl-C between the two renames
            raise KeyboardInterrupt
        rename(source, destination)

    monkeypatch.setattr(os, "rename", pressed)
    with pytest.raises(KeyboardInterrupt), atomic_directory(target, "bertsent.json") as f:
        (f / "bertsent.json").write_text('{"v": 4}')
    assert (target / "bertsent.json").read_text() == '{"v": 2}'  # the old one, back in place
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stale.name, "model"])


def test_a_mount_point_is_refused_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rename(2) cannot move a mount point: the swap failed after all the work."""
    import os

    mounted = tmp_path / "out"
    mounted.mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == mounted)
    with (
        pytest.raises(OutputExistsError, match="is a mount point"),
        atomic_directory(mounted, "bertsent.json", overwrite=True),
    ):
        pytest.fail("the block must not run")
    (mounted / "scores.csv").write_text("a bind-mounted file")
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path).name == "scores.csv")
    with pytest.raises(OutputExistsError, match="is a mount point"):
        check_file_replaceable(mounted / "scores.csv", overwrite=True)


def test_the_new_output_is_on_the_disk_before_it_replaces_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a sync, a power cut could leave the new names on empty files, the old
    output already deleted."""
    import os

    events: list[tuple[str, str]] = []
    fsync, rename = os.fsync, os.rename

    def synced(handle: int) -> None:
        events.append(("sync", os.readlink(f"/proc/self/fd/{handle}")))
        fsync(handle)

    def renamed(source: str | Path, destination: str | Path) -> None:
        events.append(("rename", str(source)))
        rename(source, destination)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "rename", renamed)
    target = tmp_path / "model"
    with atomic_directory(target, "bertsent.json") as folder:
        (folder / "weights").mkdir()
        (folder / "weights" / "model.safetensors").write_bytes(b"1234")
        (folder / "bertsent.json").write_text("{}")
    swap = events.index(("rename", str(folder)))
    synced_before = {path for kind, path in events[:swap] if kind == "sync"}
    assert {str(folder / "weights" / "model.safetensors"), str(folder / "bertsent.json"),
            str(folder / "weights"), str(folder)} <= synced_before  # fmt: skip
    assert ("sync", str(tmp_path)) in events[swap:]  # and the new name itself
    events.clear()
    with atomic_file(tmp_path / "scores.json") as temporary:
        temporary.write_text("{}")
    assert events[0] == ("sync", str(temporary)) and events[-1] == ("sync", str(tmp_path))


def test_a_file_output_is_refused_unless_overwrite_and_a_folder_always(tmp_path: Path) -> None:
    mine = tmp_path / "scores.csv"
    mine.write_text("mine")
    with pytest.raises(OutputExistsError, match=r"scores\.csv is an existing file") as error:
        check_file_replaceable(mine)
    assert error.value.hint == OVERWRITE_HINT
    check_file_replaceable(mine, overwrite=True)
    check_file_replaceable(tmp_path / "new.csv")
    with pytest.raises(OutputExistsError, match="is an existing folder"):
        check_file_replaceable(tmp_path, overwrite=True)
    assert mine.read_text() == "mine"


def test_atomic_file_without_overwrite_keeps_a_file_that_appeared_meanwhile(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(OutputExistsError), atomic_file(target, overwrite=False) as temporary:
        temporary.write_text("ours")
        target.write_text("theirs")  # the user saved a file there while we worked
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left
    with pytest.raises(OutputExistsError), atomic_file(target, overwrite=False):
        pytest.fail("the block must not run")
    with atomic_file(target) as temporary:  # the default still replaces
        temporary.write_text("ours")
    assert target.read_text() == "ours"


def test_without_hard_links_a_file_is_still_published_and_never_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems (FAT, some network mounts) refuse hard links: the no-clobber
    publish falls back to check-then-rename rather than failing every output."""
    import errno
    import os

    def no_links(source: str | Path, target: str | Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "out.json"
    with atomic_file(target, overwrite=False) as temporary:
        temporary.write_text("ours")
    assert target.read_text() == "ours" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    fresh = tmp_path / "fresh.json"
    with pytest.raises(OutputExistsError), atomic_file(fresh, overwrite=False) as temporary:
        temporary.write_text("ours")
        fresh.write_text("theirs")  # appeared while we worked
    assert fresh.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "out.json"]


def test_atomic_directory_replaces_a_user_folder_or_file_only_with_overwrite(
    tmp_path: Path,
) -> None:
    for target in (tmp_path / "folder", tmp_path / "file"):
        if target.name == "folder":
            target.mkdir()
            (target / "keep.txt").write_text("mine")
        else:
            target.write_text("mine")
        with (
            pytest.raises(OutputExistsError) as error,
            atomic_directory(target, "x.json", overwrite=False),
        ):
            pytest.fail("the block must not run")
        assert error.value.hint == OVERWRITE_HINT
        with atomic_directory(target, "x.json", overwrite=True) as folder:
            (folder / "x.json").write_text("{}")
        assert [p.name for p in target.iterdir()] == ["x.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]  # no backups left


def test_the_temporaries_of_a_write_cut_short_are_found_by_target(tmp_path: Path) -> None:
    target, neighbour = tmp_path / "a[1].parquet", tmp_path / "a[1].parquet.bak"
    with atomic_file(target) as temporary, atomic_file(neighbour) as other:
        assert left_temporaries(target) == [temporary]  # the glob's [1] taken literally
        assert left_temporaries(neighbour) == [other]
    assert left_temporaries(target) == [] and target.is_file()
