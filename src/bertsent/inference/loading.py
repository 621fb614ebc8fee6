"""Loading a saved model to serve or score files: threads, device and backend chosen here."""

from __future__ import annotations

from typing import Any

from bertsent.encoders.engine import cpu_threads
from bertsent.encoders.exports import choose_backend
from bertsent.hardware import usable_device
from bertsent.models import ENCODER_METHODS, load, read_metadata


def load_for_inference(
    model_dir: str, backend: str = "auto", threads: int | None = None, batch_size: int | None = None
) -> Any:
    """Load a saved model to serve: ``threads`` for this machine, a GPU when there is one.

    PyTorch's thread count is process-wide, so only the CLI and the server call this.
    Models that run in ONNX Runtime (and the scikit-learn baselines) never import torch.
    """
    threads = threads or cpu_threads()
    method = read_metadata(model_dir).get("method")
    if method in ENCODER_METHODS and backend == "auto":
        backend = choose_backend(model_dir, usable_device())
    if method in (*ENCODER_METHODS, "lstm") and not backend.startswith("onnx"):
        import torch

        torch.set_num_threads(threads)
        device = usable_device()
        return load(model_dir, backend, threads, device=device, batch_size=batch_size)
    return load(model_dir, backend=backend, threads=threads, batch_size=batch_size)
