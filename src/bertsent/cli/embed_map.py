"""``bertsent embed-map``: [CLS] vectors before and after fine-tuning, projected to 2-D."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "embed-map",
        help="map the [CLS] vectors of reviews before and after fine-tuning",
        description="t-SNE and PCA maps of a sample of reviews plus behaviour-suite sarcasm and "
        "negation cases, coloured by gold label, misclassified reviews marked; prints the "
        "silhouette and linear-probe accuracy before vs after fine-tuning.",
    )
    parser.add_argument("model_dir", help="a BERT model directory written by `bertsent train`")
    parser.add_argument(
        "--data", help="dataset name or folder (default: the one it was trained on)"
    )
    parser.add_argument("--split", default="test", help="split to sample (default: test)")
    parser.add_argument("--sample", type=int, default=2000, help="reviews (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="sampling and projection seed")
    parser.add_argument(
        "--output", default="runs/embed-map", help="folder for the map (default: %(default)s)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bertsent.atomic import write_text_atomic
    from bertsent.evaluation.evaluate import data_split
    from bertsent.explain.embedding_map import STAGES, embedding_map
    from bertsent.explain.figures import plot_embedding_map, write_embedding_map_html
    from bertsent.models import load

    console = Console(soft_wrap=True)
    model = load(args.model_dir)
    _, split = data_split(model, args.data, args.split)
    result = embedding_map(model, split, sample=args.sample, seed=args.seed)
    output = Path(args.output)
    paths = {
        "figure": plot_embedding_map(result, output / "embedding_map.png"),
        "interactive": write_embedding_map_html(result, output / "embedding_map.html"),
        "json": output / "embedding_map.json",
    }
    write_text_atomic(paths["json"], json.dumps(result.to_dict()))
    for stage in STAGES:
        values = result.stages[stage]
        console.print(
            f"{stage:>6} fine-tuning: silhouette {values['silhouette']:+.3f}, "
            f"linear probe {values['probe_accuracy']:.1%}"
        )
    for name, path in paths.items():
        console.print(f"{name:>12}: {path}")
    return 0
