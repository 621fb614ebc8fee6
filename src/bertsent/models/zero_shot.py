"""Zero-shot classification with the packaged sentence encoder: no labelled reviews needed.

Each label gets a description ("a great movie, I loved it"); a review goes to the label
whose description embedding is most similar to its own (mean pooling, as
all-MiniLM-L6-v2 was trained). Labelled examples, where there are any, only fit the
softmax temperature, which calibrates the probabilities and leaves the decisions alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from bertsent.data.augment import NEGATIVE_LABELS, POSITIVE_LABELS
from bertsent.data.rotten_tomatoes import LABEL_DESCRIPTIONS as ROTTEN_TOMATOES_DESCRIPTIONS
from bertsent.data.tasks import is_aspect_data, is_multi_label
from bertsent.errors import ConfigError, ModelError
from bertsent.models.base import DAMAGED_HINT, fit_lists, start_point_hashes
from bertsent.models.sentence_encoder import (
    HEAD_FILE,
    SentenceEncoderClassifier,
    refuse_checkpointing,
)
from bertsent.training.config import TrainingConfig

logger = logging.getLogger(__name__)

# sentence-transformers' similarity scale (MultipleNegativesRankingLoss: 20), used
# until a temperature is fitted on labelled examples
DEFAULT_TEMPERATURE = 0.05
ALTERNATIVES = "|"  # "great film|loved it": several descriptions, their vectors averaged
# descriptions for common label names; any other label is described by its own name
KNOWN_DESCRIPTIONS = {
    **ROTTEN_TOMATOES_DESCRIPTIONS,
    "positive": "a great movie, I loved it",
    "negative": "a terrible movie, I hated it",
    "neutral": "an average movie, neither good nor bad",
    "very positive": "a masterpiece, one of the best movies ever made",
    "very negative": "an awful movie, one of the worst ever made",
}


def known_description(label: str, labels: Sequence[str] = ()) -> str:
    """The built-in description of a common label name, in any case ("Positive"); in a
    two-label set with a positive and a negative side ("pos"/"neg", "1"/"0"), that side's.
    Else the name itself, with a warning: a bare name like "pos" is barely a sentence."""
    lowered = label.strip().lower()
    if lowered in KNOWN_DESCRIPTIONS:
        return KNOWN_DESCRIPTIONS[lowered]
    sides = {name.strip().lower() for name in labels}
    if len(sides) == 2 and sides & POSITIVE_LABELS and sides & NEGATIVE_LABELS:
        return KNOWN_DESCRIPTIONS["positive" if lowered in POSITIVE_LABELS else "negative"]
    logger.warning(
        "zero-shot: no description for label %r, so its own name is embedded; describe it "
        '(--labels "%s=...") unless the name says what its reviews say',
        label,
        label,
    )
    return label


def parse_label_descriptions(value: str) -> dict[str, str]:
    """``"positive=a great movie;negative=a terrible movie"`` (or ``"positive;negative"``)
    as a mapping; a label named alone gets its known description or its own name.

    Raises:
        ConfigError: an empty label name, or a label given twice.
    """
    descriptions: dict[str, str] = {}
    for item in value.split(";"):
        name, _, description = item.partition("=")
        name, description = name.strip(), description.strip()
        if not name:
            raise ConfigError(
                f"label descriptions '{value}': an entry has no label name",
                hint="write LABEL=DESCRIPTION;LABEL=DESCRIPTION, or LABEL;LABEL",
            )
        if name in descriptions:
            raise ConfigError(f"label descriptions '{value}': '{name}' is given twice")
        descriptions[name] = description or known_description(name)
    return descriptions


class ZeroShotClassifier(SentenceEncoderClassifier):
    """Cosine similarity of mean-pooled sentence embeddings to each label's description.

    Args:
        config: Only ``model`` (the sentence encoder), ``max_length`` and
            ``truncation`` are used: nothing is fine-tuned.
        descriptions: Label -> description (``|`` separates alternatives, averaged);
            a string as :func:`parse_label_descriptions` reads it; ``None``: the
            data's labels with their known descriptions (fresh/rotten,
            positive/negative...) or their names.

    >>> clf = ZeroShotClassifier(descriptions="positive;negative").fit([], [])  # doctest: +SKIP
    >>> clf.predict(["This is not a bad film"])  # doctest: +SKIP
    """

    method = "zero-shot"
    takes_aspects = False  # a whole review against each label's description
    recipe_settings = ("model", "max_length", "truncation", "threads")
    resumable = False
    needs_labels = False
    descriptions_: dict[str, str]  # the description of each label, as used

    def __init__(
        self,
        *,
        config: TrainingConfig | None = None,
        descriptions: Mapping[str, str] | str | None = None,
        batch_size: int | None = None,
        backend: str = "torch",
    ) -> None:
        super().__init__(config=config, batch_size=batch_size, backend=backend)
        self.descriptions = descriptions

    def _descriptions_for(self, labels: Sequence[str]) -> dict[str, str]:
        """The description of each label, checked against the labels the data has."""
        given = self.descriptions
        if isinstance(given, str):
            given = parse_label_descriptions(given)
        if given is None:
            if not labels:
                raise ConfigError(
                    "zero-shot needs label descriptions or labelled examples to name the labels",
                    hint='pass descriptions, e.g. --labels "positive=a great movie;'
                    'negative=a terrible movie"',
                )
            return {name: known_description(name, labels) for name in sorted(set(labels))}
        unknown = sorted(set(labels) - set(given))
        if unknown:
            raise ConfigError(
                f"the data has labels {', '.join(map(repr, unknown))} that the label "
                f"descriptions do not describe (described: {', '.join(map(repr, given))})",
                hint="describe every label of the data, e.g. "
                + ";".join(f"{name}=..." for name in sorted(set(labels))),
            )
        return dict(given)

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
        work_dir: str | Path | None = None,
        resume: bool = False,
        callbacks: list[Any] | None = None,
    ) -> Self:
        """Embed the label descriptions; fit the temperature on labelled examples if any.

        The temperature is fitted on the eval set (else on ``texts``) by minimising the
        negative log-likelihood; the training texts are otherwise unused.
        """
        refuse_checkpointing(self.method, work_dir, resume, callbacks)
        started = time.perf_counter()
        texts, labels, eval_texts, eval_labels = fit_lists(texts, labels, eval_texts, eval_labels)
        self.refuse_training_backend()  # an export would keep scoring the old descriptions
        config = (self.config or TrainingConfig()).validate()
        seen = [*labels, *(eval_labels or [])]
        if seen and is_multi_label(seen):
            raise ConfigError("zero-shot classifies one label per review, not multi-label data")
        if is_aspect_data([*texts, *(eval_texts or [])]):
            raise ConfigError(
                "zero-shot compares a whole review with each label's description: it cannot "
                "judge a sentence towards an aspect",
                hint="for aspect data use --method bert (or tfidf-lr as a baseline)",
            )
        descriptions = self._descriptions_for(seen)
        self._assemble(config, list(descriptions))
        vectors = self._label_vectors(descriptions)
        self._set_head(vectors, np.zeros(len(vectors)))  # logits: cosine similarities

        calibration_texts, calibration_labels = (
            (eval_texts, eval_labels) if eval_texts and eval_labels else (texts, labels)
        )
        temperature, nll = DEFAULT_TEMPERATURE, None
        if calibration_texts:
            similarities = self.logits(calibration_texts)
            gold = np.array([self.labels_.index(label) for label in calibration_labels])
            temperature, nll = fit_temperature(similarities, gold)
        self._set_head(vectors / temperature, np.zeros(len(vectors)))
        self.descriptions_ = descriptions
        self.best_ = {"temperature": round(temperature, 5)}
        self.history_ = [{"temperature": temperature, "calibration_nll": nll,
                          "calibration_size": len(calibration_texts or [])}]  # fmt: skip
        self._record_fit(time.perf_counter() - started, len(calibration_texts or []))
        # and a `bertsent pretrain` encoder's texts, seen too (as SetFit and BERT keep them)
        self._remember_training_texts(calibration_texts or [], start_point_hashes(config.model))
        return self

    def _label_vectors(self, descriptions: Mapping[str, str]) -> np.ndarray:
        """(labels, hidden) unit vectors: each label's descriptions embedded and averaged."""
        vectors = []
        for description in descriptions.values():
            alternatives = [part.strip() for part in description.split(ALTERNATIVES)]
            mean = self.embed(alternatives).mean(axis=0)
            vectors.append(mean / np.linalg.norm(mean))
        return np.stack(vectors)

    def _card(self, metadata: dict[str, Any], dev_report: dict[str, Any]) -> str:
        lines = "\n".join(f"- `{label}`: {text}" for label, text in self.descriptions_.items())
        return f"""---
library_name: sentence-transformers
pipeline_tag: zero-shot-classification
base_model: {self.describe()}
tags: [sentiment-analysis, bertsent, zero-shot]
---

# Zero-shot sentiment classifier made with bertsent

No fine-tuning: a review goes to the label whose description is closest to it
(cosine of mean-pooled, unit-length embeddings of `{self.describe()}`), with a
softmax at temperature {self.best_["temperature"]:g}.

{lines}

Dev accuracy {dev_report["accuracy"]:.2%} on {dev_report["n"]} examples. `{HEAD_FILE}` holds
the label vectors divided by the temperature (`weight`) and a zero `bias`; the encoder
folder loads with `SentenceTransformer(folder)` or `transformers.AutoModel`.
"""

    def _saved_settings(self) -> dict[str, Any]:
        return {**super()._saved_settings(), "descriptions": self.descriptions_}

    def _restore(self, metadata: dict[str, Any], path: str | Path) -> None:
        super()._restore(metadata, path)
        if not isinstance(metadata.get("descriptions"), dict):
            raise ModelError(f"{path}: bertsent.json has no label descriptions", hint=DAMAGED_HINT)
        self.descriptions = self.descriptions_ = metadata["descriptions"]


def fit_temperature(similarities: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """The temperature T minimising the mean negative log-likelihood of
    ``softmax(similarities / T)`` for the gold classes, and that likelihood."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(gold))

    def nll(log_temperature: float) -> float:
        scaled = similarities / np.exp(log_temperature)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probabilities[rows, gold].mean())

    best = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(10.0)), method="bounded")
    return float(np.exp(best.x)), float(best.fun)
