from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers

from bertsent.encoders.heads import (
    ClsLinearClassifier,
    check_export,
    check_supported,
    export_to_transformers,
)
from bertsent.errors import ModelError
from tests.conftest import tiny_classifier

TINY = {
    "bert": (transformers.BertConfig, {}),
    "roberta": (transformers.RobertaConfig, {}),
    "albert": (transformers.AlbertConfig, {"embedding_size": 16}),
    "mpnet": (transformers.MPNetConfig, {}),
}


def tiny_encoder(family: str, width: int = 32, layers: int = 2) -> Any:
    """A randomly initialised encoder of ``family``, 4 heads, ``width`` wide."""
    if family == "distilbert":
        config = transformers.DistilBertConfig(
            vocab_size=100, dim=width, n_layers=layers, n_heads=4, hidden_dim=2 * width
        )
    else:
        cls, extra = TINY[family]
        config = cls(
            vocab_size=100,
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=2 * width,
            **extra,
        )
    return transformers.AutoModel.from_config(config)


@pytest.mark.parametrize("family", ["bert", "roberta", "albert", "mpnet", "distilbert"])
def test_export_computes_the_linear_cls_head(family: str) -> None:
    torch.manual_seed(0)
    module = ClsLinearClassifier(tiny_encoder(family), num_labels=3)
    torch.nn.init.normal_(module.head.weight, std=2.0)  # a trained-looking head, not the tiny init
    torch.nn.init.normal_(module.head.bias)
    native = export_to_transformers(module, ["a", "b", "c"])
    input_ids = torch.randint(5, 100, (4, 12))
    assert check_export(module, native, input_ids, tolerance=1e-3) < 1e-3
    assert native.config.id2label == {0: "a", 1: "b", 2: "c"}


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_an_exported_head_keeps_its_answers_in_bf16(family: str) -> None:
    torch.manual_seed(0)
    module = ClsLinearClassifier(tiny_encoder(family, width=256, layers=1), num_labels=2)
    torch.nn.init.normal_(module.head.weight, std=0.3)
    native = export_to_transformers(module, ["a", "b"])
    input_ids = torch.randint(5, 100, (64, 12))
    with torch.inference_mode():
        full = native(input_ids=input_ids).logits
        half = native.to(torch.bfloat16)(input_ids=input_ids).logits.float()
    assert float((half - full).abs().max()) < 0.2  # bf16 rounding, not a lost shift
    assert torch.equal(half.argmax(dim=1), full.argmax(dim=1))


def test_head_init_is_xavier_with_zero_bias() -> None:
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    module = ClsLinearClassifier(transformers.AutoModel.from_config(config), num_labels=2)
    bound = (6 / (64 + 2)) ** 0.5
    assert module.head.weight.abs().max() <= bound
    assert module.head.weight.std() > bound / 4  # not zeros or a tiny normal
    assert torch.all(module.head.bias == 0)


def test_unsupported_family_fails_before_training() -> None:
    with pytest.raises(ModelError, match="model type 'gpt2' is not supported"):
        check_supported("gpt2", hidden=32, num_labels=2)
    check_supported("distilbert", hidden=32, num_labels=16)  # relu(z) - relu(-z) fits
    with pytest.raises(ModelError, match="'distilbert' head holds at most 16 labels, not 17"):
        check_supported("distilbert", hidden=32, num_labels=17)


def test_distillation_loss_mixes_gold_and_teacher_terms() -> None:
    module = tiny_classifier(distillation=(0.0, 2.0))
    input_ids, labels = torch.randint(5, 100, (4, 6)), torch.tensor([0, 1, 0, 1])
    logits = module(input_ids=input_ids).logits.detach()
    # the student already gives the teacher's scores: nothing left to learn from it
    agree = module(input_ids=input_ids, labels=labels, teacher_logits=logits).loss.detach()
    assert float(agree) == pytest.approx(0.0, abs=1e-6)
    disagree = module(input_ids=input_ids, labels=labels, teacher_logits=-logits).loss.detach()
    assert float(disagree) > 0
    module.distillation = (1.0, 2.0)  # all weight on the gold labels: plain cross-entropy
    gold = module(input_ids=input_ids, labels=labels, teacher_logits=-logits).loss.detach()
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert float(gold) == pytest.approx(float(expected), rel=1e-5)


@torch.no_grad()
def test_distillation_loss_is_hintons_mix_computed_by_hand() -> None:
    alpha, temperature = 0.3, 3.0
    module = tiny_classifier(distillation=(alpha, temperature))
    input_ids, labels = torch.randint(5, 100, (5, 7)), torch.tensor([0, 1, 1, 0, 1])
    student = module(input_ids=input_ids).logits.detach().double()
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.4], [-3.0, 1.0], [1.0, 1.0], [0.0, 4.0]])
    loss = module(input_ids=input_ids, labels=labels, teacher_logits=teacher).loss

    # by hand: alpha * CE(gold) + (1 - alpha) * T^2 * mean_i KL(q_i || p_i), both at T
    log_p = student.log_softmax(-1)
    cross_entropy = -log_p[torch.arange(5), labels].mean()
    q = (teacher.double() / temperature).softmax(-1)
    log_p_t = (student / temperature).log_softmax(-1)
    kl = (q * (q.log() - log_p_t)).sum(-1).mean()
    expected = alpha * cross_entropy + (1 - alpha) * temperature**2 * kl
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(kl) > 0.01  # the teacher term is a real part of that sum


@torch.no_grad()
def test_the_training_loss_shown_leaves_the_teachers_term_out_as_dev_has_none() -> None:
    """The history's train loss held (1 - alpha) T^2 KL, and the training figure drew it
    beside a dev loss without it."""
    module = tiny_classifier(distillation=(0.3, 3.0)).train()
    input_ids, labels = torch.randint(5, 100, (5, 7)), torch.tensor([0, 1, 1, 0, 1])
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.4], [-3.0, 1.0], [1.0, 1.0], [0.0, 4.0]])
    output = module(input_ids=input_ids, labels=labels, teacher_logits=teacher)
    gold = torch.nn.functional.cross_entropy(output.logits.float(), labels)
    assert module.running.loss / module.running.seen == pytest.approx(float(gold), rel=1e-5)
    assert float(output.loss) != pytest.approx(float(gold), rel=1e-3)  # trained on the mix


@torch.no_grad()
def test_distillation_with_alpha_zero_learns_from_the_teacher_only() -> None:
    module = tiny_classifier(distillation=(0.0, 2.0))
    input_ids = torch.randint(5, 100, (4, 6))
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.4], [-3.0, 1.0], [1.0, 1.0]])

    def loss(labels: list[int], teacher_logits: torch.Tensor) -> float:
        out = module(
            input_ids=input_ids, labels=torch.tensor(labels), teacher_logits=teacher_logits
        )
        return float(out.loss)

    assert loss([0, 1, 0, 1], teacher) == loss([1, 0, 1, 0], teacher)  # gold labels ignored
    assert loss([0, 1, 0, 1], teacher) != pytest.approx(loss([0, 1, 0, 1], -teacher))


@torch.no_grad()
def test_class_weights_weight_each_example_by_its_gold_class() -> None:
    weights = torch.tensor([2.5, 0.625])
    weighted = tiny_classifier(class_weights=weights)
    plain = tiny_classifier()
    input_ids, labels = torch.randint(5, 100, (6, 5)), torch.tensor([0, 1, 1, 1, 0, 1])
    logits = plain(input_ids=input_ids).logits.detach().double()
    assert torch.equal(weighted(input_ids=input_ids).logits, plain(input_ids=input_ids).logits)

    # by hand: sum_i w[y_i] * -log p_i[y_i] / sum_i w[y_i]
    per_example = -logits.log_softmax(-1)[torch.arange(6), labels]
    w = weights.double()[labels]
    expected = float((w * per_example).sum() / w.sum())
    got = float(weighted(input_ids=input_ids, labels=labels).loss)
    unweighted = float(plain(input_ids=input_ids, labels=labels).loss)
    assert got == pytest.approx(expected, rel=1e-5)
    assert unweighted == pytest.approx(float(per_example.mean()), rel=1e-5)
    assert abs(got - unweighted) > 1e-3


def test_class_weights_with_label_smoothing_weight_each_example_not_each_share() -> None:
    """PyTorch weights each class's share of the smoothing by that class's weight: a
    majority example's target leant to the minority class (0.35 instead of 0.05 here)."""
    weights, eps = torch.tensor([0.55, 5.5]), 0.1
    weighted = tiny_classifier(class_weights=weights, label_smoothing=eps)
    input_ids, labels = torch.randint(5, 100, (6, 5)), torch.tensor([0, 0, 0, 0, 0, 1])
    log_p = weighted(input_ids=input_ids).logits.detach().double().log_softmax(-1)
    targets = (1 - eps) * torch.nn.functional.one_hot(labels, 2).double() + eps / 2
    per_example = -(targets * log_p).sum(-1)  # each example's smoothed cross-entropy
    w = weights.double()[labels]
    expected = float((w * per_example).sum() / w.sum())
    assert float(weighted(input_ids=input_ids, labels=labels).loss) == pytest.approx(
        expected, rel=1e-5
    )


def test_replicas_made_as_data_parallel_makes_them_add_to_the_modules_running_sums(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DataParallel runs a shallow copy of the module on each GPU; the training loss and
    accuracy the callbacks show must still add up on the module they were given. The
    replicas are made by DataParallel's own ``replicate``, with its CUDA broadcast of
    the weights replaced by plain copies so that it runs without a GPU."""
    import copy
    import pickle
    import sys

    replicate_module = sys.modules["torch.nn.parallel.replicate"]
    monkeypatch.setattr(
        replicate_module,
        "_broadcast_coalesced_reshape",
        lambda tensors, devices, detach=False: [[t.clone() for t in tensors] for _ in devices],
    )
    module = ClsLinearClassifier(tiny_encoder("bert"), num_labels=2).train()
    replicas = replicate_module.replicate(module, [0, 1])
    torch.manual_seed(0)
    shards = [torch.randint(5, 100, (n, 6)) for n in (3, 5)]  # one per GPU
    labels = [torch.tensor([0, 1, 1]), torch.tensor([1, 0, 0, 1, 1])]
    losses, correct = [], 0
    for replica, ids, gold in zip(replicas, shards, labels, strict=True):
        output = replica(input_ids=ids, labels=gold)
        losses.append(output.loss.item() * len(gold))
        correct += int((output.logits.argmax(-1) == gold).sum())
    assert module.running.seen == 8 and module.running.correct == correct
    assert module.running.loss == pytest.approx(sum(losses))
    module.running.reset()
    assert module.running.values() == [0.0, 0, 0]
    module.running.add(1.5, 1, 2)
    for clone in (copy.deepcopy(module).running, pickle.loads(pickle.dumps(module.running))):
        assert clone.values() == [1.5, 1, 2] and clone is not module.running
