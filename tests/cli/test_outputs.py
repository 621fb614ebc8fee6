"""Every command that writes replaces only its own earlier output, unless --overwrite.

Also what ``predict --input/--output`` keeps: every input column, the header of an
input without rows, long fields, and a resume only with the model it started with.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

import bertsent
from bertsent.cli import main
from bertsent.inference.files import model_fingerprint, predict_file
from tests.conftest import synthetic_reviews, write_csv


def train_tfidf(data: Path, output: Path) -> Path:
    assert main(["-q", "train", "--method", "tfidf-lr", "--data", str(data),
                 "--output", str(output)]) == 0  # fmt: skip
    return output


@pytest.fixture(scope="module")
def tfidf_dir(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF-IDF + LR model: trained in a second, where the kind of model does not matter."""
    return train_tfidf(dataset_dir, tmp_path_factory.mktemp("tfidf") / "model")


def refused(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    """The error of a refused command: one line naming ``names``, one hint line."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert all(name in lines[0] for name in names), lines[0]
    return "\n".join(lines)


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def predict(model: Path, source: Path, target: Path, *extra: str) -> int:
    return main(["-q", "predict", str(model), "--input", str(source), "--output", str(target),
                 *extra])  # fmt: skip


def test_predict_keeps_an_existing_output_file_unless_overwrite(
    tfidf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts, _ = synthetic_reviews(20, seed=7)
    source = write_csv(tmp_path / "in.csv", [{"text": text} for text in texts])
    target = tmp_path / "scored.csv"
    target.write_text("my earlier scores\n")
    assert predict(tfidf_dir, source, target) == 2
    assert "pass --overwrite" in refused(capsys, str(target), "existing file")
    assert target.read_text() == "my earlier scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "scored.csv"]
    assert predict(tfidf_dir, source, target, "--overwrite") == 0
    assert len(list(csv.DictReader(target.open()))) == 20
    assert predict(tfidf_dir, source, target) == 2  # a file has no marker: asked every time


def test_predict_keeps_gold_labels_and_names_new_columns_with_a_prefix(
    tfidf_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = dataset_dir / "test.csv"  # columns text,label: the gold labels
    target = tmp_path / "scored.csv"
    assert predict(tfidf_dir, source, target) == 2
    assert "--prefix" in refused(capsys, "'label'", str(source))
    assert list(tmp_path.iterdir()) == []  # checked before any .partial folder
    assert predict(tfidf_dir, source, target, "--prefix", "pred_") == 0
    rows = list(csv.DictReader(target.open()))
    gold = list(csv.DictReader(source.open()))
    assert [(r["text"], r["label"]) for r in rows] == [(r["text"], r["label"]) for r in gold]
    model = bertsent.load(tfidf_dir)
    assert [r["pred_label"] for r in rows] == model.predict([r["text"] for r in gold])
    assert {f"pred_score_{label}" for label in model.labels_} <= set(rows[0])


@pytest.mark.parametrize("out_suffix", [".csv", ".jsonl"])
def test_predict_on_a_header_only_file_writes_an_output_without_rows(
    tfidf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], out_suffix: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n")
    target = tmp_path / f"out{out_suffix}"
    assert main(["predict", str(tfidf_dir), "--input", str(source), "--output", str(target)]) == 0
    assert f"0 rows scored -> {target}" in capsys.readouterr().out
    labels = bertsent.load(tfidf_dir).labels_
    if out_suffix == ".csv":
        with target.open(newline="") as handle:
            assert list(csv.reader(handle)) == [
                ["id", "text", "label", "score", *(f"score_{label}" for label in labels)]
            ]
    else:
        assert target.read_bytes() == b""  # valid jsonl: no lines, no rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", f"out{out_suffix}"]


def test_predict_reads_a_field_of_megabytes_and_leaves_no_partial_folder(
    tfidf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_review = "a superb film " * 400_000  # 5.6 MB on one line
    source = tmp_path / "in.csv"
    source.write_text(f'{"note" * 1_500_000},text\nx,"{long_review}"\ny,dull\n')
    target = tmp_path / "out.csv"
    assert main(["predict", str(tfidf_dir), "--input", str(source), "--output", str(target)]) == 0
    assert "2 rows scored" in capsys.readouterr().out
    rows = list(csv.DictReader(target.open(newline="")))
    assert [len(row["text"]) for row in rows] == [len(long_review), 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


class StopAfterFirstChunk:
    """The model, but Ctrl-C arrives as it starts scoring its second chunk."""

    def __init__(self, model: bertsent.SentimentClassifier) -> None:
        self.model, self.chunks = model, 0
        self.labels_, self.method, self.task_ = model.labels_, model.method, model.task_

    def predict_scores(self, texts: list[str], digits: int | None = None) -> list[dict[str, Any]]:
        self.chunks += 1
        if self.chunks > 1:
            raise KeyboardInterrupt
        return self.model.predict_scores(texts, digits=digits)


def test_predict_resume_refuses_another_model_saved_at_the_same_path(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = train_tfidf(dataset_dir, tmp_path / "model")
    texts, _ = synthetic_reviews(30, seed=6)
    source = write_csv(tmp_path / "in.csv", [{"text": text} for text in texts])
    target = tmp_path / "out.csv"

    def interrupt() -> None:  # as a Ctrl-C during `bertsent predict MODEL ...` would
        model = bertsent.load(model_dir)
        with pytest.raises(KeyboardInterrupt):
            predict_file(StopAfterFirstChunk(model), source, target, chunk_size=10,
                         progress=False, model_id=model_fingerprint(model_dir, model))  # fmt: skip

    interrupt()
    assert predict(model_dir, source, target, "--chunk-size", "10", "--resume") == 0  # same one
    assert len(list(csv.DictReader(target.open()))) == 30
    target.unlink()
    interrupt()
    other = tmp_path / "other"
    shutil.copytree(dataset_dir, other)
    with (other / "train.csv").open("a") as handle:
        handle.write("a brilliant and moving film,positive\n")  # other data, other weights
    train_tfidf(other, model_dir)
    assert predict(model_dir, source, target, "--chunk-size", "10", "--resume") == 2
    message = refused(
        capsys, f"model {model_dir.resolve()} was replaced", "pipeline.safetensors sha256"
    )
    assert "delete" in message
    assert not target.exists()
    assert len(list((tmp_path / "out.csv.partial").glob("part-*"))) == 1  # kept for the user


def test_report_replaces_its_own_report_and_a_user_file_only_with_overwrite(
    tfidf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "index.html"
    target.write_text("<html>my page</html>")

    def report(*extra: str) -> int:
        return main(["-q", "report", str(tfidf_dir), "--output", str(target), *extra])

    assert report() == 2
    assert "--overwrite" in refused(capsys, str(target), "not a bertsent report")
    assert target.read_text() == "<html>my page</html>"
    assert report("--overwrite") == 0
    first = target.read_text()
    assert "<title>bertsent report: " in first
    assert report() == 0  # its own earlier report is replaced without asking
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_compare_and_learning_curve_replace_only_their_own_files(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "compare.md").write_text("# my notes")
    (folder / "learning-curve.png").write_bytes(b"my figure")
    (folder / "other.txt").write_text("mine")
    before = listing(folder)
    compare = ["-q", "compare", "--data", str(dataset_dir), "--methods", "tfidf-lr",
               "--output", str(folder)]  # fmt: skip
    curve = ["-q", "learning-curve", "--data", str(dataset_dir), "--methods", "tfidf-lr",
             "--sizes", "40", "--seeds", "1", "--output", str(folder)]  # fmt: skip
    assert main(compare) == 2
    assert "--overwrite" in refused(capsys, str(folder / "compare.md"))
    assert main(curve) == 2
    assert "--overwrite" in refused(capsys, str(folder / "learning-curve.png"))
    assert listing(folder) == before  # refused before anything was trained
    assert main([*curve, "--overwrite"]) == 0
    # learning-curve.json marks the curve's files as ours, not the user's compare.md
    assert main(compare) == 2
    assert "--overwrite" in refused(capsys, str(folder / "compare.md"))
    assert (folder / "compare.md").read_text() == "# my notes"
    assert main([*compare, "--overwrite"]) == 0
    capsys.readouterr()
    assert (folder / "compare.md").read_text().startswith("# Comparison on")
    assert (folder / "other.txt").read_text() == "mine"
    written = json.loads((folder / "compare.json").read_text())
    assert written["rows"][0]["method"] == "tfidf-lr"
    assert written["command"] == shlex.join(["bertsent", *compare, "--overwrite"])  # not pytest's
    assert main(curve) == 0 and main(compare) == 0  # and both rerun there


def test_export_refuses_an_onnx_folder_it_did_not_write_before_measuring(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    (model / "onnx").mkdir()
    (model / "onnx" / "notes.txt").write_text("mine")
    assert main(["-q", "export", str(model), "--onnx", "--data", "no-such-data"]) == 2
    message = refused(capsys, str(model / "onnx"), "not a bertsent export")
    assert "pass --overwrite" in message  # refused before the data was even looked up
    assert (model / "onnx" / "notes.txt").read_text() == "mine"
    assert main(["-q", "export", str(model), "--onnx", "--overwrite"]) == 0
    assert sorted(p.name for p in (model / "onnx").iterdir()) == ["exports.json", "model.onnx"]
    assert main(["-q", "export", str(model), "--onnx"]) == 0  # its own export is replaced
    # measured on a file of the user's, read with the columns named
    texts, labels = synthetic_reviews(40, seed=5)
    rows = [{"review": t, "verdict": y} for t, y in zip(texts, labels, strict=True)]
    data = write_csv(tmp_path / "mine.csv", rows)
    assert main(["-q", "export", str(model), "--onnx", "--data", str(data), "--text-column",
                 "review", "--label-column", "verdict"]) == 0  # fmt: skip
    measured = json.loads((model / "onnx" / "exports.json").read_text())["measured_on"]
    assert measured == {"data": "mine", "split": "dev", "size": 4}
