"""``bertsent evaluate``: metrics of a saved model on a file or a dataset split."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bertsent.cli.options import (
    add_backend_options,
    add_data_options,
    add_overwrite_option,
    data_columns,
    load_for_inference,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score a saved model on a labelled file or a dataset split",
        description="A --data FILE is scored whole; a named dataset, a folder and (without "
        "--data) the model's training data are scored on their test split. Texts the model "
        "was trained on are counted: more than 1% is warned about, more than 10% refused.",
    )
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    add_data_options(parser, default=None)
    parser.add_argument(
        "--split",
        choices=("test", "dev", "train"),
        help="score this split (of a FILE: its 80/10/10 split, as in training); default: "
        "the whole of a FILE, else test",
    )
    parser.add_argument(
        "--allow-overlap",
        action="store_true",
        help="score even when more than 10%% of the texts are among the training texts",
    )
    parser.add_argument("--json", dest="json_path", help="also write the report to this JSON file")
    parser.add_argument(
        "--figure", help="write the confusion matrix PNG here (default with --json: JSON.png)"
    )
    add_overwrite_option(parser, "an existing --json or --figure file")
    add_backend_options(parser)
    parser.set_defaults(handler=run)


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    low, high = report["accuracy_ci"]
    where = f"{report['dataset']} [{report['split']}]"  # escaped: rich reads "[dev]" as markup
    console.print(
        f"[bold]{escape(where)}[/bold] ({report['backend']})  "
        f"n={report['n']}  "
        f"accuracy {report['accuracy']:.4f} (95% CI {low:.4f}-{high:.4f})  "
        f"macro-F1 {report['macro_f1']:.4f}  ECE {report['ece']:.4f}"
    )
    if report.get("abstained"):  # an LLM that named no label: counted wrong, never guessed
        console.print(
            f"[yellow]abstained on {report['abstained']} of {report['n']} reviews[/yellow] "
            "(no valid label in the reply; counted as wrong)"
        )
    if "macro_f1_at_0_5" in report:  # multi-label: accuracy is every label of a review right
        console.print(
            f"multi-label: macro-F1 {report['macro_f1_at_0_5']:.4f} at threshold 0.5, "
            f"micro-F1 {report['micro_f1']:.4f}"
        )
    thresholds = "threshold" in next(iter(report["per_class"].values()))
    table = Table("class", "precision", "recall", "F1", "support", *["threshold"] * thresholds)
    for label, values in report["per_class"].items():
        table.add_row(
            label,
            f"{values['precision']:.4f}",
            f"{values['recall']:.4f}",
            f"{values['f1']:.4f}",
            str(values["support"]),
            *([f"{values['threshold']:.2f}"] if thresholds else []),
        )
    console.print(table)
    if "confusion_matrix" in report:
        matrix = Table("gold \\ predicted", *report["labels"], title="confusion matrix")
        for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
            matrix.add_row(label, *map(str, row))
        console.print(matrix)
    console.print(overlap_line(report["train_overlap"], report["n"]), soft_wrap=True)


def overlap_line(overlap: dict[str, Any], n: int) -> str:
    """One line on how many scored texts the model was trained on."""
    if not overlap["checked"]:
        return f"train overlap: not checked ({overlap['reason']})"
    line = (
        f"train overlap: {overlap['count']} of {n} texts ({overlap['fraction']:.1%}) are "
        "training texts"
    )
    if "accuracy_unseen" in overlap:
        line += f"; accuracy on the {overlap['n_unseen']} others {overlap['accuracy_unseen']:.4f}"
    return line


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bertsent.errors import ConfigError, ModelError
    from bertsent.evaluation.evaluate import check_evaluation_outputs, evaluate
    from bertsent.models import read_metadata

    # a multi-label model has no confusion matrix: no figure to write, or to refuse for
    try:
        task = read_metadata(args.model_dir).get("task") or {}
    except ModelError:
        task = {}  # loading it, below, says what is wrong
    multi_label = task.get("name") == "multi-label"
    if multi_label and args.figure:
        raise ConfigError("--figure draws a confusion matrix; a multi-label model has none")
    beside_json = args.json_path and not multi_label
    figure = args.figure or (str(Path(args.json_path).with_suffix(".png")) if beside_json else None)
    # before the model is loaded: a user's file is refused in a second, not a minute
    check_evaluation_outputs(args.json_path, figure, overwrite=args.overwrite)
    text_column, label_column = data_columns(args)
    report = evaluate(
        load_for_inference(args),
        args.data,
        split=args.split,
        json_path=args.json_path,
        figure_path=figure,
        text_column=text_column,
        label_column=label_column,
        allow_overlap=args.allow_overlap,
        overwrite=args.overwrite,
    )
    print_report(report)
    if args.json_path:
        print(
            f"report written to {args.json_path}"
            + (f", confusion matrix to {figure}" if figure and "confusion_matrix" in report else "")
        )
    else:
        print(
            json.dumps({k: report[k] for k in ("accuracy", "accuracy_ci", "macro_f1", "ece", "n")})
        )
    return 0
