"""The classification head: one linear layer on the final [CLS] vector.

We train it as our own small module (encoder + dropout + linear), then write it into
the model family's standard ``...ForSequenceClassification`` layout so that plain
``transformers`` loads and runs the saved folder unchanged. Those standard heads put a
dense layer and an activation before the classifier; the export makes that part act
as the identity, exactly or within float rounding:

- tanh heads (BERT pooler, ALBERT pooler, RoBERTa classification head):
  dense = eps * I, classifier = W / eps, since tanh(eps * x) / eps = x + O(eps^2 x^3);
- ReLU head (DistilBERT): dense = I with bias c, since relu(x + c) - c = x for x > -c.

The export is checked on real inputs before it is accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from bertsent.errors import ModelError

TANH_SCALE = 1e-4
# dense + tanh + out_proj on the first token
ROBERTA_TYPES = {"roberta", "xlm-roberta", "camembert", "mpnet"}
TANH_POOLER_TYPES = {"bert", "albert"}
RELU_TYPES = {"distilbert"}
SUPPORTED_TYPES = sorted(ROBERTA_TYPES | TANH_POOLER_TYPES | RELU_TYPES)


def check_supported(model_type: str, hidden: int, num_labels: int) -> None:
    """Raise before training when a model family's head cannot be exported exactly:
    an unknown family, or more labels than a DistilBERT head of ``hidden`` units holds."""
    if model_type not in SUPPORTED_TYPES:
        raise ModelError(
            f"model type '{model_type}' is not supported for fine-tuning",
            hint=f"use a checkpoint of type {', '.join(SUPPORTED_TYPES)}",
        )
    if model_type in RELU_TYPES and 2 * num_labels > hidden:  # relu(z) - relu(-z)
        raise ModelError(
            f"a '{model_type}' head holds at most {hidden // 2} labels, not {num_labels}"
        )


class RunningStats:
    """Training loss and correct predictions summed since the last evaluation.

    The module holds one such object and adds to it in place: DataParallel's replicas
    copy the module's attributes shallowly, so every replica adds to this same object
    (under a lock, as they run in threads), and the callbacks read it from the module
    they were given. Sums kept as attributes of the module itself would be rebound on
    each replica and lost.
    """

    KEYS = ("running_loss", "running_correct", "running_seen")  # checkpoint state names

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loss, self.correct, self.seen = 0.0, 0, 0

    def add(self, loss_sum: float, correct: int, seen: int) -> None:
        with self._lock:
            self.loss += loss_sum
            self.correct += correct
            self.seen += seen

    def reset(self) -> None:
        with self._lock:
            self.loss, self.correct, self.seen = 0.0, 0, 0

    def values(self) -> list[float]:
        return [self.loss, self.correct, self.seen]

    def state(self) -> dict[str, float]:
        return dict(zip(self.KEYS, self.values(), strict=True))

    def restore(self, state: dict[str, Any]) -> None:
        loss, correct, seen = (state.get(key, 0) for key in self.KEYS)
        with self._lock:
            self.loss, self.correct, self.seen = float(loss), int(correct), int(seen)

    def __getstate__(self) -> dict[str, float]:  # a lock does not copy or pickle
        return self.state()

    def __setstate__(self, state: dict[str, float]) -> None:
        self._lock = threading.Lock()
        self.restore(state)


class ClsLinearClassifier(nn.Module):
    """Encoder, dropout and a linear layer on the final [CLS] vector.

    The head has Xavier-uniform weights and a zero bias. While training, the module
    keeps running sums of loss and correct predictions (``running``) so callbacks can
    report training accuracy without another pass over the data.

    >>> from transformers import BertConfig, BertModel
    >>> tiny = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, vocab_size=50))
    >>> ClsLinearClassifier(tiny, num_labels=2).head
    Linear(in_features=8, out_features=2, bias=True)
    """

    def __init__(
        self,
        encoder: Any,
        num_labels: int,
        dropout: float = 0.1,
        class_weights: torch.Tensor | None = None,
        distillation: tuple[float, float] | None = None,
        label_smoothing: float = 0.0,
        r_drop: float = 0.0,
        target_rows: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        # (alpha, temperature): loss = alpha * CE(gold) + (1 - alpha) * T^2 * KL(teacher || student)
        self.distillation = distillation
        self.label_smoothing = label_smoothing  # single-label cross-entropy only
        # R-Drop (Liang et al. 2021): weight of the symmetric KL between two dropout passes
        self.r_drop = r_drop
        self.config = encoder.config
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.class_weights: torch.Tensor | None
        self.register_buffer("class_weights", class_weights, persistent=False)
        # (classes, classes): row g is the target of gold class g in place of one-hot
        # (ordinal smoothing); single-label cross-entropy only
        self.target_rows: torch.Tensor | None
        if target_rows is None and label_smoothing and class_weights is not None:
            # PyTorch would weight each class's share of the smoothing by that class's
            # weight (a majority example's target leant to the minority class): the
            # smoothed rows go the soft-row way, each example weighted by its gold class
            uniform = torch.full((num_labels, num_labels), label_smoothing / num_labels)
            target_rows = (1 - label_smoothing) * torch.eye(num_labels) + uniform
        self.register_buffer("target_rows", target_rows, persistent=False)
        self.running = RunningStats()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        teacher_logits: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        # R-Drop: the batch goes through twice in one pass, so two dropout masks see it
        passes = 2 if self.training and self.r_drop and labels is not None else 1
        given = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        inputs = {
            k: v if passes == 1 else v.repeat(passes, 1) for k, v in given.items() if v is not None
        }
        # (batch, seq) -> (batch, seq, hidden); the [CLS] vector is position 0
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.head(self.dropout(hidden[:, 0]))  # (passes * batch, num_labels)
        loss = None
        if labels is not None:
            each = logits.chunk(passes)
            task = torch.stack([self.task_loss(z, labels, teacher_logits) for z in each]).mean()
            loss = task
            if passes == 2:
                loss = loss + self.r_drop * symmetric_kl(each[0], each[1], labels.dim() == 2)
            logits = each[0]
            if self.training:
                if labels.dim() == 2:  # exact match of the labels at 0.5
                    matches = ((logits > 0) == (labels > 0.5)).all(dim=-1)
                else:
                    matches = logits.argmax(-1) == labels
                # the task's loss, comparable with the dev loss (R-Drop's KL left out, and
                # a teacher's term too: dev batches have no teacher)
                shown = task
                if teacher_logits is not None and self.distillation is not None:
                    with torch.no_grad():
                        shown = self.task_loss(logits.detach(), labels, None)
                self.running.add(shown.item() * len(labels), int(matches.sum()), len(labels))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def task_loss(
        self, logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None
    ) -> torch.Tensor:
        """Cross-entropy on the gold labels (binary per label when ``labels`` is 2-D),
        mixed with the teacher's soft targets when distilling."""
        if labels.dim() == 2:  # multi-label: one sigmoid per label, 0/1 float targets
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
        else:
            weights = None if self.class_weights is None else self.class_weights.float()
            if self.target_rows is None:
                loss = nn.functional.cross_entropy(
                    logits.float(), labels, weight=weights, label_smoothing=self.label_smoothing
                )
            else:  # soft rows: each example weighted by its gold class, as with class ids
                each = nn.functional.cross_entropy(
                    logits.float(), self.target_rows[labels], reduction="none"
                )
                scale = torch.ones_like(each) if weights is None else weights[labels].float()
                loss = (each * scale).sum() / scale.sum()
        if teacher_logits is not None and self.distillation is not None:
            alpha, temperature = self.distillation
            soft = nn.functional.kl_div(
                nn.functional.log_softmax(logits.float() / temperature, dim=-1),
                nn.functional.log_softmax(teacher_logits.float() / temperature, dim=-1),
                log_target=True,
                reduction="batchmean",
            )
            loss = alpha * loss + (1 - alpha) * temperature**2 * soft  # Hinton et al. 2015
        return loss


def ordinal_targets(positions: Sequence[float], share: float) -> torch.Tensor:
    """(classes, classes) soft targets for ordered classes at scale ``positions``: row g
    keeps ``1 - share`` on class g and spreads ``share`` over the others, halving with
    each step along the scale, so that calling a "very positive" review "positive" costs
    less than calling it "negative" (soft ordinal labels, after Diaz and Marathe 2019).

    >>> ordinal_targets([-1.0, 0.0, 1.0], 0.3)
    tensor([[0.7000, 0.2000, 0.1000],
            [0.1500, 0.7000, 0.1500],
            [0.1000, 0.2000, 0.7000]])
    """
    place = torch.tensor(positions, dtype=torch.float64)
    # steps by rank along the scale: stars 1, 3, 4, 5 are three steps from end to end
    # (a step of (max - min) / (n - 1), rounded, put "3" and "4" both two steps from "1")
    rank = torch.unique(place, return_inverse=True)[1].double()  # equal places, equal ranks
    steps = (rank[:, None] - rank[None, :]).abs()
    spread = torch.where(steps > 0, 0.5**steps, torch.zeros_like(steps))
    rows = share * spread / spread.sum(dim=1, keepdim=True) + (1 - share) * torch.eye(len(place))
    return rows.float()


def symmetric_kl(first: torch.Tensor, second: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """(KL(p || q) + KL(q || p)) / 2 per example, averaged over the batch, for the
    predictions of two passes' logits: softmax over the classes, or for multi-label
    logits one Bernoulli per label, averaged over the labels as binary cross-entropy
    averages them (so one weight means the same for 2 labels or 28)."""

    def log_probs(logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if multi_label:  # (batch, labels, 2): log p and log (1 - p) of each label
            return torch.stack(
                [nn.functional.logsigmoid(logits), nn.functional.logsigmoid(-logits)], -1
            )
        return nn.functional.log_softmax(logits, dim=-1)

    p, q = log_probs(first), log_probs(second)
    kl = nn.functional.kl_div  # kl_div(log q, log p) = KL(p || q), as distillation uses it
    both = (
        kl(q, p, log_target=True, reduction="sum") + kl(p, q, log_target=True, reduction="sum")
    ) / 2
    return both / (first.numel() if multi_label else len(first))


def export_to_transformers(
    module: ClsLinearClassifier, labels: list[str], multi_label: bool = False
) -> Any:
    """Build the family's standard sequence classifier computing the same logits.

    A multi-label model declares ``problem_type: multi_label_classification``, so that
    ``transformers.pipeline`` applies a sigmoid per label instead of a softmax.

    Returns:
        A ``PreTrainedModel`` in eval mode whose config has ``id2label``/``label2id``.

    Raises:
        ModelError: the family is unsupported or the exported logits disagree.
    """
    from transformers import AutoModelForSequenceClassification

    config = module.encoder.config.__class__.from_dict(module.encoder.config.to_dict())
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.problem_type = (
        "multi_label_classification" if multi_label else "single_label_classification"
    )
    model_type = config.model_type
    check_supported(model_type, module.head.in_features, module.head.out_features)

    native = AutoModelForSequenceClassification.from_config(config)
    config.architectures = [type(native).__name__]
    base = getattr(native, native.base_model_prefix)
    missing, unexpected = base.load_state_dict(module.encoder.state_dict(), strict=False)
    unused = [k for k in unexpected if not k.startswith("pooler")]  # our encoder may carry one
    if (missing and not all(k.startswith("pooler") for k in missing)) or unused:
        raise ModelError(
            f"export of '{model_type}' weights failed: missing {missing}, extra {unused}"
        )

    weight = module.head.weight.detach()
    bias = module.head.bias.detach()
    hidden = weight.shape[1]
    eye = torch.eye(hidden, dtype=weight.dtype)
    with torch.no_grad():
        if model_type in TANH_POOLER_TYPES:
            dense = base.pooler.dense if model_type == "bert" else base.pooler
            dense.weight.copy_(eye * TANH_SCALE)
            dense.bias.zero_()
            native.classifier.weight.copy_(weight / TANH_SCALE)
            native.classifier.bias.copy_(bias)
        elif model_type in ROBERTA_TYPES:
            native.classifier.dense.weight.copy_(eye * TANH_SCALE)
            native.classifier.dense.bias.zero_()
            native.classifier.out_proj.weight.copy_(weight / TANH_SCALE)
            native.classifier.out_proj.bias.copy_(bias)
        else:  # DistilBERT: relu(z) - relu(-z) == z for the head's logits z, exact in
            # half precision too (a shift, relu(x + c) - c, loses x to c's rounding)
            outputs = weight.shape[0]
            native.pre_classifier.weight.zero_()
            native.pre_classifier.bias.zero_()
            native.pre_classifier.weight[:outputs].copy_(weight)
            native.pre_classifier.bias[:outputs].copy_(bias)
            native.pre_classifier.weight[outputs : 2 * outputs].copy_(-weight)
            native.pre_classifier.bias[outputs : 2 * outputs].copy_(-bias)
            native.classifier.weight.zero_()
            native.classifier.weight[:, :outputs].copy_(torch.eye(outputs, dtype=weight.dtype))
            native.classifier.weight[:, outputs : 2 * outputs].copy_(
                -torch.eye(outputs, dtype=weight.dtype)
            )
            native.classifier.bias.zero_()
    native.eval()
    return native


def check_export(
    module: ClsLinearClassifier, native: Any, input_ids: torch.Tensor, tolerance: float = 1e-3
) -> float:
    """Largest absolute logit difference between ``module`` and ``native`` on a batch.

    Both run on the CPU in fp32, outside autocast, so the rounding of the training
    precision (bf16 or fp16 autocast) cannot make two equal functions differ.
    The tolerance is relative to the logits' size: the scaled-identity head multiplies
    float rounding by the logits' magnitude, not by a constant.

    Raises:
        ModelError: when the difference exceeds ``tolerance * max(1, max |logit|)``.
    """
    module = module.to("cpu").float().eval()
    native = native.to("cpu").float().eval()
    input_ids = input_ids.cpu()
    mask = torch.ones_like(input_ids)
    with torch.inference_mode(), torch.autocast("cpu", enabled=False):
        ours = module(input_ids=input_ids, attention_mask=mask).logits.float()
        theirs = native(input_ids=input_ids, attention_mask=mask).logits.float()
    difference = float((ours - theirs).abs().max())
    allowed = tolerance * max(1.0, float(ours.abs().max()))
    if difference > allowed:
        raise ModelError(
            f"exported head disagrees with the trained one by {difference:.2e} in the logits "
            f"(allowed {allowed:.2e})"
        )
    return difference
