"""Sentence embeddings as sentence-transformers makes them, and a classifier built on them.

all-MiniLM-L6-v2 was trained (contrastively, on a billion sentence pairs) so that the
mean of its token vectors, scaled to unit length, lies close to the vectors of
sentences with the same meaning. A review can then be classified with no training at
all: its embedding against the embedding of each label's description (zero-shot), or
by a logistic regression on the embeddings after a few contrastive steps (SetFit).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput


def mean_pooled(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(batch, seq, hidden) -> (batch, hidden) unit vectors: the mean over real tokens."""
    if attention_mask is None:
        pooled = hidden.mean(dim=1)
    else:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled.float(), dim=-1)


class PooledLinearClassifier(nn.Module):
    """Encoder -> mean-pooled unit vector -> one linear layer: ``logits = W e + b``.

    Zero-shot sets ``W`` to the label descriptions' vectors divided by a temperature
    (cosine similarities, ``b = 0``); SetFit to a logistic regression fitted on the
    embeddings. The module returns what a transformers sequence classifier returns, so
    the batching engine, the server and the ONNX export run it unchanged.
    """

    def __init__(self, encoder: Any, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.weight: torch.Tensor
        self.bias: torch.Tensor
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(batch, hidden) unit sentence vectors."""
        segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, **segments
        ).last_hidden_state
        return mean_pooled(hidden, attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **unused: Any,
    ) -> SequenceClassifierOutput:
        vectors = self.embed(input_ids, attention_mask, token_type_ids)
        # in fp32 whatever the encoder runs in (bf16 casts the buffers too)
        logits = vectors @ self.weight.float().T + self.bias.float()
        return SequenceClassifierOutput(logits=logits)

    def set_attn_implementation(self, implementation: str) -> None:
        """Attention kernel of the encoder (the ONNX export traces the eager one)."""
        self.encoder.set_attn_implementation(implementation)
