"""One review explained: attention, integrated gradients and their faithfulness side by side."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.explain.attention import AttentionMaps, attention_maps
from bertsent.explain.attributions import Attribution, faithfulness, integrated_gradients
from bertsent.models.base import SentimentClassifier


@dataclass
class Explanation:
    """Attention maps and IG attributions of one review, with faithfulness numbers."""

    attention: AttentionMaps
    attribution: Attribution

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.attribution.to_dict(),
            "attention_rollout": self.attention.cls_rollout().tolist(),
        }


def explain_text(classifier: SentimentClassifier, text: str, *, steps: int = 50) -> Explanation:
    """Attention maps and IG attributions of ``text``, and how faithful each ranking is.

    The faithfulness check deletes the words each method ranks highest (IG scores toward
    the prediction; the [CLS] row of the attention rollout) against random words.
    """
    attention = attention_maps(classifier, text)
    attribution = integrated_gradients(classifier, text, steps=steps)
    target = classifier.labels_.index(attribution.label)
    attribution.faithfulness = faithfulness(
        classifier,
        attribution.encoded,
        target,
        {"integrated gradients": attribution.scores, "attention rollout": attention.cls_rollout()},
    )
    return Explanation(attention=attention, attribution=attribution)


def file_stem(text: str, limit: int = 40) -> str:
    """A file-name-safe stem from a review: 'this-movie-was-not-very-good'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "review"


def write_explanation(
    explanation: Explanation,
    output_dir: Path,
    *,
    image_format: str = "png",
    layer: int = -1,
    head: int = 0,
    attention: bool = True,
    attributions: bool = True,
) -> dict[str, Path]:
    """Write the chosen figures for one explanation; returns their paths by name."""
    from bertsent.explain.figures import plot_attention, plot_attributions

    stem = file_stem(explanation.attribution.encoded.text)
    paths: dict[str, Path] = {}
    if attention:
        paths["attention"] = plot_attention(
            explanation.attention, output_dir / f"{stem}-attention.{image_format}", layer, head
        )
    if attributions:
        paths["attributions"] = plot_attributions(
            explanation.attribution, output_dir / f"{stem}-attributions.{image_format}"
        )
    return paths
