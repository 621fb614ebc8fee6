"""Token attributions by integrated gradients, and a faithfulness check for any ranking.

Integrated gradients (Sundararajan et al., 2017) through Captum, on the word-embedding
layer, from a baseline that keeps [CLS]/[SEP] and pads every other position. The target
is the predicted class's probability, so a positive score pushes toward the prediction
and the scores sum to p(text) - p(baseline) up to the reported convergence delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bertsent.data.tasks import MultiLabelTask
from bertsent.encoders.engine import pad_batch
from bertsent.encoders.heads import ROBERTA_TYPES
from bertsent.errors import MissingDependencyError
from bertsent.explain.tokens import EncodedText, encode_text, pool_columns, require_transformer
from bertsent.models.base import SentimentClassifier

DELETION_FRACTION = 0.2  # share of the words removed by the faithfulness check
RANDOM_DELETIONS = 20  # random draws averaged for the reference drop
# integrated-gradients steps run forward and backward together: 50 steps of a
# 512-token review in one batch would hold gigabytes of activations
STEPS_PER_PASS = 10


@dataclass
class Attribution:
    """Integrated-gradients scores of one review, per word, toward the predicted class."""

    encoded: EncodedText
    label: str
    probability: float
    scores: np.ndarray  # (words,)
    baseline_probability: float
    delta: float  # completeness error reported by Captum
    faithfulness: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return self.encoded.words

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.encoded.text,
            "label": self.label,
            "probability": self.probability,
            "baseline_probability": self.baseline_probability,
            "convergence_delta": self.delta,
            "words": self.words,
            "scores": [float(s) for s in self.scores],
            "faithfulness": self.faithfulness,
        }


def _probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """What the model predicts from its logits: one sigmoid per label for multi-label
    models, else a softmax over the classes."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def _class_probabilities(
    model: Any, input_ids: torch.Tensor, multi_label: bool, positions: dict[str, torch.Tensor]
) -> torch.Tensor:
    given = {name: ids.expand(len(input_ids), -1) for name, ids in positions.items()}
    return _probabilities(model(input_ids=input_ids, **given).logits.float(), multi_label)


def text_positions(model: Any, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """The position ids of the text, for every pass: RoBERTa-like models number
    positions from the ids, skipping pads, so the all-[PAD] baseline would put [SEP]
    at position 3, while the path Captum integrates along keeps the text's positions;
    the baseline's probability, and so the completeness check, would then be of
    another input. Other families number positions 0..n whatever the ids: nothing to fix.
    """
    padding = getattr(getattr(model.base_model, "embeddings", None), "padding_idx", None)
    if model.config.model_type not in ROBERTA_TYPES or padding is None:
        return {}
    return {"position_ids": padding + 1 + torch.arange(input_ids.shape[1])[None]}


def integrated_gradients(
    classifier: SentimentClassifier, text: str, *, steps: int = 50, label: str | None = None
) -> Attribution:
    """Attribute the probability of ``label`` (default: the predicted class) to the words
    of ``text``. A server scoring with another backend passes the label it answered, which
    this PyTorch copy's top class may not be."""
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise MissingDependencyError(
            "token attributions need Captum", hint="pip install 'bertsent[explain]'"
        ) from None
    model = require_transformer(classifier)
    multi_label = isinstance(classifier.task_, MultiLabelTask)
    encoded = encode_text(classifier, text)
    pad_id = classifier.tokenizer_.pad_token_id or 0  # type: ignore[attr-defined]
    baseline = encoded.input_ids.clone()
    baseline[0, ~torch.tensor(encoded.special)] = pad_id
    positions = text_positions(model, encoded.input_ids)
    with torch.no_grad():
        probabilities = _class_probabilities(model, encoded.input_ids, multi_label, positions)[0]
        baseline_probabilities = _class_probabilities(model, baseline, multi_label, positions)[0]
    target = classifier.labels_.index(label) if label is not None else int(probabilities.argmax())

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        return _class_probabilities(model, input_ids, multi_label, positions)

    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    piece_scores, delta = explainer.attribute(
        encoded.input_ids,
        baselines=baseline,
        target=target,
        n_steps=steps,
        internal_batch_size=STEPS_PER_PASS,
        return_convergence_delta=True,
    )
    # (1, seq, hidden) -> (seq,) -> (words,)
    per_piece = piece_scores[0].sum(dim=-1).detach().double().numpy()
    attribution = Attribution(
        encoded=encoded,
        label=classifier.labels_[target],
        probability=float(probabilities[target]),
        scores=pool_columns(per_piece, encoded.groups),
        baseline_probability=float(baseline_probabilities[target]),
        delta=float(delta.abs().max()),
    )
    return attribution


def deletion_drops(
    classifier: SentimentClassifier,
    encoded: EncodedText,
    target: int,
    deletions: list[list[int]],
) -> np.ndarray:
    """Drop in the probability of class ``target`` for each set of deleted words.

    All variants run as one padded batch: a few dozen single forward passes would
    cost more than the integrated gradients themselves.
    """
    model = require_transformer(classifier)
    ids = encoded.input_ids[0].tolist()
    variants = [ids]
    for words in deletions:
        removed = {position for w in words for position in encoded.groups[w]}
        variants.append([token for i, token in enumerate(ids) if i not in removed])
    input_ids, attention_mask = pad_batch(variants, classifier.tokenizer_.pad_token_id or 0)  # type: ignore[attr-defined]
    with torch.inference_mode():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    multi_label = isinstance(classifier.task_, MultiLabelTask)
    probabilities = _probabilities(logits, multi_label)[:, target].double().numpy()
    return probabilities[0] - probabilities[1:]


def faithfulness(
    classifier: SentimentClassifier,
    encoded: EncodedText,
    target: int,
    rankings: dict[str, np.ndarray],
    *,
    fraction: float = DELETION_FRACTION,
    seed: int = 0,
) -> dict[str, Any]:
    """Delete each ranking's top-k words and compare the drop with deleting k at random.

    A faithful explanation's top words matter to the model: deleting them lowers the
    predicted probability much more than deleting as many random words.
    """
    candidates = [w for w, group in enumerate(encoded.groups) if not encoded.special[group[0]]]
    k = max(1, math.ceil(fraction * len(candidates)))
    tops = {
        name: sorted(candidates, key=lambda w: -scores[w])[:k] for name, scores in rankings.items()
    }
    rng = np.random.default_rng(seed)
    draws = [list(rng.choice(candidates, k, replace=False)) for _ in range(RANDOM_DELETIONS)]
    drops = deletion_drops(classifier, encoded, target, [*tops.values(), *draws])
    result: dict[str, Any] = {"k": k, "words": len(candidates)}
    for (name, top), drop in zip(tops.items(), drops, strict=False):
        result[name] = {"deleted": [encoded.words[w] for w in top], "drop": float(drop)}
    result["random"] = {"drop": float(drops[len(tops) :].mean()), "draws": RANDOM_DELETIONS}
    return result
