from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from bertsent.cli.options import training_config
from bertsent.errors import ConfigError
from bertsent.training.config import TrainingConfig, check_fits_checkpoint


def test_round_trip() -> None:
    config = TrainingConfig(epochs=2, learning_rate=3e-5, truncation="head+tail", eval_steps=50)
    assert TrainingConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("learning_rate", 2.0),
        ("truncation", "middle"),
        ("metric_for_best", "auc"),
        ("batch_size", 0),
        ("warmup_ratio", 1.5),
        ("teacher_epochs", 0),
        ("epochs", float("inf")),  # an OverflowError deep in the Trainer or SetFit
        ("epochs", float("nan")),
        ("r_drop", float("inf")),
        ("seed", -1),  # numpy's seeds are 0 ... 2**32 - 1
        ("distill_temperature", 1e-300),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"training setting {field}="):
        TrainingConfig(**{field: value})  # type: ignore[arg-type]  # refused when made


@pytest.mark.parametrize(
    "setting",
    [{"distill_alpha": 0.0}, {"distill_temperature": 4.0}, {"teacher_epochs": 1},
     {"teacher_learning_rate": 1e-5}],
)  # fmt: skip
def test_distillation_settings_without_a_teacher_are_refused(setting: dict[str, float]) -> None:
    """They were ignored, yet saved in the recipe a later --resume or compare compares."""
    with pytest.raises(ConfigError, match="shapes a distillation, and this run has no teacher"):
        TrainingConfig(**setting)  # type: ignore[arg-type]
    teacher = {"teacher_model": "m"} if "teacher" in next(iter(setting)) else {"teacher": "t"}
    TrainingConfig(**setting, **teacher)  # type: ignore[arg-type]


def test_a_setting_changed_later_is_checked_again_by_validate() -> None:
    config = TrainingConfig()
    config.dropout = 1.5
    with pytest.raises(ConfigError, match=r"training setting dropout=1\.5"):
        config.validate()


def train_parser() -> argparse.ArgumentParser:
    from bertsent.cli.options import add_training_options

    parser = argparse.ArgumentParser()
    add_training_options(parser)
    return parser


def test_every_setting_has_a_generated_train_flag() -> None:
    destinations = {action.dest for action in train_parser()._actions}
    assert {f.name for f in dataclasses.fields(TrainingConfig)} <= destinations
    assert training_config(train_parser().parse_args([])) == TrainingConfig()


def test_flags_become_the_config_with_their_types() -> None:
    args = train_parser().parse_args(
        ["--epochs", "2", "--metric", "loss", "--no-group-by-length", "--class-weights",
         "--gradient-accumulation", "4", "--learning-rate", "3e-5", "--teacher", "t"]
    )  # fmt: skip
    config = training_config(args)
    assert config == TrainingConfig(
        epochs=2.0, metric_for_best="loss", group_by_length=False, class_weights=True,
        gradient_accumulation_steps=4, learning_rate=3e-5, teacher="t",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"training setting warmup_ratio=1\.5"):
        training_config(train_parser().parse_args(["--warmup-ratio", "1.5"]))


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"unknown training setting.*learnin_rate"):
        TrainingConfig.from_dict({"learnin_rate": 1e-4})


def test_max_length_is_checked_against_the_checkpoints_positions(tmp_path: Path) -> None:
    from transformers import BertConfig, RobertaConfig

    BertConfig(max_position_embeddings=128).save_pretrained(tmp_path / "bert")
    with pytest.raises(ConfigError, match=r"max_length=256 .* allows at most 128 tokens") as caught:
        check_fits_checkpoint(TrainingConfig(model=str(tmp_path / "bert"), max_length=256))
    assert caught.value.hint == "use --max-length 128 or less"
    check_fits_checkpoint(TrainingConfig(model=str(tmp_path / "bert"), max_length=128))

    # RoBERTa numbers positions after its padding index: 514 embeddings hold 512 tokens
    RobertaConfig(max_position_embeddings=514, pad_token_id=1).save_pretrained(tmp_path / "rob")
    with pytest.raises(ConfigError, match="at most 512 tokens"):
        check_fits_checkpoint(TrainingConfig(model=str(tmp_path / "rob"), max_length=513))
    check_fits_checkpoint(TrainingConfig(model=str(tmp_path / "rob"), max_length=512))
