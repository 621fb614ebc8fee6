"""``bertsent pretrain``: continue masked-LM training on unlabelled reviews."""

from __future__ import annotations

import argparse
from typing import Any

from bertsent.cli.options import add_overwrite_option, add_training_options, training_config

SETTINGS = (
    "model", "epochs", "batch_size", "learning_rate", "weight_decay", "warmup_ratio",
    "max_length", "truncation", "seed", "precision", "threads",
)  # fmt: skip


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "pretrain",
        help="domain/task-adaptive pre-training: masked-LM training on unlabelled reviews",
        description="Continue BERT's masked-language-model training on your reviews "
        "(15% of tokens chosen: 80% [MASK], 10% random, 10% kept; with --whole-word-mask "
        "every chosen piece becomes [MASK]), then fine-tune the "
        "result with `bertsent train --model OUTPUT`.",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="a dataset (its training texts only: task-adaptive), or a .csv/.tsv/.jsonl/"
        ".parquet file or folder of them (every text: domain-adaptive, no labels needed)",
    )
    parser.add_argument("--text-column", default="text", help="column with the text")
    parser.add_argument("--output", required=True, help="folder for the pre-trained model")
    parser.add_argument(
        "--mlm-probability", type=float, default=0.15, help="share of tokens to predict"
    )
    parser.add_argument(
        "--whole-word-mask", action="store_true", help="mask whole words, not word pieces"
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="stop after this long: the model so far is saved and its checkpoints are kept, "
        "so the same command with --resume continues",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint"
    )
    add_overwrite_option(parser, "the --output folder")
    add_training_options(parser, SETTINGS)
    parser.set_defaults(handler=run, epochs=1.0)


def run(args: argparse.Namespace) -> int:
    from bertsent.distributed import is_main_process
    from bertsent.pipeline import pretrain

    record = pretrain(
        args.data,
        args.output,
        training_config(args),
        text_column=args.text_column,
        mlm_probability=args.mlm_probability,
        whole_word_mask=args.whole_word_mask,
        max_minutes=args.max_minutes,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    if not is_main_process():  # under torchrun: rank 0 prints the result
        return 0
    loss = record["held_out_mlm_loss"]
    before = "n/a (resumed)" if loss["before"] is None else f"{loss['before']:.3f}"
    print(
        f"pre-trained {record['steps']} steps on {record['data']['texts']} in "
        f"{record['seconds']:.0f} s: held-out masked-LM loss {before} -> {loss['after']:.3f}"
    )
    if record["stopped_by_time_limit"]:
        print(
            f"stopped by --max-minutes after {record['steps']} of {record['planned_steps']} "
            f"steps; checkpoints kept in {record['checkpoints']}: the same command with "
            "--resume continues"
        )
    print(f"model saved to {args.output}; fine-tune it with: bertsent train --model {args.output}")
    return 0
