"""Layer-wise learning-rate decay (LLRD): the layers nearest the input learn slowest.

Lower layers hold general knowledge of the language that a few thousand labelled
reviews should change least, while the fresh head needs the largest steps (Howard &
Ruder 2018; Sun et al. 2019, "How to Fine-Tune BERT for Text Classification"). With
decay ``d`` and ``L`` transformer layers, the head learns at the peak rate, layer
``i`` (0-based) at ``lr * d ** (L - i)`` and the embeddings at ``lr * d ** (L + 1)``.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from bertsent.encoders.heads import ClsLinearClassifier

# BERT, RoBERTa, XLM-R (encoder.layer.N) and DistilBERT (transformer.layer.N); ALBERT
# shares one layer across depths, which therefore learns at the head's rate
LAYER_INDEX = re.compile(r"\.layer\.(\d+)\.")


def parameter_depth(name: str, num_layers: int) -> int:
    """0 for the embeddings, ``i + 1`` for transformer layer ``i``, ``num_layers + 1``
    for everything above the last layer (the head, a pooler)."""
    if ".embeddings." in f".{name}":
        return 0
    match = LAYER_INDEX.search(name)
    return int(match.group(1)) + 1 if match else num_layers + 1


def layer_wise_groups(
    module: ClsLinearClassifier, learning_rate: float, decay: float, weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW parameter groups, one per (depth, decayed or not), the head's group first.

    Weight decay skips biases and LayerNorm weights, as the Trainer's own groups do.
    The head's group comes first because the Trainer logs the first group's rate.
    """
    from transformers.trainer_pt_utils import get_parameter_names

    decayed = set(get_parameter_names(module, [nn.LayerNorm], ["bias"]))
    num_layers = int(module.encoder.config.num_hidden_layers)
    grouped: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for name, parameter in module.named_parameters():
        if parameter.requires_grad:
            key = (parameter_depth(name, num_layers), name in decayed)
            grouped.setdefault(key, []).append(parameter)
    return [
        {
            "params": parameters,
            "lr": learning_rate * decay ** (num_layers + 1 - depth),
            "weight_decay": weight_decay if with_decay else 0.0,
        }
        for (depth, with_decay), parameters in sorted(grouped.items(), reverse=True)
    ]
