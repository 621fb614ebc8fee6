"""Training settings: one typed dataclass that validates itself and round-trips to a dict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
from bertsent.encoders.tokenization import TRUNCATION_STRATEGIES
from bertsent.errors import ConfigError
from bertsent.hardware import PRECISIONS, default_batch_size, scaled_learning_rate

BEST_METRICS = ("accuracy", "macro_f1", "loss")
REFERENCE_BATCH = 32  # the batch size the default learning rate was chosen for
REFERENCE_LEARNING_RATE = 5e-5


@dataclass
class TrainingConfig:
    """How to fine-tune an encoder; saved next to the model as part of ``bertsent.json``.

    Defaults are the recipe of the seed: cross-entropy, AdamW with weight decay,
    10% linear warmup then linear decay to zero, 3 epochs, best epoch on dev.

    >>> TrainingConfig(epochs=2, learning_rate=3e-5).validate().epochs
    2.0
    """

    model: str = DEFAULT_MODEL
    epochs: float = 3.0
    batch_size: int | None = None  # None: by device (32 on a CPU, 128 on a GPU)
    eval_batch_size: int = 128
    learning_rate: float | None = None  # None: 5e-5 at batch 32, square-root scaled
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    truncation: str = "head"
    gradient_accumulation_steps: int = 1
    eval_steps: int | None = None  # None: evaluate (and checkpoint) once per epoch
    metric_for_best: str = "accuracy"
    early_stopping_patience: int | None = None
    class_weights: bool = False  # weight the loss by inverse class frequency
    dropout: float = 0.1
    seed: int = 42
    precision: str = (
        "auto"  # auto: bf16 where the hardware runs it fast, else fp32 (fp16 on old GPUs)
    )
    group_by_length: bool = True
    threads: int | None = None  # None: PyTorch's default (one per core)
    # keep this many of the encoder's layers, evenly spaced up to the top one: a smaller,
    # faster student initialised from a bigger (e.g. already fine-tuned) model
    encoder_layers: int | None = None
    # knowledge distillation: a fine-tuned teacher's logits as soft targets
    teacher: str | None = None  # a bertsent model directory
    distill_alpha: float = 0.5  # weight of the gold-label loss; the rest is the teacher's
    distill_temperature: float = 2.0

    def validate(self) -> TrainingConfig:
        """Check every field; returns self so calls can be chained.

        Raises:
            ConfigError: naming the field, its value and the allowed range.
        """
        self.epochs = float(self.epochs)
        checks: list[tuple[str, bool, str]] = [
            ("epochs", self.epochs > 0, "> 0"),
            ("batch_size", self.batch_size is None or self.batch_size >= 1, ">= 1 or unset"),
            ("eval_batch_size", self.eval_batch_size >= 1, ">= 1"),
            (
                "learning_rate",
                self.learning_rate is None or 0 < self.learning_rate < 1,
                "between 0 and 1 or unset",
            ),
            ("weight_decay", 0 <= self.weight_decay < 1, "in [0, 1)"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
            ("max_length", 8 <= self.max_length <= 8192, "between 8 and 8192"),
            (
                "truncation",
                self.truncation in TRUNCATION_STRATEGIES,
                " | ".join(TRUNCATION_STRATEGIES),
            ),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps >= 1, ">= 1"),
            ("eval_steps", self.eval_steps is None or self.eval_steps >= 1, ">= 1 or unset"),
            ("metric_for_best", self.metric_for_best in BEST_METRICS, " | ".join(BEST_METRICS)),
            (
                "early_stopping_patience",
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                ">= 1 or unset",
            ),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("precision", self.precision in PRECISIONS, " | ".join(PRECISIONS)),
            ("threads", self.threads is None or self.threads >= 1, ">= 1 or unset"),
            ("distill_alpha", 0 <= self.distill_alpha <= 1, "in [0, 1]"),
            ("distill_temperature", self.distill_temperature > 0, "> 0"),
            (
                "encoder_layers",
                self.encoder_layers is None or self.encoder_layers >= 1,
                ">= 1 or unset",
            ),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(
                    f"training setting {name}={getattr(self, name)!r} is invalid: use {allowed}"
                )
        return self

    def for_device(self, device: str) -> TrainingConfig:
        """A copy with the batch size and learning rate this device runs, when left unset.

        An unset batch size follows the device (:func:`default_batch_size`); an unset
        learning rate is 5e-5 scaled from batch 32 by the square-root rule, so the CPU
        recipe keeps exactly 5e-5 and a GPU's batch of 128 trains at 1e-4.

        >>> TrainingConfig().for_device("cuda").batch_size
        128
        """
        batch_size = self.batch_size or default_batch_size(device)
        learning_rate = self.learning_rate or scaled_learning_rate(
            REFERENCE_LEARNING_RATE, batch_size * self.gradient_accumulation_steps, REFERENCE_BATCH
        )
        return dataclasses.replace(self, batch_size=batch_size, learning_rate=learning_rate)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """Build a config from a dict, rejecting unknown keys (likely typos)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown training setting(s): {', '.join(unknown)}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        return cls(**values).validate()


# families that number positions after the padding index: 514 embeddings hold 512 tokens
POSITION_OFFSET_FAMILIES = ("roberta", "xlm-roberta", "camembert")


def check_position_limit(config: TrainingConfig) -> None:
    """Refuse a ``max_length`` longer than the checkpoint has position embeddings for.

    Checked from ``config.json`` before anything is trained or written: otherwise the
    first long enough batch fails deep inside training, after the checkpoint folder
    was made.

    Raises:
        ConfigError: naming the longest ``max_length`` the checkpoint allows.
    """
    from transformers import AutoConfig

    try:
        checkpoint = AutoConfig.from_pretrained(
            resolve_model(config.model), trust_remote_code=False
        )
    except (OSError, ValueError):
        return  # loading the encoder reports an unreachable or broken checkpoint by name
    positions = getattr(checkpoint, "max_position_embeddings", None)
    if not isinstance(positions, int):
        return
    usable = positions
    if checkpoint.model_type in POSITION_OFFSET_FAMILIES:
        usable = positions - (checkpoint.pad_token_id or 0) - 1
    if config.max_length > usable:
        raise ConfigError(
            f"training setting max_length={config.max_length} is longer than {config.model} "
            f"can read: its max_position_embeddings={positions} allows at most {usable} tokens",
            hint=f"use --max-length {usable} or less",
        )
