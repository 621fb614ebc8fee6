"""The seed's appendix with real numbers: logits, softmax, cross-entropy and its gradient.

For one review: the head's logits z, p = softmax(z), the loss -log p[gold] and the
gradient dL/dz = p - y. The gradient is also taken by autograd, so the printed formula
is checked against what back-propagation computes for that loss. A recipe that trained
with more than plain cross-entropy (smoothed targets, class weights, R-Drop, a teacher)
is named beside the numbers: its gradient differed.
"""

from __future__ import annotations

from typing import Any

import torch

from bertsent.data.tasks import MultiLabelTask
from bertsent.errors import ConfigError
from bertsent.explain.tokens import encode_text, require_text, require_transformer
from bertsent.models.base import SentimentClassifier


def head_parameter_count(model: Any) -> int:
    """Parameters of the linear layer on [CLS] (weights and biases); the rest is encoder."""
    head = model.classifier
    layer = getattr(head, "out_proj", head)  # RoBERTa keeps its final linear in out_proj
    return sum(parameter.numel() for parameter in layer.parameters())


def worked_example(
    classifier: SentimentClassifier, text: str, gold: str | None = None
) -> dict[str, Any]:
    """Forward and backward pass of one review, as plain numbers.

    ``gold`` defaults to the predicted label (the loss is then the model's own surprise).

    Raises:
        DataError: ``text`` is empty or only whitespace.
    """
    require_text(text)
    model = require_transformer(classifier)
    if isinstance(classifier.task_, MultiLabelTask):
        raise ConfigError(
            "the worked example (--math) works through the softmax and cross-entropy of one "
            "label per review; this multi-label model has one sigmoid per label, trained with "
            "binary cross-entropy",
            hint="leave out --math: the attributions and attention read its sigmoids",
        )
    labels = classifier.labels_
    encoded = encode_text(classifier, text)
    with torch.enable_grad():
        logits = model(input_ids=encoded.input_ids).logits[0].float().detach().requires_grad_()
        probabilities = torch.softmax(logits, dim=-1)
        predicted = int(probabilities.argmax())
        gold = labels[predicted] if gold is None else gold
        if gold not in labels:
            raise ConfigError(f"gold label '{gold}' is not one of the model's labels {labels}")
        target = labels.index(gold)
        loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([target]))
        loss.backward()
    assert logits.grad is not None
    one_hot = torch.nn.functional.one_hot(torch.tensor(target), len(labels)).float()
    total = sum(parameter.numel() for parameter in model.parameters())
    head = head_parameter_count(model)
    return {
        "text": text,
        "tokens": encoded.pieces,
        "labels": labels,
        "logits": logits.tolist(),
        "probabilities": probabilities.tolist(),
        "predicted": labels[predicted],
        "gold": gold,
        "loss": float(loss.detach()),
        "gradient": (probabilities - one_hot).tolist(),
        "autograd_gradient": logits.grad.tolist(),
        "head_parameters": head,
        "encoder_parameters": total - head,
        "hidden_size": model.config.hidden_size,
        "trained_with": classifier.training_recipe().loss_additions(),  # type: ignore[attr-defined]
    }


def format_worked_example(example: dict[str, Any]) -> str:
    """The numbers laid out like a textbook derivation."""
    labels = example["labels"]

    def vector(values: list[float]) -> str:
        pairs = zip(labels, values, strict=True)
        return "[" + ", ".join(f"{name} {value:+.4f}" for name, value in pairs) + "]"

    hidden, classes = example["hidden_size"], len(labels)
    head, encoder = example["head_parameters"], example["encoder_parameters"]
    return "\n".join(
        [
            f'review: "{example["text"]}"',
            f"tokens ({len(example['tokens'])}): {' '.join(example['tokens'])}",
            f"1. logits z = W h_[CLS] + b        {vector(example['logits'])}",
            f"2. softmax p_i = e^z_i / sum_j e^z_j  {vector(example['probabilities'])}"
            f"  -> predicted {example['predicted']}",
            f"3. cross-entropy L = -log p[{example['gold']}] = {example['loss']:.4f}",
            f"4. gradient dL/dz = p - y          {vector(example['gradient'])}",
            f"   autograd gives                  {vector(example['autograd_gradient'])}",
            f"5. head: {hidden} x {classes} weights + {classes} biases = "
            f"{head:,} parameters; encoder: {encoder:,} ({encoder / head:,.0f}x the head)",
            *(
                [
                    f"   (trained with {', '.join(example['trained_with'])} as well: its "
                    "training loss and gradient were not this plain cross-entropy)"
                ]
                if example.get("trained_with")
                else []
            ),
        ]
    )
