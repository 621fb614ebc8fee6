"""``bertsent predict``: label texts given on the command line or in a file."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from bertsent.cli.options import (
    add_backend_options,
    add_overwrite_option,
    at_least_one,
    given_flag,
    keep_defaults,
    load_for_inference,
)
from bertsent.data.tasks import ASPECT_COLUMN, Task, aspect_missing
from bertsent.errors import ConfigError

logger = logging.getLogger(__name__)
MAX_SCORE_COLUMNS = 6  # classes shown as columns of their own; more are listed in one


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("predict", help="label reviews with a saved model")
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument("texts", nargs="*", help="texts to label")
    parser.add_argument(
        "--input",
        help="a .csv/.tsv/.jsonl/.parquet file to score (--engine ray: a folder or glob of them)",
    )
    parser.add_argument(
        "--output",
        help="where to write the scored rows, format from the suffix (--engine ray: a folder "
        "of parquet shards)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="ray: score the --input shards with a pool of Ray actors (pip install "
        "'bertsent[scale]'), one output shard per input shard",
    )
    parser.add_argument(
        "--address",
        help="--engine ray: the cluster (auto: the one `ray start` runs here; host:port or "
        "ray://host:port); default: a local Ray on this machine",
    )
    parser.add_argument(
        "--num-workers",
        type=at_least_one,
        help="--engine ray: actors (default: one per GPU, else one per two CPUs)",
    )
    parser.add_argument(
        "--text-column", default="text", help="--input's column of texts (default: text)"
    )
    parser.add_argument(
        "--aspect",
        help="aspect models: the aspect the texts are judged on, e.g. --aspect battery "
        "(with --input, each row's 'aspect' column)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse an aspect that does not occur in its text (--aspect, or with --input "
        "a row's aspect column; default: warn)",
    )
    parser.add_argument(
        "--prefix",
        default="",
        help="put before the new columns' names, e.g. pred_ gives pred_label, pred_score, ... "
        "(needed when the input already has a label or score column)",
    )
    parser.add_argument(
        "--chunk-size",
        type=at_least_one,
        default=1024,
        help="rows scored and saved at a time; an interrupted run loses at most one chunk",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run whose scored chunks are in OUTPUT.partial",
    )
    parser.add_argument(
        "--batch-size", type=at_least_one, default=None, help="default: 64 on a CPU, 512 on a GPU"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument(
        "--top-k",
        type=at_least_one,
        metavar="K",
        help="also list the K most probable labels with their scores (a model with more "
        f"than {MAX_SCORE_COLUMNS} labels lists its predicted ones by default)",
    )
    add_overwrite_option(parser, "an existing --output file")
    add_backend_options(parser)
    keep_defaults(parser, file=FILE_FLAGS, ray=RAY_FLAGS)
    parser.set_defaults(handler=run)


FILE_FLAGS = ("text_column", "prefix", "chunk_size", "resume", "overwrite")  # of --input only
RAY_FLAGS = ("address", "num_workers")


def refuse_unread_flags(args: argparse.Namespace) -> None:
    """Refuse a flag this run would ignore, by name: the file flags for texts given on
    the command line, the Ray flags without ``--engine ray``, ``--json`` with ``--input``.

    Raises:
        ConfigError: naming the flag.
    """
    file_flag, ray_flag = given_flag(args, "file"), given_flag(args, "ray")
    if file_flag and not args.input:
        raise ConfigError(
            f"{file_flag} is for scoring an --input file",
            hint="texts given on the command line are printed, not written",
        )
    if ray_flag and args.engine != "ray":
        raise ConfigError(f"{ray_flag} is for --engine ray", hint="add --engine ray")
    if args.input and args.json:
        raise ConfigError(
            "--json prints the labels of texts given on the command line",
            hint="with --input, --output's suffix chooses the format (.jsonl for JSON lines)",
        )


def model_inputs(task: Task, texts: list[str], aspect: str | None, strict: bool) -> list[str]:
    """The model's inputs for texts from the command line (with ``--aspect`` for aspects)."""
    if aspect is not None and ASPECT_COLUMN not in task.input_names:
        raise ConfigError(f"--aspect is for aspect models; this model's task is {task.name}")
    if aspect is not None and not aspect.strip():
        raise ConfigError("--aspect is empty", hint="name the part judged, e.g. --aspect battery")
    fields = {ASPECT_COLUMN: aspect} if aspect is not None else {}
    if ASPECT_COLUMN in task.input_names and aspect is None:
        raise ConfigError(
            "this model judges a text towards an aspect: say which",
            hint='e.g. bertsent predict MODEL --aspect battery "The battery dies by noon"',
        )
    if aspect is not None:
        missing = [text for text in texts if aspect_missing(text, aspect)]
        if missing and strict:
            raise ConfigError(f"aspect '{aspect}' does not occur in: {missing[0]!r}")
        for text in missing:
            logger.warning("aspect '%s' does not occur in %r", aspect, text)
    return [task.model_input(text, fields, f"text {i + 1}") for i, text in enumerate(texts)]


def run_on_ray(args: argparse.Namespace) -> int:
    """``--engine ray``: the shards of ``--input`` into the ``--output`` folder."""
    if not args.input or args.texts:
        raise ConfigError("--engine ray scores --input shards into an --output folder")
    from bertsent.inference.cluster import ScoringJob, score_corpus
    from bertsent.inference.files import model_fingerprint

    model = load_for_inference(args)  # refuses a bad model before any cluster starts
    # actors run in the cluster's working folder, not ours: they get absolute paths, and
    # the backend chosen here, which every shard is scored with and the manifest records
    job = ScoringJob(
        model_dir=str(Path(args.model_dir).resolve()),
        backend=getattr(model, "backend", None) or args.backend,
        threads=args.threads,
        batch_size=args.batch_size,
        text_column=args.text_column,
        prefix=args.prefix,
        chunk_size=args.chunk_size,
        output_dir=str(Path(args.output).resolve()),
        strict=args.strict,
    )
    result = score_corpus(
        job,
        args.input,
        model_id=model_fingerprint(args.model_dir, model),
        address=args.address,
        num_workers=args.num_workers,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    kept = f" ({result['kept_shards']} kept from the earlier run)" if result["kept_shards"] else ""
    print(
        f"{result['rows']} rows in {result['shards']} shards scored{kept} -> {args.output} "
        f"({result['rows_per_second']} rows/s)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if bool(args.input) != bool(args.output):
        raise ConfigError("--input and --output go together")
    if not args.texts and not args.input:
        raise ConfigError("nothing to predict", hint="give texts, or --input FILE --output FILE")
    if args.texts and args.input:  # one would go unscored without a word
        raise ConfigError(
            "texts on the command line and --input: give one or the other",
            hint="add the texts to the --input file, or score them in a second command",
        )
    if args.input and (args.aspect is not None or args.top_k is not None):
        flag = "--aspect" if args.aspect is not None else "--top-k"
        raise ConfigError(
            f"{flag} is for texts given on the command line",
            hint=f"with --input, each row's '{ASPECT_COLUMN}' column names its aspect, and "
            "every label's score is a column of the output"
            if flag == "--aspect"
            else "with --input, every label's score is a column (jsonl: a scores object)",
        )
    if args.texts and args.strict and args.aspect is None:  # it checks an --aspect only
        raise ConfigError("--strict checks the --aspect of the texts: give one, or leave it")
    refuse_unread_flags(args)
    if args.engine == "ray":
        return run_on_ray(args)
    model = load_for_inference(args)
    if args.input:
        from bertsent.inference.files import model_fingerprint, predict_file

        count = predict_file(
            model,
            args.input,
            args.output,
            text_column=args.text_column,
            chunk_size=args.chunk_size,
            progress=not args.quiet,
            resume=args.resume,
            # a resume with another model or backend would mix two models' scores
            model_id=model_fingerprint(args.model_dir, model),
            prefix=args.prefix,
            overwrite=args.overwrite,
            strict=args.strict,
        )
        print(f"{count} rows scored -> {args.output}")
        return 0
    inputs = model_inputs(model.task_, args.texts, args.aspect, strict=args.strict)
    given = {"aspect": args.aspect} if args.aspect else {}
    rows = [
        {"text": text, **given, **scored}
        for text, scored in zip(args.texts, model.predict_scores(inputs, digits=4), strict=True)
    ]
    if args.top_k is not None:
        for item in rows:
            ranked = sorted(item["scores"].items(), key=lambda pair: -pair[1])[: args.top_k]
            item["top"] = [{"label": label, "score": score} for label, score in ranked]
    if args.json:
        for item in rows:
            print(json.dumps(item, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    extra = model.task_.output_names  # e.g. a fine-grained model's intensity
    columns = model.labels_ if len(model.labels_) <= MAX_SCORE_COLUMNS else []
    listed = "top" in rows[0] or not columns
    table = Table("text", *given, "label", "score", *columns, *["scores"] * listed, *extra)
    for item in rows:
        chosen = item.get("top") or [
            {"label": name, "score": item["scores"][name]}
            for name in model.task_.names(item["label"])
            if name in item["scores"]  # not "abstained"
        ]
        table.add_row(
            item["text"],
            *given.values(),
            item["label"],
            f"{item['score']:.4f}",
            *(f"{item['scores'][label]:.4f}" for label in columns),
            *[", ".join(f"{c['label']} {c['score']:.4f}" for c in chosen)] * listed,
            *("-" if item[name] is None else f"{item[name]:+.4f}" for name in extra),
        )
    Console().print(table)
    return 0
