"""Training settings: one typed dataclass that validates itself and round-trips to a dict."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bertsent.data.tasks import ordinal_scale
from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
from bertsent.encoders.tokenization import TRUNCATION_STRATEGIES
from bertsent.errors import ConfigError
from bertsent.hardware import PRECISIONS, scaled_learning_rate

BEST_METRICS = ("accuracy", "macro_f1", "loss")
# The batch size on every device when none is given, and the one the default learning
# rate was chosen for. A GPU runs it too: on an H200, batch 128 at the square-root-scaled
# 1e-4 trained 3x faster but scored lower on each of 3 seeds on rotten-tomatoes (dev and
# test) and SST-5 (README, "On one NVIDIA H200").
REFERENCE_BATCH = 32
REFERENCE_LEARNING_RATE = 5e-5
# Named recipes (`--recipe`): the settings each changes from the defaults; flags given
# explicitly win (so recipes set valued settings only: a bool flag looks the same given
# or not). robust is R-Drop at weight 1: over seeds 42, 7 and 1 it gained on
# every seed (rotten-tomatoes test +0.78 points, SST-5 dev +0.70) but trains 1.3-1.4x
# as long, which would take `make demo` past its 15 minutes (README, "R-Drop").
RECIPES: dict[str, dict[str, Any]] = {"default": {}, "robust": {"r_drop": 1.0}}


def option(default: Any, help: str, **argparse_settings: Any) -> Any:
    """A setting with the help (and any argparse flag name, choices, metavar) of its
    command-line option: ``bertsent train``'s flags are generated from these fields."""
    return field(default=default, metadata={"help": help, **argparse_settings})


def flag_of(setting: str) -> str:
    """The command-line flag of a :class:`TrainingConfig` field.

    >>> flag_of("gradient_accumulation_steps"), flag_of("learning_rate")
    ('--gradient-accumulation', '--learning-rate')
    """
    found = {f.name: f for f in dataclasses.fields(TrainingConfig)}[setting]
    return str(found.metadata.get("flag", "--" + setting.replace("_", "-")))


@dataclass
class TrainingConfig:
    """How to fine-tune an encoder; saved next to the model as part of ``bertsent.json``.

    Defaults are the recipe of the seed: cross-entropy, AdamW with weight decay,
    10% linear warmup then linear decay to zero, 3 epochs, best epoch on dev. Every
    setting is checked when the config is made (a :class:`ConfigError` names it).

    >>> TrainingConfig(epochs=2, learning_rate=3e-5).epochs
    2.0
    """

    model: str = option(DEFAULT_MODEL, "Hub id or local folder of the encoder")
    epochs: float = option(3.0, "passes over the training data")
    batch_size: int | None = option(None, "examples per step (default: 32, on a GPU too)")
    eval_batch_size: int = option(128, "examples per evaluation batch")
    learning_rate: float | None = option(
        None,
        "peak AdamW learning rate (default: 5e-5 at batch 32, scaled by "
        "sqrt(batch x gradient-accumulation / 32))",
    )
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_ratio: float = option(0.1, "share of the steps spent warming up the learning rate")
    max_length: int = option(128, "tokens kept per text")
    truncation: str = option(
        "head", "which tokens a long text keeps", choices=TRUNCATION_STRATEGIES
    )
    gradient_accumulation_steps: int = option(
        1, "batches summed per optimizer step", flag="--gradient-accumulation"
    )
    eval_steps: int | None = option(None, "evaluate every N steps (default: every epoch)")
    metric_for_best: str = option(
        "accuracy", "dev metric for the best checkpoint", flag="--metric", choices=BEST_METRICS
    )
    average_last: int = option(
        1,
        "average the weights of the last N evaluations (checkpoint averaging) and keep the "
        "average when dev scores it at least as well as the best single one (1: off)",
        metavar="N",
    )
    early_stopping_patience: int | None = option(
        None,
        "stop after PATIENCE evaluations without improvement",
        flag="--early-stopping",
        metavar="PATIENCE",
    )
    class_weights: bool = option(False, "weight the loss by inverse class frequency")
    dropout: float = option(0.1, "dropout before the linear head")
    layer_decay: float = option(
        1.0,
        "layer-wise learning-rate decay: each layer learns at this factor of the rate of "
        "the layer above it, the head at the full rate (1: off)",
    )
    label_smoothing: float = option(
        0.0, "share of each single-label target spread evenly over all classes (0: off)"
    )
    ordinal_smoothing: float = option(
        0.0,
        "ordered classes (SST-5's five; numbered ones, such as 1-5 stars, by rank): share of "
        "each target spread over the other classes, halving with each step away along the "
        "scale, so that near misses cost less than far ones (0: off)",
        metavar="SHARE",
    )
    r_drop: float = option(
        0.0,
        "R-Drop: each training batch runs twice (two dropout masks); the loss is the mean "
        "of the two passes' losses plus this weight times the symmetric KL between their "
        "predictions, per example (per label for multi-label data); doubles training "
        "compute (0: off)",
        metavar="WEIGHT",
    )
    seed: int = option(
        42, "seed for initialisation and batch order (compare: also the dev split it carves)"
    )
    precision: str = option(
        "auto",
        "auto: bf16 on CPUs with AVX-512 BF16/AMX and on bf16 GPUs, fp16 on older GPUs, else fp32",
        choices=PRECISIONS,
    )
    group_by_length: bool = option(
        True, "random batches instead of length-grouped ones", flag="--no-group-by-length"
    )
    threads: int | None = option(
        None, "CPU threads (default: the cores this process may use, within a CPU limit)"
    )
    encoder_layers: int | None = option(
        None,
        "keep N evenly spaced layers of --model: a smaller student of a bigger model",
        metavar="N",
    )
    teacher: str | None = option(
        None,
        "distil: also learn a fine-tuned teacher's soft targets (see --distill-alpha)",
        metavar="MODEL_DIR",
    )
    teacher_model: str | None = option(
        None,
        "distil in one command: first fine-tune this bigger encoder (Hub id or folder) on "
        "the same data into OUTPUT.teacher (seed 42 whatever --seed, so later runs and "
        "seeds reuse it), then learn from it as from --teacher",
        metavar="MODEL",
    )
    teacher_learning_rate: float = option(
        2e-5, "with --teacher-model: its peak learning rate (bigger encoders want smaller)"
    )
    teacher_epochs: int | None = option(
        None,
        "with --teacher-model: its epochs (unset: the student's --epochs; a bigger encoder "
        "on two CPU cores may want fewer)",
        metavar="N",
    )
    distill_texts: str | None = option(
        None,
        "with --teacher or --teacher-model: unlabelled texts (a file or folder) the "
        "teacher labels as extra training examples (its soft targets, its top class as "
        "the gold label)",
        metavar="FILE",
    )
    teacher_cache: str = option(
        "~/.cache/bertsent/teacher-logits.sqlite",
        "with --teacher or --teacher-model: file keeping the teacher's scores by text, so "
        "the next student "
        "(another seed, a --resume) skips the teacher's pass ('': keep none)",
        metavar="FILE",
    )
    distill_alpha: float = option(0.5, "weight of the gold-label loss against the teacher's")
    distill_temperature: float = option(2.0, "softmax temperature of the distilled targets")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TrainingConfig:
        """Check every field; returns self so calls can be chained.

        Raises:
            ConfigError: naming the field, its value and the allowed range.
        """
        self.epochs = float(self.epochs)
        checks: list[tuple[str, bool, str]] = [
            ("epochs", 0 < self.epochs < 1e4, "> 0 and below 10,000"),
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
            ("average_last", self.average_last >= 1, ">= 1"),
            (
                "early_stopping_patience",
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                ">= 1 or unset",
            ),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("layer_decay", 0 < self.layer_decay <= 1, "in (0, 1]"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("ordinal_smoothing", 0 <= self.ordinal_smoothing < 1, "in [0, 1)"),
            ("r_drop", 0 <= self.r_drop < 1e3, ">= 0 and finite"),
            ("precision", self.precision in PRECISIONS, " | ".join(PRECISIONS)),
            ("threads", self.threads is None or self.threads >= 1, ">= 1 or unset"),
            ("teacher_learning_rate", 0 < self.teacher_learning_rate < 1, "between 0 and 1"),
            (
                "teacher_epochs",
                self.teacher_epochs is None or self.teacher_epochs >= 1,
                ">= 1 or unset",
            ),
            ("distill_alpha", 0 <= self.distill_alpha <= 1, "in [0, 1]"),
            ("distill_temperature", 0.05 <= self.distill_temperature <= 100, "in [0.05, 100]"),
            ("seed", 0 <= self.seed < 2**32, "in [0, 2**32): numpy's seeds"),
            (
                "encoder_layers",
                self.encoder_layers is None or self.encoder_layers >= 1,
                ">= 1 or unset",
            ),
        ]
        if self.distill_texts and not (self.teacher or self.teacher_model):
            raise ConfigError(
                f"training setting distill_texts={self.distill_texts!r} needs a teacher "
                "to label them",
                hint="add --teacher MODEL_DIR, or --teacher-model MODEL to train one first",
            )
        if self.label_smoothing and self.ordinal_smoothing:
            raise ConfigError(
                f"training settings label_smoothing={self.label_smoothing!r} and "
                f"ordinal_smoothing={self.ordinal_smoothing!r}: each spreads the target; "
                "choose one"
            )
        if self.teacher and self.teacher_model:
            raise ConfigError(
                f"training settings teacher={self.teacher!r} and teacher_model="
                f"{self.teacher_model!r}: give the fine-tuned teacher or the encoder to "
                "fine-tune as one, not both"
            )
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(
                    f"training setting {name}={getattr(self, name)!r} ({flag_of(name)}) is "
                    f"invalid: use {allowed}"
                )
        teacherless = [
            name
            for name in DISTILLATION_SETTINGS
            if not (self.teacher or self.teacher_model)
            and getattr(self, name) != getattr(TrainingConfig, name)
        ]
        if teacherless:  # saved in the recipe, they would count against a later resume
            raise ConfigError(
                f"{', '.join(flag_of(name) for name in teacherless)} "
                f"{'shapes' if len(teacherless) == 1 else 'shape'} a distillation, and this "
                "run has no teacher",
                hint="add --teacher MODEL_DIR, or --teacher-model MODEL (its learning rate "
                "and epochs are for a teacher trained first), or leave them out",
            )
        return self

    def check_labels(self, labels: list[str], multi_label: bool) -> None:
        """Refuse a setting these labels cannot take, before anything trains (no torch
        needed: ``compare``, ``learning-curve`` and ``train`` call it before their baselines
        or a ``--teacher-model`` teacher train).

        Raises:
            ConfigError: ordinal smoothing asked for classes with no order, or label
                smoothing or class weights for several labels per review.
        """
        if multi_label and self.label_smoothing:
            raise ConfigError(
                f"--label-smoothing {self.label_smoothing} applies to single-label tasks only",
                hint="leave it at 0 for a multi-label (labels column) dataset",
            )
        if multi_label and self.class_weights:
            raise ConfigError(
                "--class-weights balances the classes of a single-label task; a multi-label "
                "model has one yes/no output per label",
                hint="drop --class-weights for a multi-label (labels column) dataset",
            )
        if self.ordinal_smoothing and (multi_label or ordinal_scale(labels) is None):
            raise ConfigError(
                f"--ordinal-smoothing {self.ordinal_smoothing} needs ordered classes "
                f"(very negative ... very positive, or 1-5 stars); these are {', '.join(labels)}",
                hint="use --label-smoothing for classes with no order",
            )

    def resolved(self) -> TrainingConfig:
        """A copy with the batch size and learning rate filled in where left unset.

        An unset batch size is 32 on every device; an unset learning rate is 5e-5 scaled
        from batch 32 by the square-root rule, so ``--batch-size 128`` alone trains at 1e-4.

        >>> TrainingConfig(batch_size=128).resolved().learning_rate
        0.0001
        """
        batch_size = self.batch_size or REFERENCE_BATCH
        learning_rate = self.learning_rate or scaled_learning_rate(
            REFERENCE_LEARNING_RATE, batch_size * self.gradient_accumulation_steps, REFERENCE_BATCH
        )
        return dataclasses.replace(self, batch_size=batch_size, learning_rate=learning_rate)

    def loss_additions(self) -> list[str]:
        """What the recipe adds to the plain (binary) cross-entropy, as its flags."""
        additions = [
            f"--label-smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
            f"--ordinal-smoothing {self.ordinal_smoothing:g}" if self.ordinal_smoothing else "",
            "--class-weights" if self.class_weights else "",
            f"--r-drop {self.r_drop:g}" if self.r_drop else "",
            "a teacher's soft labels" if self.teacher or self.teacher_model else "",
        ]
        return [addition for addition in additions if addition]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def keeping(self, names: Collection[str] | None) -> TrainingConfig:
        """This config with every setting outside ``names`` at its default (``None``: all
        kept): what a method that reads only those settings trains with, and records."""
        if names is None:
            return self
        return dataclasses.replace(TrainingConfig(), **{n: getattr(self, n) for n in names})

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
        return cls(**values)


# how a run goes, not what it trains: a run may change them and still be the same recipe
RUN_ONLY_SETTINGS = ("threads", "teacher_cache")
# the recipe settings only a run with a teacher (--teacher, --teacher-model) reads
DISTILLATION_SETTINGS = (
    "distill_alpha", "distill_temperature", "teacher_learning_rate", "teacher_epochs",
)  # fmt: skip


def recipe_changes(saved: dict[str, Any], recipe: TrainingConfig) -> list[str] | None:
    """How ``recipe`` differs from the settings a model or run saved, as ``--flag old ->
    new`` lines (empty: the same recipe); ``None`` when ``saved`` has a setting this
    version does not know.

    Both sides are compared resolved: a fine-tune saves the batch size and learning
    rate it ran (an unset ``--batch-size`` is 32), a method that does not resolve them
    (SetFit, zero-shot) saves them unset. A setting added since ``saved`` was written
    counts with its default.
    """
    try:
        before = TrainingConfig.from_dict(saved).resolved()
    except ConfigError:
        return None
    now = recipe.resolved()
    return [
        f"{flag_of(name)} {getattr(before, name)!r} -> {getattr(now, name)!r}"
        for name in (f.name for f in dataclasses.fields(TrainingConfig))
        if name not in RUN_ONLY_SETTINGS and getattr(before, name) != getattr(now, name)
    ]


def same_recipe(saved: dict[str, Any] | None, recipe: TrainingConfig) -> bool:
    """Whether a model whose ``bertsent.json`` saved ``saved`` was trained with ``recipe``."""
    return bool(saved) and recipe_changes(saved or {}, recipe) == []


# families that number positions after the padding index: 514 embeddings hold 512 tokens
POSITION_OFFSET_FAMILIES = ("roberta", "xlm-roberta", "camembert", "mpnet")


def check_fits_checkpoint(config: TrainingConfig) -> None:
    """Refuse a ``max_length`` longer than the checkpoint has position embeddings for,
    or ``encoder_layers`` more than it has.

    Checked from ``config.json`` before anything is trained or written: otherwise the
    first long enough batch fails deep inside training, after the checkpoint folder
    was made.

    Raises:
        ConfigError: naming the longest ``max_length`` (or the most layers) the
            checkpoint allows.
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
    layers = getattr(checkpoint, "num_hidden_layers", None)
    if config.encoder_layers and isinstance(layers, int) and config.encoder_layers > layers:
        raise ConfigError(
            f"training setting encoder_layers={config.encoder_layers} is more than the "
            f"{layers} layers of {config.model}",
            hint=f"use --encoder-layers {layers} or fewer",
        )
