"""What the machine offers: the device, and whether bf16 runs fast on it."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has AMX tiles or AVX-512 BF16; elsewhere bf16 is emulated and slow.

    Measured on an AVX2-only AMD EPYC: bf16 autocast trained 20x slower than fp32.
    """
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(amx or avx512_bf16)


def resolve_precision(requested: str) -> str:
    """Turn ``auto`` into ``bf16`` or ``fp32`` for this machine; warn on a slow explicit bf16."""
    fast = torch.cuda.is_bf16_supported() if device_name() == "cuda" else cpu_has_fast_bf16()
    if requested == "auto":
        return "bf16" if fast else "fp32"
    if requested == "bf16" and not fast:
        logger.warning(
            "bf16 requested, but this %s has no fast bf16 units: expect it to be slow",
            device_name(),
        )
    return requested


def describe() -> dict[str, object]:
    """A short description of the compute used, for metadata and benchmark results."""
    info: dict[str, object] = {"device": device_name(), "torch_threads": torch.get_num_threads()}
    if device_name() == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    else:
        info["cpu_fast_bf16"] = cpu_has_fast_bf16()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info
