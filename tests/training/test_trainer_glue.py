"""Trainer glue: each epoch's length-grouped order comes from the seed and the epoch (so
a resume inside an epoch skips the batches of the order it was stopped in), and the
training bar follows -q."""

from __future__ import annotations

import pytest
from transformers import TrainerState

from bertsent.training.callbacks import EpochSeededLengthGroupedSampler, EpochToSampler

DATASET = [{"input_ids": [1] * (3 + i % 7)} for i in range(40)]


def order(epoch: int) -> list[int]:
    sampler = EpochSeededLengthGroupedSampler(4, DATASET, seed=3)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_the_order_depends_on_the_epoch_and_seed_not_on_the_random_state() -> None:
    import torch

    first = order(1)
    torch.manual_seed(12345)  # a resumed process's global random state differs
    assert order(1) == first and order(0) != first and sorted(first) == list(range(40))


def test_the_epoch_reaches_the_sampler_from_the_state_when_set_epoch_does_not() -> None:
    """A resumed multi-process run wraps the sampler where the Trainer's set_epoch does not
    reach it: the callback tells it the epoch from the checkpoint's state."""
    sampler = EpochSeededLengthGroupedSampler(4, DATASET, seed=3)  # a resumed process's: epoch 0
    callback = EpochToSampler(sampler)
    callback.on_epoch_begin(None, TrainerState(epoch=1.4), None)  # type: ignore[arg-type]
    assert sampler.epoch == 1 and list(sampler) == order(1)
    callback.on_epoch_begin(None, TrainerState(epoch=2.0), None)  # type: ignore[arg-type]
    assert sampler.epoch == 2
    callback.on_epoch_begin(None, TrainerState(), None)  # type: ignore[arg-type]
    assert sampler.epoch == 0  # a fresh run's first epoch


def test_the_training_bar_is_off_with_q(capsys: pytest.CaptureFixture[str]) -> None:
    """`bertsent -q train` printed the training bar all the same."""
    import logging

    from bertsent.training.callbacks import ProgressCallback

    state = TrainerState(max_steps=10, global_step=0)
    logger = logging.getLogger("bertsent")
    before = logger.level
    bars = []
    try:
        # -q, then the command's default, then a notebook that configured no logging
        for level in (logging.WARNING, logging.INFO, logging.NOTSET):
            logger.setLevel(level)
            callback = ProgressCallback(None, 32)
            callback.on_train_begin(None, state, None)
            bars.append(callback.bar)
    finally:
        logger.setLevel(before)
    assert bars[0].disable and not bars[1].disable and not bars[2].disable
    quiet = ProgressCallback(None, 32)
    quiet.bar = bars[0]
    metrics = {"eval_loss": 0.5, "eval_accuracy": 0.8, "eval_macro_f1": 0.8}
    quiet.on_evaluate(None, TrainerState(epoch=1.0), None, metrics=metrics)
    assert "dev accuracy" not in capsys.readouterr().out  # nor the per-epoch dev lines
    for bar in bars:
        bar.close()
