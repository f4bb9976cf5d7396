"""What routes ask for with ``Depends``: the app's engine, store, metrics, settings, HTTP source,
and the threads that score.

``create_app`` puts them on ``app.state``; a route names what it needs, e.g. ``engine: EngineDep``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from chronorec.serve.engine import Engine
from chronorec.serve.metrics import Metrics
from chronorec.serve.sources import HttpEventSource
from chronorec.serve.stores import EventStore

T = TypeVar("T")
SCORING_THREADS = 4


class ScoringThreads:
    """Runs scoring in at most ``threads`` threads at once (per process).

    Scoring is CPU work, mostly in Python: past a few threads they only fight over the GIL, and a
    flooded server answered fewer requests the more it took on at once (2,600/s with 4 requests
    in flight on two replicas, 800/s with 64). Waiting requests cost nothing on the event loop.
    Other routes (posts waiting for a commit) keep the server's larger default thread pool.
    """

    def __init__(self, threads: int = SCORING_THREADS) -> None:
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in one of the scoring threads."""
        if self._limiter is None:  # made here: a limiter needs the running event loop
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(functools.partial(work, *args), limiter=self._limiter)


@dataclass(frozen=True)
class ServiceSettings:
    """The limits and keys one app was created with."""

    api_key: str | None  # None: writes need no key
    max_batch: int  # events (or session items) in one request; more: 413
    max_body_bytes: int  # larger bodies: 413
    read_key: str | None = None  # also opens reads (a user's events, recommendations)
    # Recommendations need no key even when the server has one (a user's events still do).
    open_recommendations: bool = False
    max_clock_skew: float = 300.0  # seconds a timestamp may be ahead of the server's clock


# async: each is an attribute read, not worth a hop to the thread pool.
async def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def _store(request: Request) -> EventStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def _settings(request: Request) -> ServiceSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _http_source(request: Request) -> HttpEventSource:
    return request.app.state.http_source  # type: ignore[no-any-return]


async def _scoring(request: Request) -> ScoringThreads:
    return request.app.state.scoring  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(_engine)]
StoreDep = Annotated[EventStore, Depends(_store)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
SettingsDep = Annotated[ServiceSettings, Depends(_settings)]
HttpSourceDep = Annotated[HttpEventSource, Depends(_http_source)]
ScoringDep = Annotated[ScoringThreads, Depends(_scoring)]


def check_batch(count: int, what: str, settings: ServiceSettings) -> None:
    """413 when one request carries more than the batch limit."""
    if count > settings.max_batch:
        raise HTTPException(
            413, f"{count} {what} in one request; the limit is {settings.max_batch}"
        )


def check_timestamps(
    timestamps: Iterable[float | None], where: tuple[str, ...], settings: ServiceSettings
) -> None:
    """422 for timestamps further ahead of the server's clock than the allowed skew: an event
    dated years ahead would stay a user's newest forever."""
    limit = time.time() + settings.max_clock_skew
    errors = [
        {
            "loc": (*where, n, "timestamp"),
            "msg": f"more than {settings.max_clock_skew:g} s ahead of the server's clock",
            "type": "timestamp_in_future",
        }
        for n, t in enumerate(timestamps)
        if t is not None and t > limit
    ]
    if errors:
        raise RequestValidationError(errors)
