"""SetFit (Tunstall et al. 2022): few-shot classification from 8-64 labelled reviews per class.

Two steps. First the sentence encoder is fine-tuned contrastively on pairs of labelled
reviews: the cosine of two reviews with the same label is pulled towards 1, of two with
different labels towards 0 (sentence-transformers' CosineSimilarityLoss). Then a
logistic regression is fitted on the embeddings of the labelled reviews. With few
labels this beats fine-tuning a [CLS] head, which has too few examples to move.

The ``setfit`` package pins ``datasets``, ``evaluate`` and ``sentence-transformers[train]``
(about a dozen more packages) for what is, on our encoder and engine, one loss and one
scikit-learn fit; the recipe is written here on the same parts as zero-shot instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from bertsent.data.tasks import is_multi_label, label_names
from bertsent.errors import ConfigError
from bertsent.models.base import fit_lists, start_point_hashes
from bertsent.models.sentence_encoder import (
    HEAD_FILE,
    SentenceEncoderClassifier,
    refuse_checkpointing,
)
from bertsent.progress import progress, progress_bar
from bertsent.training.config import TrainingConfig


def contrastive_pairs(
    labels: Sequence[str], pairs_per_example: int, max_pairs: int, seed: int
) -> list[tuple[int, int, float]]:
    """(i, j, target) index pairs: for every example and round, one partner with the same
    label (target 1) and one with another label (target 0), as SetFit samples them;
    at most ``max_pairs``, drawn at random when there are more."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    # each label's partners of another label, listed once (not once per example)
    others_of = {
        label: [i for name, members in by_label.items() if name != label for i in members]
        for label in by_label
    }
    pairs = []
    for _ in range(pairs_per_example):
        for index, label in enumerate(labels):
            pairs.append((index, rng.choice(by_label[label]), 1.0))
            pairs.append((index, rng.choice(others_of[label]), 0.0))
    rng.shuffle(pairs)
    return pairs[:max_pairs]


SETFIT_PARAMS = (
    "pairs_per_example", "max_pairs", "learning_rate", "pair_batch_size", "epochs", "C",
)  # fmt: skip


class SetFitClassifier(SentenceEncoderClassifier):
    """Contrastive fine-tuning of the sentence encoder, then logistic regression.

    Args:
        config: ``model`` (the sentence encoder), ``max_length``, ``truncation`` and
            ``seed`` are used; the contrastive step has its own settings below.
        pairs_per_example: SetFit's iterations: pairs drawn per labelled review (x2).
        max_pairs: Cap on the pairs (the step costs time in proportion to them).
        learning_rate: AdamW learning rate of the contrastive step (SetFit: 2e-5).
        pair_batch_size: Pairs per step.
        epochs: Passes over the pairs.
        C: Inverse regularisation of the logistic regression.

    >>> clf = SetFitClassifier().fit(texts_16_per_class, labels)  # doctest: +SKIP
    """

    method = "setfit"
    recipe_settings = ("model", "max_length", "truncation", "seed", "threads")
    resumable = False

    def __init__(
        self,
        *,
        config: TrainingConfig | None = None,
        pairs_per_example: int = 20,
        max_pairs: int = 2000,
        learning_rate: float = 2e-5,
        pair_batch_size: int = 16,
        epochs: int = 1,
        C: float = 1.0,
        batch_size: int | None = None,
        backend: str = "torch",
    ) -> None:
        super().__init__(config=config, batch_size=batch_size, backend=backend)
        self.pairs_per_example = pairs_per_example
        self.max_pairs = max_pairs
        self.learning_rate = learning_rate
        self.pair_batch_size = pair_batch_size
        self.epochs = epochs
        self.C = C

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
        """Contrastive steps on pairs of ``texts``, then the logistic regression on them.

        The eval set is scored after the fit (``history_``), not used for selection:
        SetFit's recipe has nothing to select with so few labels.
        """
        refuse_checkpointing(self.method, work_dir, resume, callbacks)
        import torch
        from sklearn.linear_model import LogisticRegression

        started = time.perf_counter()
        texts, labels, eval_texts, eval_labels = fit_lists(texts, labels, eval_texts, eval_labels)
        self.refuse_training_backend()
        config = (self.config or TrainingConfig()).validate()
        if is_multi_label(labels):
            raise ConfigError("setfit classifies one label per review, not multi-label data")
        classes = label_names(labels)
        if len(classes) < 2:
            raise ConfigError(f"setfit needs examples of at least two labels (got {classes})")
        torch.manual_seed(config.seed)
        self._assemble(config, classes)
        pairs = contrastive_pairs(labels, self.pairs_per_example, self.max_pairs, config.seed)
        losses = self._contrastive_steps(texts, pairs)

        embeddings = self.embed(texts)
        head = LogisticRegression(C=self.C, max_iter=2000).fit(embeddings, labels)
        weight, bias = head.coef_, head.intercept_
        if len(classes) == 2:  # sigmoid(w.e + b) == softmax([0, w.e + b])[1]
            weight = np.vstack([np.zeros_like(weight), weight])
            bias = np.concatenate([[0.0], bias])
        self._set_head(weight, bias)

        entry: dict[str, Any] = {
            "pairs": len(pairs),
            "final_pair_loss": losses[-1] if losses else None,
        }
        if eval_texts and eval_labels:
            correct = np.array(self.predict(eval_texts)) == np.array(eval_labels)
            entry["dev_accuracy"] = round(float(correct.mean()), 4)
        self.history_ = [entry]
        self.best_ = {"pairs": len(pairs), "C": self.C}
        self._record_fit(time.perf_counter() - started, len(texts), pairs=len(pairs))
        # a bertsent model this one starts from (e.g. `bertsent pretrain`) has seen its texts
        self._remember_training_texts(texts, start_point_hashes(config.model))
        return self

    def _saved_settings(self) -> dict[str, Any]:
        """The training config, and SetFit's own parameters (so that ``load`` and
        ``sklearn.clone`` of a loaded model give back the same recipe)."""
        own = {name: getattr(self, name) for name in SETFIT_PARAMS}
        return {**super()._saved_settings(), "setfit": own}

    def _restore(self, metadata: dict[str, Any], path: str | Path) -> None:
        super()._restore(metadata, path)
        self.set_params(**metadata.get("setfit", {}))

    def _contrastive_steps(
        self, texts: list[str], pairs: list[tuple[int, int, float]]
    ) -> list[float]:
        """Fine-tune the encoder so that cos(a, b) approaches each pair's target (MSE)."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        from bertsent.encoders.tokenization import encode, pad_ids

        config = self.training_recipe()
        module = self.model_
        engine = self._engine()
        # each text once, as the engine tokenises it for prediction; padded per batch
        ids = encode(self.tokenizer_, texts, config.max_length, config.truncation)

        def embedded(rows: list[int]) -> torch.Tensor:
            input_ids, attention_mask = pad_ids([ids[row] for row in rows], engine.pad_id)
            return self._embedded(engine, input_ids, attention_mask)

        steps = self.epochs * -(-len(pairs) // self.pair_batch_size)
        optimizer = torch.optim.AdamW(module.encoder.parameters(), lr=self.learning_rate)
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
        rng = random.Random(config.seed)
        losses = []
        module.train()
        with progress("setfit: contrastive pairs"), progress_bar(steps, "step") as bar:
            for _ in range(self.epochs):
                rng.shuffle(pairs)
                for start in range(0, len(pairs), self.pair_batch_size):
                    batch = pairs[start : start + self.pair_batch_size]
                    first = embedded([i for i, _, _ in batch])
                    second = embedded([j for _, j, _ in batch])
                    targets = torch.tensor([target for _, _, target in batch])
                    cosines = (first * second).sum(dim=-1)
                    loss = torch.nn.functional.mse_loss(cosines, targets)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad()
                    losses.append(round(loss.item(), 5))
                    bar.update(1)
        module.eval()
        return losses

    def _card(self, metadata: dict[str, Any], dev_report: dict[str, Any]) -> str:
        return f"""---
library_name: sentence-transformers
pipeline_tag: text-classification
base_model: {self.describe()}
tags: [sentiment-analysis, bertsent, setfit]
---

# SetFit sentiment classifier made with bertsent

`{self.describe()}` fine-tuned contrastively on {self.best_["pairs"]} pairs of labelled
reviews, then a logistic regression (C={self.C:g}) on its mean-pooled, unit-length
embeddings. Labels: {", ".join(f"`{label}`" for label in self.labels_)}.

Dev accuracy {dev_report["accuracy"]:.2%} on {dev_report["n"]} examples. `{HEAD_FILE}` holds
the regression as one linear layer (`weight`, `bias`; a softmax over its outputs gives
the probabilities); the encoder folder loads with `SentenceTransformer(folder)`.
"""
