"""Fine-tune an encoder with a linear [CLS] head using the Hugging Face Trainer.

The Trainer supplies AdamW, the warmup/decay schedule, gradient accumulation,
evaluation, checkpoints, resume and best-epoch selection. What we add is speed on
CPUs (pre-tokenised data, length-grouped batches with dynamic padding, dev sorted by
length, bf16 only where the hardware has it) and the export of the head.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from bertsent.atomic import atomic_file
from bertsent.data.splits import DatasetSplits, Split
from bertsent.data.tasks import FineGrainedTask, MultiLabelTask
from bertsent.distributed import world_size
from bertsent.encoders.engine import use_threads
from bertsent.encoders.heads import (
    ClsLinearClassifier,
    check_export,
    check_supported,
    export_to_transformers,
    ordinal_targets,
)
from bertsent.encoders.pretrained import keep_layers, load_encoder, load_tokenizer
from bertsent.encoders.tokenization import encode, pad_ids, segment_ids, takes_segments
from bertsent.errors import ConfigError, TrainingInterrupted
from bertsent.hardware import (
    attention_without_cudnn,
    resolve_precision,
    summary_line,
    trainer_precision_arguments,
    usable_device,
)
from bertsent.training.callbacks import (
    HistoryCallback,
    InterruptCallback,
    ProgressCallback,
    ResumableTrainer,
    early_stopping,
    history_from_state,
)
from bertsent.training.config import TrainingConfig, recipe_changes
from bertsent.training.layer_decay import layer_wise_groups

logger = logging.getLogger(__name__)
# what a fresh run trains with, beside its checkpoints, so that a resume can be checked
RECIPE_FILE = "recipe.json"


@dataclass
class FineTuneResult:
    """The trained model in standard transformers layout, and how training went."""

    model: Any
    tokenizer: Any
    history: list[dict[str, Any]]
    best: dict[str, Any]
    warmup_steps: int
    steps_per_epoch: float
    train_seconds: float
    train_examples_per_second: float
    precision: str
    config: TrainingConfig  # with the batch size and learning rate the device ran
    processes: int  # data-parallel processes; config.batch_size is the global batch
    global_batch_size: int  # examples per optimiser step, over processes and accumulation


class EncodedDataset(torch.utils.data.Dataset):
    """Pre-tokenised examples; the collator pads each batch to its own longest text.

    With ``teacher_logits`` each example also carries a teacher's scores (distillation).
    """

    def __init__(
        self,
        input_ids: list[list[int]],
        labels: list[int] | list[list[float]],
        teacher_logits: list[list[float]] | None = None,
    ) -> None:
        self.input_ids = input_ids
        self.labels = labels
        self.teacher_logits = teacher_logits

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = {"input_ids": self.input_ids[index], "labels": self.labels[index]}
        if self.teacher_logits is not None:
            example["teacher_logits"] = self.teacher_logits[index]
        return example


class PadCollator:
    """Pad a batch of token id lists in one numpy pass (no per-row tensor copies).

    Faster than ``DataCollatorWithPadding`` (which goes through ``tokenizer.pad``), so
    building batches stays off the critical path on a GPU.
    """

    def __init__(self, pad_id: int, separator: int | None = None) -> None:
        self.pad_id = pad_id
        self.separator = separator  # with one, batches carry token_type_ids (pairs)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, mask = pad_ids([e["input_ids"] for e in examples], self.pad_id)
        batch = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(mask),
            # class ids, or 0/1 rows of a multi-label task
            "labels": torch.tensor(
                [e["labels"] for e in examples],
                dtype=torch.float32 if isinstance(examples[0]["labels"], list) else torch.long,
            ),
        }
        if self.separator is not None:
            segments = segment_ids(input_ids, mask, self.separator)
            batch["token_type_ids"] = torch.from_numpy(segments)
        if "teacher_logits" in examples[0]:
            batch["teacher_logits"] = torch.tensor([e["teacher_logits"] for e in examples])
        return batch


def latest_checkpoint(work_dir: Path) -> Path | None:
    """The newest ``checkpoint-STEP`` folder with a saved trainer state, if any."""
    found = []
    for path in work_dir.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / "trainer_state.json").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def checkpoint_to_resume(work_dir: Path, resume: bool) -> Path | None:
    """The checkpoint a run continues from: the newest in ``work_dir`` when ``resume``.

    Raises:
        ConfigError: ``work_dir`` holds checkpoints but ``resume`` is False (they
            would be overwritten by a fresh start).
    """
    checkpoint = latest_checkpoint(work_dir) if work_dir.exists() else None
    if checkpoint is not None and not resume:
        raise ConfigError(
            f"{work_dir} holds checkpoints of an earlier, unfinished run",
            hint="pass --resume to continue it, or delete that folder to start over",
        )
    if resume and checkpoint is None:
        logger.warning("no checkpoint in %s: starting from the beginning", work_dir)
    return checkpoint


def check_resumable(work_dir: Path, config: TrainingConfig, resume: bool) -> None:
    """Refuse, early, what :func:`fine_tune` would refuse about ``work_dir``'s checkpoints:
    leftovers without ``resume``, or a resume with changed settings.

    For work done before the fine-tune starts (a ``--teacher-model`` teacher trains for
    most of an hour); the examples are checked by :func:`fine_tune` itself, as they may
    depend on that work (teacher-labelled texts).
    """
    checkpoint = latest_checkpoint(work_dir) if work_dir.exists() else None
    if checkpoint is not None:
        checkpoint_to_resume(work_dir, resume)
        check_resumed_recipe(work_dir, checkpoint, config, None, {})


def check_resumed_recipe(
    work_dir: Path,
    checkpoint: Path | None,
    config: TrainingConfig,
    data: str | None,
    settings: dict[str, Any],
) -> None:
    """Record what a fresh run trains with; refuse a resume that would train otherwise.

    The Trainer resumes the checkpoint's own schedule (epochs, learning rate), so a
    resume with other flags would run the old recipe and save the new one's settings.

    Args:
        data: A fingerprint of the examples trained on (``None``: not checked).
        settings: What else decides the run, by the name an error shows (the labels,
            ``--mlm-probability``...).

    Raises:
        ConfigError: naming each changed flag or setting, or the changed data.
    """
    record = work_dir / RECIPE_FILE
    if checkpoint is None:
        work_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(record) as temporary:
            saved = {"training_config": config.to_dict(), "settings": settings, "data": data}
            temporary.write_text(json.dumps(saved, indent=2), encoding="utf-8")
        return
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # checkpoints of an older bertsent: nothing to compare
        logger.warning("%s has no readable %s: the recipe is not checked", work_dir, RECIPE_FILE)
        return
    changes = recipe_changes(saved.get("training_config", {}), config)
    if changes is None:  # a setting this version cannot read: the recipe cannot be compared
        raise ConfigError(
            f"--resume: {work_dir / RECIPE_FILE} holds settings this bertsent does not know "
            "(written by another version)",
            hint=f"resume with the bertsent that started the run, or delete {work_dir} to "
            "start over",
        )
    before = saved.get("settings", {"labels": saved.get("labels")})  # older records: labels
    changes += [  # a setting an older record lacks is not held against it
        f"{name} {before.get(name)} -> {value}"
        for name, value in settings.items()
        if name in before and before[name] != value
    ]
    if data is not None and saved.get("data") != data:
        changes.append("the training or dev examples differ")
    if changes:
        raise ConfigError(
            "--resume: this run differs from the interrupted one: " + "; ".join(changes),
            hint=f"rerun with the interrupted run's data and settings, or delete {work_dir} "
            "to start over",
        )


def checkpoints_to_keep(config: TrainingConfig, work_dir: Path) -> int:
    """The Trainer's ``save_total_limit``: the best checkpoint and the newest, or, with
    ``--average-last N``, the best and the last N evaluations'.

    A stop between evaluations (Ctrl-C, SIGTERM) writes a checkpoint of its own that
    counts toward the limit; with ``--average-last`` one is allowed for this run and
    one for each that earlier runs left, or rotation would delete an evaluation's
    checkpoint that the average reads after training.
    """
    from transformers import TrainerState

    if config.average_last < 2:
        return 2
    left = 0
    for path in work_dir.glob("checkpoint-*") if work_dir.is_dir() else ():
        if (path / "trainer_state.json").is_file():
            state = TrainerState.load_from_json(str(path / "trainer_state.json"))
            evaluated = {record["step"] for record in history_from_state(state)}
            left += state.global_step not in evaluated
    return config.average_last + 2 + left  # the best, N evaluations, this run's stop


def mean_weights(checkpoints: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the weights the Trainer saved in ``checkpoints``
    (integer buffers, such as position ids, are taken from the last)."""
    from safetensors.torch import load_file

    sums: dict[str, torch.Tensor] = {}
    for checkpoint in checkpoints:
        for name, tensor in load_file(checkpoint / "model.safetensors").items():
            if tensor.is_floating_point():
                tensor = tensor.double()
                sums[name] = sums[name] + tensor if name in sums else tensor
            else:
                sums[name] = tensor
    return {
        name: total / len(checkpoints) if total.is_floating_point() else total
        for name, total in sums.items()
    }


def prefer_weight_average(
    trainer: Any,
    module: torch.nn.Module,
    dev_data: torch.utils.data.Dataset,
    records: list[dict[str, Any]],
    best: dict[str, Any],
    config: TrainingConfig,
) -> dict[str, Any]:
    """Checkpoint averaging: put the mean of the last ``config.average_last``
    evaluations' weights into ``module`` when dev scores it at least as well as the
    best single evaluation (``best``, whose weights ``module`` holds), and return the
    record of what was kept.

    Late checkpoints of one fine-tune lie on one trajectory, and their mean can
    generalise better than any of them (as in stochastic weight averaging); on this
    project's SST-5 and rotten-tomatoes runs it lost every time (README, "Levers"), so
    it is off by default. Either way the record says what the average scored.
    """
    averaged = records[-config.average_last :]
    if len(averaged) < 2:
        logger.warning(
            "--average-last %d: only %d evaluation(s), nothing to average",
            config.average_last,
            len(averaged),
        )
        return best
    work_dir = Path(trainer.args.output_dir)
    checkpoints = [work_dir / f"checkpoint-{record['step']}" for record in averaged]
    missing = [path.name for path in checkpoints if not path.is_dir()]
    if missing:  # e.g. removed by hand between a stop and its resume
        logger.warning(
            "--average-last %d: %s are gone; the best epoch is kept",
            config.average_last,
            ", ".join(missing),
        )
        return best
    selected = {name: tensor.clone() for name, tensor in module.state_dict().items()}
    module.load_state_dict(mean_weights(checkpoints))
    scores = trainer.predict(dev_data, metric_key_prefix="eval").metrics
    average = {
        "epoch": averaged[-1]["epoch"],
        "step": averaged[-1]["step"],
        "averaged_epochs": [record["epoch"] for record in averaged],
        **{key: scores[key] for key in ("eval_loss", "eval_accuracy", "eval_macro_f1")},
        "metric": config.metric_for_best,
    }
    key = f"eval_{config.metric_for_best}"
    # the Trainer's own direction for the metric, as it chose the best evaluation
    if trainer.args.greater_is_better:
        kept = average[key] >= best[key]
    else:
        kept = average[key] <= best[key]
    logger.warning(
        "weights averaged over epochs %s: dev %s %.4f against %.4f at epoch %s; kept %s",
        ", ".join(f"{record['epoch']:g}" for record in averaged),
        config.metric_for_best,
        average[key],
        best[key],
        f"{best['epoch']:g}",
        "the average" if kept else f"epoch {best['epoch']:g}",
    )
    if kept:
        return {**average, "single_best": {"epoch": best["epoch"], key: best[key]}}
    module.load_state_dict(selected)
    return {**best, "average_not_kept": {k: v for k, v in average.items() if k != "metric"}}


def per_process_batch_size(batch_size: int, processes: int, unit: str = "processes") -> int:
    """``--batch-size`` is the global batch (examples per optimiser step, before
    accumulation), so one command gives the same recipe on 1 or N devices.

    Raises:
        ConfigError: the batch does not divide evenly among the processes (or GPUs).
    """
    if batch_size % processes:
        raise ConfigError(
            f"--batch-size {batch_size} is the global batch and does not divide among "
            f"{processes} {unit}",
            hint=f"use a multiple of {processes}",
        )
    return batch_size // processes


def split_over_data_parallel(args: Any) -> None:
    """Keep the recipe's batch where the Trainer splits each batch over several GPUs of
    one process (``torch.nn.DataParallel``, used without a launcher): it multiplies the
    per-device batch by its own GPU count, so each GPU gets this process's batch / GPUs.

    Raises:
        ConfigError: the batch does not divide among those GPUs.
    """
    gpus = args.n_gpu  # the Trainer's count: 1 per process under a launcher
    if gpus <= 1:
        return
    logger.warning(
        "%d GPUs in one process: the Trainer splits each batch over them with DataParallel; "
        "`torchrun --nproc-per-node %d -m bertsent ...` is faster",
        gpus,
        gpus,
    )
    args.per_device_train_batch_size = per_process_batch_size(
        args.per_device_train_batch_size, gpus, unit="GPUs of this process"
    )


def train_or_stop(
    trainer: Any, checkpoint: Path | None, interrupt: InterruptCallback, what: str
) -> tuple[Any, float]:
    """Run (or continue) ``trainer`` and time it; a Ctrl-C/SIGTERM that stopped it at a
    checkpoint becomes :class:`TrainingInterrupted`, which tells how to resume."""
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        interrupt.restore()
    if interrupt.requested:
        raise TrainingInterrupted(
            f"{what} stopped at step {trainer.state.global_step}; "
            f"checkpoint saved in {trainer.args.output_dir}",
            hint="run the same command with --resume to continue",
        )
    return output, time.perf_counter() - started


def classification_metrics(eval_prediction: Any) -> dict[str, float]:
    """Accuracy and macro-F1 from the Trainer's (logits, label ids); for a multi-label
    task (0/1 label rows) exact-match accuracy and macro-F1 at 0.5."""
    from sklearn.metrics import f1_score

    logits, label_ids = eval_prediction.predictions, eval_prediction.label_ids
    if np.ndim(label_ids) == 2:
        chosen, truth = np.asarray(logits) > 0, np.asarray(label_ids) > 0.5
        return {
            "accuracy": float((chosen == truth).all(axis=1).mean()),
            "macro_f1": float(f1_score(truth, chosen, average="macro", zero_division=0)),
        }
    predicted = np.asarray(logits).argmax(axis=-1)
    return {
        "accuracy": float((predicted == label_ids).mean()),
        "macro_f1": float(f1_score(label_ids, predicted, average="macro")),
    }


def label_targets(
    labels: list[str], multi_label: bool
) -> Callable[[Sequence[str]], list[int] | list[list[float]]]:
    """Gold cells -> the loss's targets: class ids, or 0/1 rows for a multi-label task."""
    if multi_label:
        task = MultiLabelTask(labels)
        return lambda gold: task.targets(gold).tolist()
    index = {label: i for i, label in enumerate(labels)}
    return lambda gold: [index[label] for label in gold]


def balanced_class_weights(label_ids: list[int], num_labels: int) -> torch.Tensor:
    """Inverse-frequency weights n / (k * count_c), as scikit-learn's 'balanced'."""
    counts = Counter(label_ids)
    return torch.tensor(
        [len(label_ids) / (num_labels * counts[c]) for c in range(num_labels)], dtype=torch.float32
    )


def smoothed_targets(
    config: TrainingConfig, labels: list[str], multi_label: bool
) -> torch.Tensor | None:
    """Each gold class's training target under ``--ordinal-smoothing`` (None when off).

    Raises:
        ConfigError: ordinal smoothing asked for classes with no order.
    """
    config.check_labels(labels, multi_label)
    if not config.ordinal_smoothing:
        return None
    positions = FineGrainedTask(labels).positions.tolist()
    return ordinal_targets(positions, config.ordinal_smoothing)


def fine_tune(
    config: TrainingConfig,
    train: Split,
    dev: Split,
    labels: list[str],
    work_dir: Path,
    *,
    resume: bool = False,
    callbacks: list[Any] | None = None,
    teacher_logits: list[list[float]] | None = None,
    multi_label: bool = False,
) -> FineTuneResult:
    """Fine-tune ``config.model`` on ``train``, select the best evaluation on ``dev``.

    Args:
        config: Training settings.
        train: Training examples.
        dev: Examples for evaluation during training and best-checkpoint selection.
        labels: Class names in output order.
        work_dir: Where checkpoints go; ``resume=True`` continues from the newest one.
        resume: Continue an interrupted run from its last checkpoint.
        callbacks: Extra ``transformers.TrainerCallback`` objects.
        teacher_logits: A teacher's logits per training example (columns in ``labels``
            order) to distil, weighted by ``config.distill_alpha``.
        multi_label: Labels are ``joy;surprise`` cells: binary cross-entropy per label.

    Raises:
        TrainingInterrupted: on Ctrl-C/SIGTERM, after a checkpoint was written.
        ConfigError: ``work_dir`` holds checkpoints but ``resume`` is False.
    """
    from transformers import (
        PrinterCallback,
        TrainingArguments,
        set_seed,
    )
    from transformers import ProgressCallback as TransformersProgress

    device = usable_device()
    config = config.validate().resolved()
    assert config.batch_size is not None and config.learning_rate is not None  # resolved
    config.check_labels(labels, multi_label)  # refused before anything is written
    target_rows = smoothed_targets(config, labels, multi_label)
    processes = world_size()  # refused before anything is written if it does not divide
    per_process_batch = per_process_batch_size(config.batch_size, processes)
    checkpoint = checkpoint_to_resume(work_dir, resume)
    data = DatasetSplits("resumed", train, dev).fingerprint()
    settings: dict[str, Any] = {"labels": labels}
    if teacher_logits is not None:  # another teacher (or one retrained) teaches otherwise
        scores = np.asarray(teacher_logits, dtype=np.float32).round(4)
        settings["teacher's scores"] = hashlib.sha256(scores.tobytes()).hexdigest()[:16]
    check_resumed_recipe(work_dir, checkpoint, config, data, settings)
    use_threads(config.threads)
    set_seed(config.seed)
    precision = resolve_precision(config.precision, device)
    logger.warning(
        "%s; precision %s, batch %d, learning rate %.3g%s",
        summary_line(),
        precision,
        config.batch_size,
        config.learning_rate,
        f" ({processes} processes x {per_process_batch} examples)" if processes > 1 else "",
    )

    # 1. the pre-trained encoder and a fresh linear head on [CLS]
    tokenizer = load_tokenizer(config.model)
    encoder = load_encoder(config.model)
    if config.encoder_layers:
        encoder = keep_layers(encoder, config.encoder_layers)
    check_supported(encoder.config.model_type, encoder.config.hidden_size, len(labels))
    targets = label_targets(labels, multi_label)
    train_ids = targets(train.labels)
    weights = None
    if config.class_weights and not multi_label:
        weights = balanced_class_weights(cast(list[int], train_ids), len(labels))
    distillation = (
        (config.distill_alpha, config.distill_temperature) if teacher_logits is not None else None
    )
    module = ClsLinearClassifier(
        encoder,
        len(labels),
        dropout=config.dropout,
        class_weights=weights,
        distillation=distillation,
        label_smoothing=config.label_smoothing,
        r_drop=config.r_drop,
        target_rows=target_rows,
    )

    # 2. tokenise once; sort dev by length so evaluation batches carry little padding
    train_data = EncodedDataset(
        encode(tokenizer, train.texts, config.max_length, config.truncation),
        train_ids,
        teacher_logits,
    )
    dev_encoded = encode(tokenizer, dev.texts, config.max_length, config.truncation)
    order = sorted(range(len(dev_encoded)), key=lambda i: len(dev_encoded[i]))
    dev_data = EncodedDataset(
        [dev_encoded[i] for i in order], targets([dev.labels[i] for i in order])
    )

    # 3. the Trainer: AdamW, warmup then linear decay, evaluation and checkpoints
    strategy = "epoch" if config.eval_steps is None else "steps"
    args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=per_process_batch,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        optim="adamw_torch_fused",
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=config.eval_steps,
        save_steps=config.eval_steps or 500,
        # the best and the newest, or the best and the last --average-last evaluations
        save_total_limit=checkpoints_to_keep(config, work_dir),
        load_best_model_at_end=True,
        metric_for_best_model=config.metric_for_best,
        greater_is_better=config.metric_for_best != "loss",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        **trainer_precision_arguments(precision, device),
        dataloader_num_workers=2 if device == "cuda" else 0,
        seed=config.seed,
        data_seed=config.seed,
        logging_strategy="steps",
        logging_steps=10,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_pin_memory=device == "cuda",
        save_only_model=False,
    )
    split_over_data_parallel(args)
    extra = list(callbacks or [])
    if config.early_stopping_patience:
        extra.append(early_stopping(config.early_stopping_patience, checkpoint))
    optimizer = None
    if config.layer_decay < 1:  # the Trainer's AdamW, with one rate per layer
        optimizer_cls, optimizer_kwargs = ResumableTrainer.get_optimizer_cls_and_kwargs(args)
        groups = layer_wise_groups(
            module, config.learning_rate, config.layer_decay, config.weight_decay
        )
        optimizer = (optimizer_cls, {**optimizer_kwargs, "params": groups})
    interrupt = InterruptCallback()
    recorder = HistoryCallback(module)
    if checkpoint:  # only ever found with resume=True (checkpoint_to_resume)
        recorder.restore(checkpoint)
    trainer = ResumableTrainer(
        model=module,
        args=args,
        train_dataset=train_data,
        eval_dataset=dev_data,
        data_collator=PadCollator(
            tokenizer.pad_token_id or 0,
            tokenizer.sep_token_id if takes_segments(encoder.config) else None,
        ),
        compute_metrics=classification_metrics,
        optimizer_cls_and_kwargs=optimizer,
        callbacks=[
            recorder,
            ProgressCallback(module, config.batch_size * config.gradient_accumulation_steps),
            interrupt,
            *extra,
        ],
    )
    trainer.remove_callback(TransformersProgress)
    trainer.remove_callback(PrinterCallback)

    # 4. train (or continue), then keep the best evaluation's weights (or the average of
    # the last ones, with --average-last)
    with attention_without_cudnn(device):
        _, seconds = train_or_stop(trainer, checkpoint, interrupt, "training")
        # the Trainer times this call alone: a resumed run took its earlier part too
        total_seconds = recorder.earlier_seconds + seconds
        # this call's rate, from the steps it ran (a resume starts past the checkpoint's):
        # scaling the Trainer's rate by this call's share of the time shrank it twice
        steps = trainer.state.global_step - recorder.started_at_step
        share = steps / max(trainer.state.max_steps, 1)
        examples_per_second = len(train_data) * config.epochs * share / max(seconds, 1e-9)
        records = history_from_state(trainer.state)
        best_step = trainer.state.best_global_step
        best = next(
            (dict(h) for h in records if h["step"] == best_step), records[-1] if records else {}
        )
        best["metric"] = config.metric_for_best
        if config.average_last > 1:  # scored as the single evaluations were
            best = prefer_weight_average(trainer, module, dev_data, records, best, config)

    # 5. write the head into the family's standard layout, and check it computes the same;
    # mixed precision wrapped the module's forward in autocast: compare without it
    module = trainer.accelerator.unwrap_model(module, keep_fp32_wrapper=False)
    native = export_to_transformers(module, labels, multi_label)
    check_export(module, native, torch.tensor([dev_data.input_ids[-1]]))
    # the Trainer's count: a last, short accumulation still makes an optimiser step
    steps_per_epoch = float(
        np.ceil(len(trainer.get_train_dataloader()) / config.gradient_accumulation_steps)
    )
    return FineTuneResult(
        model=native.to("cpu"),
        tokenizer=tokenizer,
        history=records,
        best=best,
        warmup_steps=int(np.ceil(config.warmup_ratio * trainer.state.max_steps)),
        steps_per_epoch=steps_per_epoch,
        train_seconds=total_seconds,
        train_examples_per_second=examples_per_second,
        precision=precision,
        config=config,
        processes=processes,
        global_batch_size=config.batch_size * config.gradient_accumulation_steps,
    )
