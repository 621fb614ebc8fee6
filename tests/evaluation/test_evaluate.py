"""``evaluate``: what it scores (a file whole, a dataset's test split) and the overlap guard."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bertsent.cli import main
from bertsent.data.splits import normalise_text, training_text_hashes
from bertsent.errors import DataError, ModelError
from bertsent.evaluation.evaluate import evaluate
from bertsent.models import load
from bertsent.models.base import METADATA_FILE, TRAIN_HASHES_FILE
from bertsent.pipeline import train
from tests.conftest import synthetic_reviews, write_csv


@pytest.fixture(scope="module")
def model_dir(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TF-IDF + LR on the synthetic train.csv/dev.csv/test.csv folder (a second to train)."""
    output = tmp_path_factory.mktemp("evaluate") / "model"
    train(str(dataset_dir), output_dir=output, method="tfidf-lr")
    return output


def unseen_rows(n: int, seed: int, only: str | None = None) -> list[dict[str, str]]:
    """Reviews like the training ones, each made unique so none is a training text."""
    texts, labels = synthetic_reviews(2 * n, seed)
    rows = [
        {"text": f"{text} take {i}", "label": label}
        for i, (text, label) in enumerate(zip(texts, labels, strict=True))
        if only is None or label == only
    ]
    return rows[:n]


def test_a_file_is_scored_whole_with_any_number_of_classes(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_class = write_csv(tmp_path / "praise.csv", unseen_rows(30, seed=11, only="positive"))
    report_path = tmp_path / "praise.json"
    command = ["-q", "evaluate", str(model_dir), "--data", str(one_class)]
    assert main([*command, "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["n"] == 30 and report["split"] == "all" and report["dataset"] == "praise"
    assert report["per_class"]["positive"]["support"] == 30
    # macro-F1 averages the classes present, not the one the file lacks
    assert report["macro_f1"] == pytest.approx(report["per_class"]["positive"]["f1"])

    both = write_csv(tmp_path / "both.csv", unseen_rows(200, seed=12))
    assert evaluate(model_dir, str(both))["n"] == 200


def test_split_keeps_the_old_80_10_10_part_and_datasets_default_to_test(
    model_dir: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    both = write_csv(tmp_path / "both.csv", unseen_rows(200, seed=12))
    assert evaluate(model_dir, str(both), split="test")["n"] == 20
    assert evaluate(model_dir, str(both), split="dev")["split"] == "dev"
    named = evaluate(model_dir, str(dataset_dir))
    assert (named["split"], named["n"]) == ("test", 40)
    own = evaluate(model_dir)  # the training data it records: its test split, not the lot
    assert (own["split"], own["n"]) == ("test", 40)


def test_unknown_labels_are_named_with_file_and_line(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = unseen_rows(6, seed=13)
    rows[2]["label"] = "neutral"  # line 4: the header is line 1
    rows[4]["label"] = "mixed"
    path = write_csv(tmp_path / "eval.csv", rows)
    with pytest.raises(DataError, match=r"eval\.csv line 4: label 'neutral' is not one of"):
        evaluate(model_dir, str(path))
    assert main(["evaluate", str(model_dir), "--data", str(path)]) == 2
    error = capsys.readouterr().err.splitlines()
    assert error[0].startswith("error: eval.csv line 4: label 'neutral'") and "mixed" in error[0]
    assert error[1].startswith("hint: ") and len(error) == 2


def test_normalised_texts_match_across_tokenisations() -> None:
    sst = "it 's a charming and often affecting journey . -LRB- really -RRB-"
    rt = "It's a charming and often affecting journey (really)"
    assert normalise_text(sst) == normalise_text(rt) == "itsacharmingandoftenaffectingjourneyreally"
    hashes = training_text_hashes([rt, rt.upper(), "A different review", "!!!"])
    assert hashes.dtype == np.uint64 and len(hashes) == 2  # duplicates and "" dropped
    assert list(hashes) == sorted(hashes)


def test_training_texts_are_saved_as_compact_hashes(model_dir: Path, dataset_dir: Path) -> None:
    from bertsent.data import read_split

    saved = np.load(model_dir / TRAIN_HASHES_FILE, allow_pickle=False)
    texts = read_split(dataset_dir / "train.csv", "train").texts
    assert np.array_equal(saved, training_text_hashes(texts))
    assert (model_dir / TRAIN_HASHES_FILE).stat().st_size <= 8 * len(texts) + 128
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    assert metadata["train_texts"]["count"] == len(saved)
    assert np.array_equal(load(model_dir).train_hashes_, saved)  # type: ignore[arg-type]


def disguised_training_file(dataset_dir: Path, path: Path) -> Path:
    """The training texts re-cased and re-tokenised, SST style, under a new name."""
    from bertsent.data import read_split

    split = read_split(dataset_dir / "train.csv", "train")
    rows = [
        {"text": text.upper().replace(" ", "  ") + " .", "label": label}
        for text, label in zip(split.texts, split.labels, strict=True)
    ]
    return write_csv(path, rows)


def test_scoring_training_texts_under_another_name_is_refused(
    model_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = disguised_training_file(dataset_dir, tmp_path / "fresh-reviews.csv")
    with pytest.raises(DataError, match=r"160 of 160 texts \(100.0%\) are texts the model"):
        evaluate(model_dir, str(copy))
    report_path = tmp_path / "report.json"
    assert main(["evaluate", str(model_dir), "--data", str(copy), "--json", str(report_path)]) == 2
    error = capsys.readouterr().err.splitlines()
    assert len(error) == 2 and "--allow-overlap" in error[1]
    assert not report_path.exists()

    command = ["-q", "evaluate", str(model_dir), "--data", str(copy), "--allow-overlap"]
    assert main([*command, "--json", str(report_path)]) == 0
    overlap = json.loads(report_path.read_text())["train_overlap"]
    assert overlap["checked"] and overlap["count"] == 160 and overlap["fraction"] == 1.0
    assert "train overlap: 160 of 160 texts (100.0%) are training texts" in capsys.readouterr().out


def test_a_small_overlap_is_warned_about_and_reported(
    model_dir: Path, dataset_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bertsent.data import read_split

    seen = read_split(dataset_dir / "train.csv", "train")
    rows = unseen_rows(40, seed=14) + [
        {"text": seen.texts[i], "label": seen.labels[i]} for i in range(2)
    ]
    path = write_csv(tmp_path / "mostly-new.csv", rows)
    with caplog.at_level(logging.INFO, logger="bertsent"):
        report = evaluate(model_dir, str(path))
    overlap = report["train_overlap"]
    assert (overlap["count"], overlap["fraction"], overlap["n_unseen"]) == (2, 0.0476, 40)
    assert 0 <= overlap["accuracy_unseen"] <= 1
    assert any(r.levelno == logging.WARNING and "inflated" in r.message for r in caplog.records)

    clean = evaluate(model_dir, str(write_csv(tmp_path / "new.csv", unseen_rows(40, seed=14))))
    assert clean["train_overlap"]["count"] == 0 and "accuracy_unseen" not in clean["train_overlap"]


def test_models_saved_without_hashes_still_evaluate_with_a_note(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-model"
    shutil.copytree(model_dir, old)
    (old / TRAIN_HASHES_FILE).unlink()
    with pytest.raises(ModelError, match=f"{TRAIN_HASHES_FILE} is missing, though"):
        evaluate(old)  # listed in bertsent.json: lost in a copy, not an older model
    metadata = json.loads((old / METADATA_FILE).read_text())
    del metadata["train_texts"]  # as bertsent wrote it before the hashes existed
    (old / METADATA_FILE).write_text(json.dumps(metadata))
    report = evaluate(old)
    assert report["n"] == 40 and report["train_overlap"]["checked"] is False
    assert main(["-q", "evaluate", str(old)]) == 0
    assert "train overlap: not checked" in capsys.readouterr().out


def test_the_default_data_of_a_model_is_found_from_another_folder(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(dataset_dir.parent)
    model = tmp_path / "model"
    assert main(["-q", "train", "--method", "tfidf-lr", "--data", dataset_dir.name,
                 "--output", str(model)]) == 0  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / dataset_dir.name).mkdir(parents=True)  # the same name, another folder
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(model)]) == 0  # the data it was trained on
    assert "accuracy" in capsys.readouterr().out
