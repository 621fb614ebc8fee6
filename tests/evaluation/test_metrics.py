from __future__ import annotations

import numpy as np
import pytest

from bertsent.errors import DataError
from bertsent.evaluation.evaluate import check_no_leakage
from bertsent.evaluation.metrics import (
    bootstrap_accuracy_interval,
    classification_report,
    expected_calibration_error,
)


def test_bootstrap_interval_brackets_the_accuracy_and_narrows_with_n() -> None:
    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.8).astype(float)
    large = (rng.random(10000) < 0.8).astype(float)
    low, high = bootstrap_accuracy_interval(small)
    assert low < small.mean() < high
    low_large, high_large = bootstrap_accuracy_interval(large)
    assert (high_large - low_large) < (high - low) / 5


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    # 10 predictions at 0.8 confidence, 8 correct -> perfectly calibrated
    probabilities = np.array([[0.8, 0.2]] * 10)
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)
    overconfident = np.array([[0.99, 0.01]] * 10)
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.19)


def test_report_has_the_documented_keys() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    report = classification_report(["neg", "pos", "pos", "pos"], probabilities, ["neg", "pos"])
    assert {
        "accuracy",
        "accuracy_ci",
        "macro_f1",
        "per_class",
        "ece",
        "n",
        "confusion_matrix",
    } <= set(report)
    assert report["accuracy"] == 0.75 and report["n"] == 4
    assert report["confusion_matrix"] == [[1, 0], [1, 2]]
    assert report["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)


def test_scoring_across_overlapping_corpora_is_refused() -> None:
    with pytest.raises(DataError, match="shares most sentences"):
        check_no_leakage("rotten-tomatoes", "mr")
    check_no_leakage("rotten-tomatoes", "rotten-tomatoes")
    check_no_leakage("imdb", "cr")
