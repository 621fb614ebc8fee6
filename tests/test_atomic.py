"""Outputs never replace what a user keeps there: only bertsent's own earlier output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertsent.atomic import atomic_directory
from bertsent.cli import main
from bertsent.errors import OutputExistsError


def _train_baseline(dataset_dir: Path, output: Path) -> int:
    return main(["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir), "--output",
                 str(output)])  # fmt: skip


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


def test_train_refuses_an_existing_file(dataset_dir: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing.csv"
    existing.write_text("text,label\n")
    assert _train_baseline(dataset_dir, existing) == 2
    assert existing.read_text() == "text,label\n"


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
