"""Options shared by several commands."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bertsent.data import DEFAULT_DATASET

if TYPE_CHECKING:
    from bertsent.models.base import SentimentClassifier
    from bertsent.training.config import TrainingConfig


def add_data_options(
    parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_DATASET
) -> None:
    parser.add_argument(
        "--data",
        default=default,
        help="rotten-tomatoes, a folder with train.csv/dev.csv[/test.csv], a .csv/.tsv/.jsonl/"
        f".parquet file, or hub:NAME[:CONFIG] (default: {default or 'the training data'})",
    )
    # where --data is optional, the model's own data is read with its recorded columns
    recorded = "" if default else "; without --data, the model's own"
    parser.add_argument(
        "--text-column",
        default="text" if default else None,
        help=f"column with the text (default: text{recorded})",
    )
    parser.add_argument(
        "--label-column",
        default="label" if default else None,
        help=f"column with the label (default: label{recorded})",
    )


def data_columns(args: argparse.Namespace) -> tuple[str, str]:
    """The text and label columns of a command whose ``--data`` is optional, refused
    without it: the model's own data is then read with the columns it was trained with."""
    from bertsent.errors import ConfigError

    columns = {"--text-column": args.text_column, "--label-column": args.label_column}
    given = [flag for flag, value in columns.items() if value]
    if args.data is None and given:
        raise ConfigError(
            f"{' and '.join(given)} name columns of --data; without it the model's own data "
            "is read with the columns it was trained with",
            hint=f"add --data FILE, or leave out {' and '.join(given)}",
        )
    return args.text_column or "text", args.label_column or "label"


def keep_defaults(parser: argparse.ArgumentParser, **groups: Sequence[str]) -> None:
    """Remember the parser's own defaults of each group of options: a value other than
    its default was given, which :func:`given_flag` reports (a changed default then
    needs no second copy of it)."""
    parser.set_defaults(
        option_defaults={
            group: {name: parser.get_default(name) for name in names}
            for group, names in groups.items()
        }
    )


def given_flag(args: argparse.Namespace, group: str) -> str | None:
    """The first option of ``group`` (see :func:`keep_defaults`) given a value other
    than its default, as its flag, e.g. ``--chunk-size``; None when none was."""
    for name, default in args.option_defaults[group].items():
        if getattr(args, name) != default:
            return f"--{name.replace('_', '-')}"
    return None


def augmentations(value: str) -> str | tuple[str, ...]:
    """``auto``, ``none`` or ``contrast,intensity`` -> what ``train(augment=)`` takes."""
    from bertsent.data.augment import AUGMENTATIONS

    if value in ("auto", "none"):
        return value
    kinds = tuple(kind.strip() for kind in value.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in AUGMENTATIONS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown augmentation {','.join(unknown)!r}; choose auto, none or from "
            f"{', '.join(AUGMENTATIONS)}"
        )
    return kinds


def add_augment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--augment",
        type=augmentations,
        default="auto",
        metavar="auto|none|KIND[,KIND]",
        help="generated training examples: contrast (negation, contrast clauses, sarcasm), "
        "intensity (boosted and hedged wording; on an ordered scale such as SST-5 spread over "
        "its classes), sarcasm (more frames of praise around a mishap, each also around a real "
        "merit), aspects (two parts judged oppositely, for "
        "aspect data), joined (aspect data: two real training sentences judged differently "
        "joined into one, with their own labels); the generated kinds use templates "
        "and words disjoint from the behaviour suite's; auto "
        "(default): for BERT, contrast,intensity,sarcasm where the labels are one positive and one "
        "negative side, intensity on a five-class scale (SST-5, 1-5 stars), each while "
        "the real training reviews are at least twice as many; joined for aspect data; none: "
        "real reviews only",
    )


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type for counts: a whole number >= ``least`` (``--seeds``: 1,
    ``--examples``: 0), refused by argparse with the value otherwise."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {number}")
        return number

    return parse


at_least_one = whole_number(1)
at_least_zero = whole_number(0)


def parse_methods(value: str) -> list[str]:
    """``bow-svm,bert`` -> a checked list of the methods ``compare`` and
    ``learning-curve`` train (every method but ``llm``, which needs a server)."""
    from bertsent.models import COMPARED_METHODS

    # a method named twice is trained once: two rows of it would count its seeds twice
    methods = list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if "llm" in methods:
        raise argparse.ArgumentTypeError(
            "llm is not trained here (it needs a server's --endpoint): train it with "
            "`bertsent train --method llm` and score it with `bertsent evaluate`"
        )
    unknown = [name for name in methods if name not in COMPARED_METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(COMPARED_METHODS)}"
        )
    return methods


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    from bertsent.encoders.exports import BACKENDS

    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): the fastest backend `bertsent export` measured on this machine "
        "within 0.3 accuracy points of fp32 PyTorch (deciding as it does on 95%% of "
        "reviews), else torch; torch-bf16/torch-fp16: "
        "half-precision weights; onnx, onnx-int8: graphs written by `bertsent export`",
    )
    parser.add_argument(
        "--threads",
        type=at_least_one,
        help="CPU threads for inference (default: the cores this process may use)",
    )


def load_for_inference(args: argparse.Namespace) -> SentimentClassifier:
    """Load ``args.model_dir`` with the chosen backend and thread count."""
    from bertsent.inference.loading import load_for_inference as load

    batch_size = getattr(args, "batch_size", None)
    return load(args.model_dir, backend=args.backend, threads=args.threads, batch_size=batch_size)


def add_overwrite_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: the one way to let a command replace ``what`` it did not write."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} even if bertsent did not write it (default: refuse)",
    )


class GivenSetting(argparse.Action):
    """Stores a setting and notes that it was given (``args.given_settings``): a method
    with its own defaults (SetFit) takes only what the user chose, not our defaults."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.given_settings = {*getattr(namespace, "given_settings", ()), self.dest}


def add_training_options(parser: argparse.ArgumentParser, names: Sequence[str] = ()) -> None:
    """One flag per :class:`TrainingConfig` field (only ``names`` when given), generated
    from the field's type, default and help: a new setting needs no CLI code."""
    from bertsent.training.config import TrainingConfig

    types = {"int": int, "float": float, "str": str}
    for setting in dataclasses.fields(TrainingConfig):
        if names and setting.name not in names:
            continue
        settings = dict(setting.metadata)
        flag = settings.pop("flag", "--" + setting.name.replace("_", "-"))
        kind = str(setting.type).split("|")[0].strip()
        default = setting.default
        if kind == "bool":  # a flag that turns the default around
            action = "store_false" if default else "store_true"
            parser.add_argument(flag, dest=setting.name, action=action, **settings)
            continue
        if default is not None:
            settings["help"] += " (default: %(default)s)"
        parser.add_argument(
            flag,
            dest=setting.name,
            type=types[kind],
            default=default,
            action=GivenSetting,
            **settings,
        )


def add_recipe_option(parser: argparse.ArgumentParser) -> None:
    """``--recipe``: measured settings by one name, for users who do not tune flags."""
    from bertsent.training.config import RECIPES

    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="default",
        help="named BERT settings, under any flag given explicitly: default; robust "
        "(--r-drop 1: +0.8 points on rotten-tomatoes test and +0.7 on SST-5 dev over three "
        "seeds, fewer sarcasm failures, 1.3-1.4x the training time)",
    )


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The :class:`TrainingConfig` of the flags ``add_training_options`` added, with the
    ``--recipe``'s settings where no flag was given; checked."""
    from bertsent.training.config import RECIPES, TrainingConfig

    values = {
        setting.name: getattr(args, setting.name)
        for setting in dataclasses.fields(TrainingConfig)
        if hasattr(args, setting.name)
    }
    given: set[str] = getattr(args, "given_settings", set())
    recipe = RECIPES[getattr(args, "recipe", "default")]
    values.update({name: value for name, value in recipe.items() if name not in given})
    return TrainingConfig(**values)
