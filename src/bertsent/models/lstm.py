"""A bidirectional LSTM trained from scratch: the neural baseline without pre-training."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from bertsent.data.tasks import is_multi_label
from bertsent.encoders.engine import pad_batch, softmax, use_threads
from bertsent.errors import ConfigError, ModelError
from bertsent.models.base import (
    DAMAGED_HINT,
    SentimentClassifier,
    check_safetensors,
    require_fitted,
    train_and_dev,
)

logger = logging.getLogger(__name__)

VOCABULARY_FILE = "vocabulary.json"
WEIGHTS_FILE = "model.safetensors"
PAD, UNKNOWN = "<pad>", "<unk>"
TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words, contractions kept whole, punctuation as its own token."""
    return TOKEN.findall(text.lower())


SCORING_BATCH = 256  # reviews per forward pass when scoring


class BiLstmNetwork(nn.Module):
    """Embeddings -> bidirectional LSTM -> max over time -> dropout -> linear."""

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int,
        hidden_size: int,
        classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * hidden_size, classes)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        embedded = self.dropout(self.embedding(input_ids))  # (batch, time, embedding)
        packed = nn.utils.rnn.pack_padded_sequence(
            embedded, lengths, batch_first=True, enforce_sorted=False
        )
        states, _ = self.lstm(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(
            states, batch_first=True, total_length=input_ids.shape[1]
        )  # (batch, time, 2 * hidden)
        states = states.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        pooled = states.max(dim=1).values  # (batch, 2 * hidden)
        return self.output(self.dropout(pooled))  # (batch, classes)


class LstmClassifier(SentimentClassifier):
    """A BiLSTM with its own vocabulary, trained with Adam and early stopping on dev accuracy.

    Args:
        embedding_dim: Size of the word vectors (randomly initialised).
        hidden_size: LSTM units per direction.
        epochs: At most this many passes over train.
        patience: Stop after this many epochs without a better dev accuracy.
        min_count: Words seen fewer times in train map to ``<unk>``.

    >>> LstmClassifier(epochs=2).fit(["a gem", "a mess"] * 8, ["pos", "neg"] * 8)  # doctest: +SKIP
    """

    method = "lstm"
    fitted_attribute = "network_"
    scoring_batch_size = SCORING_BATCH  # `load(batch_size=)` sets a model's own

    def __init__(
        self,
        *,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        dropout: float = 0.4,
        epochs: int = 12,
        patience: int = 3,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        min_count: int = 2,
        max_vocabulary: int = 30_000,
        max_length: int = 256,
        seed: int = 42,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_count = min_count
        self.max_vocabulary = max_vocabulary
        self.max_length = max_length
        self.seed = seed

    def check_settings(self) -> None:
        """Each setting in its range, named (``epochs=0`` failed deep in the fit)."""
        ranges = {
            "embedding_dim": self.embedding_dim >= 1,
            "hidden_size": self.hidden_size >= 1,
            "dropout": 0 <= self.dropout < 1,
            "epochs": self.epochs >= 1,
            "patience": self.patience >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "min_count": self.min_count >= 1,
            "max_vocabulary": self.max_vocabulary >= 2,
            "max_length": self.max_length >= 1,
        }
        for name, fits in ranges.items():
            if not fits:
                raise ConfigError(f"lstm setting {name}={getattr(self, name)!r} is out of range")

    def _network(self) -> BiLstmNetwork:
        return BiLstmNetwork(
            len(self.vocabulary_),
            self.embedding_dim,
            self.hidden_size,
            len(self.labels_),
            self.dropout,
        )

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        index = self.vocabulary_
        unknown = index[UNKNOWN]
        return [
            [index.get(token, unknown) for token in tokenize(text)[: self.max_length]] or [unknown]
            for text in texts
        ]

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> Self:
        """Build the vocabulary from train, then train and keep the best epoch on dev."""
        self.check_settings()
        use_threads(None)  # the count asked for (--threads), else the container's CPU limit
        started = time.perf_counter()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        train, dev = train_and_dev(texts, labels, eval_texts, eval_labels, self.seed)
        if is_multi_label(train.labels):
            raise ConfigError(
                "lstm gives one label per review; this data has several",
                hint="use tfidf-lr (one logistic regression per label) or bert",
            )

        # 1. vocabulary and label ids from train only
        counts = Counter(token for text in train.texts for token in tokenize(text))
        kept = [w for w, c in counts.most_common(self.max_vocabulary) if c >= self.min_count]
        self.vocabulary_ = {word: i for i, word in enumerate([PAD, UNKNOWN, *kept])}
        self.labels_ = sorted(set(train.labels))
        self._fitted_task(None)  # not the task of an earlier fit or load
        label_ids = {label: i for i, label in enumerate(self.labels_)}
        encoded = self._encode(train.texts)
        targets = torch.tensor([label_ids[label] for label in train.labels])
        dev_targets = np.array([label_ids.get(label, -1) for label in dev.labels])

        # 2. epochs of shuffled mini-batches; the best dev accuracy's weights are kept
        self.network_ = self._network()
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate)
        loss_function = nn.CrossEntropyLoss()
        best_state: dict[str, torch.Tensor] = {}
        self.history_, self.best_ = [], {"epoch": 0, "dev_accuracy": -1.0}
        for epoch in range(1, self.epochs + 1):
            self.network_.train()
            order = rng.permutation(len(encoded))
            total_loss = 0.0
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                input_ids, mask = pad_batch([encoded[i] for i in rows], pad_id=0)
                loss = loss_function(self.network_(input_ids, mask), targets[rows])
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.network_.parameters(), 5.0)
                optimizer.step()
                total_loss += loss.item() * len(rows)
            accuracy = float((self.predict_proba(dev.texts).argmax(axis=1) == dev_targets).mean())
            entry = {
                "epoch": epoch,
                "train_loss": round(total_loss / len(encoded), 4),
                "dev_accuracy": round(accuracy, 4),
            }
            self.history_.append(entry)
            logger.info("lstm epoch %d: loss %.4f, dev accuracy %.4f", *entry.values())
            if accuracy > self.best_["dev_accuracy"]:
                self.best_ = {"epoch": epoch, "dev_accuracy": round(accuracy, 4)}
                best_state = {k: v.detach().clone() for k, v in self.network_.state_dict().items()}
            elif epoch - self.best_["epoch"] >= self.patience:
                break
        self.network_.load_state_dict(best_state)
        self.network_.eval()
        self._remember_training_texts(texts)
        self._record_fit(time.perf_counter() - started, len(train))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        require_fitted(self)
        self.network_.eval()
        encoded = self._encode(texts)
        logits = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        batch = self.scoring_batch_size
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                input_ids, mask = pad_batch([encoded[i] for i in rows], pad_id=0)
                logits[rows] = self.network_(input_ids, mask).numpy()
        return softmax(logits)

    def count_parameters(self) -> int:
        require_fitted(self)
        return sum(parameter.numel() for parameter in self.network_.parameters())

    def _write_model(self, folder: Path) -> None:
        """``model.safetensors`` and the vocabulary as a JSON list of words."""
        from safetensors.torch import save_file

        save_file(self.network_.state_dict(), str(folder / WEIGHTS_FILE))
        words = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        (folder / VOCABULARY_FILE).write_text(json.dumps(words), encoding="utf-8")

    @classmethod
    def _from_saved(
        cls,
        path: Path,
        metadata: dict[str, Any],
        threads: int | None = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> Self:
        """``threads``: PyTorch's for scoring; ``batch_size``: reviews per forward pass
        (default :data:`SCORING_BATCH`)."""
        from safetensors.torch import load_file

        if threads:
            torch.set_num_threads(threads)

        for name in (WEIGHTS_FILE, VOCABULARY_FILE):
            if not (path / name).is_file():
                raise ModelError(f"{path}: missing {name}", hint="retrain the model")
        check_safetensors(path / WEIGHTS_FILE)
        classifier = cls(**metadata.get("params", {}))
        try:
            words = json.loads((path / VOCABULARY_FILE).read_text(encoding="utf-8"))
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ValueError("not a JSON list of words")
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"{path / VOCABULARY_FILE} is damaged ({exc})", hint=DAMAGED_HINT
            ) from None
        classifier.vocabulary_ = {word: i for i, word in enumerate(words)}
        classifier.labels_ = list(metadata["labels"])
        classifier.network_ = classifier._network()
        try:
            classifier.network_.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        except RuntimeError as exc:  # shapes that do not fit the vocabulary or settings
            first = str(exc).strip().splitlines()
            raise ModelError(
                f"{path / WEIGHTS_FILE} does not fit {VOCABULARY_FILE} and the settings in "
                f"bertsent.json ({len(words)} words, {len(classifier.labels_)} labels): "
                f"{first[1].strip() if len(first) > 1 else first[0]}",
                hint=DAMAGED_HINT,
            ) from None
        classifier.network_.eval()
        if batch_size:
            classifier.scoring_batch_size = batch_size
        return classifier
