"""Precision and batch size on every kind of hardware, each branch forced on any machine.

CI runs on whatever CPU it gets; the bf16 and CUDA branches are exercised here by
forcing detection (BERTSENT_FAST_BF16, BERTSENT_DEVICE), so an AVX2 machine catches
what only an AVX-512-BF16, AMX or GPU machine would otherwise run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from bertsent.data import DatasetSplits
from bertsent.encoders.heads import ClsLinearClassifier, check_export, export_to_transformers
from bertsent.errors import ConfigError, ModelError
from bertsent.hardware import (
    attention_without_cudnn,
    cpu_has_fast_bf16,
    device_name,
    resolve_precision,
    summary_line,
    trainer_precision_arguments,
    usable_device,
)
from bertsent.pipeline import train
from bertsent.training import finetune
from bertsent.training.config import TrainingConfig
from tests.conftest import tiny_classifier


@pytest.mark.parametrize(
    ("device", "fast_bf16", "expected"),
    [("cpu", "0", "fp32"), ("cpu", "1", "bf16"), ("cuda", "1", "bf16"), ("cuda", "0", "fp16")],
)
def test_auto_precision_follows_the_hardware(
    monkeypatch: pytest.MonkeyPatch, device: str, fast_bf16: str, expected: str
) -> None:
    monkeypatch.setenv("BERTSENT_FAST_BF16", fast_bf16)
    assert resolve_precision("auto", device) == expected
    assert resolve_precision("fp32", device) == "fp32"  # an explicit choice is kept


def test_detection_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSENT_FAST_BF16", "1")
    monkeypatch.setenv("BERTSENT_DEVICE", "cuda")
    assert cpu_has_fast_bf16() and device_name() == "cuda"
    monkeypatch.setenv("BERTSENT_FAST_BF16", "0")
    monkeypatch.setenv("BERTSENT_DEVICE", "cpu")
    assert not cpu_has_fast_bf16() and device_name() == "cpu"


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "fast"),
    [(False, False, False), (True, False, True), (False, True, True)],
)
def test_unforced_detection_reads_the_cpus_units(
    monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool, fast: bool
) -> None:
    """What torch says of the CPU decides, not a forced setting: AVX2 alone trains in
    fp32 (bf16 is emulated there, 20x slower), AMX or AVX-512 BF16 in bf16."""
    monkeypatch.delenv("BERTSENT_FAST_BF16", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert cpu_has_fast_bf16() is fast
    assert resolve_precision("auto", "cpu") == ("bf16" if fast else "fp32")


def test_cpu_flags_are_read_on_x86_and_arm(tmp_path: Path) -> None:
    """Arm lists its flags as Features: every Graviton had the same empty key, and one
    machine's measured speeds chose another's backend."""
    from bertsent.hardware import cpu_flags

    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp sve sve2 bf16 i8mm\n")
    assert cpu_flags(str(x86)) == ["amx_tile", "avx2", "avx512_bf16", "avx512f"]
    assert cpu_flags(str(arm)) == ["asimddp", "bf16", "i8mm", "sve", "sve2"]
    assert cpu_flags(str(tmp_path / "missing")) == []


@pytest.mark.parametrize(("variable", "value"), [("BERTSENT_DEVICE", "gpu"),
                                                   ("BERTSENT_FAST_BF16", "yes")])  # fmt: skip
def test_an_override_it_cannot_mean_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}='{value}' is not one of"):
        device_name() if variable == "BERTSENT_DEVICE" else cpu_has_fast_bf16()


def test_forced_settings_are_said_to_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSENT_DEVICE", "cpu")
    monkeypatch.setenv("BERTSENT_FAST_BF16", "1")
    line = summary_line()
    assert "forced by BERTSENT_DEVICE" in line
    assert "with bf16 units (forced by BERTSENT_FAST_BF16)" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is usable here")
def test_forced_cuda_that_torch_cannot_use_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BERTSENT_DEVICE", "cuda")
    assert device_name() == "cuda"  # what the precision tests force
    with pytest.raises(ConfigError, match="BERTSENT_DEVICE=cuda, but torch cannot use a GPU"):
        usable_device()


def test_bf16_asked_of_hardware_without_bf16_units_is_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BERTSENT_FAST_BF16", "0")  # a T4 or V100; an AVX2 CPU
    for device in ("cuda", "cpu"):
        caplog.clear()
        assert resolve_precision("bf16", device) == "bf16"
        assert "has no bf16 units" in caplog.text, device


def test_fp16_is_refused_on_a_cpu() -> None:
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")


@pytest.mark.parametrize(
    ("precision", "device", "expected"),
    [
        ("bf16", "cpu", {"bf16": True, "fp16": False, "use_cpu": True}),
        ("fp32", "cpu", {"bf16": False, "fp16": False, "use_cpu": True}),
        ("bf16", "cuda", {"bf16": True, "fp16": False, "use_cpu": False}),
        ("fp16", "cuda", {"bf16": False, "fp16": True, "use_cpu": False}),  # no tf32: pre-Ampere
        ("fp32", "cuda", {"bf16": False, "fp16": False, "use_cpu": False}),
    ],
)
def test_trainer_arguments_for_each_precision(
    precision: str, device: str, expected: dict[str, bool]
) -> None:
    arguments = trainer_precision_arguments(precision, device)
    assert arguments == expected
    if device == "cpu":  # the Trainer itself accepts them here (CUDA ones need a GPU)
        transformers.TrainingArguments(output_dir="unused", report_to="none", **arguments)


def test_an_unset_batch_size_is_32_and_an_unset_learning_rate_follows_the_batch() -> None:
    default = TrainingConfig().resolved()
    assert (default.batch_size, default.learning_rate) == (32, 5e-5)  # on a GPU as well
    wide = TrainingConfig(batch_size=128).resolved()
    assert wide.learning_rate == pytest.approx(1e-4)  # sqrt(128 / 32) x 5e-5
    chosen = TrainingConfig(batch_size=64, learning_rate=2e-5).resolved()
    assert (chosen.batch_size, chosen.learning_rate) == (64, 2e-5)


def _trained_looking_module() -> ClsLinearClassifier:
    module = tiny_classifier()
    torch.nn.init.normal_(module.head.weight, std=2.0)  # not the small Xavier init
    return module


def test_export_check_ignores_the_autocast_of_training() -> None:
    """Accelerate leaves bf16 autocast around a trained module's forward; check in fp32."""
    module = _trained_looking_module()
    native = export_to_transformers(module, ["a", "b"])
    input_ids = torch.randint(5, 100, (3, 10))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert check_export(module, native, input_ids) < 1e-4


def test_export_check_still_refuses_a_different_function() -> None:
    module = _trained_looking_module()
    native = export_to_transformers(module, ["a", "b"])
    with torch.no_grad():
        native.classifier.bias += 0.5
    with pytest.raises(ModelError, match="disagrees"):
        check_export(module, native, torch.randint(5, 100, (3, 10)))


@pytest.mark.parametrize("precision", ["auto", "bf16"])
def test_bf16_training_runs_and_saves_on_any_cpu(
    tiny_model_dir: Path,
    synthetic_splits: DatasetSplits,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    precision: str,
) -> None:
    """What an AVX-512-BF16 or AMX CPU runs by default: bf16 autocast through the Trainer."""
    entered: list[str] = []

    @contextmanager
    def recording(device: str) -> Iterator[None]:  # the attention choice, device by device
        entered.append(device)
        with attention_without_cudnn(device):
            yield

    monkeypatch.setattr(finetune, "attention_without_cudnn", recording)
    monkeypatch.setenv("BERTSENT_FAST_BF16", "1")
    monkeypatch.setenv("BERTSENT_DEVICE", "cpu")
    config = TrainingConfig(
        model=str(tiny_model_dir),
        epochs=5,
        batch_size=16,
        learning_rate=3e-3,
        max_length=32,
        precision=precision,
    )
    from transformers import TrainerCallback

    class TrainerSettings(TrainerCallback):  # what the Trainer ran with, not what we saved
        def __init__(self) -> None:
            self.seen: dict[str, bool] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seen.update(bf16=args.bf16, use_cpu=args.use_cpu)

    settings = TrainerSettings()
    run = train(synthetic_splits, config, tmp_path / "model", callbacks=[settings])
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert metadata["training"]["precision"] == "bf16"
    assert settings.seen == {"bf16": True, "use_cpu": True}
    assert metadata["training_config"]["batch_size"] == 16
    assert entered == ["cpu"]
    assert run.dev_report["accuracy"] > 0.8  # it learned, in bf16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
def test_training_on_a_gpu_uses_it(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    # batch 32 gives 5 steps an epoch here: 10 epochs to learn the synthetic labels
    config = TrainingConfig(model=str(tiny_model_dir), epochs=10, max_length=32, learning_rate=3e-3)
    run = train(synthetic_splits, config, tmp_path / "model")
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert metadata["training"]["hardware"]["device"] == "cuda"
    assert metadata["training"]["precision"] in ("bf16", "fp16")
    assert metadata["training_config"]["batch_size"] == 32  # the CPU's recipe
    assert run.dev_report["accuracy"] > 0.8


def test_attention_stays_off_cudnn_on_a_gpu_and_only_inside_the_block() -> None:
    was = torch.backends.cuda.cudnn_sdp_enabled()
    with attention_without_cudnn("cuda"):  # sets PyTorch's kernel choice: runs on any machine
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == was
    with attention_without_cudnn("cpu"):
        assert torch.backends.cuda.cudnn_sdp_enabled() == was
