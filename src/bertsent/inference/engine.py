"""Batched inference: one code path for predict, evaluate and the benchmarks.

Texts are tokenised, sorted by length and cut into batches padded only to their own
longest text, run under ``torch.inference_mode``, and returned in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from bertsent.models.tokenization import encode


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the batch's longest; returns (input_ids, attention_mask)."""
    longest = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


class TorchEngine:
    """Runs a transformers sequence classifier over texts in length-sorted batches.

    >>> engine = TorchEngine(model, tokenizer, max_length=128)  # doctest: +SKIP
    >>> engine.logits(["A fine film."]).shape  # doctest: +SKIP
    (1, 2)
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_length: int = 128,
        truncation: str = "head",
        batch_size: int = 64,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) float32 logits, in the order of ``texts``."""
        if not texts:
            return np.zeros((0, self.model.config.num_labels), dtype=np.float32)
        return self.map_batches(texts, lambda output: output.logits)

    def map_batches(self, texts: Sequence[str], pick: Callable[[Any], torch.Tensor]) -> np.ndarray:
        """Run the model over ``texts`` and stack ``pick(output)`` rows in input order.

        ``pick`` selects a (batch, ...) tensor from the model output, e.g. the logits or
        the final [CLS] vectors of an encoder. No texts give an empty (0,) array.
        """
        if not texts:
            return np.zeros((0,), dtype=np.float32)
        encoded = encode(self.tokenizer, texts, self.max_length, self.truncation)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")[::-1]  # longest first
        device = next(self.model.parameters()).device
        result: np.ndarray | None = None
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                input_ids, attention_mask = pad_batch([encoded[i] for i in rows], self.pad_id)
                output = self.model(
                    input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
                )
                values = pick(output).float().cpu().numpy()
                if result is None:
                    result = np.zeros((len(texts), *values.shape[1:]), dtype=np.float32)
                result[rows] = values  # back to input order
        return result if result is not None else np.zeros((0,), dtype=np.float32)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(texts))
