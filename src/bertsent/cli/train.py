"""``bertsent train``: fine-tune a model and save it."""

from __future__ import annotations

import argparse
from typing import Any

from bertsent.cli.options import (
    add_augment_option,
    add_data_options,
    add_overwrite_option,
    add_recipe_option,
    add_training_options,
    given_flag,
    keep_defaults,
    training_config,
)
from bertsent.data.tasks import TASK_NAMES
from bertsent.models import METHODS

# the llm method's own flags besides --endpoint (by destination)
LLM_FLAGS = (
    "llm_model", "prompt", "examples_per_label", "concurrency", "llm_cache", "llm_max_chars",
)  # fmt: skip


def add_parser(commands: Any) -> None:
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
    add_augment_option(parser)
    parser.add_argument(
        "--task",
        choices=TASK_NAMES,
        default="auto",
        help="single-label, fine-grained (ordered classes such as SST-5, with an intensity "
        "score), aspect (sentence + aspect pairs), multi-label (';'-joined labels), or "
        "auto: read from the data (default)",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="bert",
        help="bert (default), a baseline to compare against, zero-shot (no training: "
        "each review against the label descriptions of --labels), setfit (few-shot), or "
        "llm (a chat server you run, --endpoint)",
    )
    parser.add_argument(
        "--labels",
        metavar="DESCRIPTIONS",
        help='zero-shot label descriptions: "positive=a great movie, I loved it;'
        'negative=a terrible movie, I hated it", or label names alone '
        "(default: the data's labels; fresh/rotten, positive/negative, good/bad, 1/0 and "
        "SST-5's five classes come described)",
    )
    llm = parser.add_argument_group(
        "--method llm", "a chat-completions server you run (key: $BERTSENT_LLM_API_KEY)"
    )
    llm.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8080/v1")
    llm.add_argument("--llm-model", default="default", help="the model name the server expects")
    llm.add_argument(
        "--prompt", metavar="FILE", help="prompt template file with {labels} and {text}"
    )
    llm.add_argument(
        "--examples-per-label", type=int, default=0, metavar="N",
        help="few-shot: N labelled training reviews per label before each question",
    )  # fmt: skip
    llm.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    llm.add_argument(
        "--llm-max-chars", type=int, default=4000, metavar="N",
        help="characters of a review sent, and of the few-shot examples together; "
        "longer ones keep head and tail (default 4000)",
    )  # fmt: skip
    llm.add_argument(
        "--llm-cache",
        metavar="FILE",
        help="answer cache (default ~/.cache/bertsent/llm.sqlite; '' for none)",
    )
    parser.add_argument("--output", required=True, help="directory for the saved model")
    add_overwrite_option(parser, "the --output folder or file")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint"
    )
    add_training_options(parser)
    add_recipe_option(parser)
    keep_defaults(parser, llm=LLM_FLAGS)
    parser.set_defaults(handler=run)


def llm_params(args: argparse.Namespace) -> dict[str, Any]:
    """The llm method's settings from the command line (the prompt read from its file)."""
    from pathlib import Path

    from bertsent.errors import ConfigError

    params: dict[str, Any] = {
        "endpoint": args.endpoint,
        "llm_model": args.llm_model,
        "examples_per_label": args.examples_per_label,
        "concurrency": args.concurrency,
        "max_chars": args.llm_max_chars,
    }
    if args.llm_cache is not None:  # saved with the model: a later run finds it anywhere
        params["cache"] = (
            str(Path(args.llm_cache).expanduser().resolve()) if args.llm_cache else None
        )
    if args.prompt:
        try:
            params["prompt"] = Path(args.prompt).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--prompt {args.prompt}: cannot read it ({exc})") from None
    return params


def setfit_params(args: argparse.Namespace) -> dict[str, Any]:
    """SetFit's own schedule from the shared flags the user changed: ``--epochs`` passes
    over the pairs, ``--learning-rate`` of the contrastive steps, ``--batch-size`` pairs
    per step (SetFit's defaults where a flag is left alone)."""
    from bertsent.errors import ConfigError

    given: set[str] = getattr(args, "given_settings", set())
    params: dict[str, Any] = {}
    if "epochs" in given:
        if args.epochs != int(args.epochs):
            raise ConfigError(f"--epochs {args.epochs}: setfit makes whole passes over its pairs")
        params["epochs"] = int(args.epochs)
    if "learning_rate" in given:
        params["learning_rate"] = args.learning_rate
    if "batch_size" in given:
        params["pair_batch_size"] = args.batch_size
    return params


# the settings each method other than bert reads (besides how it runs: threads, caches);
# setfit takes its schedule from --epochs, --learning-rate and --batch-size
SETFIT_SCHEDULE = ("epochs", "learning_rate", "batch_size")


def refuse_unread_settings(args: argparse.Namespace, config: Any) -> None:
    """Refuse a flag the chosen method would ignore: a baseline trained "with" --epochs
    10 or --recipe robust would be recorded as if it had been.

    Raises:
        ConfigError: naming the first such flag (and the --recipe that set it).
    """
    import dataclasses

    from bertsent.errors import ConfigError
    from bertsent.models import classifier_class
    from bertsent.training.config import RECIPES, RUN_ONLY_SETTINGS, TrainingConfig, flag_of

    if args.labels is not None and args.method != "zero-shot":
        raise ConfigError("--labels describes the labels of --method zero-shot")
    if args.endpoint is not None and args.method != "llm":
        raise ConfigError("--endpoint is the server of --method llm")
    llm_flag = given_flag(args, "llm")
    if llm_flag and args.method != "llm":
        raise ConfigError(f"{llm_flag} is for --method llm")
    if args.method == "bert":
        return
    reads = {"seed", *RUN_ONLY_SETTINGS}
    reads |= set(getattr(classifier_class(args.method), "recipe_settings", None) or ())
    if args.method == "setfit":
        reads |= set(SETFIT_SCHEDULE)
    defaults = TrainingConfig()
    given: set[str] = getattr(args, "given_settings", set())
    for setting in dataclasses.fields(TrainingConfig):
        name = setting.name
        if name in reads or getattr(config, name) == getattr(defaults, name):
            continue
        flag = flag_of(name)
        if name in RECIPES[args.recipe] and name not in given:
            flag += f" (from --recipe {args.recipe})"
        own = sorted(flag_of(r) for r in reads - set(RUN_ONLY_SETTINGS))
        raise ConfigError(
            f"{flag} is a BERT fine-tuning setting; --method {args.method} does not read it",
            hint=f"drop it, or train with --method bert; {args.method} reads {', '.join(own)}",
        )


def run(args: argparse.Namespace) -> int:
    from bertsent.distributed import is_main_process
    from bertsent.models import create
    from bertsent.pipeline import train

    config = training_config(args)
    refuse_unread_settings(args, config)
    params = {} if args.labels is None else {"descriptions": args.labels}
    if args.method == "llm":
        params = llm_params(args)
    if args.method == "setfit":
        params = setfit_params(args)
    result = train(
        args.data,
        config,
        args.output,
        method=create(args.method, seed=config.seed, config=config, **params),
        resume=args.resume,
        text_column=args.text_column,
        label_column=args.label_column,
        overwrite=args.overwrite,
        exclude_overlap_with=args.exclude_overlap_with,
        augment=args.augment,
        task=args.task,
    )
    if not is_main_process():  # under torchrun: rank 0 prints the result
        return 0
    report = result.dev_report
    low, high = report["accuracy_ci"]
    chosen = ", ".join(
        f"{key} {result.best[key]}"
        for key in ("epoch", "averaged_epochs", "C", "temperature")
        if key in result.best
    )
    print(
        f"{args.method}{f' ({chosen})' if chosen else ''}: dev accuracy {report['accuracy']:.4f} "
        f"[{low:.4f}, {high:.4f}], macro-F1 {report['macro_f1']:.4f}, "
        f"{result.train_examples_per_second:.1f} training examples/s"
    )
    if report.get("abstained"):
        print(
            f"warning: abstained on {report['abstained']} of {report['n']} dev reviews "
            "(no valid label in the reply; counted as wrong)"
        )
    print(f"model saved to {result.output_dir}")
    return 0
