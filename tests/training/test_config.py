from __future__ import annotations

import pytest

from bertsent.errors import ConfigError
from bertsent.training.config import TrainingConfig


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
    ],
)
def test_invalid_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"training setting {field}="):
        TrainingConfig(**{field: value}).validate()  # type: ignore[arg-type]


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"unknown training setting.*learnin_rate"):
        TrainingConfig.from_dict({"learnin_rate": 1e-4})
