"""``bertsent learning-curve``: accuracy against training-set size, per method."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertsent.cli.options import (
    add_data_options,
    add_overwrite_option,
    add_training_options,
    at_least_one,
    parse_methods,
    training_config,
)


def parse_sizes(value: str) -> list[int | str]:
    sizes: list[int | str] = []
    for item in value.split(","):
        item = item.strip()
        if item == "all":
            sizes.append(item)
        elif item.isdigit() and int(item) != 1:
            sizes.append(int(item))  # 0: the methods that need no labels (zero-shot)
        else:
            raise argparse.ArgumentTypeError(
                f"size '{item}' is not 0 (no labels), a count of 2 or more, or 'all'"
            )
    return sizes


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "learning-curve",
        help="accuracy against training-set size for several methods and seeds",
    )
    add_data_options(parser)
    parser.add_argument(
        "--methods",
        type=parse_methods,
        help="comma-separated (default: bow-svm,tfidf-lr,bert, less those that cannot learn "
        "the data)",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[100, 300, 1000, 3000],
        help="comma-separated training sizes, 'all' for the full split; 0 scores the methods "
        "that need no labels (zero-shot) (default: 100,300,1000,3000)",
    )
    parser.add_argument("--seeds", type=at_least_one, default=3, help="runs per size (default: 3)")
    parser.add_argument(
        "--output",
        help="folder for learning-curve.json/png (default: runs/compare-DATASET, where "
        "`bertsent compare` picks it up)",
    )
    add_training_options(parser, ("model",))  # of the bert method
    add_overwrite_option(parser, "learning-curve.* files in a folder of yours")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bertsent.comparison.compare import default_folder
    from bertsent.comparison.learning_curve import learning_curve

    output = Path(args.output) if args.output else default_folder(args.data)
    result = learning_curve(
        args.data,
        methods=args.methods,
        sizes=args.sizes,
        seeds=args.seeds,
        output_dir=output,
        config=training_config(args),
        text_column=args.text_column,
        label_column=args.label_column,
        overwrite=args.overwrite,
    )
    for entry in result["methods"].values():
        points = ", ".join(
            f"{size}: {mean:.1%} ± {sd:.1%}"
            for size, mean, sd in zip(entry["sizes"], entry["mean"], entry["sd"], strict=True)
        )
        print(f"{entry['name']:<18} {points}")
    if result["advice"]:
        print(result["advice"])
    print(f"written: {output / 'learning-curve.json'}, {output / 'learning-curve.png'}")
    return 0
