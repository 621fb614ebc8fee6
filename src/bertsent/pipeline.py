"""The training pipeline behind ``bertsent train``: data -> fine-tune -> evaluate -> save."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.atomic import check_replaceable
from bertsent.data import DEFAULT_DATASET, DatasetSplits, load_dataset
from bertsent.evaluation.metrics import classification_report
from bertsent.hardware import describe
from bertsent.models import SentimentClassifier, create
from bertsent.models.base import METADATA_FILE
from bertsent.models.bert import BertClassifier
from bertsent.training.config import TrainingConfig, check_position_limit
from bertsent.training.curves import plot_training_dynamics

logger = logging.getLogger(__name__)

HISTORY_FILE = "training_history.json"
DYNAMICS_FIGURE = "training_dynamics.png"


@dataclass
class TrainingRun:
    """What ``train`` produced: the fitted model, where it was saved, and how it went."""

    model: SentimentClassifier
    output_dir: Path
    data: DatasetSplits
    dev_report: dict[str, Any]
    history: list[dict[str, Any]]
    best: dict[str, Any]
    train_seconds: float
    train_examples_per_second: float


def checkpoint_dir(output_dir: Path) -> Path:
    """Checkpoints live beside the model folder, so the model folder only ever holds a model."""
    return output_dir.with_name(f"{output_dir.name}.checkpoints")


def train(
    data: str | DatasetSplits = DEFAULT_DATASET,
    config: TrainingConfig | None = None,
    output_dir: str | Path = "runs/model",
    *,
    method: str = "bert",
    resume: bool = False,
    text_column: str = "text",
    label_column: str = "label",
    callbacks: list[Any] | None = None,
    overwrite: bool = False,
    exclude_overlap_with: str | None = None,
    augment: Sequence[str] = (),
) -> TrainingRun:
    """Train ``method`` on ``data``, select on dev, and save the model directory.

    Args:
        data: Dataset name (see :func:`bertsent.load_dataset`) or loaded splits.
        config: Fine-tuning settings (default: the seed recipe); other methods use
            only its seed.
        output_dir: The saved model; replaced atomically when training succeeds.
        method: ``bert`` (default) or a baseline: ``bow-svm``, ``tfidf-lr``, ``nbsvm``,
            ``lstm``.
        resume: Continue a ``bert`` run from the checkpoints of an interrupted run.
        callbacks: Extra ``transformers.TrainerCallback`` objects.
        overwrite: Replace whatever is at ``output_dir``; by default only an earlier
            bertsent model is replaced and anything else is refused before training.
        exclude_overlap_with: A dataset (as ``data``) whose dev and test texts must stay
            unseen: every train or dev example sharing a span with them is removed
            first (e.g. SST phrases for a model later scored on rotten-tomatoes).
        augment: Kinds of generated examples to add to train: ``contrast`` (negation,
            contrast clauses, sarcasm), ``intensity`` (see :mod:`bertsent.data.augment`).

    >>> run = train("rotten-tomatoes", TrainingConfig(epochs=3), "runs/rt")  # doctest: +SKIP
    >>> run.dev_report["accuracy"]  # doctest: +SKIP
    """
    config = (config or TrainingConfig()).validate()
    if method == "bert":
        check_position_limit(config)  # before reading data or making any folder
    spec = data if isinstance(data, str) else None
    splits = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    excluded: dict[str, Any] | None = None
    if exclude_overlap_with is not None:
        splits, removed = _exclude_overlap(splits, exclude_overlap_with)
        excluded = {"with": exclude_overlap_with, "removed": removed}
    augmented: dict[str, Any] | None = None
    if augment:
        from bertsent.data.augment import with_augmentation

        splits, augmented = with_augmentation(splits, augment, seed=config.seed)
    output = Path(output_dir)
    # refuse a user's folder or file before spending minutes on training
    check_replaceable(output, METADATA_FILE, "bertsent model folder", overwrite=overwrite)
    work_dir = checkpoint_dir(output)
    model = create(method, seed=config.seed, config=config)
    logger.info(
        "training %s on %s: %d train / %d dev examples, labels %s",
        config.model if method == "bert" else method,
        splits.name,
        len(splits.train),
        len(splits.dev),
        ", ".join(splits.labels),
    )

    # 1. fit; a fine-tune keeps checkpoints beside the output folder so it can resume
    started = time.perf_counter()
    fit_options: dict[str, Any] = {}
    if isinstance(model, BertClassifier):
        fit_options = {"work_dir": work_dir, "resume": resume, "callbacks": callbacks}
    model.fit(
        splits.train.texts,
        splits.train.labels,
        eval_texts=splits.dev.texts,
        eval_labels=splits.dev.labels,
        **fit_options,
    )
    train_seconds = time.perf_counter() - started
    examples_per_second = len(splits.train) / max(train_seconds, 1e-9)
    training: dict[str, Any] = {"seconds": round(train_seconds, 1), "hardware": describe()}
    if isinstance(model, BertClassifier):
        result = model.training_
        train_seconds = result.train_seconds
        examples_per_second = result.train_examples_per_second
        training = {
            "seconds": round(train_seconds, 1),
            "examples_per_second": round(examples_per_second, 2),
            "precision": result.precision,
            "warmup_steps": result.warmup_steps,
            "steps_per_epoch": result.steps_per_epoch,
            "hardware": describe(),
        }

    # 2. score the selected model on dev with the same code path users run
    dev_report = classification_report(
        splits.dev.labels, model.predict_proba(splits.dev.texts), model.labels_
    )

    # 3. save: the model + bertsent.json (+ history, figure and model card for bert)
    metadata = {
        "data": {
            "spec": spec,
            "text_column": text_column,
            "label_column": label_column,
            **splits.summary(),
            "excluded_overlap": excluded,
            "augmented": augmented,
        },
        "metrics": {"dev": _headline(dev_report)},
        "best": model.best_,
        "training": training,
    }
    extras = None
    if isinstance(model, BertClassifier):
        extras = _bert_extras(model, config, metadata, dev_report)
    model.save(output, metadata=metadata, extras=extras, overwrite=overwrite)
    model.metadata_ = {**metadata, "labels": model.labels_}
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainingRun(
        model=model,
        output_dir=output,
        data=splits,
        dev_report=dev_report,
        history=model.history_,
        best=model.best_,
        train_seconds=train_seconds,
        train_examples_per_second=examples_per_second,
    )


def _bert_extras(
    model: BertClassifier,
    config: TrainingConfig,
    metadata: dict[str, Any],
    dev_report: dict[str, Any],
) -> Callable[[Path], None]:
    """Files written beside a fine-tuned model: its history, the dynamics figure, a card."""
    result = model.training_

    def write_extras(folder: Path) -> None:
        (folder / HISTORY_FILE).write_text(json.dumps(result.history, indent=2), encoding="utf-8")
        plot_training_dynamics(
            result.history,
            folder / DYNAMICS_FIGURE,
            warmup_epochs=result.warmup_steps / max(result.steps_per_epoch, 1e-9),
            best_epoch=result.best.get("epoch"),
        )
        (folder / "README.md").write_text(
            model_card(model.config or config, metadata, dev_report), encoding="utf-8"
        )

    return write_extras


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "accuracy_ci", "macro_f1", "ece")
    return {k: report[k] for k in keys}


def model_card(config: TrainingConfig, metadata: dict[str, Any], dev_report: dict[str, Any]) -> str:
    """A short Hugging Face model card: what it is, how it was trained, how well it does."""
    data = metadata["data"]
    low, high = dev_report["accuracy_ci"]
    sizes = ", ".join(f"{k} {v}" for k, v in data["sizes"].items())
    return f"""---
library_name: transformers
pipeline_tag: text-classification
base_model: {config.model}
tags: [sentiment-analysis, bertsent]
---

# Sentiment classifier fine-tuned with bertsent

- Base encoder: `{config.model}`, with a linear layer on the final [CLS] vector
  (Xavier-uniform init, zero bias), trained end to end with cross-entropy.
- Labels: {", ".join(f"`{label}`" for label in data["labels"])}
- Data: `{data["name"]}` ({sizes}); fingerprint `{data["fingerprint"][:16]}`.
- Recipe: AdamW (lr {config.learning_rate:g}, weight decay
  {config.weight_decay:g}), {config.warmup_ratio:.0%} linear warmup then linear decay,
  {config.epochs:g} epochs, batch {config.batch_size}, max length {config.max_length}
  ({config.truncation} truncation), seed {config.seed};
  best evaluation by dev {config.metric_for_best} (epoch {metadata["best"].get("epoch")}).

## Dev results

Accuracy {dev_report["accuracy"]:.2%} (95% bootstrap interval {low:.2%} to {high:.2%}),
macro-F1 {dev_report["macro_f1"]:.4f}, expected calibration error {dev_report["ece"]:.4f}
on {dev_report["n"]} examples. Test scores are written by `bertsent evaluate`.

## Use

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="path/to/this/folder")
classifier("This is not a bad film")
```

Note for further training with plain transformers: the standard head's dense layer
is set to a scaled identity so that it passes the [CLS] vector through unchanged;
re-initialise the head before fine-tuning this folder again.
"""


def _exclude_overlap(
    splits: DatasetSplits, protected_spec: str
) -> tuple[DatasetSplits, dict[str, int]]:
    """Drop examples sharing a span with the dev/test texts of ``protected_spec``."""
    from bertsent.data.overlap import without_overlap

    protected = load_dataset(protected_spec)
    texts = [*protected.dev.texts, *(protected.test.texts if protected.test else [])]
    filtered, removed = without_overlap(splits, texts, protected.name)
    logger.info(
        "removed %d train and %d dev examples sharing a span with %s's %d dev/test texts",
        removed["train"],
        removed["dev"],
        protected.name,
        len(texts),
    )
    return filtered, removed
