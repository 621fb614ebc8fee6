"""``bertsent behave``: the behaviour suite (negation, sarcasm, contrast, intensity, invariance)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bertsent.cli.options import add_overwrite_option, at_least_one, at_least_zero


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "behave",
        help="run the behaviour suite on a saved model",
        description="CheckList-style tests generated from templates: negation, sarcasm, "
        "contrast, intensity (directional) and invariance to names, typos and punctuation.",
    )
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument("--json", dest="json_path", help="write the full results here")
    parser.add_argument(
        "--per-test", type=at_least_one, default=40, help="cases generated per test (default: 40)"
    )
    parser.add_argument(
        "--seed", type=at_least_zero, default=0, help="seed for the generated cases"
    )
    parser.add_argument(
        "--examples",
        type=at_least_zero,
        default=2,
        help="failing examples shown per test (default: 2)",
    )
    add_overwrite_option(parser, "an existing --json file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bertsent.atomic import check_file_replaceable, marked, write_text_atomic, written_by
    from bertsent.evaluation.behaviour import generate_suite, run_suite
    from bertsent.models import load

    # the JSON it wrote starts {"bertsent": "behave"}: only that is replaced without asking
    json_path = Path(args.json_path) if args.json_path else None
    replaceable = args.overwrite or (json_path is not None and written_by(json_path, "behave"))
    if json_path is not None:  # before the model is loaded
        check_file_replaceable(json_path, "bertsent behave result", overwrite=replaceable)
    model = load(args.model_dir)
    result = run_suite(
        model, generate_suite(per_test=args.per_test, seed=args.seed), examples=args.examples
    )
    table = Table("category", "test", "kind", "cases", "failure rate", "a failure")
    for test in result["tests"]:
        example = test["examples"][0] if test["examples"] else {}
        shown = example.get("text") or (
            f"{example['base']} -> {example['changed']}" if example else ""
        )
        table.add_row(
            test["category"],
            test["name"],
            test["kind"],
            str(test["cases"]),
            f"{test['failure_rate']:.0%}",
            shown,
        )
    console = Console()
    console.print(table)
    rates = ", ".join(
        f"{name} {entry['failure_rate']:.0%}" for name, entry in result["categories"].items()
    )
    console.print(
        f"pass rate {result['pass_rate']:.1%} over {result['cases']} cases; failure rates: {rates}"
    )
    if json_path is not None:
        content = json.dumps(marked("behave", result), indent=2)
        write_text_atomic(json_path, content, overwrite=replaceable)
        console.print(f"written: {json_path}")
    return 0
