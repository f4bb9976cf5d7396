"""Prometheus metrics of the service: a registry per app, request metrics, and scrape-time values.

Label values come from fixed sets: the route's template (``/v1/users/{user_id}/...``), never the
raw path, and a known HTTP method or ``other``, so clients cannot create new series.

The same middleware writes the access log (logger ``chronorec.serve.access``), with the same
labels: a request's path holds user ids, which the server must be able to forget, so it is never
logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from chronorec.scoring import Ranker
from chronorec.serve.engine import Engine, Ranking
from chronorec.serve.sources import EventSource
from chronorec.serve.stores import EventStore

log = logging.getLogger("chronorec.serve")
access_log = logging.getLogger("chronorec.serve.access")

CONTENT_TYPE = CONTENT_TYPE_LATEST
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Prometheus metrics in a registry of the app's own (several apps can live in one process)."""

    def __init__(self, engine: Engine, store: EventStore, sources: Sequence[EventSource]) -> None:
        # The ``*_created`` series only add noise to every scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.sources = tuple(sources)  # the health endpoint reads their status too
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chronorec_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chronorec_http_request_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "chronorec_events_posted", "Events stored through the API.", registry=self.registry
        )
        self.unknown = Counter(
            "chronorec_unknown_item_events",
            "Posted events whose item the model does not know.",
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "chronorec_fallback_recommendations",
            "Answers from popularity (no usable history).",
            registry=self.registry,
        )
        self.registry.register(_ServiceCollector(engine, store, sources))

    def served(self, ranking: Ranking) -> None:
        """Count an answer (a popularity fallback among them)."""
        if ranking.fallback:
            self.fallbacks.inc()

    def posted(self, stored: int, unknown: int) -> None:
        """Count events stored through the API, and those of them with an unknown item."""
        self.events.inc(stored)
        self.unknown.inc(unknown)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency, and log it."""
        method = method if method in _METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        access_log.info("%s %s %d %.1f ms", method, route, status, seconds * 1000)

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format (its media type is ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _ServiceCollector:
    """Values read at scrape time: the model in service, events stored, caches, event sources."""

    def __init__(self, engine: Engine, store: EventStore, sources: Sequence[EventSource]) -> None:
        self.engine, self.store, self.sources = engine, store, sources

    def collect(self) -> Iterator[Any]:
        b = self.engine.bundle
        info = InfoMetricFamily("chronorec_model", "The model in service.")
        info.add_metric(
            [],
            {"version": b.version, "items": str(b.data.num_items), "index": _ranking_by(b.ranker)},
        )
        yield info
        yield GaugeMetricFamily(
            "chronorec_events_stored", "Events in the event store.", value=self.store.count()
        )
        yield GaugeMetricFamily(
            "chronorec_cached_users", "Users whose state is in memory.", value=len(b.users)
        )
        yield CounterMetricFamily(
            "chronorec_forward_passes",
            "Model forward passes since the last (re)load.",
            value=b.forward_passes,
        )
        yield CounterMetricFamily(
            "chronorec_model_reloads", "Successful reloads.", value=self.engine.reloads
        )
        yield self._sources()

    def _sources(self) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "chronorec_event_source", "What each event source reports.", labels=["source", "field"]
        )
        for source in self.sources:
            try:
                status = source.status()
            except Exception:  # one broken source must not take the other metrics down
                log.exception("event source %s: status failed", source.name)
                continue
            for field, value in status.items():
                gauge.add_metric([source.name, field], float(value))
        return gauge


def _ranking_by(ranker: Ranker) -> str:
    """What ranks the items: the approximate index, exact vector scores or the model itself."""
    if ranker.index is not None:
        return type(ranker.index).__name__
    return "ExactIndex" if ranker.by_vectors else "model"


class MetricsMiddleware:
    """ASGI middleware: counts every HTTP request by method, route template and status."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_recording(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            # The router writes the matched route into the scope; unmatched: 404s, refused bodies.
            # path_format: the template without converters ({user_id}, not {user_id:id}).
            route = getattr(scope.get("route"), "path_format", "unmatched")
            self.metrics.request(scope["method"], route, status, time.perf_counter() - start)
