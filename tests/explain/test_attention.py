from __future__ import annotations

import numpy as np

from bertsent.explain.attention import attention_maps, attention_rollout
from bertsent.models import SentimentClassifier


def test_attention_rows_sum_to_one_and_shapes_match_the_model(
    classifier: SentimentClassifier,
) -> None:
    model = classifier.model_  # type: ignore[attr-defined]
    implementation = model.config._attn_implementation
    maps = attention_maps(classifier, "This movie was not very good")
    assert maps.words == ["[CLS]", "this", "movie", "was", "not", "very", "good", "[SEP]"]
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    assert maps.heads.shape == (layers, heads, 8, 8)
    np.testing.assert_allclose(maps.heads.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(maps.rollout.sum(axis=-1), 1.0, atol=1e-5)
    assert maps.cls_rollout().shape == (8,)
    assert model.config._attn_implementation == implementation  # restored for fast inference


def test_rollout_of_self_attention_is_the_identity() -> None:
    attentions = np.broadcast_to(np.eye(4), (3, 2, 4, 4))
    np.testing.assert_allclose(attention_rollout(attentions), np.eye(4))


def test_rollout_mixes_residual_and_attention() -> None:
    uniform = np.full((1, 1, 2, 2), 0.5)
    np.testing.assert_allclose(attention_rollout(uniform), [[0.75, 0.25], [0.25, 0.75]])
