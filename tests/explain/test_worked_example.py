from __future__ import annotations

import math

import pytest

from bertsent.errors import ConfigError
from bertsent.explain.worked_example import format_worked_example, worked_example
from bertsent.models import SentimentClassifier


def test_gradient_is_p_minus_y_and_matches_autograd(classifier: SentimentClassifier) -> None:
    example = worked_example(classifier, "This movie was not very good", gold="positive")
    p = example["probabilities"]
    assert sum(p) == pytest.approx(1.0)
    # p is float32: near 1 its rounding (~6e-8) is a large share of a small -log p
    assert example["loss"] == pytest.approx(
        -math.log(p[example["labels"].index("positive")]), abs=1e-6
    )
    assert example["gradient"] == pytest.approx(example["autograd_gradient"], abs=1e-6)
    hidden = example["hidden_size"]
    assert example["head_parameters"] == hidden * 2 + 2
    assert "cross-entropy L = -log p[positive]" in format_worked_example(example)
    assert example["trained_with"] == [] and "trained with" not in format_worked_example(example)


def test_a_recipe_beyond_plain_cross_entropy_is_named_beside_the_numbers(
    classifier: SentimentClassifier,
) -> None:
    """It said the printed gradient was what training back-propagated, for a model
    trained with R-Drop or smoothed targets too."""
    from dataclasses import replace

    config = classifier.config  # type: ignore[attr-defined]
    classifier.config = replace(config, r_drop=1.0, label_smoothing=0.1)  # type: ignore[attr-defined]
    try:
        example = worked_example(classifier, "This movie was not very good")
    finally:
        classifier.config = config  # type: ignore[attr-defined]
    assert example["trained_with"] == ["--label-smoothing 0.1", "--r-drop 1"]
    assert "trained with --label-smoothing 0.1, --r-drop 1 as well" in format_worked_example(
        example
    )


def test_unknown_gold_label_is_refused(classifier: SentimentClassifier) -> None:
    with pytest.raises(ConfigError, match="'neutral' is not one of"):
        worked_example(classifier, "fine", gold="neutral")
