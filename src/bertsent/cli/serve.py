"""``bertsent serve``: the real-time HTTP service (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    from bertsent.inference.engine import BACKENDS

    parser = commands.add_parser("serve", help="serve a saved model over HTTP")
    parser.add_argument("model_dir", help="a directory written by `bertsent train`")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto: the fastest measured backend within 0.3 points of fp32 (see export)",
    )
    parser.add_argument("--threads", type=int, help="inference threads (default: all cores)")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument(
        "--engine-batch-size", type=int, default=8, help="texts per padded forward pass"
    )
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--max-queue-texts", type=int, default=512)
    parser.add_argument("--request-timeout", type=float, default=10.0, help="seconds")
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (kept off the command line)",
    )
    parser.add_argument(
        "--no-explain", action="store_true", help="turn off the attributions of /v1/explain"
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds to finish requests in flight on shutdown",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    from pydantic import SecretStr

    from bertsent.errors import ConfigError, MissingDependencyError

    try:
        import uvicorn

        from bertsent.serve.app import create_app
        from bertsent.serve.settings import ServeSettings
    except ImportError as error:
        raise MissingDependencyError(
            f"serving needs {error.name}", hint="pip install 'bertsent[serve]'"
        ) from None
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env: ${args.api_key_env} is not set or empty")
    settings = ServeSettings(
        model_dir=args.model_dir,
        backend=args.backend,
        threads=args.threads,
        max_batch_size=args.max_batch_size,
        engine_batch_size=args.engine_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue_texts=args.max_queue_texts,
        request_timeout_s=args.request_timeout,
        api_key=SecretStr(api_key) if api_key else None,
        explain=not args.no_explain,
    )
    print(f"serving {args.model_dir} ({args.backend}) on http://{args.host}:{args.port}/")
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=args.graceful_timeout,
        log_level="warning",
        access_log=False,
    )
    return 0
