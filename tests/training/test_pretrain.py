"""Masked-LM pre-training on unlabelled reviews: a folder that `train --model` fine-tunes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bertsent.data import DatasetSplits
from bertsent.errors import ConfigError, DataError, TrainingInterrupted
from bertsent.pipeline import checkpoint_dir, pretrain, train
from bertsent.training.config import TrainingConfig
from bertsent.training.pretrain import CURVE_FIGURE, RECORD_FILE
from tests.callbacks import SendSigint
from tests.conftest import synthetic_reviews, write_csv


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, _ = synthetic_reviews(200, seed=7)
    return write_csv(tmp_path_factory.mktemp("unsup") / "unsup.csv", [{"text": t} for t in texts])


def config(model: Path, **changes: Any) -> TrainingConfig:
    settings = {"epochs": 3, "batch_size": 16, "learning_rate": 2e-3, "max_length": 32}
    return TrainingConfig(model=str(model), **{**settings, **changes})


def test_interrupted_pretraining_resumes_and_lowers_the_held_out_loss(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path
) -> None:
    from transformers import AutoModel, AutoModelForMaskedLM

    output = tmp_path / "tapt"
    with pytest.raises(TrainingInterrupted, match="pre-training stopped at step 3"):
        pretrain(str(unlabelled), output, config(tiny_model_dir), callbacks=[SendSigint(3)])
    assert (checkpoint_dir(output) / "checkpoint-3").is_dir() and not output.exists()
    with pytest.raises(ConfigError, match="--resume"):
        pretrain(str(unlabelled), output, config(tiny_model_dir))
    record = pretrain(str(unlabelled), output, config(tiny_model_dir), resume=True)
    assert record["steps"] == record["planned_steps"] == 3 * 13  # 195 texts / 16 per step
    loss = record["held_out_mlm_loss"]
    assert loss["before"] is None and loss["after"] < np.log(30522) - 1  # learnt the words
    saved = json.loads((output / RECORD_FILE).read_text())
    assert (
        saved["data"]["texts"] == "200 texts from unsup.csv" and saved["texts"] == 195
    )  # 5 held out
    assert (output / CURVE_FIGURE).is_file() and not checkpoint_dir(output).exists()
    AutoModelForMaskedLM.from_pretrained(output, use_safetensors=True)
    AutoModel.from_pretrained(output, use_safetensors=True)


def test_the_pretrained_folder_fine_tunes_and_its_texts_count_as_seen(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    output = tmp_path / "tapt"
    record = pretrain("rotten-tomatoes", output, config(tiny_model_dir, epochs=1), max_minutes=0)
    assert record["stopped_by_time_limit"] and record["steps"] == 1
    assert record["held_out_mlm_loss"]["before"] > 0
    assert record["data"]["texts"] == "the 10,270 training texts of rotten-tomatoes"
    run = train(synthetic_splits, config(output, epochs=1), tmp_path / "model", augment="none")
    assert run.model.train_hashes_ is not None
    assert len(run.model.train_hashes_) > 10_000  # RT's train texts and the synthetic ones


def test_bad_unlabelled_data_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    with pytest.raises(DataError, match=r"empty\.csv: no texts to pre-train on"):
        pretrain(str(empty), tmp_path / "out", config(tiny_model_dir))
    with pytest.raises(DataError, match="no such file, folder or dataset"):
        pretrain(str(tmp_path / "missing.csv"), tmp_path / "out", config(tiny_model_dir))
    few = write_csv(tmp_path / "few.csv", [{"text": "a fine film"}] * 3)
    with pytest.raises(DataError, match="at least 10 non-empty texts"):
        pretrain(str(few), tmp_path / "out", config(tiny_model_dir))
