from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bertsent.errors import ModelError
from bertsent.explain.attributions import deletion_drops, integrated_gradients
from bertsent.explain.explanation import explain_text, write_explanation
from bertsent.models import SentimentClassifier, create


def test_integrated_gradients_are_complete(classifier: SentimentClassifier) -> None:
    attribution = integrated_gradients(classifier, "the story was dull and tedious", steps=64)
    assert len(attribution.scores) == len(attribution.words)
    gap = attribution.probability - attribution.baseline_probability
    assert attribution.scores.sum() == pytest.approx(gap, abs=max(0.01, 0.05 * abs(gap)))
    assert attribution.delta < 0.01
    special = [attribution.encoded.special[g[0]] for g in attribution.encoded.groups]
    assert np.all(attribution.scores[special] == 0)  # the baseline keeps [CLS] and [SEP]


def test_a_roberta_like_model_is_integrated_from_the_baseline_it_reports() -> None:
    """RoBERTa numbers positions past its pads: the baseline's probability was that of
    [CLS] [SEP] at positions 1-2, not of the path's start, off by a third of p - p0 here."""
    import torch
    import transformers

    from bertsent.encoders.heads import ClsLinearClassifier, export_to_transformers
    from bertsent.encoders.pretrained import DEFAULT_MODEL, load_tokenizer
    from bertsent.models.bert import BertClassifier
    from bertsent.training.config import TrainingConfig

    torch.manual_seed(0)
    tokenizer = load_tokenizer(DEFAULT_MODEL)  # a WordPiece vocabulary: any ids will do
    config = transformers.RobertaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=66,
    )  # fmt: skip
    module = ClsLinearClassifier(transformers.AutoModel.from_config(config), num_labels=2)
    torch.nn.init.normal_(module.head.weight, std=0.3)  # answers away from 0.5, not saturated
    classifier = BertClassifier(config=TrainingConfig(max_length=32))
    classifier.model_ = export_to_transformers(module, ["negative", "positive"]).eval()
    classifier.tokenizer_, classifier.labels_ = tokenizer, ["negative", "positive"]
    attribution = integrated_gradients(classifier, "a superb and charming film", steps=64)
    change = attribution.probability - attribution.baseline_probability
    assert abs(change) > 1e-4
    assert abs(attribution.scores.sum() - change) < 0.01 * abs(change)


def test_faithfulness_compares_rankings_with_random_deletion(
    classifier: SentimentClassifier, tmp_path: Path
) -> None:
    explanation = explain_text(classifier, "a really wonderful and charming film", steps=16)
    result = explanation.attribution.faithfulness
    assert result["k"] == 2 and result["words"] == 6
    assert {"integrated gradients", "attention rollout", "random"} <= set(result)
    # the two words integrated gradients ranks highest are deleted, and the drop is that
    # deletion's, measured as deletion_drops measures it
    attribution = explanation.attribution
    encoded = attribution.encoded
    candidates = [w for w, group in enumerate(encoded.groups) if not encoded.special[group[0]]]
    top = sorted(candidates, key=lambda w: -attribution.scores[w])[:2]
    assert result["integrated gradients"]["deleted"] == [encoded.words[w] for w in top]
    target = classifier.labels_.index(attribution.label)
    (expected,) = deletion_drops(classifier, encoded, target, [top])
    assert result["integrated gradients"]["drop"] == pytest.approx(expected, abs=1e-6)
    assert result["integrated gradients"]["drop"] != result["random"]["drop"]
    paths = write_explanation(explanation, tmp_path, image_format="svg")
    assert paths["attention"].suffix == ".svg" and paths["attributions"].is_file()


def test_deleting_nothing_changes_nothing(classifier: SentimentClassifier) -> None:
    encoded = integrated_gradients(classifier, "a dull film", steps=4).encoded
    np.testing.assert_allclose(deletion_drops(classifier, encoded, 0, [[]]), [0.0], atol=1e-6)


def test_baselines_cannot_be_explained_by_attention() -> None:
    baseline = create("tfidf-lr").fit(["good film", "bad film"] * 5, ["pos", "neg"] * 5)
    with pytest.raises(ModelError, match="method is 'tfidf-lr'"):
        integrated_gradients(baseline, "good")


def test_attributions_can_be_toward_a_label_the_model_does_not_pick(
    classifier: SentimentClassifier,
) -> None:
    """A server answering with its INT8 graph explains that answer with the fp32 copy;
    flipping the sign of the top class's attributions is exact for two classes only."""
    top = integrated_gradients(classifier, "a really wonderful and charming film", steps=8)
    other = next(label for label in classifier.labels_ if label != top.label)
    toward = integrated_gradients(
        classifier, "a really wonderful and charming film", steps=8, label=other
    )
    # float32 softmax: the two probabilities sum to 1 within its rounding, not exactly
    assert toward.label == other
    assert toward.probability == pytest.approx(1 - top.probability, abs=1e-6)
    np.testing.assert_allclose(toward.scores, -top.scores, atol=1e-4)  # two classes: mirrored
