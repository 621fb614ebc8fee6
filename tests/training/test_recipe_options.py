"""Recipe levers: layer-wise learning-rate decay, label and ordinal smoothing, R-Drop,
checkpoint averaging."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertModel, TrainerCallback

from bertsent.cli import build_parser
from bertsent.cli.options import training_config
from bertsent.data.splits import DatasetSplits, Split
from bertsent.encoders.heads import ClsLinearClassifier
from bertsent.errors import ConfigError, TrainingInterrupted
from bertsent.pipeline import train
from bertsent.training.config import TrainingConfig
from bertsent.training.finetune import smoothed_targets
from bertsent.training.layer_decay import layer_wise_groups
from tests.callbacks import SendSigint
from tests.conftest import write_csv
from tests.data.test_tasks import five_class_splits
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
    # class weights balance the classes of one label per review: refused, not ignored
    weighted = tiny_config(tiny_model_dir, epochs=1, class_weights=True)
    with pytest.raises(ConfigError, match=r"--class-weights balances the classes of a single"):
        train(str(tmp_path / "emotions"), weighted, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    with pytest.raises(
        ConfigError, match=r"layer_decay=0 \(--layer-decay\) is invalid: use in \(0, 1\]"
    ):
        tiny_config(tiny_model_dir, layer_decay=0)
    with pytest.raises(
        ConfigError, match=r"average_last=0 \(--average-last\) is invalid: use >= 1"
    ):
        tiny_config(tiny_model_dir, average_last=0)


def test_ordinal_smoothing_puts_near_misses_closer_to_the_target() -> None:
    config = TrainingConfig(ordinal_smoothing=0.3)
    columns = ["negative", "neutral", "positive", "very negative", "very positive"]
    rows = smoothed_targets(config, columns, multi_label=False)
    assert rows is not None
    target = dict(zip(columns, rows[columns.index("very positive")].tolist(), strict=True))
    assert target["very positive"] == pytest.approx(0.7)
    # each step away along the scale gets half the share of the step before
    for near, far in [("positive", "neutral"), ("neutral", "negative"),
                      ("negative", "very negative")]:  # fmt: skip
        assert target[near] == pytest.approx(2 * target[far])
    assert rows.sum(dim=1).tolist() == pytest.approx([1.0] * 5)
    # a scale with a gap (stars 1, 3, 4, 5) is stepped by rank: "4" is further from "1"
    # than "3" is (both were two rounded steps away)
    from bertsent.encoders.heads import ordinal_targets

    one_star = ordinal_targets([-1.0, 0.0, 0.5, 1.0], 0.3)[0].tolist()
    assert one_star[1] == pytest.approx(2 * one_star[2]) == pytest.approx(4 * one_star[3])
    middle = rows[columns.index("neutral")].tolist()
    assert middle[0] == pytest.approx(middle[2]) and middle[3] == pytest.approx(middle[4])

    torch.manual_seed(0)
    module = tiny_module(dropout=0.0).eval()
    module.head = torch.nn.Linear(8, 5)
    module.target_rows = rows
    input_ids, labels = torch.randint(0, 50, (4, 6)), torch.tensor([4, 1, 0, 3])
    output = module(input_ids, labels=labels)
    log_p = output.logits.float().log_softmax(-1)
    each = -(rows[labels] * log_p).sum(-1)
    assert output.loss.item() == pytest.approx(each.mean().item())
    # --class-weights: each example weighs as its gold class, as with one-hot targets
    module.class_weights = torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0])
    weight = module.class_weights[labels]
    weighted = module(input_ids, labels=labels).loss.item()
    assert weighted == pytest.approx(((each * weight).sum() / weight.sum()).item())


def test_training_with_ordinal_smoothing_learns_the_soft_targets(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    seen: list[torch.Tensor | None] = []

    class RecordTargets(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seen.append(kwargs["model"].target_rows)

    config = tiny_config(tiny_model_dir, epochs=1, ordinal_smoothing=0.2)
    run = train(five_class_splits(), config, tmp_path / "model", callbacks=[RecordTargets()])
    expected = smoothed_targets(config, list(run.model.labels_), multi_label=False)
    assert seen[0] is not None and expected is not None
    assert torch.equal(seen[0].cpu(), expected)
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert metadata["training_config"]["ordinal_smoothing"] == 0.2

    two_sides = DatasetSplits(
        "reviews",
        train=Split("train", ["good", "bad"] * 10, ["positive", "negative"] * 10),
        dev=Split("dev", ["good", "bad"], ["positive", "negative"]),
    )
    with pytest.raises(ConfigError, match=r"ordinal-smoothing 0\.2 needs ordered classes"):
        train(two_sides, config, tmp_path / "binary")
    assert not (tmp_path / "binary").exists()
    # refused before a --teacher-model teacher (which leaves the smoothing out) trains
    distilled = replace(config, teacher_model=str(tiny_model_dir))
    with pytest.raises(ConfigError, match=r"ordinal-smoothing 0\.2 needs ordered classes"):
        train(two_sides, distilled, tmp_path / "binary")
    assert not (tmp_path / "binary.teacher").exists()
    with pytest.raises(ConfigError, match="each spreads the target; choose one"):
        tiny_config(tiny_model_dir, ordinal_smoothing=0.2, label_smoothing=0.1)


def test_r_drop_adds_the_symmetric_kl_of_two_dropout_passes() -> None:
    module = tiny_module(dropout=0.3, r_drop=2.0).train()
    input_ids, labels = torch.randint(0, 50, (4, 6)), torch.tensor([0, 1, 1, 0])
    torch.manual_seed(0)
    loss = module(input_ids, labels=labels).loss
    torch.manual_seed(0)  # the same dropout masks: one pass over the batch taken twice
    module.r_drop = 0.0
    first, second = module(input_ids.repeat(2, 1)).logits.chunk(2)
    ce = torch.nn.functional.cross_entropy
    p, q = first.log_softmax(-1), second.log_softmax(-1)
    kl_pq = (p.exp() * (p - q)).sum(-1).mean()
    kl_qp = (q.exp() * (q - p)).sum(-1).mean()
    expected = (ce(first, labels) + ce(second, labels)) / 2 + 2.0 * (kl_pq + kl_qp) / 2
    assert kl_pq > 1e-4  # dropout made the two passes differ
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    module.eval()  # evaluation runs once and adds nothing
    plain = module(input_ids, labels=labels)
    assert plain.loss.item() == pytest.approx(ce(plain.logits, labels).item(), rel=1e-6)


def test_r_drop_compares_each_label_of_a_multi_label_pass() -> None:
    module = tiny_module(dropout=0.3, r_drop=2.0).train()
    input_ids = torch.randint(0, 50, (4, 6))
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    torch.manual_seed(0)
    loss = module(input_ids, labels=labels).loss
    torch.manual_seed(0)
    module.r_drop = 0.0
    first, second = module(input_ids.repeat(2, 1)).logits.chunk(2)
    p, q = torch.sigmoid(first), torch.sigmoid(second)
    bernoulli = p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()
    reverse = q * (q / p).log() + (1 - q) * ((1 - q) / (1 - p)).log()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # per label, averaged over labels and examples as binary cross-entropy is
    expected = (bce(first, labels) + bce(second, labels)) / 2 + 2.0 * (
        (bernoulli + reverse) / 2
    ).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_training_with_r_drop_runs_each_batch_twice(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    sizes: list[int] = []

    class RecordBatches(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            encoder = kwargs["model"].encoder
            encoder.register_forward_hook(
                lambda m, a, kw, out: sizes.append(len(kw["input_ids"])), with_kwargs=True
            )

    config = tiny_config(tiny_model_dir, epochs=1, r_drop=1.0, eval_batch_size=16)
    train(synthetic_splits, config, tmp_path / "model", callbacks=[RecordBatches()])
    assert sizes[:10] == [32] * 10  # 160 reviews in batches of 16, each taken twice
    assert max(sizes[10:]) <= 16  # evaluation (batch 16 here) runs each batch once
    metadata = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert metadata["training_config"]["r_drop"] == 1.0
    with pytest.raises(ConfigError, match=r"r_drop=-1.0 \(--r-drop\) is invalid: use >= 0"):
        tiny_config(tiny_model_dir, r_drop=-1.0)


@pytest.mark.parametrize("command", [["train", "--output", "m"], ["compare"]])
def test_the_robust_recipe_turns_r_drop_on_under_the_flags_given(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()

    def config(*flags: str) -> TrainingConfig:
        return training_config(parser.parse_args([*command, *flags]))

    assert config().r_drop == 0.0
    robust = config("--recipe", "robust", "--epochs", "2")
    assert (robust.r_drop, robust.epochs) == (1.0, 2.0)
    if command[0] == "train":  # an explicit flag wins over the recipe, even at its default
        assert config("--recipe", "robust", "--r-drop", "0.5").r_drop == 0.5
        assert config("--recipe", "robust", "--r-drop", "0").r_drop == 0.0
    with pytest.raises(SystemExit):
        config("--recipe", "fastest")
    assert "argument --recipe: invalid choice: 'fastest'" in capsys.readouterr().err


def test_mean_weights_averages_floats_and_keeps_the_last_integer_buffers(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from bertsent.training.finetune import mean_weights

    for step, (value, position) in enumerate(((1.0, 0), (2.0, 1), (6.0, 2))):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        save_file({"w": torch.full((2, 2), value), "ids": torch.tensor([position])},
                  str(folder / "model.safetensors"))  # fmt: skip
    averaged = mean_weights(sorted(tmp_path.iterdir()))
    assert torch.equal(averaged["w"], torch.full((2, 2), 3.0, dtype=torch.float64))
    assert averaged["ids"].tolist() == [2]


class RecordWeights(TrainerCallback):
    """The module's weights at every evaluation, as the checkpoint of that step holds them."""

    def __init__(self) -> None:
        self.states: dict[float, dict[str, torch.Tensor]] = {}

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        weights = kwargs["model"].state_dict()
        self.states[round(state.epoch, 4)] = {n: t.detach().clone() for n, t in weights.items()}


def test_average_last_keeps_the_mean_of_the_last_evaluations_when_dev_agrees(
    tiny_model_dir: Path,
    synthetic_splits: DatasetSplits,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # on the CPU, where the dev score during training and after it are computed alike
    monkeypatch.setenv("BERTSENT_DEVICE", "cpu")
    record = RecordWeights()
    config = tiny_config(tiny_model_dir, epochs=3, average_last=2)
    run = train(synthetic_splits, config, tmp_path / "model", callbacks=[record])
    assert sorted(record.states) == [1.0, 2.0, 3.0]
    native = run.model.model_.state_dict()  # type: ignore[attr-defined]
    # the exported head is rescaled for the family's pooler: compare encoder weights
    pairs = {
        f"encoder.{name}": f"bert.{name}"
        for name in ("encoder.layer.1.output.dense.weight", "embeddings.word_embeddings.weight")
    }
    mean = {n: (record.states[2.0][n] + record.states[3.0][n]) / 2 for n in pairs}
    if "averaged_epochs" in run.best:  # dev scored the average at least as well: kept
        assert run.best["averaged_epochs"] == [2.0, 3.0]
        assert run.best["eval_accuracy"] >= run.best["single_best"]["eval_accuracy"]
        expected = mean
    else:  # the best single epoch stays; the record says what the average scored
        tried = run.best["average_not_kept"]
        assert tried["averaged_epochs"] == [2.0, 3.0]
        assert tried["eval_accuracy"] < run.best["eval_accuracy"]
        expected = record.states[run.best["epoch"]]
        name = "encoder.encoder.layer.1.output.dense.weight"
        assert not torch.allclose(mean[name], expected[name])
    for name, exported in pairs.items():
        assert torch.allclose(native[exported], expected[name].float(), atol=1e-6)
    # the dev score the model reports is the kept weights' own
    assert run.dev_report["accuracy"] == pytest.approx(run.best["eval_accuracy"], abs=1e-9)
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert ("weights averaged over epochs 2, 3" in card) == ("averaged_epochs" in run.best)


class FirstEvaluationBest(TrainerCallback):
    """Dev scores the first evaluation best, so the Trainer keeps its checkpoint."""

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        kwargs["metrics"]["eval_accuracy"] = 1.0 if state.global_step <= 10 else 0.0


def test_average_last_after_a_stop_between_evaluations_finds_its_checkpoints(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """The stop's own checkpoint counted toward the Trainer's limit: after the resume,
    rotation deleted epoch 2's checkpoint (not the best, not the newest), and averaging
    epochs 2 and 3 failed after all the training, on every later resume too."""
    config = tiny_config(tiny_model_dir, epochs=3, average_last=2)
    output = tmp_path / "model"
    with pytest.raises(TrainingInterrupted, match="step 25"):
        train(synthetic_splits, config, output, callbacks=[FirstEvaluationBest(), SendSigint(25)])
    run = train(synthetic_splits, config, output, resume=True, callbacks=[FirstEvaluationBest()])
    assert [entry["epoch"] for entry in run.history] == [1.0, 2.0, 3.0]  # none at the stop
    tried = run.best.get("average_not_kept") or run.best
    assert tried["averaged_epochs"] == [2.0, 3.0]


def test_the_model_card_says_what_the_training_loss_was() -> None:
    """It said "cross-entropy" and the batch alone for every model: multi-label BCE,
    R-Drop, smoothing, a teacher and accumulated batches went unsaid."""
    from bertsent.models.bert import model_card

    metadata = {
        "data": {"labels": ["a", "b"], "name": "d", "sizes": {"train": 8}, "fingerprint": "f" * 16},
        "best": {"epoch": 2},
    }  # fmt: skip
    report = {"accuracy_ci": (0.5, 0.9), "accuracy": 0.7, "macro_f1": 0.7, "ece": 0.1, "n": 8}
    plain = TrainingConfig(batch_size=32, learning_rate=5e-5)
    assert "trained end to end with cross-entropy." in model_card(plain, metadata, report)
    recipe = replace(plain, r_drop=1.0, label_smoothing=0.1, gradient_accumulation_steps=2)
    card = model_card(recipe, metadata, report, multi_label=False)
    assert "with cross-entropy, with --label-smoothing 0.1, --r-drop 1." in card
    assert "batch 32 x 2 accumulated" in card
    assert "binary cross-entropy per label" in model_card(plain, metadata, report, True)
