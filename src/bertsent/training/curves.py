"""The training-dynamics figure: loss and accuracy per evaluation, warmup shaded, best marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_training_dynamics(
    history: list[dict[str, Any]],
    path: Path,
    *,
    warmup_epochs: float,
    best_epoch: float | None,
    averaged_epochs: Sequence[float] = (),
) -> Path:
    """Draw train/validation loss and accuracy against epochs and save a PNG.

    Args:
        history: One record per evaluation with epoch, train/eval loss and accuracy.
        path: Where to write the PNG.
        warmup_epochs: Length of the learning-rate warmup, shaded.
        best_epoch: The selected evaluation, marked with a dashed line.
        averaged_epochs: The evaluations whose weights were averaged into the kept
            model (``--average-last``), shaded instead of the line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = (("loss", "Loss (cross-entropy)"), ("accuracy", "Accuracy"))
    for axis, (key, title) in zip(axes, panels, strict=True):
        train = [h.get(f"train_{key}") for h in history]
        axis.plot(epochs, train, "o-", color="#1f77b4", label="train (running, with dropout)")
        axis.plot(
            epochs,
            [h.get(f"eval_{key}") for h in history],
            "s-",
            color="#d62728",
            label="validation",
        )
        if warmup_epochs > 0:
            axis.axvspan(0, warmup_epochs, color="#bbbbbb", alpha=0.35, label="warmup")
        if averaged_epochs:
            axis.axvspan(
                min(averaged_epochs),
                max(averaged_epochs),
                color="#2ca02c",
                alpha=0.2,
                label=f"kept: weights averaged over epochs {min(averaged_epochs):g}-"
                f"{max(averaged_epochs):g}",
            )
        elif best_epoch is not None:
            axis.axvline(
                best_epoch, color="#2ca02c", linestyle="--", label=f"best (epoch {best_epoch:g})"
            )
        axis.set_xlim(0, max([*epochs, 1.0]) * 1.03)
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize=8)
    figure.suptitle("Training dynamics")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
