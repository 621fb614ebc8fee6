"""``bertsent export``: write ONNX graphs (fp32, INT8) into a model directory, measured."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bertsent.cli.options import add_data_options, add_overwrite_option, data_columns


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
    add_overwrite_option(parser, "a MODEL_DIR/onnx folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from bertsent.encoders.engine import cpu_threads
    from bertsent.inference.export import export_onnx

    # PyTorch measured with the threads predict and serve give it, as ONNX Runtime is:
    # torch's own default counts the host's cores, not the ones this process may use
    torch.set_num_threads(cpu_threads())
    text_column, label_column = data_columns(args)
    record = export_onnx(
        args.model_dir,
        int8=args.int8,
        data=args.data,
        split=args.split,
        overwrite=args.overwrite,
        text_column=text_column,
        label_column=label_column,
    )
    measured = record["measured_on"]
    table = Table(
        "backend",
        "file",
        "MB",
        "accuracy",
        "agreement with torch",
        "max |Δp|",
        "reviews/s",
        title=f"{measured['data']} [{measured['split']}], n={measured['size']}",
    )
    for backend, measured_backend in record["backends"].items():
        graph = record["graphs"].get(backend)
        table.add_row(
            backend + (" (auto)" if backend == record["auto"] else ""),
            f"onnx/{graph['file']}" if graph else "model.safetensors",
            f"{graph['bytes'] / 1e6:.1f}" if graph else "",
            f"{measured_backend['accuracy']:.4f}",
            f"{measured_backend['agreement_with_torch']:.4f}",
            f"{measured_backend['max_probability_difference']:.4f}",
            f"{measured_backend['reviews_per_second']:.0f}",
        )
    # piped output is not cut to 80 columns: the file names and numbers must stay whole
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    return 0
