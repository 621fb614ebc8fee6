"""``bertsent train``: fine-tune a model and save it."""

from __future__ import annotations

import argparse
from typing import Any

from bertsent.cli.options import add_data_options, add_overwrite_option
from bertsent.data.augment import AUGMENTATIONS
from bertsent.encoders.tokenization import TRUNCATION_STRATEGIES
from bertsent.models import METHODS
from bertsent.training.config import BEST_METRICS, PRECISIONS, TrainingConfig


def augmentations(value: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in value.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in AUGMENTATIONS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown augmentation {','.join(unknown)!r}; choose from {', '.join(AUGMENTATIONS)}"
        )
    return kinds


def add_parser(commands: Any) -> None:
    defaults = TrainingConfig()
    parser = commands.add_parser(
        "train",
        help="fine-tune a BERT-family model (or train a baseline) on labelled reviews",
        description="Train one classifier and save it. The options after --output shape "
        "the BERT fine-tune; baselines choose their own settings on dev and use only --seed.",
    )
    add_data_options(parser)
    parser.add_argument(
        "--exclude-overlap-with",
        metavar="DATASET",
        help="first remove every example sharing a span with DATASET's dev/test texts "
        "(e.g. SST phrases for a model later scored on rotten-tomatoes)",
    )
    parser.add_argument(
        "--augment",
        type=augmentations,
        default=(),
        metavar="KIND[,KIND]",
        help="add generated training examples: contrast (negation, contrast clauses, "
        "sarcasm), intensity (boosted and hedged wording); templates and words disjoint "
        "from the behaviour suite's",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="bert",
        help="bert (default), or a baseline to compare against",
    )
    parser.add_argument(
        "--model", default=defaults.model, help="Hub id or local folder (default: %(default)s)"
    )
    parser.add_argument("--output", required=True, help="directory for the saved model")
    add_overwrite_option(parser, "the --output folder or file")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint"
    )
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: 32 on a CPU, 128 on a GPU"
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="default: 5e-5 at batch 32, scaled by sqrt(batch / 32)",
    )
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--truncation", choices=TRUNCATION_STRATEGIES, default=defaults.truncation)
    parser.add_argument(
        "--gradient-accumulation", type=int, default=defaults.gradient_accumulation_steps
    )
    parser.add_argument(
        "--eval-steps", type=int, default=None, help="evaluate every N steps (default: every epoch)"
    )
    parser.add_argument(
        "--metric",
        choices=BEST_METRICS,
        default=defaults.metric_for_best,
        help="dev metric for the best checkpoint",
    )
    parser.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE evaluations without improvement",
    )
    parser.add_argument(
        "--class-weights", action="store_true", help="weight the loss by inverse class frequency"
    )
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="auto: bf16 on CPUs with AVX-512 BF16/AMX and on bf16 GPUs, fp16 on older GPUs, "
        "else fp32",
    )
    parser.add_argument(
        "--no-group-by-length",
        action="store_true",
        help="random batches instead of length-grouped ones",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: one per core)"
    )
    parser.add_argument(
        "--encoder-layers",
        type=int,
        metavar="N",
        help="keep N evenly spaced layers of --model: a smaller student of a bigger model",
    )
    parser.add_argument(
        "--teacher",
        metavar="MODEL_DIR",
        help="distil: also learn a fine-tuned teacher's soft targets (see --distill-alpha)",
    )
    parser.add_argument(
        "--distill-alpha",
        type=float,
        default=defaults.distill_alpha,
        help="weight of the gold-label loss against the teacher's",
    )
    parser.add_argument("--distill-temperature", type=float, default=defaults.distill_temperature)
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        max_length=args.max_length,
        truncation=args.truncation,
        gradient_accumulation_steps=args.gradient_accumulation,
        eval_steps=args.eval_steps,
        metric_for_best=args.metric,
        early_stopping_patience=args.early_stopping,
        class_weights=args.class_weights,
        dropout=args.dropout,
        seed=args.seed,
        precision=args.precision,
        group_by_length=not args.no_group_by_length,
        threads=args.threads,
        encoder_layers=args.encoder_layers,
        teacher=args.teacher,
        distill_alpha=args.distill_alpha,
        distill_temperature=args.distill_temperature,
    ).validate()


def run(args: argparse.Namespace) -> int:
    from bertsent.pipeline import train

    result = train(
        args.data,
        config_from_args(args),
        args.output,
        method=args.method,
        resume=args.resume,
        text_column=args.text_column,
        label_column=args.label_column,
        overwrite=args.overwrite,
        exclude_overlap_with=args.exclude_overlap_with,
        augment=args.augment,
    )
    report = result.dev_report
    low, high = report["accuracy_ci"]
    chosen = ", ".join(f"{key} {result.best[key]}" for key in ("epoch", "C") if key in result.best)
    print(
        f"{args.method} ({chosen}): dev accuracy {report['accuracy']:.4f} "
        f"[{low:.4f}, {high:.4f}], macro-F1 {report['macro_f1']:.4f}, "
        f"{result.train_examples_per_second:.1f} training examples/s"
    )
    print(f"model saved to {result.output_dir}")
    return 0
