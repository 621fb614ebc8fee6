"""Recipe levers: layer-wise learning-rate decay and label smoothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertModel, TrainerCallback

from bertsent.data.splits import DatasetSplits
from bertsent.encoders.heads import ClsLinearClassifier
from bertsent.errors import ConfigError
from bertsent.pipeline import train
from bertsent.training.layer_decay import layer_wise_groups
from tests.conftest import write_csv
from tests.test_multi_label import emotion_rows
from tests.test_pipeline import tiny_config


def tiny_module(**options: Any) -> ClsLinearClassifier:
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16)  # fmt: skip
    return ClsLinearClassifier(BertModel(config), num_labels=2, **options)


def test_each_depth_learns_at_its_decayed_rate() -> None:
    module = tiny_module()
    groups = layer_wise_groups(module, learning_rate=1e-3, decay=0.5, weight_decay=0.01)
    rate_of: dict[str, float] = {}
    decay_of: dict[str, float] = {}
    for group in groups:
        for parameter in group["params"]:
            name = next(n for n, p in module.named_parameters() if p is parameter)
            assert name not in rate_of, f"{name} is in two groups"
            rate_of[name], decay_of[name] = group["lr"], group["weight_decay"]
    assert set(rate_of) == {n for n, _ in module.named_parameters()}
    assert rate_of["head.weight"] == pytest.approx(1e-3)
    assert rate_of["encoder.pooler.dense.weight"] == pytest.approx(1e-3)  # above the layers
    assert rate_of["encoder.encoder.layer.1.attention.self.query.weight"] == pytest.approx(5e-4)
    assert rate_of["encoder.encoder.layer.0.output.dense.weight"] == pytest.approx(2.5e-4)
    assert rate_of["encoder.embeddings.word_embeddings.weight"] == pytest.approx(1.25e-4)
    # weight decay as the Trainer applies it: not on biases and LayerNorm weights
    assert decay_of["encoder.encoder.layer.0.output.dense.weight"] == 0.01
    assert decay_of["encoder.encoder.layer.0.output.dense.bias"] == 0.0
    assert decay_of["encoder.encoder.layer.0.output.LayerNorm.weight"] == 0.0
    assert groups[0]["lr"] == pytest.approx(1e-3)  # the Trainer logs the first group's rate


class RecordRates(TrainerCallback):
    """The optimizer's rate per parameter name at every step, as the Trainer ran it."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model, optimizer = kwargs["model"], kwargs["optimizer"]
        rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
        self.steps.append({n: rate[id(p)] for n, p in model.named_parameters()})


def test_training_applies_layer_decay_through_the_schedule(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    record = RecordRates()
    config = tiny_config(tiny_model_dir, epochs=1, layer_decay=0.5)
    run = train(synthetic_splits, config, tmp_path / "model", callbacks=[record])
    assert len(record.steps) == 10  # 160 reviews, batch 16
    for rates in record.steps:  # warmup and decay scale every layer alike
        head = rates["head.weight"]
        assert rates["encoder.encoder.layer.1.attention.self.query.weight"] == pytest.approx(
            head / 2
        )
        assert rates["encoder.embeddings.word_embeddings.weight"] == pytest.approx(head / 8)
    assert max(r["head.weight"] for r in record.steps) == pytest.approx(3e-3, rel=0.2)
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert metadata["training_config"]["layer_decay"] == 0.5
    assert run.dev_report["accuracy"] > 0

    plain = RecordRates()
    train(synthetic_splits, tiny_config(tiny_model_dir, epochs=1), tmp_path / "plain",
          callbacks=[plain])  # fmt: skip
    assert len({round(r, 12) for r in plain.steps[-1].values()}) == 1  # off by default


def test_label_smoothing_spreads_the_target() -> None:
    torch.manual_seed(0)
    module = tiny_module(dropout=0.0, label_smoothing=0.2).eval()
    input_ids, labels = torch.randint(0, 50, (4, 6)), torch.tensor([0, 1, 1, 0])
    output = module(input_ids, labels=labels)
    log_p = output.logits.float().log_softmax(-1)
    gold = -log_p.gather(1, labels[:, None]).mean()
    expected = 0.8 * gold + 0.2 * (-log_p.mean(-1)).mean()  # eps spread over the 2 classes
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert output.loss.item() != pytest.approx(gold.item(), rel=1e-3)


def test_label_smoothing_is_refused_for_several_labels_and_out_of_range(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    write_csv(tmp_path / "emotions" / "train.csv", emotion_rows(40, seed=0))
    write_csv(tmp_path / "emotions" / "dev.csv", emotion_rows(12, seed=1))
    config = tiny_config(tiny_model_dir, epochs=1, label_smoothing=0.1)
    with pytest.raises(ConfigError, match=r"label-smoothing 0\.1 applies to single-label tasks"):
        train(str(tmp_path / "emotions"), config, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    with pytest.raises(ConfigError, match=r"layer_decay=0 is invalid: use in \(0, 1\]"):
        tiny_config(tiny_model_dir, layer_decay=0)
