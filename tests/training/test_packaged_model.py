"""A real fine-tune of the packaged all-MiniLM-L6-v2 on a slice of rotten-tomatoes."""

from __future__ import annotations

from pathlib import Path

import pytest

import bertsent
from bertsent.data import DatasetSplits, load_dataset
from bertsent.training.config import TrainingConfig


def balanced(split: bertsent.data.Split, per_class: int) -> bertsent.data.Split:
    chosen: list[int] = []
    for label in sorted(set(split.labels)):
        chosen += [i for i, y in enumerate(split.labels) if y == label][:per_class]
    return split.subset(sorted(chosen))


@pytest.mark.slow
def test_packaged_model_learns_rotten_tomatoes_from_a_small_slice(tmp_path: Path) -> None:
    full = load_dataset("rotten-tomatoes")
    splits = DatasetSplits(
        name=full.name, train=balanced(full.train, 400), dev=balanced(full.dev, 150), test=None
    )
    config = TrainingConfig(epochs=2, learning_rate=1e-4, max_length=64)
    run = bertsent.train(splits, config, tmp_path / "model")
    # balanced dev: chance is 50%; the pre-trained encoder should be well above it
    assert run.dev_report["accuracy"] > 0.70, run.dev_report["accuracy"]
