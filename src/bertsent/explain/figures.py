"""Figures for the explainers: attention heatmaps, attribution bars and embedding maps.

Every figure is written atomically; the suffix of the path (.png or .svg) picks the format.
The interactive embedding map is a plain SVG with a <title> per point, so hovering shows
the review in any browser without scripts or network access.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import atomic_file, write_text_atomic
from bertsent.explain.attention import AttentionMaps
from bertsent.explain.attributions import Attribution
from bertsent.explain.embedding_map import STAGES, EmbeddingMap

STAGE_TITLES = {"before": "pre-trained encoder", "after": "after fine-tuning"}
KIND_MARKERS = {"review": "o", "sarcasm": "^", "negation": "D"}
SVG_SHAPES = {"review": "circle", "sarcasm": "triangle", "negation": "diamond"}
TOWARD, AGAINST = "#1a9850", "#d73027"


def _plain(text: str) -> str:
    """A review's text as matplotlib draws it literally: two '$' would start math mode
    ("it cost $250,000 ... $45") and fail to parse, or garble the text."""
    return text.replace("$", r"\$")


def _shorten(text: str, limit: int = 90) -> str:
    return _plain(text if len(text) <= limit else text[: limit - 1] + "…")


def _save(figure: Any, path: Path, *, overwrite: bool = True) -> Path:
    """Save ``figure`` at ``path`` in one step; ``overwrite`` as in :func:`atomic_file`."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, overwrite=overwrite) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=100)
    plt.close(figure)
    return path


def _tick_size(words: list[str]) -> float:
    return 8.0 if len(words) <= 24 else 6.0


def _heatmap(axis: Any, matrix: np.ndarray, words: list[str], title: str) -> None:
    axis.imshow(matrix, cmap="Blues", vmin=0, vmax=max(float(matrix.max()), 1e-9))
    axis.set_xticks(range(len(words)), words, rotation=60, ha="right", fontsize=_tick_size(words))
    axis.set_yticks(range(len(words)), words, fontsize=_tick_size(words))
    axis.set_xlabel("attends to")
    axis.set_title(title, fontsize=10)


def plot_attention(
    maps: AttentionMaps, path: Path, layer: int = -1, head: int = 0, *, overwrite: bool = True
) -> Path:
    """One head, the mean over heads of a layer, the rollout, and the [CLS] rollout row.

    ``overwrite=False`` refuses a file at ``path`` (as all the figures here do).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers, heads = maps.heads.shape[:2]
    layer = layer % layers
    words = [_plain(word) for word in maps.words]
    # panels grow with the review but stay bounded: pixels cost rendering time
    size = min(7.0, max(3.5, 0.22 * len(words) + 2.0))
    figure, grid = plt.subplots(2, 2, figsize=(2 * size, 2 * size + 0.6))
    axes = grid.ravel()
    _heatmap(axes[0], maps.heads[layer, head], words, f"layer {layer + 1}, head {head + 1}")
    _heatmap(axes[1], maps.layer_mean(layer), words, f"layer {layer + 1}, mean of {heads} heads")
    _heatmap(axes[2], maps.rollout, words, f"rollout over {layers} layers")
    cls_row = maps.cls_rollout()
    axes[3].barh(range(len(words)), cls_row, color="#4575b4")
    axes[3].set_yticks(range(len(words)), words, fontsize=_tick_size(words))
    axes[3].invert_yaxis()
    axes[3].set_title("[CLS] row of the rollout", fontsize=10)
    axes[3].set_xlabel("share of attention")
    figure.suptitle(f'Attention: "{_shorten(maps.encoded.text)}"', fontsize=11)
    figure.tight_layout()
    return _save(figure, path, overwrite=overwrite)


def plot_attributions(attribution: Attribution, path: Path, *, overwrite: bool = True) -> Path:
    """Signed integrated-gradients bars per word, with the faithfulness numbers underneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = [_plain(word) for word in attribution.words]
    scores = attribution.scores
    figure, axis = plt.subplots(figsize=(7, 0.32 * len(words) + 2.2))
    axis.barh(range(len(words)), scores, color=[TOWARD if s >= 0 else AGAINST for s in scores])
    axis.set_yticks(range(len(words)), words, fontsize=9)
    axis.invert_yaxis()
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel(f"contribution to p({attribution.label}); green pushes toward it")
    axis.set_title(
        f'"{_shorten(attribution.encoded.text)}"\n{attribution.label} '
        f"p={attribution.probability:.3f}, baseline p={attribution.baseline_probability:.3f}, "
        f"IG delta {attribution.delta:.1e}",
        fontsize=9,
    )
    if attribution.faithfulness:
        figure.text(0.01, 0.01, faithfulness_line(attribution.faithfulness), fontsize=8)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(figure, path, overwrite=overwrite)


def faithfulness_line(result: dict[str, Any]) -> str:
    """'deleting the top 2 of 6 words: IG -0.41, attention -0.12, random -0.08'."""
    parts = [
        f"{name} {values['drop']:+.3f}"
        for name, values in result.items()
        if isinstance(values, dict) and "drop" in values
    ]
    return f"probability drop after deleting the top {result['k']} of {result['words']} words: " + (
        ", ".join(parts)
    )


def class_colours(classes: list[str]) -> dict[str, str]:
    """A distinct colour per class: tab10's, tab20's up to 20 classes, beyond that (a
    multi-label map's label sets) evenly spaced hues. tab10 gave classes 10+ the tenth
    colour, and the SVG's six colours repeated from the seventh class."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if len(classes) <= 10:
        return {label: to_hex(colormaps["tab10"](i)) for i, label in enumerate(classes)}
    if len(classes) <= 20:
        return {label: to_hex(colormaps["tab20"](i)) for i, label in enumerate(classes)}
    hues = colormaps["hsv"]
    return {label: to_hex(hues(i / len(classes))) for i, label in enumerate(classes)}


def plot_embedding_map(result: EmbeddingMap, path: Path, *, overwrite: bool = True) -> Path:
    """t-SNE (top) and PCA (bottom), before (left) and after (right) fine-tuning."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted(set(result.gold))
    colours = class_colours(classes)
    kinds = np.array(result.kinds)
    wrong = np.array(result.gold) != np.array(result.predicted)
    figure, axes = plt.subplots(2, 2, figsize=(12, 11))
    for column, stage in enumerate(STAGES):
        values = result.stages[stage]
        for row, projection in enumerate(("tsne", "pca")):
            axis = axes[row, column]
            points = values[projection]
            for kind, marker in KIND_MARKERS.items():
                for label in classes:
                    rows = (kinds == kind) & (np.array(result.gold) == label)
                    if not rows.any():
                        continue
                    axis.scatter(
                        *points[rows].T,
                        s=8 if kind == "review" else 30,
                        marker=marker,
                        color=colours[label],
                        alpha=0.5 if kind == "review" else 0.95,
                        edgecolors="none" if kind == "review" else "black",
                        linewidths=0.5,
                        label=label if kind == "review" else f"{kind} ({label})",
                    )
            axis.scatter(*points[wrong & (kinds == "review")].T, s=14, marker="x", color="black",
                         linewidths=0.6, label="misclassified (fine-tuned model)")  # fmt: skip
            axis.set_title(
                f"{STAGE_TITLES[stage]} ({projection.upper()}): silhouette "
                f"{values['silhouette']:.3f}, linear probe {values['probe_accuracy']:.1%}",
                fontsize=10,
            )
            axis.set_xticks([])
            axis.set_yticks([])
    axes[0, 1].legend(loc="best", fontsize=8, markerscale=1.5)
    cases = int((kinds != "review").sum())
    figure.suptitle(
        f"[CLS] vectors of {int((kinds == 'review').sum())} {result.split} reviews"
        + (f" and {cases} behaviour-suite cases" if cases else ""),
        fontsize=12,
    )
    figure.tight_layout()
    return _save(figure, path, overwrite=overwrite)


def _svg_marker(kind: str, x: float, y: float, colour: str, title: str, wrong: bool) -> str:
    stroke = ' stroke="black" stroke-width="1.2"' if wrong or kind != "review" else ""
    label = f"<title>{html.escape(title)}</title>"
    if kind == "review":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"{stroke}>{label}</circle>'
    if kind == "sarcasm":
        shape = f"{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
    else:
        shape = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"
    return f'<polygon points="{shape}" fill="{colour}"{stroke}>{label}</polygon>'


def embedding_map_svg(result: EmbeddingMap, stage: str, projection: str = "tsne") -> str:
    """An SVG scatter whose points show their review, gold and predicted label on hover."""
    classes = sorted(set(result.gold))
    colours = class_colours(classes)
    points = np.asarray(result.stages[stage][projection], dtype=float)
    width, height, margin = 520, 460, 12
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    scaled = margin + (points - low) / span * [width - 2 * margin, height - 2 * margin]
    order = sorted(range(len(points)), key=lambda i: result.kinds[i] != "review")  # cases on top
    shapes = [
        _svg_marker(
            result.kinds[i],
            float(scaled[i, 0]),
            float(height - scaled[i, 1]),
            colours[result.gold[i]],
            f"{result.texts[i]}\ngold {result.gold[i]}, predicted {result.predicted[i]}"
            + ("" if result.kinds[i] == "review" else f" ({result.kinds[i]} case)"),
            result.gold[i] != result.predicted[i],
        )
        for i in order
    ]
    legend = " ".join(
        f'<span style="color:{colours[label]}">&#9679; {html.escape(label)}</span>'
        for label in classes
    )
    values = result.stages[stage]
    return (
        f'<figure class="embedding-map"><figcaption>{STAGE_TITLES[stage]} '
        f"({projection.upper()}): silhouette {values['silhouette']:.3f}, linear probe "
        f"{values['probe_accuracy']:.1%}<br>{legend} &#9650; sarcasm &#9670; negation "
        f"(black outline: misclassified)</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
        f'<rect width="{width}" height="{height}" fill="white" stroke="#ccc"/>'
        + "".join(shapes)
        + "</svg></figure>"
    )


def write_embedding_map_html(result: EmbeddingMap, path: Path, *, overwrite: bool = True) -> Path:
    """A standalone page with the before/after t-SNE maps side by side."""
    maps = "".join(embedding_map_svg(result, stage) for stage in STAGES)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>bertsent embedding map</title><style>body{font-family:sans-serif}"
        ".maps{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}</style></head><body>"
        f"<h1>[CLS] embedding map, {html.escape(result.split)} split</h1>"
        "<p>Hover over a point to read the review.</p>"
        f'<div class="maps">{maps}</div></body></html>'
    )
    write_text_atomic(path, page, overwrite=overwrite)
    return path
