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

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from bertsent.data.splits import save_text_hashes, training_text_hashes
from bertsent.distributed import rank, world_size
from bertsent.encoders.engine import use_threads
from bertsent.encoders.pretrained import TRAINABLE_LOAD, load_tokenizer, resolve_model
from bertsent.encoders.tokenization import encode, group_word_pieces
from bertsent.errors import ConfigError, DataError
from bertsent.hardware import (
    attention_without_cudnn,
    resolve_precision,
    trainer_precision_arguments,
    usable_device,
)
from bertsent.progress import quiet
from bertsent.training.callbacks import InterruptCallback, ResumableTrainer, TimeLimitCallback
from bertsent.training.config import TrainingConfig, check_fits_checkpoint
from bertsent.training.finetune import (
    check_resumed_recipe,
    checkpoint_to_resume,
    per_process_batch_size,
    split_over_data_parallel,
    train_or_stop,
)

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
        TrainingArguments,
        set_seed,
    )
    from transformers import ProgressCallback as TransformersProgress

    texts = [text for text in texts if text and text.strip()]
    if len(texts) < 10:
        raise DataError(f"pre-training needs at least 10 non-empty texts (got {len(texts)})")
    if not 0 < mlm_probability < 1:
        raise ConfigError(f"mlm_probability={mlm_probability} is invalid: use a share in (0, 1)")
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f"--max-minutes must be positive, not {max_minutes}")
    device = usable_device()
    config = config.validate().resolved()
    assert config.batch_size is not None and config.learning_rate is not None
    check_fits_checkpoint(config)
    processes = world_size()  # under torchrun --batch-size is shared out, as in fine-tuning
    per_process_batch = per_process_batch_size(config.batch_size, processes)
    checkpoint = checkpoint_to_resume(work_dir, resume)
    settings = {"--mlm-probability": mlm_probability, "--whole-word-mask": whole_word_mask}
    data = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()
    check_resumed_recipe(work_dir, checkpoint, config, data, settings)
    use_threads(config.threads)
    set_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    model = AutoModelForMaskedLM.from_pretrained(resolve_model(config.model), **TRAINABLE_LOAD)

    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(texts))
    evaluation_size = max(5, int(held_out * len(texts)))
    evaluation = [texts[i] for i in order[:evaluation_size]]
    training = [texts[i] for i in order[evaluation_size:]]
    train_ids = encode(tokenizer, training, config.max_length, config.truncation)
    evaluation_ids = encode(tokenizer, evaluation, config.max_length, config.truncation)

    def masker(seed: int) -> Any:
        return DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=mlm_probability, whole_word_mask=whole_word_mask, seed=seed
        )

    training_examples = [example_for_masking(tokenizer, ids, whole_word_mask) for ids in train_ids]
    # the held-out texts are masked once, so every evaluation scores the same task
    fixed = MaskingCollator(masker(config.seed + 1), tokenizer.pad_token_id)
    evaluation_examples = [
        fixed.mask_once(example_for_masking(tokenizer, ids, whole_word_mask))
        for ids in evaluation_ids
    ]
    steps_per_epoch = math.ceil(
        len(train_ids) / (config.batch_size * config.gradient_accumulation_steps)
    )
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    every = max(1, total_steps // 10)
    args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=per_process_batch,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,  # resolved() scaled it for the accumulated batch
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
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    split_over_data_parallel(args)
    interrupt = InterruptCallback()
    limit = TimeLimitCallback(max_minutes) if max_minutes is not None else None
    trainer = ResumableTrainer(
        model=model,
        args=args,
        train_dataset=training_examples,
        eval_dataset=evaluation_examples,
        # each rank masks its own batches with its own stream (even offsets: the odd
        # one is the held-out set's, masked alike on every rank)
        data_collator=MaskingCollator(masker(config.seed + 2 * rank()), tokenizer.pad_token_id),
        callbacks=[
            interrupt,
            MaskedLmProgress(),
            *([limit] if limit else []),
            *(callbacks or []),
        ],
    )
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout
    trainer.remove_callback(TransformersProgress)
    with attention_without_cudnn(device):
        before = None if checkpoint else trainer.evaluate()["eval_loss"]
        _, seconds = train_or_stop(trainer, checkpoint, interrupt, "pre-training")
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
        "processes": processes,
        # texts per optimiser step, as the fine-tune records it (accumulation included)
        "global_batch_size": config.batch_size * config.gradient_accumulation_steps,
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


def example_for_masking(tokenizer: Any, ids: list[int], whole_word_mask: bool) -> dict[str, Any]:
    """One training example; for whole-word masking with the word boundaries the
    collator reads from ``offset_mapping`` (pieces of one word touch, words do not)."""
    if not whole_word_mask:
        return {"input_ids": ids}
    special_ids = set(tokenizer.all_special_ids)
    special = [token in special_ids for token in ids]
    _, words = group_word_pieces(tokenizer.convert_ids_to_tokens(ids), special)
    offsets = [(0, 0)] * len(ids)
    position = 0
    for word in words:
        if special[word[0]]:
            continue
        position += 1  # a gap before each word
        for index in word:
            offsets[index] = (position, position + 1)
            position += 1
    return {"input_ids": ids, "offset_mapping": offsets}


class MaskingCollator:
    """Pads and masks training batches afresh each time; held-out examples arrive
    already masked (:meth:`mask_once`) and are only padded."""

    def __init__(self, collator: Any, pad_id: int) -> None:
        self.collator = collator
        self.pad_id = pad_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(example["input_ids"]) for example in examples)
        if "labels" in examples[0]:  # masked once, for evaluation

            def padded(key: str, value: int) -> torch.Tensor:
                rows = [e[key] + [value] * (width - len(e[key])) for e in examples]
                return torch.tensor(rows, dtype=torch.long)

            ids = padded("input_ids", self.pad_id)
            lengths = torch.tensor([len(e["input_ids"]) for e in examples])
            mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
            return {"input_ids": ids, "attention_mask": mask, "labels": padded("labels", -100)}
        if "offset_mapping" in examples[0]:  # the tokenizer's padding leaves it ragged
            examples = [
                {
                    **e,
                    "offset_mapping": e["offset_mapping"]
                    + [(0, 0)] * (width - len(e["input_ids"])),
                }
                for e in examples
            ]
        return dict(self.collator(examples))

    def mask_once(self, example: dict[str, Any]) -> dict[str, Any]:
        """``example`` masked by this collator's own random stream, as plain lists."""
        batch = self.collator([example])
        return {"input_ids": batch["input_ids"][0].tolist(), "labels": batch["labels"][0].tolist()}


class MaskedLmProgress(TrainerCallback):
    """One bar over the steps with the latest training loss, and a line per held-out
    evaluation, instead of the Trainer's dicts on stdout (``-q`` shows neither)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        if state.is_world_process_zero and not quiet():
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="pretrain",
                            unit="step")  # fmt: skip

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            self.bar.set_postfix({"loss": f"{float(logs['loss']):.3f}"}, refresh=False)
        if "eval_loss" in logs:
            self.bar.write(
                f"step {state.global_step}  held-out masked-LM loss {logs['eval_loss']:.4f}"
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
