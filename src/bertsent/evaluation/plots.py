"""Figures for evaluation results."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_confusion_matrix(
    report: dict[str, Any], path: Path, title: str = "Confusion matrix"
) -> Path:
    """Heatmap of the confusion matrix (rows gold, columns predicted) with counts and row %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.array(report["confusion_matrix"])
    labels = report["labels"]
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    size = 2.2 + 0.9 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            share = matrix[i, j] / rows[i, 0]
            axis.text(
                j,
                i,
                f"{matrix[i, j]}\n{share:.0%}",
                ha="center",
                va="center",
                color="white" if share > 0.5 else "black",
                fontsize=9,
            )
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    axis.set_title(f"{title}\naccuracy {report['accuracy']:.1%} (n={report['n']})")
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of gold row")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
