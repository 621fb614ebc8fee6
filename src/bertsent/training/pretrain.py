"""Domain- and task-adaptive pre-training: more masked-language-model training on reviews.

BERT's own first stage, continued on the user's unlabelled text (Gururangan et al. 2020,
"Don't Stop Pretraining"; Sun et al. 2019 for IMDb): 15% of the tokens are chosen, 80%
of those replaced by [MASK], 10% by a random token and 10% kept, and the model learns
to restore them (``DataCollatorForLanguageModeling``). The result is an ordinary
transformers folder that ``bertsent train --model DIR`` fine-tunes.

A sentence-transformers checkpoint such as the packaged all-MiniLM-L6-v2 ships the
encoder without its masked-LM head; that head starts fresh (its output layer tied to
the word embeddings, as in BERT) and the first steps mostly train it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertsent.data.splits import save_text_hashes, training_text_hashes
from bertsent.encoders.pretrained import SAFE_LOAD, load_tokenizer, resolve_model
from bertsent.encoders.tokenization import encode
from bertsent.errors import ConfigError, DataError, TrainingInterrupted
from bertsent.hardware import resolve_precision, trainer_precision_arguments, usable_device
from bertsent.training.callbacks import InterruptCallback, TimeLimitCallback
from bertsent.training.config import TrainingConfig
from bertsent.training.finetune import checkpoint_to_resume

logger = logging.getLogger(__name__)

RECORD_FILE = "pretraining.json"  # marks a folder written by `bertsent pretrain`
CURVE_FIGURE = "pretraining_loss.png"


@dataclass
class PretrainResult:
    model: Any
    tokenizer: Any
    record: dict[str, Any]


def pretrain(
    texts: Sequence[str],
    config: TrainingConfig,
    work_dir: Path,
    *,
    mlm_probability: float = 0.15,
    whole_word_mask: bool = False,
    max_minutes: float | None = None,
    resume: bool = False,
    held_out: float = 0.02,
    callbacks: list[Any] | None = None,
) -> PretrainResult:
    """Continue masked-LM training of ``config.model`` on ``texts``.

    Args:
        texts: Unlabelled reviews.
        config: ``model``, ``epochs``, ``batch_size``, ``learning_rate``, ``warmup_ratio``,
            ``weight_decay``, ``max_length``, ``seed``, ``precision``, ``threads`` apply.
        work_dir: Checkpoints; ``resume=True`` continues from the newest one.
        mlm_probability: Share of tokens chosen for prediction.
        whole_word_mask: Choose whole words (all their WordPiece pieces) instead of pieces.
        max_minutes: Stop after this long (with a checkpoint), whatever the epochs say.
        held_out: Share of texts kept aside to measure the masked-LM loss before and after.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Raises:
        DataError: fewer than 10 non-empty texts.
        ConfigError: checkpoints of an earlier run without ``resume``, or a bad setting.
        TrainingInterrupted: Ctrl-C / SIGTERM (a checkpoint is saved; resume continues).
    """
    from transformers import (
        AutoModelForMaskedLM,
        DataCollatorForLanguageModeling,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    texts = [text for text in texts if text and text.strip()]
    if len(texts) < 10:
        raise DataError(f"pre-training needs at least 10 non-empty texts (got {len(texts)})")
    if not 0 < mlm_probability < 1:
        raise ConfigError(f"mlm_probability={mlm_probability} is invalid: use a share in (0, 1)")
    device = usable_device()
    config = config.validate().for_device(device)
    assert config.batch_size is not None and config.learning_rate is not None
    checkpoint = checkpoint_to_resume(work_dir, resume)
    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    model = AutoModelForMaskedLM.from_pretrained(resolve_model(config.model), **SAFE_LOAD)

    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(texts))
    evaluation_size = max(5, int(held_out * len(texts)))
    evaluation = [texts[i] for i in order[:evaluation_size]]
    training = [texts[i] for i in order[evaluation_size:]]
    train_ids = encode(tokenizer, training, config.max_length, config.truncation)
    evaluation_ids = encode(tokenizer, evaluation, config.max_length, config.truncation)
    collator = DataCollatorForLanguageModeling(
        tokenizer,
        mlm_probability=mlm_probability,
        whole_word_mask=whole_word_mask,
        seed=config.seed,
    )
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    every = max(1, total_steps // 10)
    args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="steps",
        save_strategy="steps",
        eval_steps=every,
        save_steps=every,
        save_total_limit=2,
        logging_strategy="steps",
        logging_steps=max(1, every // 5),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        **trainer_precision_arguments(resolve_precision(config.precision, device), device),
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=False,
        remove_unused_columns=False,
    )
    interrupt = InterruptCallback()
    limit = TimeLimitCallback(max_minutes) if max_minutes is not None else None
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=[{"input_ids": ids} for ids in train_ids],
        eval_dataset=[{"input_ids": ids} for ids in evaluation_ids],
        data_collator=collator,
        callbacks=[interrupt, *([limit] if limit else []), *(callbacks or [])],
    )
    trainer.remove_callback(PrinterCallback)
    before = None if checkpoint else trainer.evaluate()["eval_loss"]
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        interrupt.restore()
    seconds = time.perf_counter() - started
    if interrupt.requested:
        raise TrainingInterrupted(
            f"pre-training stopped at step {trainer.state.global_step}; checkpoint in {work_dir}",
            hint="run the same command with --resume to continue",
        )
    after = trainer.evaluate()["eval_loss"]
    history = [
        {"step": entry["step"], **{k: entry[k] for k in ("loss", "eval_loss") if k in entry}}
        for entry in trainer.state.log_history
        if "loss" in entry or "eval_loss" in entry
    ]
    record = {
        "base_model": config.model,
        "texts": len(training),
        "held_out_texts": len(evaluation),
        "steps": trainer.state.global_step,
        "planned_steps": total_steps,
        "stopped_by_time_limit": bool(limit and limit.reached),
        "seconds": round(seconds, 1),
        "mlm_probability": mlm_probability,
        "whole_word_mask": whole_word_mask,
        "held_out_mlm_loss": {"before": before, "after": after},
        "training_config": config.to_dict(),
        "history": history,
    }
    model = trainer.accelerator.unwrap_model(trainer.model).to("cpu").float().eval()
    return PretrainResult(model=model, tokenizer=tokenizer, record=record)


def save_pretrained(result: PretrainResult, folder: Path, texts: Sequence[str]) -> None:
    """The model and tokenizer (a plain transformers folder), the record, the loss curve
    and the hashes of the texts seen (so evaluation can flag them)."""
    result.model.save_pretrained(folder, safe_serialization=True)
    result.tokenizer.save_pretrained(folder)
    (folder / RECORD_FILE).write_text(json.dumps(result.record, indent=2), encoding="utf-8")
    save_text_hashes(folder, training_text_hashes(texts))
    plot_pretraining_loss(result.record, folder / CURVE_FIGURE)


def plot_pretraining_loss(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    for key, name in (("loss", "training"), ("eval_loss", "held-out")):
        points = [(e["step"], e[key]) for e in record["history"] if key in e]
        if points:
            axis.plot(*zip(*points, strict=True), marker="o" if key == "eval_loss" else None,
                      label=f"{name} masked-LM loss")  # fmt: skip
    axis.set_xlabel("step")
    axis.set_ylabel("cross-entropy on masked tokens")
    axis.set_title(f"pre-training {record['base_model']} on {record['texts']:,} texts")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
