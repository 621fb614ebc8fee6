"""Prometheus metrics of one app: requests, latency, batch sizes and queue depth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class ServiceMetrics:
    """A private registry per app, so two apps in one process (tests) never collide.

    >>> metrics = ServiceMetrics(queue_depth=lambda: 0)  # doctest: +SKIP
    """

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bertsent_requests",
            "HTTP requests by route and status code",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bertsent_request_latency_seconds",
            "Time from request to response",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "bertsent_batch_size",
            "Texts per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "bertsent_batch_seconds",
            "Time of one forward pass",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=self.registry,
        )
        self.texts = Counter("bertsent_texts", "Texts scored", registry=self.registry)
        self.cancelled_texts = Counter(
            "bertsent_cancelled_texts",
            "Texts dropped before scoring: their request timed out or its client left",
            registry=self.registry,
        )
        self.rejected = Counter(
            "bertsent_rejected",
            "Requests and connections refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = 0  # requests started and not yet finished; shutdown waits for them
        in_flight = Gauge(
            "bertsent_requests_in_flight", "Requests being handled", registry=self.registry
        )
        in_flight.set_function(lambda: self.in_flight)
        queue = Gauge("bertsent_queue_depth", "Texts waiting for a batch", registry=self.registry)
        queue.set_function(queue_depth)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.texts.inc(size)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)


def route_of(scope: dict[str, Any], routes: Sequence[Any] = ()) -> str:
    """The route template (``/v1/predict``), never the raw path, to bound label cardinality.

    A request refused before routing (413, 400 from the body guard) has no route in its
    scope yet: it is matched against ``routes`` here, so it counts under its real route.
    """
    route = scope.get("route")
    if route is None and routes:
        from starlette.routing import Match

        route = next((r for r in routes if r.matches(scope)[0] == Match.FULL), None)
    return getattr(route, "path", "other") if route is not None else "other"
