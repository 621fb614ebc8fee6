from __future__ import annotations

import pytest
import torch
import transformers

from bertsent.errors import ModelError
from bertsent.models.heads import (
    ClsLinearClassifier,
    check_export,
    check_supported,
    export_to_transformers,
)

TINY = {
    "bert": (transformers.BertConfig, {}),
    "roberta": (transformers.RobertaConfig, {}),
    "albert": (transformers.AlbertConfig, {"embedding_size": 16}),
}


@pytest.mark.parametrize("family", ["bert", "roberta", "albert", "distilbert"])
def test_export_computes_the_linear_cls_head(family: str) -> None:
    torch.manual_seed(0)
    if family == "distilbert":
        config = transformers.DistilBertConfig(
            vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64
        )
    else:
        cls, extra = TINY[family]
        config = cls(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            **extra,
        )
    module = ClsLinearClassifier(transformers.AutoModel.from_config(config), num_labels=3)
    torch.nn.init.normal_(module.head.weight, std=2.0)  # a trained-looking head, not the tiny init
    torch.nn.init.normal_(module.head.bias)
    native = export_to_transformers(module, ["a", "b", "c"])
    input_ids = torch.randint(5, 100, (4, 12))
    assert check_export(module, native, input_ids, tolerance=1e-3) < 1e-3
    assert native.config.id2label == {0: "a", 1: "b", 2: "c"}


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
        check_supported("gpt2")


def test_distillation_loss_mixes_gold_and_teacher_terms() -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64,
    )  # fmt: skip
    encoder = transformers.AutoModel.from_config(config)
    module = ClsLinearClassifier(encoder, num_labels=2, dropout=0.0, distillation=(0.0, 2.0)).eval()
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
