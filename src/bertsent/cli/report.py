"""``bertsent report``: one self-contained HTML page about a trained model."""

from __future__ import annotations

import argparse
from typing import Any

from bertsent.cli.options import add_data_options, add_overwrite_option, at_least_one, data_columns


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write a self-contained HTML report of a saved model",
        description="Data and training settings, training curves, test metrics with intervals, "
        "confusion matrix, calibration, the comparison and learning curves when present, "
        "behaviour suite, embedding map, and explanations of the puzzle sentences and the "
        "most confident mistakes. Images are embedded: the file opens offline.",
    )
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument(
        "--output", help="HTML file (default: MODEL_DIR-report.html beside MODEL_DIR)"
    )
    add_data_options(parser, default=None)
    parser.add_argument(
        "--split",
        choices=("test", "dev"),
        default="test",
        help="the split scored (default: test; dev for data with no test split, such as "
        "../shared/data's, marked in the page as the split that chose the model)",
    )
    parser.add_argument(
        "--comparison", help="a `bertsent compare` folder (default: runs/compare-DATASET if any)"
    )
    parser.add_argument(
        "--sample", type=at_least_one, default=1000, help="reviews in the embedding map"
    )
    add_overwrite_option(parser, "an --output file that is not an earlier report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bertsent.report.build import build_report

    text_column, label_column = data_columns(args)
    path = build_report(
        args.model_dir,
        args.output,
        data=args.data,
        split=args.split,
        comparison_dir=args.comparison,
        sample=args.sample,
        overwrite=args.overwrite,
        text_column=text_column,
        label_column=label_column,
    )
    print(f"report written to {path}")
    return 0
