"""Classification metrics with honest uncertainty: bootstrap intervals and calibration."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np


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
    y_pred = probabilities.argmax(axis=1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    correct = (y_true == y_pred).astype(float)
    return {
        "n": len(y_true),
        "accuracy": float(correct.mean()),
        "accuracy_ci": list(bootstrap_accuracy_interval(correct, seed=seed)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)
        ),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "labels": list(labels),
        "ece": expected_calibration_error(probabilities, y_true),
        "reliability": reliability_bins(probabilities, y_true),
    }
