"""What the machine offers, and the precision and batch size that run well on it.

Three kinds of hardware behave differently and each has a test that forces its branch:

- a CPU without bf16 units (AVX2 only): bf16 is emulated and trains ~20x slower, so fp32;
- a CPU with AVX-512 BF16 or AMX: bf16 autocast is the fast path (129 vs 35 GFLOP/s
  measured on an EPYC Zen 4); the Trainer needs ``use_cpu`` to allow bf16 there;
- a CUDA GPU: bf16 where the card supports it (Ampere and later), else fp16 with loss
  scaling.

``BERTSENT_DEVICE`` (``cpu`` or ``cuda``) and ``BERTSENT_FAST_BF16`` (``0`` or ``1``)
override detection, for users who know better and for tests of the other branches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bertsent.errors import ConfigError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("cpu", "cuda")  # what BERTSENT_DEVICE may force


# CUDA, ROCm, WSL2 (its GPU is /dev/dxg alone), Jetson
GPU_DRIVER_FILES = (
    "/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg",
    "/dev/nvhost-ctrl-gpu",
)  # fmt: skip


def device_name() -> str:
    """``cuda`` where a GPU is usable (or forced with BERTSENT_DEVICE), else ``cpu``.

    Without a GPU driver on the machine the answer is ``cpu`` without importing torch
    (a second at start-up, which scoring with ONNX Runtime does not otherwise need).
    """
    forced = _forced("BERTSENT_DEVICE", DEVICES)
    if forced is not None:
        return forced
    if not any(os.path.exists(path) for path in GPU_DRIVER_FILES):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def usable_device() -> str:
    """:func:`device_name`, checked: a forced ``cuda`` that torch cannot use is refused
    here rather than failing deep inside torch ("Torch not compiled with CUDA enabled").

    Raises:
        ConfigError: BERTSENT_DEVICE=cuda where torch sees no usable GPU.
    """
    device = device_name()
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"BERTSENT_DEVICE=cuda, but torch cannot use a GPU here ({build})",
                hint="unset BERTSENT_DEVICE to detect the hardware, or install the CUDA build "
                "of torch (make setup TORCH=cuda)",
            )
    return device


def _forced(variable: str, allowed: tuple[str, ...]) -> str | None:
    """The value of an override variable when set; a value it cannot mean is refused
    (a typo would otherwise be ignored without a word).

    Raises:
        ConfigError: naming the variable and the values it takes.
    """
    value = os.environ.get(variable, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise ConfigError(
            f"{variable}={value!r} is not one of {', '.join(allowed)}",
            hint=f"unset {variable} to detect the hardware",
        )
    return value


def _forced_bf16() -> bool | None:
    """BERTSENT_FAST_BF16=0|1 when set, which overrides the detection of bf16 units."""
    forced = _forced("BERTSENT_FAST_BF16", ("0", "1"))
    return None if forced is None else forced == "1"


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has AMX tiles or AVX-512 BF16; elsewhere bf16 is emulated and slow.

    Measured on an AVX2-only AMD EPYC: bf16 autocast trained 20x slower than fp32.
    """
    forced = _forced_bf16()
    if forced is not None:
        return forced
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(amx or avx512_bf16)


def gpu_has_bf16() -> bool:
    """Whether the CUDA card computes in bf16 natively (compute capability 8.0 and later)."""
    forced = _forced_bf16()
    if forced is not None:
        return forced
    import torch

    return bool(
        torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    )


def resolve_precision(requested: str, device: str | None = None) -> str:
    """Turn ``auto`` into ``fp32``, ``bf16`` or ``fp16`` for ``device``; check explicit choices.

    Raises:
        ConfigError: an unknown precision, or fp16 on a CPU (no fp16 training path there).
    """
    device = device or device_name()
    if requested not in PRECISIONS:
        raise ConfigError(f"precision {requested!r} is unknown: use {' | '.join(PRECISIONS)}")
    if device == "cuda":
        fast_bf16 = gpu_has_bf16()
        if requested == "auto":
            return "bf16" if fast_bf16 else "fp16"
        if requested == "bf16" and not fast_bf16:  # as on a CPU: said, not silent
            logger.warning(
                "bf16 requested, but this GPU has no bf16 units (compute capability 8.0 and "
                "later do): expect it to be slow; --precision fp16 is its fast one"
            )
        return requested
    fast_bf16 = cpu_has_fast_bf16()
    if requested == "fp16":
        raise ConfigError(
            "precision fp16 needs a CUDA GPU; this run is on the CPU",
            hint="use --precision bf16 (fast on CPUs with AVX-512 BF16 or AMX) or fp32",
        )
    if requested == "auto":
        return "bf16" if fast_bf16 else "fp32"
    if requested == "bf16" and not fast_bf16:
        logger.warning("bf16 requested, but this CPU has no bf16 units: expect it to be slow")
    return requested


def trainer_precision_arguments(precision: str, device: str) -> dict[str, Any]:
    """The ``TrainingArguments`` that give ``precision`` on ``device``.

    On a CPU the Trainer only allows bf16 autocast when told it runs on the CPU.
    fp16 goes with the Trainer's loss scaling (``GradScaler``), which it turns on itself.
    ``tf32`` is left unset: under half-precision autocast it would speed up little, the
    Trainer refuses it on the pre-Ampere GPUs that fp16 is for, and it would stay on for
    the rest of the process, so fp32 work after training would no longer be fp32.
    """
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "use_cpu": device == "cpu"}


@contextmanager
def attention_without_cudnn(device: str) -> Iterator[None]:
    """On a GPU, keep PyTorch's attention kernels off cuDNN while the block runs.

    Given half-precision inputs and a padding mask, torch 2.11 tries cuDNN attention
    first, and cuDNN builds an execution plan for each new (batch, padded length): on an
    H200 bertsent's first ~50 bf16 steps ran at 2-8 steps/s against ~40 after, and bf16
    scoring ran at half fp32's speed, while the fp32 plain Trainer had no such start
    (README, "On one NVIDIA H200"; modelscope/FunASR#3704 measured 0.44 + 0.55 s a new
    shape). Flash and memory-efficient attention need no plan. Elsewhere, nothing changes.
    PyTorch keeps these switches process-wide, not per thread, so DataParallel's threads
    see them too; no other thread does GPU work while the block runs (the server has one
    model thread, and its explanations run on a CPU copy, outside this block).
    """
    if device != "cuda":
        yield
        return
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    allowed = {  # what the user left on, cuDNN aside; the math kernel always works
        SDPBackend.FLASH_ATTENTION: torch.backends.cuda.flash_sdp_enabled(),
        SDPBackend.EFFICIENT_ATTENTION: torch.backends.cuda.mem_efficient_sdp_enabled(),
        SDPBackend.MATH: True,
    }
    with sdpa_kernel([backend for backend, on in allowed.items() if on]):
        yield


def scaled_learning_rate(learning_rate: float, batch_size: int, reference_batch: int) -> float:
    """The square-root scaling rule for Adam-type optimisers: lr * sqrt(batch / reference).

    >>> round(scaled_learning_rate(5e-5, 128, reference_batch=32), 7)
    0.0001
    """
    return learning_rate * (batch_size / reference_batch) ** 0.5


# the vector extensions that decide speed: x86's AVX2, AVX-512 (VNNI, BF16), AMX; Arm's
# SVE, BF16, INT8 matrix multiply and dot product (Graviton2 and 3 differ in these)
SPEED_FLAGS = ("avx2", "avx512", "amx", "avx_vnni", "sve", "bf16", "i8mm", "asimddp")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The CPU's vector-extension flags that decide speed here (see ``SPEED_FLAGS``):
    x86 lists them as ``flags``, Arm as ``Features``."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            line = next((row for row in handle if row.startswith(("flags", "Features"))), "")
    except OSError:  # not Linux
        return []
    listed = line.partition(":")[2].split()
    return sorted({flag for flag in listed if flag.startswith(SPEED_FLAGS)})


def describe() -> dict[str, object]:
    """A short description of the compute used, for metadata and benchmark results."""
    import torch

    device = usable_device()
    info: dict[str, object] = {"device": device, "torch_threads": torch.get_num_threads()}
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["gpu_bf16"] = gpu_has_bf16()
    else:
        info["cpu_fast_bf16"] = cpu_has_fast_bf16()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cpu_flags"] = cpu_flags()
    return info


def summary_line() -> str:
    """One line for the start of training, so nobody trains on the CPU by mistake."""
    import torch

    info = describe()
    forced_device = _forced("BERTSENT_DEVICE", DEVICES) is not None
    forced_bf16 = " (forced by BERTSENT_FAST_BF16)" if _forced_bf16() is not None else ""
    if info["device"] == "cuda":
        forced = "; forced by BERTSENT_DEVICE" if forced_device else ""
        bf16 = "bf16" if info["gpu_bf16"] else "no bf16"
        return (
            f"device: GPU {info.get('gpu', 'cuda')} (CUDA {info.get('cuda')}; "
            f"{bf16}{forced_bf16}{forced})"
        )
    if forced_device:
        build = "forced by BERTSENT_DEVICE"
    else:
        build = "CPU-only build of torch" if torch.version.cuda is None else "no usable GPU found"
    bf16 = "with bf16 units" if info["cpu_fast_bf16"] else "no bf16 units"
    return (
        f"device: CPU ({info['cpu_capability']}, {bf16}{forced_bf16}, "
        f"{info['torch_threads']} threads; {build})"
    )
