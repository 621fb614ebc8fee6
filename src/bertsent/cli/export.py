"""``bertsent export``: write ONNX graphs (fp32, INT8) into a model directory, measured."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bertsent.cli.options import add_data_options


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export", help="export a BERT model to ONNX (and INT8) with its measured accuracy"
    )
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument("--onnx", action="store_true", required=True, help="export to ONNX")
    parser.add_argument("--int8", action="store_true", help="also write a dynamic INT8 graph")
    add_data_options(parser, default=None)
    parser.add_argument(
        "--split",
        default="dev",
        choices=("dev", "test", "train"),
        help="split the graphs are measured on (default: dev)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bertsent.inference.export import export_onnx

    record = export_onnx(args.model_dir, int8=args.int8, data=args.data, split=args.split)
    measured = record["measured_on"]
    table = Table(
        "backend",
        "file",
        "MB",
        "accuracy",
        "agreement with torch",
        "max |Δp|",
        title=f"{measured['data']} [{measured['split']}], n={measured['size']}",
    )
    table.add_row("torch", "model.safetensors", "", f"{record['torch_accuracy']:.4f}", "", "")
    for backend, graph in record["graphs"].items():
        table.add_row(
            backend,
            f"onnx/{graph['file']}",
            f"{graph['bytes'] / 1e6:.1f}",
            f"{graph['accuracy']:.4f}",
            f"{graph['agreement_with_torch']:.4f}",
            f"{graph['max_probability_difference']:.4f}",
        )
    # piped output is not cut to 80 columns: the file names and numbers must stay whole
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    return 0
