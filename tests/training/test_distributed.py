"""Data-parallel training under torchrun: 2 CPU processes (gloo) on the tiny model."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertsent.data.splits import DatasetSplits
from bertsent.distributed import any_process, sum_over_processes
from bertsent.errors import ConfigError
from bertsent.pipeline import checkpoint_dir, train
from bertsent.training.callbacks import InterruptCallback
from bertsent.training.config import TrainingConfig
from bertsent.training.finetune import per_process_batch_size, split_over_data_parallel
from bertsent.training.pretrain import RECORD_FILE
from tests.conftest import synthetic_reviews, write_csv

# No dropout anywhere, fp32, no length grouping: then one process with a batch of 16
# and two processes with 8 each see the same 16 reviews per step and compute the same
# mean gradient; only the order of the floating-point sums differs.
RECIPE = [
    "--epochs", "3", "--batch-size", "16", "--learning-rate", "3e-3", "--max-length", "32",
    "--dropout", "0", "--precision", "fp32", "--no-group-by-length",
]  # fmt: skip


@pytest.fixture(scope="module")
def model_without_dropout(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-no-dropout")
    config = BertConfig.from_pretrained(tiny_model_dir)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(tiny_model_dir, config=config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


def torchrun(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "bertsent", *arguments]  # fmt: skip


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.slow  # ~30 s of process start-up: in `make test` (CI), not the quick loop
def test_two_processes_train_the_same_model_as_one_with_the_same_global_batch(
    model_without_dropout: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    common = ["train", "--data", str(dataset_dir), "--model", str(model_without_dropout), *RECIPE]
    single = subprocess.run(
        [sys.executable, "-m", "bertsent", *common, "--output", str(tmp_path / "one")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    parallel = subprocess.run(
        torchrun(*common, "--output", str(tmp_path / "two")),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert parallel.returncode == 0, parallel.stderr[-3000:]

    # rank 0 alone talks and writes: one result line, one model folder, no leftovers
    assert parallel.stdout.count("model saved to") == 1, parallel.stdout
    assert parallel.stderr.count("precision fp32, batch 16") == 1
    assert "(2 processes x 8 examples)" in parallel.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    one, two = (json.loads((tmp_path / n / "bertsent.json").read_text()) for n in ("one", "two"))
    assert two["training"]["processes"] == 2 and one["training"]["processes"] == 1
    for record in (one, two):
        assert record["training"]["global_batch_size"] == 16
        assert record["training"]["learning_rate"] == 3e-3
        assert record["training"]["steps_per_epoch"] == 10  # 160 reviews / 16 per step

    # The same optimisation: the summed training loss of the two shards equals the
    # single process's at every evaluation, and the weights end within 1% of each other
    # (relative L2 over all tensors: fp32 sums run in another order, and Adam turns a
    # near-zero gradient's rounding into a full-size step for that weight, so single
    # weights may differ by up to the learning rate). Dev accuracy: equal, or one review
    # apart should a borderline review flip.
    histories = [json.loads((tmp_path / n / "training_history.json").read_text())
                 for n in ("one", "two")]  # fmt: skip
    losses = [[entry["train_loss"] for entry in history] for history in histories]
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)
    first, second = weights(tmp_path / "one"), weights(tmp_path / "two")
    difference = sum(float((first[k] - second[k]).pow(2).sum()) for k in first) ** 0.5
    size = sum(float(first[k].pow(2).sum()) for k in first) ** 0.5
    assert difference / size < 1e-2, (difference, size)
    assert abs(one["metrics"]["dev"]["accuracy"] - two["metrics"]["dev"]["accuracy"]) <= 1 / 40


@pytest.mark.slow
def test_sigterm_on_the_launcher_stops_every_rank_with_a_checkpoint_and_resume_finishes(
    model_without_dropout: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "model"
    command = torchrun("train", "--data", str(dataset_dir), "--model", str(model_without_dropout),
                       *RECIPE, "--epochs", "30", "--output", str(output))  # fmt: skip
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = checkpoint_dir(output)
    deadline = time.monotonic() + 120
    while not any(checkpoints.glob("checkpoint-*/trainer_state.json")):
        assert launcher.poll() is None and time.monotonic() < deadline, "no checkpoint came"
        time.sleep(0.2)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode != 0 and not output.exists()
    assert stderr.count("error: training stopped at step") == 1, stderr[-3000:]  # rank 0 only
    stopped_at = int(stderr.split("training stopped at step ")[1].split(";")[0])
    assert (checkpoints / f"checkpoint-{stopped_at}" / "trainer_state.json").is_file()
    assert 10 <= stopped_at < 300

    resumed = subprocess.run(
        torchrun("train", "--data", str(dataset_dir), "--model", str(model_without_dropout),
                 *RECIPE, "--epochs", "30", "--output", str(output), "--resume"),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((output / "training_history.json").read_text())
    assert history[-1]["step"] == 300 and not checkpoints.exists()


@pytest.mark.slow
def test_under_torchrun_every_rank_distils_from_the_teacher_rank_0_trained_and_saved(
    model_without_dropout: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    """--teacher-model: rank 1 reads OUTPUT.teacher only after rank 0 has saved it."""
    output = tmp_path / "student"
    result = subprocess.run(
        torchrun("train", "--data", str(dataset_dir), "--model", str(model_without_dropout),
                 *RECIPE, "--teacher-model", str(model_without_dropout), "--encoder-layers",
                 "1", "--teacher-cache", "", "--output", str(output)),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("model saved to") == 1, result.stdout  # rank 0's student
    teacher = json.loads((tmp_path / "student.teacher" / "bertsent.json").read_text())
    student = json.loads((output / "bertsent.json").read_text())
    assert teacher["training"]["processes"] == student["training"]["processes"] == 2
    assert student["training_config"]["teacher"] == str(tmp_path / "student.teacher")


@pytest.mark.slow
def test_under_torchrun_pretraining_shares_the_batch_and_reports_once(
    model_without_dropout: Path, tmp_path: Path
) -> None:
    texts, _ = synthetic_reviews(200, seed=7)
    unlabelled = write_csv(tmp_path / "unsup.csv", [{"text": text} for text in texts])
    output = tmp_path / "tapt"
    result = subprocess.run(
        torchrun("pretrain", "--data", str(unlabelled), "--model", str(model_without_dropout),
                 "--epochs", "1", "--batch-size", "16", "--max-length", "32",
                 "--output", str(output)),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # 195 texts / 16 a step (8 on each process), not / 32; one result line, one folder
    assert result.stdout.count("pre-trained 13 steps") == 1, result.stdout
    assert result.stdout.count("model saved to") == 1
    record = json.loads((output / RECORD_FILE).read_text())
    assert record["steps"] == record["planned_steps"] == 13
    assert record["processes"] == 2 and record["global_batch_size"] == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tapt", "unsup.csv"]


def test_the_global_batch_must_divide_among_the_processes() -> None:
    assert per_process_batch_size(32, 4) == 8
    with pytest.raises(ConfigError, match="global batch and does not divide among 3"):
        per_process_batch_size(32, 3)


def test_a_batch_that_does_not_divide_among_the_processes_is_refused_before_any_file(
    tiny_model_dir: Path,
    synthetic_splits: DatasetSplits,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")  # as torchrun --nproc-per-node 3 sets it
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32)
    with pytest.raises(ConfigError, match="does not divide among 3 processes"):
        train(synthetic_splits, config, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # no checkpoints folder with a recipe in it


@pytest.mark.usefixtures("two_gpus_in_one_process")
def test_several_gpus_in_one_process_share_the_recipes_batch(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    arguments = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=32)
    split_over_data_parallel(arguments)
    assert arguments.per_device_train_batch_size == 16
    assert arguments.train_batch_size == 32  # what the Trainer's data loader takes
    odd = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=33)
    with pytest.raises(ConfigError, match="does not divide among 2 GPUs of this process"):
        split_over_data_parallel(odd)


@pytest.mark.usefixtures("two_gpus_in_one_process")
def test_fine_tuning_over_data_parallel_steps_through_the_data_at_the_recipes_batch(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32)
    train(synthetic_splits, config, tmp_path / "model")
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    # 16 reviews a step, not 16 on each of the 2 GPUs
    expected = math.ceil(len(synthetic_splits.train.texts) / 16)
    assert metadata["training"]["steps_per_epoch"] == expected


def test_without_a_process_group_the_collectives_are_the_local_values() -> None:
    assert any_process(True) and not any_process(False)
    assert sum_over_processes([1.5, 2.0]) == [1.5, 2.0]


@pytest.mark.parametrize("joined_by", ["the command", "its caller"])
def test_a_command_leaves_the_process_group_it_joined_before_the_interpreter_exits(
    joined_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left to the interpreter's exit, gloo's threads once aborted a rank that had finished
    (SIGABRT, torchrun failed): a command leaves the group it joined, not its caller's."""
    import torch.distributed as dist

    from bertsent.cli import device, main

    def join_and_succeed(args: object) -> int:
        if not dist.is_initialized():  # as the Trainer joins the launcher's group
            dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        return 0

    monkeypatch.setattr(device, "run", join_and_succeed)
    if joined_by == "its caller":
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        assert main(["device"]) == 0
        assert dist.is_initialized() == (joined_by == "its caller")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_under_a_launcher_a_repeated_signal_does_not_kill_before_the_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torchrun forwards its own SIGINT after the terminal's: the second must not count
    as the user's "stop now"."""
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    before = signal.getsignal(signal.SIGINT)
    callback = InterruptCallback()
    callback.on_train_begin(None, None, None)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # without the launcher: KeyboardInterrupt
        assert callback.requested
    finally:
        callback.on_train_end(None, None, None)
    assert signal.getsignal(signal.SIGINT) is before
