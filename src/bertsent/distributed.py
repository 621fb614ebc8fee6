"""Data-parallel runs started by a launcher (``torchrun``, ``accelerate launch``, Slurm).

The launcher starts one process per device and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); the Trainer reads the same
variables to join the process group and shard the batches. Our part is that every
process runs the same command, only rank 0 writes files and talks to the terminal, and
a decision taken on one rank (stop on Ctrl-C, stop at a time limit) is taken on all at
the same step, or the others would wait forever in the next gradient all-reduce.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)


def world_size() -> int:
    """How many processes train together (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's place among them (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0: the one process that writes the model, files and terminal output."""
    return rank() == 0


def launched() -> bool:
    """Started by a launcher that forwards signals to every process (torchrun sets
    ``TORCHELASTIC_RUN_ID``, every launcher sets ``WORLD_SIZE``)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or world_size() > 1


def any_process(flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any rank (one tiny all-reduce)."""
    return _all_reduce([1.0 if flag else 0.0], "max")[0] > 0


def sum_over_processes(values: list[float]) -> list[float]:
    """Each value summed over the ranks (the values themselves without a process group)."""
    return _all_reduce(values, "sum")


def wait_for_main_process() -> None:
    """Return on every rank once each has come here: after rank 0 has written a file
    the others read next (nothing to wait for without a process group)."""
    _all_reduce([0.0], "sum")


def in_process_group() -> bool:
    """Whether this process has joined a process group (torch is not imported to ask)."""
    if "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def leave_process_group() -> None:
    """Destroy this process's process group once every rank has finished the command.

    Left to the interpreter's exit, gloo's worker threads can be torn down while still
    joinable, and a rank that finished its work aborts ("terminate called without an
    active exception", SIGABRT), so the launcher reports a failed run. A failure to
    leave is logged, not raised: the command's work is done.
    """
    import torch.distributed as dist

    try:
        dist.destroy_process_group()
    except Exception as error:
        logger.debug("leaving the process group failed: %s", error)


def _all_reduce(values: list[float], operation: str) -> list[float]:
    import torch
    import torch.distributed as dist

    if not in_process_group() or dist.get_world_size() == 1:
        return list(values)
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if operation == "max" else dist.ReduceOp.SUM)
    return [float(value) for value in tensor.tolist()]
