"""Classification metrics with honest uncertainty: bootstrap intervals and calibration."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from bertsent.data.tasks import MultiLabelTask, Task, answered


def bootstrap_accuracy_interval(
    correct: np.ndarray, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a 0/1 ``correct`` vector.

    >>> bootstrap_accuracy_interval(np.array([1, 1, 0, 1] * 50))
    (0.685, 0.81)
    """
    rng = np.random.default_rng(seed)
    n = len(correct)
    means = np.empty(resamples)
    for start in range(0, resamples, 250):  # chunks keep memory at 250 * n
        count = min(250, resamples - start)
        means[start : start + count] = correct[rng.integers(0, n, size=(count, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return round(float(low), 4), round(float(high), 4)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> list[dict[str, float]]:
    """Per-bin confidence, accuracy and count, for a calibration diagram."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    result = []
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            result.append(
                {
                    "low": float(low),
                    "high": float(high),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return result


def classification_report(
    gold: Sequence[str], probabilities: np.ndarray, labels: Sequence[str], *, seed: int = 0
) -> dict[str, Any]:
    """Every metric we report for one split, as plain JSON-ready values.

    Args:
        gold: Gold label names.
        probabilities: (n, n_classes) predicted probabilities in ``labels`` order.
        labels: Class names.

    Returns:
        accuracy, accuracy_ci (95% bootstrap), macro_f1 (the mean F1 of the classes in
        ``gold``: a file of one class is not marked down for the class it lacks),
        per_class precision/recall/F1 and support, confusion_matrix (rows gold,
        columns predicted), ece, n.
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index[g] for g in gold])
    # -1: abstained (a row of zeros), wrong for every class and in no confusion column
    y_pred = np.where(answered(probabilities), probabilities.argmax(axis=1), -1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    correct = (y_true == y_pred).astype(float)
    return {
        "n": len(y_true),
        "abstained": int((y_pred == -1).sum()),
        "accuracy": float(correct.mean()),
        "accuracy_ci": list(bootstrap_accuracy_interval(correct, seed=seed)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)
        ),
        "per_class": per_class(labels, precision, recall, f1, support),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "labels": list(labels),
        "ece": expected_calibration_error(probabilities, y_true),
        "reliability": reliability_bins(probabilities, y_true),
    }


def per_class(
    labels: Sequence[str],
    precision: np.ndarray,
    recall: np.ndarray,
    f1: np.ndarray,
    support: np.ndarray,
) -> dict[str, dict[str, float]]:
    """{label: {precision, recall, f1, support}} from scikit-learn's per-class arrays."""
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def multi_label_report(
    gold: Sequence[str], probabilities: np.ndarray, task: MultiLabelTask, *, seed: int = 0
) -> dict[str, Any]:
    """The metrics of a multi-label task at its thresholds (and at 0.5, for reference).

    Returns:
        accuracy (every label of a review right), accuracy_ci, macro_f1 (mean of the
        labels' F1; the GoEmotions metric), macro_f1_at_0_5, micro_f1, per_class
        precision/recall/F1/support/threshold, ece (mean per-label calibration error), n.
    """
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = task.targets(gold).astype(bool)  # (n, labels)
    chosen = task.chosen(probabilities)
    at_half = MultiLabelTask(task.labels).chosen(probabilities)
    precision, recall, f1, support = precision_recall_fscore_support(truth, chosen, zero_division=0)
    correct = task.correct(probabilities, gold).astype(float)
    present = truth.any(axis=0)  # labels the scored file has: as for single-label macro-F1
    per_label_ece = [
        expected_calibration_error(
            np.stack([1 - probabilities[:, k], probabilities[:, k]], axis=1), truth[:, k]
        )
        for k in range(len(task.labels))
    ]
    return {
        "n": len(truth),
        "accuracy": float(correct.mean()),
        "accuracy_ci": list(bootstrap_accuracy_interval(correct, seed=seed)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        # per label, then over the labels present (as macro_f1): sklearn reads a single
        # present label's column as a binary target and would average over False/True
        "macro_f1_at_0_5": float(
            f1_score(truth, at_half, average=None, zero_division=0)[present].mean()
        )
        if present.any()
        else 0.0,
        "micro_f1": float(f1_score(truth, chosen, average="micro", zero_division=0)),
        "per_class": {
            label: {**row, "threshold": float(threshold)}
            for (label, row), threshold in zip(
                per_class(task.labels, precision, recall, f1, support).items(),
                task.thresholds,
                strict=True,
            )
        },
        "labels": list(task.labels),
        "task": "multi-label",
        "ece": float(np.mean(per_label_ece)),
    }


def task_report(
    task: Task, gold: Sequence[str], probabilities: np.ndarray, *, seed: int = 0
) -> dict[str, Any]:
    """The report that fits the model's task (see :func:`classification_report`)."""
    if isinstance(task, MultiLabelTask):
        return multi_label_report(gold, probabilities, task, seed=seed)
    return classification_report(gold, probabilities, task.labels, seed=seed)
