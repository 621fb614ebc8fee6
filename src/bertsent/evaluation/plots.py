"""Figures for evaluation results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertsent.atomic import atomic_file


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


def plot_comparison(result: dict[str, Any], path: Path) -> Path:
    """Three panels: accuracy with its 95% interval, behaviour failure rates, throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = result["rows"]
    names = [row["name"] for row in rows]
    positions = np.arange(len(rows))
    colours = ["#d95f02" if row["method"] == "bert" else "#7570b3" for row in rows]
    figure, (accuracy, behaviour, speed) = plt.subplots(
        1, 3, figsize=(15, 0.6 * len(rows) + 2.4), sharey=True
    )

    values = np.array([row["accuracy"] for row in rows])
    intervals = np.array([row["accuracy_ci"] for row in rows])
    errors = np.abs(intervals.T - values)
    accuracy.barh(positions, values, xerr=errors, color=colours, capsize=4)
    for y, value, high in zip(positions, values, intervals[:, 1], strict=True):
        accuracy.text(high + 0.005, y, f"{value:.1%}", va="center", ha="left", fontsize=9)
    accuracy.set_xlim(max(0.0, values.min() - 0.15), min(1.0, intervals[:, 1].max() + 0.06))
    accuracy.set_yticks(positions, names)
    accuracy.invert_yaxis()
    accuracy.set_xlabel("test accuracy (95% bootstrap interval)")

    categories = list(rows[0]["failure_rates"])
    height = 0.8 / max(len(categories), 1)
    for k, category in enumerate(categories):
        rates = [row["failure_rates"][category] for row in rows]
        behaviour.barh(positions - 0.4 + (k + 0.5) * height, rates, height=height, label=category)
    behaviour.set_xlim(0, 1)
    behaviour.set_xlabel("behaviour suite failure rate (lower is better)")
    if categories:
        behaviour.legend(fontsize=8, loc="lower right")
    else:  # aspects, emotions: the suite scores single positive/negative reviews
        behaviour.text(0.5, positions.mean(), "not applicable to this task", ha="center")

    throughput = [row["reviews_per_second"] for row in rows]
    speed.barh(positions, throughput, color=colours)
    speed.set_xscale("log")
    speed.set_xlim(min(throughput) / 4, max(throughput) * 4)
    for y, value in zip(positions, throughput, strict=True):
        speed.text(value * 1.1, y, f"{value:,.0f}/s", va="center", fontsize=9)
    speed.set_xlabel("batch throughput, reviews/s (log scale)")
    figure.suptitle(f"{result['dataset']}: {result['splits']['sizes']['test']} test reviews")
    figure.tight_layout()
    with atomic_file(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return path


def plot_reliability(report: dict[str, Any], path: Path) -> Path:
    """Calibration diagram: accuracy against confidence per bin, bar width by bin share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = report["reliability"]
    figure, axis = plt.subplots(figsize=(5, 4.6))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axis.bar(
        [b["low"] for b in bins],
        [b["accuracy"] for b in bins],
        width=[b["high"] - b["low"] for b in bins],
        align="edge",
        color="#4575b4",
        edgecolor="white",
        alpha=0.85,
        label="accuracy in bin",
    )
    axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="black",
              markersize=3, label="mean confidence")  # fmt: skip
    low = min(0.5, min((b["low"] for b in bins), default=0.5))
    axis.set_xlim(low, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("confidence (top-class probability)")
    axis.set_ylabel("accuracy")
    axis.set_title(f"Calibration: ECE {report['ece']:.3f} (n={report['n']})")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return path
