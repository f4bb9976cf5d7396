"""The service live: requests per second and latency quantiles of the last seconds, events.

Read from the same Prometheus counters ``/metrics`` exports, so the page and a dashboard agree.
The page's own routes are left out: watching the page would otherwise measure itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from chronorec.serve.metrics import Metrics

WINDOW_SECONDS = 30.0  # rates and quantiles cover about this much of the recent past
QUANTILES = (0.5, 0.99)


def is_page_route(route: str) -> bool:
    """Whether ``route`` (a route template, as the metrics label it) belongs to the page itself."""
    return route == "/" or route.startswith("/page/")


@dataclass(frozen=True)
class Snapshot:
    """The counters at one moment: totals over the API's routes since the service started."""

    at: float  # time.monotonic()
    requests: float
    errors: float  # answers with a 5xx status
    buckets: tuple[tuple[float, float], ...]  # (upper bound in seconds, cumulative count)
    events: float  # events posted through the API

    @classmethod
    def read(cls, metrics: Metrics) -> Snapshot:
        """The counters of ``metrics`` now."""
        requests = errors = 0.0
        for sample in _samples(metrics.requests):
            if sample.name.endswith("_total") and not is_page_route(sample.labels["route"]):
                requests += sample.value
                errors += sample.value if sample.labels["status"].startswith("5") else 0.0
        bounds: dict[float, float] = {}
        for sample in _samples(metrics.latency):
            if sample.name.endswith("_bucket") and not is_page_route(sample.labels["route"]):
                bound = float(sample.labels["le"])
                bounds[bound] = bounds.get(bound, 0.0) + sample.value
        events = sum(s.value for s in _samples(metrics.events) if s.name.endswith("_total"))
        return cls(time.monotonic(), requests, errors, tuple(sorted(bounds.items())), events)

    def minus(self, earlier: Snapshot) -> Snapshot:
        """What happened between ``earlier`` and this snapshot."""
        before = dict(earlier.buckets)
        return Snapshot(
            self.at - earlier.at,
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            tuple((bound, count - before.get(bound, 0.0)) for bound, count in self.buckets),
            self.events - earlier.events,
        )


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The ``q`` quantile of a cumulative histogram, interpolated within its bucket as Prometheus'
    ``histogram_quantile`` does; None without observations."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):  # above the largest finite bound: that bound is all we know
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


class LiveWindow:
    """Snapshots of the last ``WINDOW_SECONDS``: each look compares now with the oldest of them."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._snapshots: deque[Snapshot] = deque()
        self._lock = threading.Lock()

    def look(self, metrics: Metrics) -> dict[str, Any]:
        """Requests per second, latency quantiles (ms) and events since the oldest snapshot kept,
        and the totals; rates are None on the first look."""
        now = Snapshot.read(metrics)
        with self._lock:
            while self._snapshots and now.at - self._snapshots[0].at > self.window:
                self._snapshots.popleft()
            oldest = self._snapshots[0] if self._snapshots else None
            self._snapshots.append(now)
        recent = now.minus(oldest) if oldest is not None else None
        seconds = recent.at if recent is not None and recent.at > 0 else None
        latency = recent.buckets if recent is not None else now.buckets  # first look: since start
        p50, p99 = (quantile(q, latency) for q in QUANTILES)
        return {
            "window_seconds": seconds,
            "requests_per_second": recent.requests / seconds if recent and seconds else None,
            "events_per_second": recent.events / seconds if recent and seconds else None,
            "p50_ms": None if p50 is None else 1000.0 * p50,
            "p99_ms": None if p99 is None else 1000.0 * p99,
            "requests": now.requests,
            "errors": now.errors,
            "events_received": now.events,
        }


def _samples(metric: Any) -> list[Any]:
    return [sample for family in metric.collect() for sample in family.samples]
