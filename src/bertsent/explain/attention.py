"""Attention maps and attention rollout (Abnar & Zuidema, 2020) for one review.

Attention weights say where a head looks, not why the model decides; the attribution
module's faithfulness check measures the difference on each explanation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bertsent.encoders.attention import eager_attention
from bertsent.explain.tokens import EncodedText, encode_text, pool_square, require_transformer
from bertsent.models.base import SentimentClassifier


@dataclass
class AttentionMaps:
    """Attention of every layer and head over one review, word pieces merged into words.

    ``heads`` is (layers, heads, words, words); every row sums to 1. ``rollout`` is
    (words, words): how much of each word flows into each position after all layers.
    """

    encoded: EncodedText
    heads: np.ndarray
    rollout: np.ndarray

    @property
    def words(self) -> list[str]:
        return self.encoded.words

    def layer_mean(self, layer: int) -> np.ndarray:
        """(words, words) attention of ``layer`` averaged over its heads."""
        return self.heads[layer].mean(axis=0)

    def cls_rollout(self) -> np.ndarray:
        """The [CLS] row of the rollout: each word's share of what the classifier reads."""
        return self.rollout[0]


def attention_rollout(attentions: np.ndarray) -> np.ndarray:
    """(layers, heads, seq, seq) -> (seq, seq) rollout.

    Per layer: mean over heads, plus the identity for the residual connection, rows
    renormalised; the layers' matrices are then multiplied from the first upward.
    """
    size = attentions.shape[-1]
    rollout = np.eye(size)
    for layer in attentions:
        mixed = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(size)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
    return rollout


def attention_maps(classifier: SentimentClassifier, text: str) -> AttentionMaps:
    """Run the model once with attention outputs and pool them to words."""
    model = require_transformer(classifier)
    encoded = encode_text(classifier, text)
    with eager_attention(model), torch.inference_mode():
        output = model(input_ids=encoded.input_ids, output_attentions=True)
    # tuple of layers, each (1, heads, seq, seq) -> (layers, heads, seq, seq)
    pieces = torch.stack(output.attentions)[:, 0].double().numpy()
    return AttentionMaps(
        encoded=encoded,
        heads=pool_square(pieces, encoded.groups),
        rollout=pool_square(attention_rollout(pieces), encoded.groups),
    )
