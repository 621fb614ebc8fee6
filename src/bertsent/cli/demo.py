"""``bertsent demo``: the main job on the embedded defaults."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bertsent.cli.options import add_overwrite_option


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="fine-tune the packaged model on rotten-tomatoes, evaluate, show the puzzles"
    )
    parser.add_argument(
        "--output",
        default="runs/demo",
        help="folder for the model and results (default: %(default)s)",
    )
    parser.add_argument(
        "--model", default=None, help="another encoder (default: the packaged MiniLM)"
    )
    parser.add_argument("--epochs", type=float, default=None, help="override the number of epochs")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted demo run")
    add_overwrite_option(parser, "the demo's files and model/ in --output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bertsent.demo import run_demo
    from bertsent.training.config import TrainingConfig

    console = Console(soft_wrap=True)
    overrides = {"model": args.model, "epochs": args.epochs}
    config = TrainingConfig(**{k: v for k, v in overrides.items() if v is not None})
    console.print(
        f"Fine-tuning {config.model} on rotten-tomatoes ({config.epochs:g} epochs, CPU-friendly "
        "length-grouped batches). Ctrl-C saves a checkpoint; rerun with --resume."
    )
    started = time.perf_counter()
    result = run_demo(args.output, config, resume=args.resume, overwrite=args.overwrite)
    minutes = (time.perf_counter() - started) / 60
    test = result.test_report
    low, high = test["accuracy_ci"]
    console.print(
        f"\n[bold]Test accuracy {test['accuracy']:.2%}[/bold] (95% CI {low:.2%}-{high:.2%}), "
        f"macro-F1 {test['macro_f1']:.4f}, ECE {test['ece']:.4f} on {test['n']} held-out reviews "
        f"of movies never seen in training; best epoch {result.run.best.get('epoch')}, "
        f"{result.run.train_examples_per_second:.1f} training examples/s, {minutes:.1f} min in all."
    )
    table = Table(
        "puzzle sentence", "what it tests", "prediction", "confidence", title="The puzzle sentences"
    )
    for item in result.puzzles:
        table.add_row(item["text"], item["phenomenon"], item["label"], f"{item['score']:.1%}")
    console.print(table)
    for name, path in result.paths.items():
        console.print(f"{name:>17}: {path}")
    return 0
