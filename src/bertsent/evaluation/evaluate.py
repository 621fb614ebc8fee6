"""Score a saved model on a dataset split: metrics with intervals, calibration, figures."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bertsent.atomic import write_text_atomic
from bertsent.data import DEFAULT_DATASET, DatasetSplits, Split, load_dataset
from bertsent.errors import DataError
from bertsent.evaluation.metrics import classification_report
from bertsent.models import SentimentClassifier, load

logger = logging.getLogger(__name__)

# Rotten Tomatoes snippets hold ~98% of MR's sentences and ~80% of SST's: a model
# trained on one of these and scored on another is scored on its own training data.
OVERLAPPING_DATASETS = {"rotten-tomatoes", "mr", "sst2", "sst-binary", "sst-fine"}


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
    trained_on = metadata.get("data", {}).get("name")
    if data is None:
        # models trained on in-memory splits (e.g. by compare) record no spec; the
        # built-in dataset's name is one
        builtin = DEFAULT_DATASET if trained_on == DEFAULT_DATASET else None
        spec = metadata.get("data", {}).get("spec") or builtin
        if spec is None:
            raise DataError("this model does not record its training data", hint="pass --data")
        data = spec
    splits = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    check_no_leakage(trained_on, splits.name)
    chosen = splits.split(split)
    unknown = sorted(set(chosen.labels) - set(classifier.labels_))
    if unknown:
        raise DataError(
            f"{splits.name} [{split}] has labels the model never learned: {', '.join(unknown)} "
            f"(model labels: {', '.join(classifier.labels_)})"
        )
    return splits.name, chosen


def evaluate(
    model: SentimentClassifier | str | Path,
    data: str | DatasetSplits | None = None,
    *,
    split: str = "test",
    json_path: str | Path | None = None,
    figure_path: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> dict[str, Any]:
    """Evaluate ``model`` on one split of ``data``.

    Args:
        model: A classifier or a saved model directory.
        data: Dataset name or splits; default: the dataset the model was trained on.
        split: ``test`` (default), ``dev`` or ``train``.
        json_path: Write the report there (atomically).
        figure_path: Write the confusion matrix PNG there.

    Returns:
        The report: accuracy, accuracy_ci, macro_f1, per_class, confusion_matrix, ece,
        n, plus the dataset and split names.
    """
    classifier = load(model) if isinstance(model, str | Path) else model
    dataset, chosen = data_split(classifier, data, split, text_column, label_column)
    probabilities = classifier.predict_proba(chosen.texts)
    report = classification_report(chosen.labels, probabilities, classifier.labels_)
    report = {"dataset": dataset, "split": split, **report}
    if json_path is not None:
        write_text_atomic(Path(json_path), json.dumps(report, indent=2))
    if figure_path is not None:
        from bertsent.evaluation.plots import plot_confusion_matrix

        plot_confusion_matrix(report, Path(figure_path), title=f"{dataset} [{split}]")
    return report
