"""``bertsent compare``: every method on the same data, one table, a recommendation."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from bertsent.cli.options import (
    add_augment_option,
    add_data_options,
    add_overwrite_option,
    add_recipe_option,
    add_training_options,
    at_least_one,
    parse_methods,
    training_config,
)
from bertsent.models import COMPARED_METHODS


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="train every method on the same splits and print the comparison table",
        description="Trains (or reuses) each method on the same splits and measures "
        "accuracy, macro-F1, the behaviour suite, training time, throughput, latency, "
        "size and parameters. Writes compare.md, compare.json and compare.png.",
    )
    add_data_options(parser)
    parser.add_argument(
        "--methods",
        type=parse_methods,
        help=f"comma-separated (default: {','.join(COMPARED_METHODS)}, less those that cannot "
        "learn the data)",
    )
    parser.add_argument(
        "--seeds",
        type=at_least_one,
        default=1,
        help="train each method this many times (default: 1)",
    )
    parser.add_argument(
        "--output", help="folder for models and tables (default: runs/compare-DATASET)"
    )
    parser.add_argument("--retrain", action="store_true", help="retrain models already in --output")
    parser.add_argument(
        "--learning-curve",
        help="learning-curve.json for the recommendation (default: OUTPUT/learning-curve.json "
        "when present)",
    )
    add_augment_option(parser)
    add_training_options(parser, ("model", "epochs"))  # of the bert method
    add_recipe_option(parser)
    add_overwrite_option(parser, "compare.* / learning-curve.* files in a folder of yours")
    parser.set_defaults(handler=run)


def read_curve(path: Path) -> dict[str, Any]:
    """A ``bertsent learning-curve`` result, checked.

    Raises:
        DataError: naming the file that is missing or is not such a result.
    """
    from bertsent.errors import DataError

    try:
        curve = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"--learning-curve {path}: cannot read it ({exc})") from None
    if not isinstance(curve, dict) or not isinstance(curve.get("methods"), dict):
        raise DataError(
            f"--learning-curve {path}: not a learning curve (no 'methods')",
            hint="give the learning-curve.json that `bertsent learning-curve` wrote",
        )
    return curve


def run(args: argparse.Namespace) -> int:
    from bertsent.comparison.compare import compare, default_folder
    from bertsent.comparison.learning_curve import is_output_of

    output = Path(args.output) if args.output else default_folder(args.data)
    curve = read_curve(Path(args.learning_curve)) if args.learning_curve else None
    if curve is None and is_output_of(output / "learning-curve.json", "learning-curve"):
        curve = read_curve(output / "learning-curve.json")  # this folder's own curve
    compare(
        args.data,
        methods=args.methods,
        seeds=args.seeds,
        output_dir=output,
        config=training_config(args),
        reuse=not args.retrain,
        learning_curve=curve,
        command=shlex.join(["bertsent", *args.argv]),
        text_column=args.text_column,
        label_column=args.label_column,
        overwrite=args.overwrite,
        augment=args.augment,
    )
    print((output / "compare.md").read_text(encoding="utf-8"))
    print(f"written: {output / 'compare.md'}, {output / 'compare.json'}, {output / 'compare.png'}")
    return 0
