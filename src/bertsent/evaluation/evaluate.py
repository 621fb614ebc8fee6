"""Score a saved model on a dataset split or a whole file: metrics with intervals,
calibration, figures, and how many of the scored texts the model was trained on."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import (
    atomic_file,
    check_file_replaceable,
    marked,
    write_text_atomic,
    written_by,
)
from bertsent.data import (
    DEFAULT_DATASET,
    DatasetSplits,
    Split,
    load_dataset,
    read_split,
    read_unlabelled,
    single_file,
)
from bertsent.data.splits import TRAIN_HASHES_FILE, text_hashes
from bertsent.data.tasks import (
    ASPECT_COLUMN,
    LABEL_SEPARATOR,
    PAIR_SEPARATOR,
    MultiLabelTask,
    Task,
    is_aspect_data,
    is_multi_label,
)
from bertsent.errors import ConfigError, DataError
from bertsent.evaluation.metrics import task_report
from bertsent.models import ENCODER_METHODS, SentimentClassifier, load
from bertsent.models.base import start_point_hashes
from bertsent.training.config import TrainingConfig

logger = logging.getLogger(__name__)

# Rotten Tomatoes snippets hold ~98% of MR's sentences and ~80% of SST's: a model
# trained on one of these and scored on another is scored on its own training data.
OVERLAPPING_DATASETS = {"rotten-tomatoes", "mr", "sst2", "sst-binary", "sst-fine"}

# Share of the scored texts found among the training texts (compared after
# normalise_text) above which the score is called inflated, and above which scoring is
# refused unless allow_overlap. Within one corpus split by movie or by sentence the
# share is ~0.1% (rotten-tomatoes test, sst2 dev); SST-2's dev set against a Rotten
# Tomatoes model's training texts, under any file name, is 66%.
OVERLAP_WARNING = 0.01
OVERLAP_REFUSAL = 0.10
WHOLE_FILE = "all"  # the split name reported when a file is scored whole


def check_no_leakage(trained_on: str | None, scored_on: str) -> None:
    """Refuse to score across datasets that share their sentences.

    Raises:
        DataError: when both names belong to the Rotten Tomatoes / MR / SST family.
    """
    if trained_on and trained_on != scored_on and {trained_on, scored_on} <= OVERLAPPING_DATASETS:
        raise DataError(
            f"the model was trained on '{trained_on}', which shares most sentences with "
            f"'{scored_on}': its score there would be inflated",
            hint="train and evaluate within one dataset",
        )


def check_known_labels(split: Split, task: Task) -> None:
    """Refuse gold labels the model cannot predict, naming where the first one is, and
    data without the aspects an aspect model reads (or with aspects another ignores).

    Raises:
        DataError: naming the file and line (or row) of the first unknown label, of
            the first ``joy;surprise`` cell given to a model with one label per review,
            or of the first multi-label cell that names no label.
    """
    aspect_model = ASPECT_COLUMN in task.input_names
    if split.texts and aspect_model != is_aspect_data(split.texts):
        index = next(
            i for i, text in enumerate(split.texts) if (PAIR_SEPARATOR in text) != aspect_model
        )
        raise DataError(
            f"{split.where(index)}: "
            + (
                f"no '{ASPECT_COLUMN}'; this aspect model judges each review towards one"
                if aspect_model
                else f"an '{ASPECT_COLUMN}'; this {task.name} model reads the review alone"
            ),
            hint=f"score data {'with' if aspect_model else 'without'} an '{ASPECT_COLUMN}' "
            "column, as the model was trained",
        )
    if is_multi_label(split.labels) and not isinstance(task, MultiLabelTask):
        index = next(i for i, value in enumerate(split.labels) if LABEL_SEPARATOR in value)
        raise DataError(
            f"{split.where(index)}: '{split.labels[index]}' names several labels; this "
            f"model is {task.name} (one label per review)",
            hint="score this file with a multi-label model (trained on such data)",
        )
    empty = next((i for i, value in enumerate(split.labels) if not task.names(value)), None)
    if empty is not None:  # a multi-label cell such as ';' names no label at all
        raise DataError(
            f"{split.where(empty)}: no label in '{split.labels[empty]}'",
            hint="give each review at least one label",
        )
    known = set(task.labels)

    def unknown_in(value: str) -> list[str]:
        return [name for name in task.names(value) if name not in known]

    unknown = sorted({name for value in split.labels for name in unknown_in(value)})
    if not unknown:
        return
    index = next(i for i, value in enumerate(split.labels) if unknown_in(value))
    first = unknown_in(split.labels[index])[0]
    others = [label for label in unknown if label != first]
    raise DataError(
        f"{split.where(index)}: label '{first}' is not one of the model's labels "
        f"({', '.join(task.labels)})"
        + (f"; other unknown labels: {', '.join(others)}" if others else ""),
        hint="fix or drop those rows, or score them with a model trained on these labels",
    )


def _trained_on(classifier: SentimentClassifier) -> str | None:
    metadata: dict[str, Any] = getattr(classifier, "metadata_", {})
    name: str | None = metadata.get("data", {}).get("name")
    return name


def data_split(
    classifier: SentimentClassifier,
    data: str | DatasetSplits | None,
    split: str,
    text_column: str = "text",
    label_column: str = "label",
) -> tuple[str, Split]:
    """The dataset name and one split of ``data`` (default: the model's training data).

    Raises:
        DataError: when the data overlaps the training data of another dataset, or holds
            labels the model never learned.
    """
    metadata: dict[str, Any] = getattr(classifier, "metadata_", {})
    trained_on = _trained_on(classifier)
    if data is None:
        # models trained on in-memory splits (e.g. by compare) record no spec; the
        # built-in dataset's name is one
        builtin = DEFAULT_DATASET if trained_on == DEFAULT_DATASET else None
        record = metadata.get("data", {})
        path = record.get("path")  # a local spec as first resolved: not the current folder's
        spec = path if path and Path(path).exists() else record.get("spec") or builtin
        if spec is None:
            raise DataError("this model does not record its training data", hint="pass --data")
        data = spec
        # its own data is read with the columns it was trained with
        text_column = record.get("text_column", text_column)
        label_column = record.get("label_column", label_column)
    splits = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    check_no_leakage(trained_on, splits.name)
    chosen = splits.split(split)
    check_known_labels(chosen, classifier.task_)
    return splits.name, chosen


def evaluation_data(
    classifier: SentimentClassifier,
    data: str | DatasetSplits | None,
    split: str | None,
    text_column: str = "text",
    label_column: str = "label",
) -> tuple[str, str, Split]:
    """What ``evaluate`` scores: the dataset name, the split name and its examples.

    A file given as ``data`` is scored whole, with any classes the model knows, unless
    ``split`` asks for one part of its 80/10/10 split. Named datasets, folders and the
    model's own training data (``data=None``) give their ``split``, by default test.
    """
    path = single_file(data) if split is None and isinstance(data, str) else None
    if path is None:
        name, chosen = data_split(classifier, data, split or "test", text_column, label_column)
        return name, split or "test", chosen
    check_no_leakage(_trained_on(classifier), path.stem)
    whole = read_split(path, WHOLE_FILE, text_column, label_column)
    check_known_labels(whole, classifier.task_)
    return path.stem, WHOLE_FILE, whole


def train_overlap(classifier: SentimentClassifier, texts: Sequence[str]) -> np.ndarray | None:
    """Which of ``texts`` the model was trained on, compared after ``normalise_text``.

    None when the model does not record its training texts (saved by an older bertsent).
    """
    known = getattr(classifier, "train_hashes_", None)
    if known is None:
        return None
    seen: np.ndarray = np.isin(text_hashes(texts), known)
    return seen


def check_test_unseen(
    recipe: TrainingConfig,
    train_texts: Sequence[str],
    test_texts: Sequence[str],
    methods: Sequence[str],
    where: str,
) -> None:
    """Refuse, before any training, a test split mostly of texts the methods will have
    seen, as ``evaluate`` refuses the model afterwards: the training split's own texts,
    what an encoder method's ``--model`` start point (a ``bertsent pretrain`` folder, a
    classifier of another corpus) was trained on, and BERT's ``--teacher`` and
    ``--distill-texts``.

    Raises:
        DataError: as :func:`check_overlap`, with a hint for a comparison.
    """
    known = [text_hashes(train_texts)]
    starts: list[str | None] = [recipe.model] if set(methods) & set(ENCODER_METHODS) else []
    if "bert" in methods:
        starts.append(recipe.teacher)
        if recipe.distill_texts:
            known.append(text_hashes(read_unlabelled(recipe.distill_texts)[0]))
    known += [hashes for start in starts if (hashes := start_point_hashes(start)) is not None]
    seen = np.isin(text_hashes(test_texts), np.concatenate(known))
    check_overlap(
        seen,
        where,
        hint="compare on data whose test texts are unseen: its own training split, "
        "--model, --teacher or --distill-texts hold them",
    )


def check_overlap(
    seen: np.ndarray | None, where: str, allow_overlap: bool = False, hint: str | None = None
) -> None:
    """Refuse a score mostly made of training texts; warn about a smaller share.

    Raises:
        DataError: more than ``OVERLAP_REFUSAL`` of the texts were trained on and
            ``allow_overlap`` is false.
    """
    if seen is None:
        logger.info(
            "%s: the model does not record its training texts (no %s; saved by an older "
            "bertsent), so their overlap with the scored texts cannot be checked",
            where,
            TRAIN_HASHES_FILE,
        )
        return
    count, share = int(seen.sum()), float(seen.mean())
    message = (
        f"{where}: {count} of {len(seen)} texts ({share:.1%}) are texts the model was "
        "trained on (compared ignoring case, spacing and punctuation)"
    )
    if share > OVERLAP_REFUSAL and not allow_overlap:
        raise DataError(
            f"{message}; scored, they would inflate the result",
            hint=hint
            or "score data the model never saw (for its own training file: --split test), "
            "or pass --allow-overlap to score it anyway, with the overlap in the report",
        )
    if share > OVERLAP_WARNING:
        logger.warning("WARNING: %s: the score is inflated", message)
    elif count:
        logger.info("%s", message)


def overlap_summary(
    seen: np.ndarray | None, correct: np.ndarray, allow_overlap: bool = False
) -> dict[str, Any]:
    """The report's ``train_overlap``: count, fraction and accuracy on the unseen texts."""
    if seen is None:
        return {
            "checked": False,
            "reason": f"the model has no {TRAIN_HASHES_FILE} (saved by an older bertsent)",
        }
    summary: dict[str, Any] = {
        "checked": True,
        "count": int(seen.sum()),
        "fraction": round(float(seen.mean()), 4),
        "warning_above": OVERLAP_WARNING,
        "refused_above": None if allow_overlap else OVERLAP_REFUSAL,
    }
    if seen.any() and not seen.all():
        summary["n_unseen"] = int((~seen).sum())
        summary["accuracy_unseen"] = float(correct[~seen].mean())
    return summary


def _recorded_figure(json_path: Path) -> Path | None:
    """The figure an earlier ``evaluate`` report at ``json_path`` says it wrote."""
    try:
        name = json.loads(json_path.read_text(encoding="utf-8")).get("figure")
    except (OSError, ValueError, AttributeError):
        return None
    return (json_path.parent / name).resolve() if isinstance(name, str) else None


def check_evaluation_outputs(
    json_path: str | Path | None,
    figure_path: str | Path | None,
    *,
    overwrite: bool = False,
) -> tuple[bool, bool]:
    """Refuse a report or figure path holding a file ``evaluate`` did not write.

    A report JSON is ours when its first key is ``"bertsent": "evaluate"``; a figure
    (an image says nothing of who wrote it) only when such a report at ``json_path``
    names it as its ``figure``. Anything else existing is refused unless ``overwrite``.

    Returns:
        Whether the report and the figure may replace what is at their paths.

    Raises:
        OutputExistsError: naming the first path that holds a file that is not ours.
        ConfigError: both paths are the same file.
    """
    report_ours = figure_ours = overwrite
    earlier_report = json_path is not None and written_by(Path(json_path), "evaluate")
    if json_path is not None:
        json_path = Path(json_path)
        report_ours = overwrite or earlier_report
        check_file_replaceable(json_path, "bertsent evaluate report", overwrite=report_ours)
    if figure_path is not None:
        figure_path = Path(figure_path)
        if json_path is not None and figure_path.resolve() == json_path.resolve():
            raise ConfigError(
                f"--json and --figure are the same file, {figure_path}",
                hint="give the figure its own path, e.g. ending in .png",
            )
        if not overwrite and json_path is not None and earlier_report:
            figure_ours = _recorded_figure(json_path) == figure_path.resolve()
        check_file_replaceable(figure_path, overwrite=figure_ours)
    return report_ours, figure_ours


def _write_figure(report: dict[str, Any], path: Path, title: str, *, overwrite: bool) -> None:
    """The confusion matrix at ``path`` in one step (format from its suffix, else PNG)."""
    from bertsent.evaluation.plots import plot_confusion_matrix

    with atomic_file(path, overwrite=overwrite) as temporary:
        drawn = temporary.with_name(temporary.name + (path.suffix or ".png"))
        try:
            plot_confusion_matrix(report, drawn, title=title)
            os.replace(drawn, temporary)
        finally:
            drawn.unlink(missing_ok=True)


def evaluate(
    model: SentimentClassifier | str | Path,
    data: str | DatasetSplits | None = None,
    *,
    split: str | None = None,
    json_path: str | Path | None = None,
    figure_path: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    allow_overlap: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on a file, or on one split of a dataset.

    Args:
        model: A classifier or a saved model directory.
        data: A file (scored whole), a dataset name or splits; default: the dataset the
            model was trained on.
        split: ``test``, ``dev`` or ``train``; default: the whole of a file, else ``test``.
        json_path: Write the report there (atomically), marked ``"bertsent": "evaluate"``.
        figure_path: Write the confusion matrix PNG there (atomically).
        allow_overlap: Score even when more than 10% of the texts were trained on.
        overwrite: Replace files at ``json_path`` and ``figure_path`` that are not an
            earlier report of ``evaluate`` and the figure it names (otherwise refused,
            before anything is scored; see :func:`check_evaluation_outputs`).

    Returns:
        The report: accuracy, accuracy_ci, macro_f1, per_class, confusion_matrix, ece,
        n, train_overlap, plus the dataset and split names.

    Raises:
        DataError: unusable data, labels the model does not know, or (unless
            ``allow_overlap``) more than 10% of the texts among the training texts.
        OutputExistsError: ``json_path`` or ``figure_path`` holds a file that is not
            ours and ``overwrite`` is false.
    """
    report_ours, figure_ours = check_evaluation_outputs(json_path, figure_path, overwrite=overwrite)
    classifier = load(model) if isinstance(model, str | Path) else model
    dataset, split_name, chosen = evaluation_data(
        classifier, data, split, text_column, label_column
    )
    seen = train_overlap(classifier, chosen.texts)
    check_overlap(seen, f"{dataset} [{split_name}]", allow_overlap)
    probabilities = classifier.predict_proba(chosen.texts)
    report = task_report(classifier.task_, chosen.labels, probabilities)
    correct = classifier.task_.correct(probabilities, chosen.labels)
    report = {
        "dataset": dataset,
        "split": split_name,
        # what scored it: `auto` may have picked an INT8 or bf16 export, not fp32 weights
        "backend": getattr(classifier, "backend", classifier.method),
        **report,
        "train_overlap": overlap_summary(seen, correct, allow_overlap),
    }
    if "confusion_matrix" not in report:  # multi-label: no confusion matrix to draw
        figure_path = None
    if json_path is not None:  # first: it names the figure, so a rerun may replace that
        json_path = Path(json_path)
        saved = dict(report)
        if figure_path is not None:
            figure = Path(figure_path).resolve()
            saved["figure"] = os.path.relpath(figure, json_path.parent.resolve())
        # a file that appeared since the check is refused at the rename, not replaced
        write_text_atomic(
            json_path, json.dumps(marked("evaluate", saved), indent=2), overwrite=report_ours
        )
    if figure_path is not None:
        _write_figure(report, Path(figure_path), f"{dataset} [{split_name}]", overwrite=figure_ours)
    return report
