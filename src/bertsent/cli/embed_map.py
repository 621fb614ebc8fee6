"""``bertsent embed-map``: [CLS] vectors before and after fine-tuning, projected to 2-D."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bertsent.cli.options import add_data_options, add_overwrite_option, at_least_one, data_columns


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "embed-map",
        help="map the [CLS] vectors of reviews before and after fine-tuning",
        description="t-SNE and PCA maps of a sample of reviews plus, for a positive/negative "
        "model, behaviour-suite sarcasm and negation cases, coloured by gold label, "
        "misclassified reviews marked; prints the silhouette and linear-probe accuracy "
        "before vs after fine-tuning.",
    )
    parser.add_argument("model_dir", help="a BERT model directory written by `bertsent train`")
    add_data_options(parser, default=None)
    parser.add_argument("--split", default="test", help="split to sample (default: test)")
    parser.add_argument(
        "--sample",
        type=at_least_one,
        default=2000,
        help="reviews; the probe needs 5 or more of each of 2 classes (default: 2000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling and projection seed")
    parser.add_argument(
        "--output", default="runs/embed-map", help="folder for the map (default: %(default)s)"
    )
    add_overwrite_option(parser, "the embedding_map.* files in --output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bertsent.atomic import marked, write_text_atomic
    from bertsent.evaluation.evaluate import data_split
    from bertsent.explain.embedding_map import MAP_FILES, STAGES, check_map_outputs, embedding_map
    from bertsent.explain.figures import plot_embedding_map, write_embedding_map_html
    from bertsent.models import load

    console = Console(soft_wrap=True)
    output = Path(args.output)
    columns = data_columns(args)
    replaceable = check_map_outputs(output, overwrite=args.overwrite)  # before the model loads
    model = load(args.model_dir)
    _, split = data_split(model, args.data, args.split, *columns)
    result = embedding_map(model, split, sample=args.sample, seed=args.seed)
    paths = {name: output / file for name, file in MAP_FILES.items()}
    # the JSON first: once it is there, a rerun knows the files beside it are ours;
    # a file that appeared since the check is refused at the rename, not replaced
    content = json.dumps(marked("embed-map", result.to_dict()))
    write_text_atomic(paths["json"], content, overwrite=replaceable)
    plot_embedding_map(result, paths["figure"], overwrite=replaceable)
    write_embedding_map_html(result, paths["interactive"], overwrite=replaceable)
    for stage in STAGES:
        values = result.stages[stage]
        console.print(
            f"{stage:>6} fine-tuning: silhouette {values['silhouette']:+.3f}, "
            f"linear probe {values['probe_accuracy']:.1%}"
        )
    for name, path in paths.items():
        console.print(f"{name:>12}: {path}")
    return 0
