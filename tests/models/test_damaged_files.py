"""A damaged weights file is named in one line, never a safetensors or zip traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bertsent.cli import main
from bertsent.data import DatasetSplits
from bertsent.errors import ModelError
from bertsent.models import create, load
from bertsent.models.base import DAMAGED_HINT, TRAIN_HASHES_FILE
from bertsent.models.lstm import LstmClassifier

DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x89not a model file\x00" * 64,
}


@pytest.fixture(scope="module")
def saved_models(
    trained_model_dir: Path,
    synthetic_splits: DatasetSplits,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """A saved model of each kind: bert, lstm and tfidf-lr (its arrays are safetensors too)."""
    folder = tmp_path_factory.mktemp("damaged")
    train = synthetic_splits.train
    lstm = LstmClassifier(epochs=1, seed=0)
    return {
        "bert": trained_model_dir,
        "lstm": lstm.fit(train.texts, train.labels).save(folder / "lstm"),
        "tfidf-lr": create("tfidf-lr").fit(train.texts, train.labels).save(folder / "tfidf"),
    }


WEIGHTS = {
    "bert": "model.safetensors",
    "lstm": "model.safetensors",
    "tfidf-lr": "pipeline.safetensors",
}


def damaged_copy(source: Path, target: Path, file: str, damage: str) -> Path:
    shutil.copytree(source, target)
    weights = target / file
    weights.write_bytes(DAMAGES[damage](weights.read_bytes()))
    return weights


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("method", WEIGHTS)
def test_a_damaged_weights_file_is_named(
    saved_models: dict[str, Path], tmp_path: Path, method: str, damage: str
) -> None:
    weights = damaged_copy(saved_models[method], tmp_path / "model", WEIGHTS[method], damage)
    with pytest.raises(ModelError, match="is damaged or incomplete") as caught:
        load(tmp_path / "model")
    assert str(weights) in caught.value.message
    assert caught.value.hint is not None and "retrain" in caught.value.hint


@pytest.mark.parametrize("method", ["bert", "tfidf-lr"])
def test_the_cli_prints_one_line_for_a_damaged_model(
    saved_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    weights = damaged_copy(saved_models[method], tmp_path / "model", WEIGHTS[method], "truncated")
    assert main(["evaluate", str(tmp_path / "model")]) == 2
    error = capsys.readouterr().err.splitlines()
    assert error == [
        error[0],
        "hint: retrain the model, or copy the model folder again",
    ] and error[0].startswith(f"error: {weights} is damaged")


def test_a_recipe_with_a_setting_this_version_lacks_names_the_models_file(
    saved_models: dict[str, Path], tmp_path: Path
) -> None:
    """It said only "unknown training setting(s): foo", naming no model or file."""
    shutil.copytree(saved_models["bert"], tmp_path / "newer")
    file = tmp_path / "newer" / "bertsent.json"
    record = json.loads(file.read_text())
    record["training_config"]["foo"] = 1
    file.write_text(json.dumps(record))
    with pytest.raises(ModelError, match=r"bertsent\.json: its training_config cannot be read"):
        load(tmp_path / "newer")


def test_a_damaged_hash_file_is_named(saved_models: dict[str, Path], tmp_path: Path) -> None:
    hashes = damaged_copy(saved_models["tfidf-lr"], tmp_path / "m", TRAIN_HASHES_FILE, "garbage")
    with pytest.raises(ModelError, match=f"{hashes} is damaged"):
        load(tmp_path / "m")


def test_an_lstm_vocabulary_cut_short_or_not_fitting_the_weights_is_named(
    saved_models: dict[str, Path], tmp_path: Path
) -> None:
    cut = damaged_copy(saved_models["lstm"], tmp_path / "cut", "vocabulary.json", "truncated")
    with pytest.raises(ModelError, match=r"vocabulary\.json is damaged") as caught:
        load(tmp_path / "cut")
    assert str(cut) in caught.value.message and caught.value.hint == DAMAGED_HINT
    shutil.copytree(saved_models["lstm"], tmp_path / "short")
    vocabulary = tmp_path / "short" / "vocabulary.json"
    vocabulary.write_text(json.dumps(json.loads(vocabulary.read_text())[:-1]))
    with pytest.raises(ModelError, match=r"model\.safetensors does not fit vocabulary\.json"):
        load(tmp_path / "short")


def test_a_baseline_whose_files_do_not_fit_together_or_read_files_is_refused(
    saved_models: dict[str, Path], tmp_path: Path
) -> None:
    shutil.copytree(saved_models["tfidf-lr"], tmp_path / "short")
    vocabulary = next((tmp_path / "short").glob("vocabulary*.json"))
    vocabulary.write_text(json.dumps(json.loads(vocabulary.read_text())[:-1]))
    with pytest.raises(ModelError, match=r"terms in .* but coef has shape"):
        load(tmp_path / "short")
    shutil.copytree(saved_models["tfidf-lr"], tmp_path / "reads")
    spec_file = tmp_path / "reads" / "pipeline.json"
    spec = json.loads(spec_file.read_text())
    spec["features"]["params"]["input"] = "filename"  # each text opened as a path
    spec_file.write_text(json.dumps(spec))
    with pytest.raises(ModelError, match=r"input='filename', not the texts"):
        load(tmp_path / "reads")
