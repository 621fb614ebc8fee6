"""The ``bertsent`` command: one small module per subcommand, each calling one library function."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
from collections.abc import Sequence

from bertsent.errors import BertsentError, TrainingInterrupted

COMMANDS = (
    "train",
    "pretrain",
    "evaluate",
    "predict",
    "compare",
    "behave",
    "learning-curve",
    "explain",
    "embed-map",
    "report",
    "export",
    "serve",
    "demo",
    "device",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from bertsent import __version__

    parser = argparse.ArgumentParser(
        prog="bertsent",
        description="Fine-tune, evaluate and use BERT-family sentiment classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"bertsent {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bertsent.cli.{name.replace('-', '_')}").add_parser(commands)
        command_parser = commands.choices[name]
        # -q after the command too; SUPPRESS keeps a -q given before it
        command_parser.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse with options anywhere, as users type them: ``predict MODEL --json "text"``.

    argparse ends a ``nargs="*"`` positional at the first option, so texts after an
    option come back unrecognised; those commands are parsed again with the options
    and positionals intermixed.
    """
    argv = list(argv)
    args, unrecognised = parser.parse_known_args(argv)
    if unrecognised:
        where = argv.index(args.command)
        # only the command's own options may come back: one before the command is
        # nobody's (`bertsent --json predict ...` printed a table and exited 0)
        stray = [item for item in argv[:where] if item in unrecognised]
        if stray:
            parser.error(f"unrecognized arguments before {args.command}: {' '.join(stray)}")
        vars(args).update(vars(args.command_parser.parse_intermixed_args(argv[where + 1 :])))
    args.argv = argv  # as given, for the outputs that record their command
    return args


def configure_logging(quiet: bool) -> None:
    """Show bertsent's progress messages; keep third-party chatter to warnings."""
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    logging.getLogger("bertsent").setLevel(logging.WARNING if quiet else logging.INFO)
    # read when transformers / huggingface_hub are imported, which only the commands
    # that need them do (importing transformers here cost every command a second)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # already imported, e.g. by a test
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; our errors print one line and a hint (BERTSENT_DEBUG=1 for a traceback)."""
    from bertsent.distributed import in_process_group, is_main_process, leave_process_group

    parser = build_parser()
    args = parse_arguments(parser, sys.argv[1:] if argv is None else argv)
    main_process = is_main_process()  # under torchrun only rank 0 talks to the terminal
    joined_before = in_process_group()  # a caller's group (a test, a notebook) stays
    try:
        configure_logging(args.quiet)
        if not main_process:
            logging.getLogger().setLevel(logging.ERROR)
            logging.getLogger("bertsent").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(sys.stdout if main_process else io.StringIO()):
            code = int(args.handler(args) or 0)
    except BertsentError as error:
        if os.environ.get("BERTSENT_DEBUG"):
            raise
        # a Ctrl-C (or SIGTERM) that saved a checkpoint is an interrupt, not a failure
        code = 130 if isinstance(error, TrainingInterrupted) else 2
        if not main_process:  # every rank meets the same error: rank 0 prints it
            return code
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    # after a success every rank is here, done with its collectives; after an error the
    # others may still wait in one, where leaving (a collective under NCCL) could hang
    if not joined_before and in_process_group():
        leave_process_group()
    return code
