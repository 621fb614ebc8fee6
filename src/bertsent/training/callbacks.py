"""Trainer glue: callbacks for training history, a progress bar and a checkpoint on
Ctrl-C, and the Trainer whose data order a resume inside an epoch restores."""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from transformers import (
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_callback import ExportableState
from transformers.trainer_pt_utils import LengthGroupedSampler

from bertsent.distributed import any_process, is_main_process, launched, sum_over_processes
from bertsent.progress import silenced

HISTORY_KEY = "bertsent_history"


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """The Trainer's length-grouped order, drawn from the seed and the epoch.

    The Trainer's own sampler draws each epoch's order from the global random state
    when the epoch starts, so a run resumed inside a later epoch draws another order
    and skips the wrong batches: some examples trained twice, others not at all.
    """

    def __init__(self, batch_size: int, dataset: Any, seed: int) -> None:
        super().__init__(batch_size, dataset=dataset, generator=torch.Generator())
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it at each epoch's start
        self.epoch = epoch

    def __iter__(self) -> Any:
        assert self.generator is not None
        self.generator.manual_seed(self.seed + int(self.epoch))
        return super().__iter__()


class EpochToSampler(TrainerCallback):
    """Tells the length-grouped sampler which epoch begins, from the Trainer's state.

    The Trainer's own ``set_epoch`` does not reach the sampler through every wrapping
    accelerate puts around it (a resumed multi-process run's skipped batches, or an
    accelerate before 1.8), and a resumed process's sampler starts at epoch 0.
    """

    def __init__(self, sampler: EpochSeededLengthGroupedSampler) -> None:
        self.sampler = sampler

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # whole at an epoch's start, fractional in a checkpoint taken inside one
        self.sampler.set_epoch(math.floor(state.epoch + 1e-6) if state.epoch else 0)


class ResumableTrainer(Trainer):
    """The Trainer, with an epoch's length-grouped order that a resume draws again."""

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if self.args.train_sampling_strategy != "group_by_length":
            return super()._get_train_sampler(train_dataset)  # accelerate seeds "random"
        dataset = self.train_dataset if train_dataset is None else train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        sampler = EpochSeededLengthGroupedSampler(batch, dataset, seed)
        self.callback_handler.callbacks = [  # one sampler per dataloader: tell the newest
            callback
            for callback in self.callback_handler.callbacks
            if not isinstance(callback, EpochToSampler)
        ]
        self.add_callback(EpochToSampler(sampler))
        return sampler


class HistoryCallback(TrainerCallback, ExportableState):
    """After each evaluation, record train and dev loss/accuracy in ``state.log_history``.

    Keeping the record in the Trainer state means checkpoints carry it, so a resumed
    run's history is complete up to its last checkpoint. The running training loss and
    accuracy since the last evaluation go into the checkpoint too (``state()``), so the
    first evaluation after a resume reports the same figures as an uninterrupted run.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.earlier_seconds = 0.0  # training time before the checkpoint resumed from
        self.started: float | None = None
        self.started_at_step = 0  # the step this call of train() began at (a resume's)

    def training_seconds(self) -> float:
        """Wall time spent training, the interrupted runs' share included."""
        now = time.perf_counter() - self.started if self.started is not None else 0.0
        return self.earlier_seconds + now

    def state(self) -> dict[str, Any]:
        attributes = {**self.module.running.state(), "training_seconds": self.training_seconds()}
        return {"args": {}, "attributes": attributes}

    def restore(self, checkpoint: Path) -> None:
        """Continue the time and running statistics saved with ``checkpoint`` (rank 0's
        statistics: the others start from zero, as their share is summed at the next
        evaluation)."""
        saved = saved_attributes(checkpoint, type(self).__name__)
        self.earlier_seconds = float(saved.get("training_seconds", 0.0))
        if is_main_process():
            self.module.running.restore(saved)

    def on_train_begin(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()
        self.started_at_step = state.global_step  # restored from the checkpoint by now

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not metrics or "eval_loss" not in metrics:
            return
        loss, correct, seen = sum_over_processes(self.module.running.values())
        learning_rates = [e["learning_rate"] for e in state.log_history if "learning_rate" in e]
        entry = {
            "epoch": round(float(state.epoch or 0.0), 4),
            "step": state.global_step,
            "train_loss": loss / seen if seen else None,
            "train_accuracy": correct / seen if seen else None,
            "eval_loss": metrics["eval_loss"],
            "eval_accuracy": metrics.get("eval_accuracy"),
            "eval_macro_f1": metrics.get("eval_macro_f1"),
            "learning_rate": learning_rates[-1] if learning_rates else None,
        }
        record: dict[str, Any] = {HISTORY_KEY: entry, "step": state.global_step}
        state.log_history.append(record)
        self.module.running.reset()


def history_from_state(state: TrainerState) -> list[dict[str, Any]]:
    """The evaluation records of a (possibly resumed) run, one per step, in order."""
    by_step: dict[int, dict[str, Any]] = {}
    for entry in state.log_history:
        record: Any = entry.get(HISTORY_KEY)
        if record is not None:
            by_step[record["step"]] = record
    return [by_step[s] for s in sorted(by_step)]


class ProgressCallback(TrainerCallback):
    """One tqdm bar over all training steps with the running loss, accuracy and rate."""

    def __init__(self, module: Any, batch_size: int) -> None:
        self.module = module
        self.batch_size = batch_size
        self.bar: Any = None
        self.started = 0.0
        self.first_step = 0

    def on_train_begin(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        if not state.is_world_process_zero:
            return
        self.bar = tqdm(  # -q prints only results and errors; a notebook sees it
            total=state.max_steps,
            initial=state.global_step,
            desc="train",
            unit="step",
            disable=silenced(),
        )
        self.started, self.first_step = time.perf_counter(), state.global_step

    def on_step_end(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        if self.bar is None:
            return
        self.bar.update(state.global_step - self.bar.n)
        running = self.module.running
        seen = running.seen
        elapsed = time.perf_counter() - self.started
        examples = (state.global_step - self.first_step) * self.batch_size
        postfix = {
            "epoch": f"{state.epoch or 0:.2f}",
            "ex/s": f"{examples / max(elapsed, 1e-9):.0f}",
        }
        if seen:
            postfix["loss"] = f"{running.loss / seen:.3f}"
            postfix["acc"] = f"{running.correct / seen:.3f}"
        self.bar.set_postfix(postfix, refresh=False)

    def on_evaluate(
        self, args: Any, state: TrainerState, control: Any, metrics: Any = None, **kwargs: Any
    ) -> None:
        # tqdm.write prints even for a disabled bar: -q prints only results and errors
        if self.bar is not None and not self.bar.disable and metrics and "eval_accuracy" in metrics:
            self.bar.write(
                f"epoch {state.epoch or 0:.2f}  dev loss {metrics['eval_loss']:.4f}  "
                f"dev accuracy {metrics['eval_accuracy']:.4f}  "
                f"dev macro-F1 {metrics['eval_macro_f1']:.4f}"
            )

    def on_train_end(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class InterruptCallback(TrainerCallback):
    """On the first Ctrl-C or SIGTERM, save a checkpoint after the current step and stop.

    A second Ctrl-C falls through to Python's default handler and stops at once, except
    under a launcher: torchrun forwards its own signal after the terminal's, so repeats
    are ignored there (the launcher kills its workers after its own timeout). With
    several processes all stop at the first step that any of them saw a signal.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if launched():
            return
        for sig, handler in self.previous.items():  # the next signal acts immediately
            signal.signal(sig, handler)

    def on_train_begin(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if any_process(self.requested):
            self.requested = control.should_save = control.should_training_stop = True

    def on_epoch_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # a stop inside an epoch ends it early; evaluated per epoch, that partial epoch
        # would be scored (an evaluation, and a candidate best, the run never stopped
        # does not have): only its checkpoint is written
        epoch = float(state.epoch or 0.0)
        if self.requested and abs(epoch - round(epoch)) > 1e-6:
            control.should_evaluate = False

    def on_train_end(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the handlers back; also called when training fails, so a notebook's
        next Ctrl-C is not swallowed by a training that is gone."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


def early_stopping(patience: int, checkpoint: Path | None) -> EarlyStoppingCallback:
    """Early stopping that a resume continues: the count of evaluations without
    improvement comes back from ``checkpoint``, so a resumed run stops where the
    uninterrupted one does. (The Trainer restores callbacks only with
    ``restore_callback_states_from_checkpoint``, which rebuilds every saved callback
    without its arguments, ours included.)"""
    callback = EarlyStoppingCallback(early_stopping_patience=patience)
    if checkpoint is not None:
        for name, value in saved_attributes(checkpoint, type(callback).__name__).items():
            setattr(callback, name, value)
    return callback


def saved_attributes(checkpoint: Path, callback: str) -> dict[str, Any]:
    """The state a stateful callback (by class name) saved with ``checkpoint``; the
    first, where the Trainer saved several of one class."""
    saved = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    stored = saved.stateful_callbacks.get(callback) or {}
    stored = stored[0] if isinstance(stored, list) else stored
    return dict(stored.get("attributes", {}))


class TimeLimitCallback(TrainerCallback):
    """Stop (with a checkpoint) once ``minutes`` of training have passed."""

    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.deadline = 0.0
        self.reached = False

    def on_train_begin(self, args: Any, state: TrainerState, control: Any, **kwargs: Any) -> None:
        self.deadline = time.monotonic() + self.minutes * 60

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if any_process(time.monotonic() >= self.deadline):
            self.reached = control.should_training_stop = control.should_save = True
