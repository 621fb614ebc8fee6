"""``bertsent serve``: the real-time HTTP service (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
from typing import Any

from bertsent.cli.options import at_least_one

# option -> ServeSettings field; options left out fall back to BERTSENT_SERVE_* variables
SETTINGS = {
    "backend": "backend",
    "threads": "threads",
    "max_batch_size": "max_batch_size",
    "engine_batch_size": "engine_batch_size",
    "max_wait_ms": "max_wait_ms",
    "max_queue_texts": "max_queue_texts",
    "request_timeout": "request_timeout_s",
    "header_timeout": "header_timeout_s",
    "body_timeout": "body_timeout_s",
    "max_connections": "max_connections",
    "graceful_timeout": "graceful_timeout_s",
    "explain": "explain",
}


def add_parser(commands: Any) -> None:
    from bertsent.encoders.exports import BACKENDS

    parser = commands.add_parser(
        "serve",
        help="serve a saved model over HTTP",
        description="Serve a saved model over HTTP. Options not given fall back to "
        "BERTSENT_SERVE_<SETTING> environment variables, then to the defaults shown.",
    )
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, help="default 8000; 0 picks a free one")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="auto (default): the fastest measured backend within 0.3 points of fp32 (see export)",
    )
    parser.add_argument(
        "--threads",
        type=at_least_one,
        help="inference threads (default: the cores this process may use)",
    )
    parser.add_argument("--max-batch-size", type=int, help="texts per merged batch (default 32)")
    parser.add_argument(
        "--engine-batch-size", type=int, help="texts per padded forward pass (default 8)"
    )
    parser.add_argument("--max-wait-ms", type=float, help="wait for a batch to fill (default 2)")
    parser.add_argument(
        "--max-queue-texts", type=int, help="texts waiting before 503s (default 512)"
    )
    parser.add_argument(
        "--request-timeout", type=float, help="seconds before a request gets 504 (default 10)"
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        help="seconds a connection may take to send its request headers (default 5)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        help="seconds a request may take to send its body (default: --request-timeout)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        help="open connections at most; more get 503 at once (default 2048)",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (kept off the command line)",
    )
    parser.add_argument(
        "--no-explain",
        dest="explain",
        action="store_false",
        default=None,
        help="turn off the attributions of /v1/explain",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        help="seconds to finish requests in flight on shutdown (default 30)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    from bertsent.errors import ConfigError, MissingDependencyError

    try:
        from bertsent.serve.server import serve
        from bertsent.serve.settings import load_settings
    except ImportError as error:
        raise MissingDependencyError(
            f"serving needs {error.name}", hint="pip install 'bertsent[serve]'"
        ) from None
    options: dict[str, Any] = {
        field: getattr(args, option)
        for option, field in SETTINGS.items()
        if getattr(args, option) is not None
    }
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env, "")
        if not api_key.strip():
            raise ConfigError(
                f"--api-key-env: ${args.api_key_env} is not set, empty or only whitespace",
                hint=f"export {args.api_key_env}=<a long random key>",
            )
        options["api_key"] = api_key
    settings = load_settings(model_dir=args.model_dir, **options)

    def announce(url: str, backend: str) -> None:
        print(f"serving {args.model_dir} ({backend}) on {url}", flush=True)

    serve(settings, *address(args), on_started=announce)
    return 0


def address(args: argparse.Namespace) -> tuple[str, int]:
    """--host and --port, else BERTSENT_SERVE_HOST and BERTSENT_SERVE_PORT, as for every
    other setting, else 127.0.0.1:8000."""
    import os

    from bertsent.errors import ConfigError

    host = args.host or os.environ.get("BERTSENT_SERVE_HOST", "").strip() or "127.0.0.1"
    if args.port is not None:
        return host, args.port
    port = os.environ.get("BERTSENT_SERVE_PORT", "").strip() or "8000"
    if not port.isdigit():
        raise ConfigError(f"BERTSENT_SERVE_PORT={port!r}: not a port number", hint="e.g. 8000")
    return host, int(port)
