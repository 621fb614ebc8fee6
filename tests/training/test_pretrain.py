"""Masked-LM pre-training on unlabelled reviews: a folder that `train --model` fine-tunes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bertsent.data import DatasetSplits
from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
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
    changed = r"differs from the interrupted one: --learning-rate 0.002 -> 0.001; --mlm-probability"
    with pytest.raises(ConfigError, match=changed):  # the checkpoint would run the old recipe
        pretrain(str(unlabelled), output, config(tiny_model_dir, learning_rate=1e-3),
                 mlm_probability=0.2, resume=True)  # fmt: skip
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


@pytest.mark.usefixtures("two_gpus_in_one_process")
def test_pretraining_over_data_parallel_steps_at_the_recipes_batch(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path
) -> None:
    record = pretrain(str(unlabelled), tmp_path / "tapt", config(tiny_model_dir, epochs=1))
    assert record["steps"] == record["planned_steps"] == 13  # 195 texts / 16, not / 32


def test_pretraining_accumulates_the_batches_its_learning_rate_was_scaled_for(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path
) -> None:
    recipe = config(tiny_model_dir, epochs=1, gradient_accumulation_steps=2, learning_rate=None)
    record = pretrain(str(unlabelled), tmp_path / "tapt", recipe)
    assert record["steps"] == record["planned_steps"] == 7  # 195 texts / (16 x 2) per step
    assert record["global_batch_size"] == 32  # per optimiser step, as the fine-tune records it


def test_a_rank_other_than_0_writes_nothing_and_leaves_the_checkpoints_to_rank_0(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under torchrun every rank runs the command; rank 0 alone saves the folder and
    removes the checkpoints (the 2-process test checks the batch; this, the writes)."""
    from bertsent.cli import main

    monkeypatch.setattr("bertsent.distributed.rank", lambda: 1)  # read by is_main_process
    output = tmp_path / "tapt"
    code = main(["-q", "pretrain", "--data", str(unlabelled), "--output", str(output),
                 "--model", str(tiny_model_dir), "--epochs", "1", "--batch-size", "16",
                 "--max-length", "32", "--max-minutes", "0.001"])  # fmt: skip
    assert code == 0  # stopped by the time limit: rank 0's message names the checkpoints
    assert not output.exists() and checkpoint_dir(output).is_dir()


@pytest.mark.slow
def test_the_pretrained_folder_fine_tunes_and_its_texts_count_as_seen(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    output = tmp_path / "tapt"
    with pytest.raises(ConfigError, match="--max-minutes must be positive"):
        pretrain("rotten-tomatoes", output, config(tiny_model_dir), max_minutes=0)
    record = pretrain("rotten-tomatoes", output, config(tiny_model_dir, epochs=1), max_minutes=1e-9)
    assert record["stopped_by_time_limit"] and record["steps"] == 1
    kept = checkpoint_dir(output)  # unfinished: the checkpoints stay for --resume
    assert record["checkpoints"] == str(kept) and (kept / "checkpoint-1").is_dir()
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
    texts_only = tmp_path / "texts-only"
    texts_only.mkdir()
    write_csv(texts_only / "train.csv", [{"text": f"review {i}"} for i in range(4)])
    with pytest.raises(DataError, match="at least 10 non-empty texts"):  # read, not refused
        pretrain(str(texts_only), tmp_path / "out", config(tiny_model_dir))
    few = write_csv(tmp_path / "few.csv", [{"text": "a fine film"}] * 3)
    with pytest.raises(DataError, match="at least 10 non-empty texts"):
        pretrain(str(few), tmp_path / "out", config(tiny_model_dir))


def test_whole_word_masking_masks_every_piece_of_a_chosen_word() -> None:
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from bertsent.training.pretrain import MaskingCollator, example_for_masking

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    ids = tokenizer("unbelievably tedious, overwrought filmmaking")["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert any(piece.startswith("##") for piece in pieces)  # words of several pieces
    example = example_for_masking(tokenizer, ids, whole_word_mask=True)
    words: list[list[int]] = []
    for index, piece in enumerate(pieces[1:-1], start=1):
        if piece.startswith("##"):
            words[-1].append(index)
        else:
            words.append([index])
    chosen = 0
    for seed in range(40):
        collator = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=0.3, whole_word_mask=True, seed=seed
        )
        labels = MaskingCollator(collator, tokenizer.pad_token_id)([example, {**example}])["labels"]
        for word in words:
            masked = [bool(labels[0, i] != -100) for i in word]
            assert all(masked) or not any(masked), (pieces, word, masked)
            chosen += all(masked)
    assert chosen > 0


def test_held_out_examples_are_masked_once_and_scored_the_same_every_time() -> None:
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from bertsent.training.pretrain import MaskingCollator, example_for_masking

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    masking = MaskingCollator(
        DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.5, seed=1),
        tokenizer.pad_token_id,
    )
    texts = ["a long and very tedious film", "good"]
    examples = [example_for_masking(tokenizer, tokenizer(t)["input_ids"], False) for t in texts]
    held_out = [masking.mask_once(example) for example in examples]
    first, second = masking(held_out), masking(held_out)
    assert all((first[key] == second[key]).all() for key in ("input_ids", "labels"))
    width = first["input_ids"].shape[1]
    assert first["attention_mask"].tolist()[1] == [1, 1, 1] + [0] * (width - 3)  # [CLS] good [SEP]
    trained = [masking(examples)["labels"] for _ in range(5)]  # training batches: afresh
    assert any((labels != trained[0]).any() for labels in trained[1:])


def test_a_users_folder_where_checkpoints_go_is_refused_and_kept(
    tiny_model_dir: Path, unlabelled: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    from bertsent.errors import OutputExistsError

    mine = tmp_path / "mine.checkpoints"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match=r"mine\.checkpoints .* holds notes\.txt"):
        pretrain(str(unlabelled), tmp_path / "mine", config(tiny_model_dir))
    with pytest.raises(OutputExistsError, match=r"notes\.txt"):
        train(synthetic_splits, config(tiny_model_dir, epochs=1), tmp_path / "mine")
    assert (mine / "notes.txt").read_text() == "precious"


def test_a_length_past_the_position_embeddings_is_refused_before_any_work(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="allows at most"):
        pretrain(str(unlabelled), tmp_path / "long", config(tiny_model_dir, max_length=4096))
    assert not checkpoint_dir(tmp_path / "long").exists()


def test_the_cli_pretrains_with_whole_words_quietly(
    tiny_model_dir: Path, unlabelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bertsent.cli import main

    code = main(["-q", "pretrain", "--data", str(unlabelled), "--output", str(tmp_path / "w"),
                 "--model", str(tiny_model_dir), "--whole-word-mask", "--epochs", "1",
                 "--batch-size", "16", "--max-length", "32"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("pre-trained 13 steps"), lines
    assert "{'" not in captured.out + captured.err  # no raw Trainer log dicts
    assert json.loads((tmp_path / "w" / RECORD_FILE).read_text())["whole_word_mask"] is True
