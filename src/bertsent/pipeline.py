"""The training pipeline behind ``bertsent train``: data -> fine-tune -> evaluate -> save."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bertsent.atomic import check_replaceable, left_temporaries
from bertsent.data import DEFAULT_DATASET, DatasetSplits, load_dataset, read_unlabelled
from bertsent.data.augment import augment_for_training
from bertsent.data.tasks import MultiLabelTask, detect_task
from bertsent.distributed import is_main_process, wait_for_main_process
from bertsent.errors import ConfigError, DataError, ModelError, OutputExistsError
from bertsent.evaluation.metrics import task_report
from bertsent.hardware import describe, usable_device
from bertsent.models import SentimentClassifier, create
from bertsent.models.base import METADATA_FILE, read_metadata
from bertsent.training.config import (
    DISTILLATION_SETTINGS,
    TrainingConfig,
    check_fits_checkpoint,
    same_recipe,
)
from bertsent.training.finetune import check_resumable

logger = logging.getLogger(__name__)


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
    """Checkpoints live beside the model folder, so the model folder only ever holds a model.

    Raises:
        OutputExistsError: that path holds something a run of ours does not write there
            (it is deleted once the run has finished).
    """
    from bertsent.training.finetune import RECIPE_FILE

    work_dir = output_dir.with_name(f"{output_dir.name}.checkpoints")
    if not (work_dir.exists() or work_dir.is_symlink()):
        return work_dir
    if work_dir.is_symlink() or not work_dir.is_dir():
        strangers = [work_dir.name]
    else:
        ours = {RECIPE_FILE, *(p.name for p in left_temporaries(work_dir / RECIPE_FILE))}
        strangers = [  # the Trainer's checkpoints, our recipe (and a hard kill's leftovers)
            entry.name
            for entry in work_dir.iterdir()
            if not entry.name.startswith(("checkpoint-", "tmp-checkpoint-"))
            and entry.name not in ours
        ]
    if strangers:
        raise OutputExistsError(
            f"{work_dir} is where this run keeps its checkpoints (and deletes them when it "
            f"ends), but it holds {', '.join(sorted(strangers)[:3])}, which bertsent did not "
            "write there: refusing to use it",
            hint="move those files, or choose another --output",
        )
    return work_dir


def train(
    data: str | DatasetSplits = DEFAULT_DATASET,
    config: TrainingConfig | None = None,
    output_dir: str | Path = "runs/model",
    *,
    method: str | SentimentClassifier = "bert",
    resume: bool = False,
    text_column: str = "text",
    label_column: str = "label",
    callbacks: list[Any] | None = None,
    overwrite: bool = False,
    exclude_overlap_with: str | None = None,
    augment: str | Sequence[str] = "auto",
    task: str = "auto",
) -> TrainingRun:
    """Train ``method`` on ``data``, select on dev, and save the model directory.

    Args:
        data: Dataset name (see :func:`bertsent.load_dataset`) or loaded splits.
        config: Fine-tuning settings (default: the seed recipe); other methods use
            only its seed.
        output_dir: The saved model; replaced atomically when training succeeds.
        method: ``bert`` (default) or a baseline: ``bow-svm``, ``tfidf-lr``, ``nbsvm``,
            ``lstm``; or a ready, unfitted classifier (e.g. ``TfidfLrClassifier(C=0.1)``).
        resume: Continue a fine-tune from the checkpoints of an interrupted run.
        callbacks: Extra ``transformers.TrainerCallback`` objects.
        overwrite: Replace whatever is at ``output_dir``; by default only an earlier
            bertsent model is replaced and anything else is refused before training.
        exclude_overlap_with: A dataset (as ``data``) whose dev and test texts must stay
            unseen: every train or dev example sharing a span with them is removed
            first (e.g. SST phrases for a model later scored on rotten-tomatoes).
        augment: Generated examples to add to train: ``contrast`` (negation, contrast
            clauses, sarcasm), ``intensity`` (graded wording), a list of them, ``none``,
            or ``auto`` (default): for a BERT-family model, contrast, intensity and
            sarcasm where the labels are one positive and one negative side, intensity
            on a five-class scale (unless ``task`` names another task), each while the
            training set is large enough that they stay a minority; ``joined`` for
            aspect pairs; else none (see :mod:`bertsent.data.augment`).
        task: ``single-label``, ``fine-grained`` (ordered classes with an intensity
            score), or ``auto``: read from the labels (see :mod:`bertsent.data.tasks`).

    >>> run = train("rotten-tomatoes", TrainingConfig(epochs=3), "runs/rt")  # doctest: +SKIP
    >>> run.dev_report["accuracy"]  # doctest: +SKIP
    """
    config = (config or TrainingConfig()).validate()
    model = (
        method
        if isinstance(method, SentimentClassifier)
        else create(method, seed=config.seed, config=config)
    )
    model.check_settings()  # before reading data or making any folder
    usable_device()  # a forced GPU that torch cannot use, refused before any training
    # a count asked for holds for every method that runs torch (without it, each caps
    # its own at the container's CPU limit): the scikit-learn ones never import it here
    if config.threads:
        from bertsent.encoders.engine import use_threads

        use_threads(config.threads)
    if resume and not model.resumable:
        raise ConfigError(
            f"--resume continues an interrupted fine-tune from its checkpoints; the "
            f"{model.method} method keeps none",
            hint="run the same command without --resume",
        )
    spec = data if isinstance(data, str) else None
    splits = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    excluded: dict[str, Any] | None = None
    if exclude_overlap_with is not None:
        distill_texts = getattr(getattr(model, "config", None), "distill_texts", None)
        splits, removed = _exclude_overlap(splits, exclude_overlap_with, distill_texts)
        excluded = {"with": exclude_overlap_with, "removed": removed}
    real_splits = splits  # before generated examples, which depend on the seed
    splits, augmented = augment_for_training(
        splits, augment, seed=config.seed, encoder=model.has_encoder, task=task
    )
    chosen_task = detect_task(splits.labels, task, splits.train.texts, splits.train.labels)
    output = Path(output_dir)
    # refuse a user's folder or file before spending minutes on training
    check_replaceable(output, METADATA_FILE, "bertsent model folder", overwrite=overwrite)
    work_dir = checkpoint_dir(output)
    recipe = getattr(model, "config", None)
    model.check_labels(splits.labels, chosen_task)  # before a --teacher-model teacher trains
    if isinstance(recipe, TrainingConfig) and recipe.teacher_model:
        if isinstance(chosen_task, MultiLabelTask):
            raise ConfigError("distillation (--teacher-model) is for single-label models")
        student = replace(recipe, teacher=str(teacher_dir(output)), teacher_model=None)
        # what the student would refuse, refused before an hour of teacher training
        check_resumable(work_dir, student, resume)
        check_fits_checkpoint(student)
        if student.distill_texts:
            read_unlabelled(student.distill_texts)
        teacher_splits, _ = augment_for_training(  # generated with the teacher's seed
            real_splits, augment, seed=TrainingConfig.seed, encoder=True, task=task
        )
        _train_teacher(
            teacher_splits, recipe, recipe.teacher_model, output, resume=resume,
            callbacks=callbacks,
        )  # fmt: skip
        model.set_params(config=student)
    logger.info(
        "training %s on %s: %d train / %d dev examples, labels %s",
        model.describe(),
        splits.name,
        len(splits.train),
        len(splits.dev),
        ", ".join(splits.labels),
    )

    # 1. fit; a fine-tune keeps checkpoints beside the output folder so it can resume
    fit_options: dict[str, Any] = {}
    if model.resumable:
        fit_options = {"work_dir": work_dir, "resume": resume, "callbacks": callbacks}
    model.fit(
        splits.train.texts,
        splits.train.labels,
        eval_texts=splits.dev.texts,
        eval_labels=splits.dev.labels,
        **fit_options,
    )
    training = {**model.fit_record_, "hardware": describe()}
    if not is_main_process():  # under torchrun: rank 0 scores, saves and cleans up
        return _training_run(model, output, splits, dev_report={})

    # 2. score the selected model on dev with the same code path users run; a
    # multi-label model first sets each label's threshold there
    dev_probabilities = model.predict_proba(splits.dev.texts)
    if list(model.labels_) != chosen_task.labels:  # e.g. zero-shot: its descriptions' order
        chosen_task = detect_task(model.labels_, task, splits.train.texts, splits.train.labels)
    if isinstance(chosen_task, MultiLabelTask):
        chosen_task.tune_thresholds(dev_probabilities, splits.dev.labels)
    model.task_ = chosen_task
    dev_report = task_report(chosen_task, splits.dev.labels, dev_probabilities)

    # 3. save: the model + bertsent.json + the method's extra files (history, card...)
    metadata = {
        "data": {
            "spec": spec,
            # where a local spec pointed, so that a later default finds it from anywhere
            "path": _local_path(spec),
            "text_column": text_column,
            "label_column": label_column,
            **splits.summary(),
            "excluded_overlap": excluded,
            "augmented": augmented,
        },
        "metrics": {"dev": headline_metrics(dev_report)},
        "best": model.best_,
        "training": training,
    }
    extras = model.extra_files(metadata, dev_report)
    model.save(output, metadata=metadata, extras=extras, overwrite=overwrite)
    model.metadata_ = {**metadata, "labels": model.labels_}
    if model.resumable:  # another method's run leaves an interrupted fine-tune's checkpoints
        shutil.rmtree(work_dir, ignore_errors=True)
    return _training_run(model, output, splits, dev_report)


def teacher_dir(output_dir: Path) -> Path:
    """A teacher trained by ``--teacher-model`` lives beside its student's folder."""
    return output_dir.with_name(f"{output_dir.name}.teacher")


def _train_teacher(
    splits: DatasetSplits,
    recipe: TrainingConfig,
    teacher_model: str,
    output: Path,
    *,
    resume: bool,
    callbacks: list[Any] | None,
) -> None:
    """Fine-tune ``teacher_model`` on ``splits`` (the student's data, its generated
    examples made with the teacher's seed) into :func:`teacher_dir`, or keep the teacher
    an earlier run of this command finished there: a 110M teacher takes most of an hour
    on two CPU cores, and every seed of the student, every ``--resume``, can learn from
    the same one."""
    folder = teacher_dir(output)
    teacher_recipe = replace(  # one seed for the teacher, so every student seed shares it
        recipe,
        model=teacher_model,
        learning_rate=recipe.teacher_learning_rate,
        epochs=recipe.teacher_epochs or recipe.epochs,
        seed=TrainingConfig.seed,
        teacher_model=None,
        distill_texts=None,
        encoder_layers=None,
        # the student's distillation settings: a teacher has no teacher of its own
        **{name: getattr(TrainingConfig, name) for name in DISTILLATION_SETTINGS},
        # nor R-Drop, which would double an expensive run and retrain it per --r-drop;
        # the student's smoothing would also retrain it per value, and flatten the soft
        # targets the student learns from
        r_drop=TrainingConfig.r_drop,
        ordinal_smoothing=TrainingConfig.ordinal_smoothing,
        label_smoothing=TrainingConfig.label_smoothing,
    )
    try:
        saved = read_metadata(folder)
    except ModelError:  # none yet, or not readable: train it
        saved = {}
    if (
        same_recipe(saved.get("training_config"), teacher_recipe)
        and saved.get("data", {}).get("fingerprint") == splits.fingerprint()
    ):
        logger.info("teacher: %s, trained earlier on the same data and recipe", folder)
        return
    logger.info("teacher: fine-tuning %s into %s first", teacher_recipe.model, folder)
    train(splits, teacher_recipe, folder, resume=resume, callbacks=callbacks, augment="none")
    wait_for_main_process()  # rank 0 saves the teacher that every rank then reads


def _training_run(
    model: SentimentClassifier, output: Path, splits: DatasetSplits, dev_report: dict[str, Any]
) -> TrainingRun:
    """The run of a fitted model; ``dev_report`` is empty on a rank other than 0, which
    neither scores nor writes."""
    return TrainingRun(
        model=model,
        output_dir=output,
        data=splits,
        dev_report=dev_report,
        history=model.history_,
        best=model.best_,
        train_seconds=model.fit_record_["seconds"],
        train_examples_per_second=model.fit_record_["examples_per_second"],
    )


def _local_path(spec: str | None) -> str | None:
    """Where a dataset read from a local file or folder lives (None for the built-in
    dataset and ``hub:`` ones, whatever the current folder holds)."""
    if not spec or spec == DEFAULT_DATASET or spec.startswith("hub:"):
        return None
    return str(Path(spec).resolve()) if Path(spec).exists() else None


def headline_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a dev report a saved model's ``bertsent.json`` records (``metrics``)."""
    keys = ("n", "abstained", "accuracy", "accuracy_ci", "macro_f1", "ece")
    return {k: report[k] for k in keys if k in report}


def _exclude_overlap(
    splits: DatasetSplits, protected_spec: str, distill_texts: str | None = None
) -> tuple[DatasetSplits, dict[str, int]]:
    """Drop examples sharing a span with the dev/test texts of ``protected_spec``, and
    refuse ``distill_texts`` that share one: the student is trained on those too (with
    its teacher's labels), and ``--exclude-overlap-with`` promises none of them is.

    Raises:
        DataError: naming how many of ``distill_texts`` overlap and the first of them.
    """
    from bertsent.data.overlap import SpanFilter, without_overlap

    protected = load_dataset(protected_spec)
    texts = [*protected.dev.texts, *(protected.test.texts if protected.test else [])]
    check = SpanFilter.of(texts)
    filtered, removed = without_overlap(splits, check, protected.name)
    logger.info(
        "removed %d train and %d dev examples sharing a span with %s's %d dev/test texts",
        removed["train"],
        removed["dev"],
        protected.name,
        len(texts),
    )
    unlabelled = read_unlabelled(distill_texts)[0] if distill_texts else []
    overlapping = [text for text in unlabelled if check.overlaps(text)]
    if overlapping:
        raise DataError(
            f"--distill-texts {distill_texts}: {len(overlapping)} of its {len(unlabelled)} "
            f"texts share a span with {protected.name}'s dev/test texts, e.g. "
            f"{overlapping[0][:80]!r}",
            hint=f"remove them from the file: --exclude-overlap-with {protected_spec} filters "
            "the labelled data, and these texts are trained on too",
        )
    return filtered, removed


def pretrain(
    data: str,
    output_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    text_column: str = "text",
    mlm_probability: float = 0.15,
    whole_word_mask: bool = False,
    max_minutes: float | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Continue masked-LM pre-training on unlabelled reviews; save a model folder that
    ``train(config=TrainingConfig(model=output_dir))`` fine-tunes.

    ``data`` as :func:`bertsent.data.read_unlabelled` reads it: a dataset's training
    texts (task-adaptive), or every text of a file or folder (domain-adaptive). The
    other arguments are :func:`bertsent.training.pretrain.pretrain`'s. Returns the
    record written to ``pretraining.json`` (held-out masked-LM loss before and after).
    """
    from bertsent.atomic import atomic_directory
    from bertsent.data import read_unlabelled
    from bertsent.training.pretrain import RECORD_FILE, save_pretrained
    from bertsent.training.pretrain import pretrain as continue_pretraining

    config = (config or TrainingConfig()).validate()
    output = Path(output_dir)
    what = "bertsent pretrain folder"
    check_replaceable(output, RECORD_FILE, what, overwrite=overwrite)  # before the minutes
    texts, described = read_unlabelled(data, text_column)
    logger.info("pre-training %s on %s", config.model, described)
    work_dir = checkpoint_dir(output)
    result = continue_pretraining(
        texts,
        config,
        work_dir,
        mlm_probability=mlm_probability,
        whole_word_mask=whole_word_mask,
        max_minutes=max_minutes,
        resume=resume,
        callbacks=callbacks,
    )
    result.record["data"] = {"spec": data, "texts": described}
    if not is_main_process():  # under torchrun: rank 0 saves and cleans up
        return result.record
    with atomic_directory(output, RECORD_FILE, what, overwrite=overwrite or None) as folder:
        save_pretrained(result, folder, texts)
    if result.record["stopped_by_time_limit"]:  # unfinished: --resume continues from there
        result.record["checkpoints"] = str(work_dir)
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return result.record
