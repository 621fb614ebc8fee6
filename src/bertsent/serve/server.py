"""Run the service: bind, load the model, serve with uvicorn, drain on SIGTERM.

The order matters to the person starting it: a busy port or a bad model directory is
a one-line error before anything says "serving", and the address printed is the one
bound (``--port 0`` picks a free port and prints it).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from bertsent.errors import ConfigError
from bertsent.serve.app import ServiceState, backend_of, create_app, load_classifier
from bertsent.serve.metrics import ServiceMetrics
from bertsent.serve.protocol import guarded_protocol
from bertsent.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

# file descriptors beyond the connections: the model's files, the loop, logs
SPARE_FILES = 256


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; our error when the address cannot be used.

    It listens at once, before the model loads: a socket that is only bound does not
    keep a second server (SO_REUSEADDR) off the port, which then failed after loading
    its model, with a traceback. Connections that come meanwhile wait in the backlog.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: not a TCP port", hint="0 to 65535; 0 picks a free one")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise ConfigError(f"--host {host}: {error.strerror}", hint="e.g. 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen()
    except OSError as error:
        sock.close()
        hint = {
            errno.EADDRINUSE: "stop the other server or pick another --port (0 picks a free one)",
            errno.EACCES: "ports below 1024 need privileges: pick a --port from 1024 up",
        }.get(
            error.errno or 0,
            "--host must be an address of this machine (127.0.0.1: this machine only)",
        )
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}", hint=hint) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def raise_file_limit(connections: int) -> int:
    """Raise the soft open-file limit (at most to the hard one); the connection cap that fits.

    The usual soft limit, 1024, is below the default connection cap: past it, accept
    fails with EMFILE for everyone instead of refusing the extra connections cleanly.
    """
    try:
        import resource
    except ImportError:  # Windows
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitting = max(1, soft - SPARE_FILES)
        logger.warning(
            "only %d open files allowed (ulimit -n): at most %d connections", soft, fitting
        )
        return fitting
    return connections


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain phase before its shutdown.

    uvicorn closes its listening socket as soon as SIGTERM arrives, so probes get
    "connection refused" instead of the 503 that tells a load balancer to stop sending.
    Here the first SIGTERM (or Ctrl-C) marks the service as draining: /readyz and new
    work answer 503 while the requests in flight finish (at most the graceful timeout);
    then uvicorn's own shutdown runs. A second signal skips the wait.

    >>> state, metrics = app.state.service, app.state.metrics  # doctest: +SKIP
    >>> DrainingServer(config, state, metrics, 30, print).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: uvicorn.Config,
        service: ServiceState,
        metrics: ServiceMetrics,
        graceful_timeout_s: float,
        on_started: Callable[[str], None],
    ) -> None:
        super().__init__(config)
        self.service, self.metrics = service, metrics
        self.graceful_timeout_s = graceful_timeout_s
        self.on_started = on_started
        self.drain_deadline: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            self.on_started(url_of(sockets[0]))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is not None or not self.started:
            super().handle_exit(sig, frame)  # second signal, or not serving yet
            return
        self._captured_signals.append(sig)  # re-raised after shutdown, as uvicorn does
        self.drain_deadline = time.monotonic() + self.graceful_timeout_s
        self.service.begin_drain()

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and not self.should_exit:
            drained = self.metrics.in_flight == 0
            self.should_exit = drained or time.monotonic() >= self.drain_deadline
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.drain_deadline is not None:  # the graceful timeout covers both phases
            left = max(0.1, self.drain_deadline - time.monotonic())
            self.config.timeout_graceful_shutdown = left  # type: ignore[assignment]
        await super().shutdown(sockets=sockets)


def serve(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_started: Callable[[str, str], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C; ``on_started(url, backend)`` once it accepts requests.

    >>> settings = ServeSettings(model_dir="runs/demo/model")  # doctest: +SKIP
    >>> serve(settings, port=0, on_started=print)  # doctest: +SKIP
    """
    sock = bind(host, port)
    try:
        max_connections = raise_file_limit(settings.max_connections)
        if max_connections != settings.max_connections:
            settings = settings.model_copy(update={"max_connections": max_connections})
        classifier = load_classifier(settings)  # a bad model stops here, in one line
        app = create_app(settings, classifier=classifier)
        metrics: ServiceMetrics = app.state.metrics

        def count_refusal(reason: str) -> None:
            metrics.rejected.labels(reason=reason).inc()

        config = uvicorn.Config(
            app,
            http=guarded_protocol(settings, count_refusal),
            lifespan="on",
            timeout_graceful_shutdown=settings.graceful_timeout_s,  # type: ignore[arg-type]
            log_level="warning",
            access_log=False,
        )
        backend = backend_of(classifier)
        server = DrainingServer(
            config,
            app.state.service,
            metrics,
            settings.graceful_timeout_s,
            on_started=lambda url: on_started(url, backend) if on_started else None,
        )
        server.run(sockets=[sock])
    finally:
        sock.close()
