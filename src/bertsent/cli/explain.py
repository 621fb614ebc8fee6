"""``bertsent explain``: attention, attributions and the worked example for one review."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bertsent.cli.options import add_overwrite_option, at_least_one, given_flag, keep_defaults

# what shapes the figures and files (by destination)
FIGURE_FLAGS = ("layer", "head", "steps", "format", "output", "overwrite")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "explain",
        help="why a fine-tuned model labels one review as it does",
        description="Attention heatmaps and rollout, integrated-gradients attributions with a "
        "faithfulness check, and (--math) the logits, softmax, loss and gradient as numbers. "
        "With neither --attention nor --attributions, both are shown.",
    )
    parser.add_argument("model_dir", help="a BERT model directory written by `bertsent train`")
    parser.add_argument("text", help="the review to explain")
    parser.add_argument("--attention", action="store_true", help="attention heatmaps and rollout")
    parser.add_argument("--attributions", action="store_true", help="integrated gradients")
    parser.add_argument("--math", action="store_true", help="print the worked example")
    parser.add_argument("--gold", help="gold label for the --math loss (default: the prediction)")
    parser.add_argument(
        "--layer", type=int, default=-1, help="attention layer, 1-based (default: last)"
    )
    parser.add_argument("--head", type=int, default=1, help="attention head, 1-based (default: 1)")
    parser.add_argument(
        "--steps", type=at_least_one, default=50, help="integration steps (default: 50)"
    )
    parser.add_argument("--format", choices=["png", "svg"], default="png", help="figure format")
    parser.add_argument(
        "--output",
        default="runs/explain",
        help="folder for figures and JSON (default: %(default)s)",
    )
    add_overwrite_option(parser, "the files in --output named after the text")
    keep_defaults(parser, figures=FIGURE_FLAGS)
    parser.set_defaults(handler=run)


def refuse_unused_flags(args: argparse.Namespace, writes: bool) -> None:
    """Refuse a flag this run would ignore, by name: --gold without --math, and the
    figure flags when --math alone only prints.

    Raises:
        ConfigError: naming the flag.
    """
    from bertsent.errors import ConfigError

    if args.gold is not None and not args.math:
        raise ConfigError("--gold is the gold label of the --math loss", hint="add --math")
    flag = None if writes else given_flag(args, "figures")
    if flag:
        raise ConfigError(
            f"{flag} shapes the figures and files, and --math alone only prints",
            hint="add --attention or --attributions (or both) to write them too",
        )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from bertsent.atomic import marked, write_text_atomic
    from bertsent.errors import ConfigError
    from bertsent.explain.explanation import (
        check_explanation_outputs,
        explain_text,
        explanation_files,
        write_explanation,
    )
    from bertsent.explain.figures import faithfulness_line
    from bertsent.explain.tokens import require_text, require_transformer
    from bertsent.explain.worked_example import format_worked_example, worked_example
    from bertsent.models import load

    console = Console(soft_wrap=True)
    require_text(args.text)  # before the seconds of loading the model
    output = Path(args.output)
    show_both = not (args.attention or args.attributions)
    writes = not (args.math and show_both)  # --math alone only prints
    refuse_unused_flags(args, writes)
    names = explanation_files(
        args.text,
        image_format=args.format,
        attention=args.attention or show_both,
        attributions=args.attributions or show_both,
    )
    replaceable = writes and check_explanation_outputs(
        output, names.values(), names["json"], args.text, overwrite=args.overwrite
    )
    model = load(args.model_dir)
    if args.math:
        print(format_worked_example(worked_example(model, args.text, args.gold)))
    if not writes:
        return 0
    config = require_transformer(model).config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    if not (1 <= args.head <= heads and (args.layer == -1 or 1 <= args.layer <= layers)):
        raise ConfigError(f"the model has {layers} layers of {heads} heads; got layer "
                          f"{args.layer}, head {args.head}")  # fmt: skip
    with_attributions = args.attributions or show_both  # --attention alone needs no Captum
    explanation = explain_text(model, args.text, steps=args.steps, attributions=with_attributions)
    attribution = explanation.attribution
    rollout = explanation.attention.cls_rollout()
    if attribution is not None:
        console.print(
            f"{escape(attribution.label)} (p={attribution.probability:.3f}); integrated "
            "gradients from a [PAD] baseline keeping [CLS]/[SEP] "
            f"(p={attribution.baseline_probability:.3f}), convergence delta "
            f"{attribution.delta:.2e}"
        )
        table = Table("word", "attribution", "attention rollout ([CLS] row)")
        for word, score, share in zip(attribution.words, attribution.scores, rollout, strict=True):
            table.add_row(escape(word), f"{score:+.4f}", f"{share:.3f}")  # '[b]' is a word
    else:
        console.print(f"{escape(explanation.label)} (p={explanation.probability:.3f})")
        table = Table("word", "attention rollout ([CLS] row)")
        for word, share in zip(explanation.attention.encoded.words, rollout, strict=True):
            table.add_row(escape(word), f"{share:.3f}")
    console.print(table)
    console.print(faithfulness_line(explanation.faithfulness))
    # the JSON first: once it is there, a rerun knows the figures beside it are ours
    json_path = output / names["json"]
    content = json.dumps(marked("explain", explanation.to_dict()), indent=2)
    write_text_atomic(json_path, content, overwrite=replaceable)
    paths = write_explanation(
        explanation,
        output,
        image_format=args.format,
        layer=args.layer if args.layer == -1 else args.layer - 1,
        head=args.head - 1,
        attention=args.attention or show_both,
        attributions=args.attributions or show_both,
        overwrite=replaceable,  # a file that appeared meanwhile is refused at the rename
    )
    paths["json"] = json_path
    for name, path in paths.items():
        console.print(f"{name:>12}: {path}")
    return 0
