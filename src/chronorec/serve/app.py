"""The HTTP API: ``create_app(run_dir)`` returns a FastAPI application (OpenAPI docs at ``/docs``).

The app is assembled here from parts: routes by area in ``routers/``, the API keys in ``auth``,
metrics (and the access log) in ``metrics``, size limits in ``limits``, error bodies in
``problems``, event stores in ``stores/`` and event sources in ``sources``. Endpoints that wait
(posts, a user's events) are plain functions run in the server's thread pool; scoring runs in a
few threads of its own (``dependencies.ScoringThreads``), and an answer already cached is served
from the event loop. Errors are always ``{"error": "...", "detail": [...]}``. Request bodies and
paths (which hold user ids) are never logged.

Any number of processes may serve one store: each is told of the others' changes by the store
(see ``stores.base``).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from chronorec.serve.dependencies import ScoringThreads, ServiceSettings
from chronorec.serve.docs import add_offline_docs
from chronorec.serve.engine import Engine
from chronorec.serve.limits import BodyLimitMiddleware
from chronorec.serve.metrics import Metrics, MetricsMiddleware
from chronorec.serve.problems import add_error_handlers
from chronorec.serve.routers import ROUTERS
from chronorec.serve.schemas import MAX_TIMESTAMP
from chronorec.serve.sources import EventSource, HttpEventSource
from chronorec.serve.stores import EventStore, open_store
from chronorec.version import __version__

DB_FILE = "events.sqlite"


def create_app(
    run_dir: str | Path,
    db: str | Path | None = None,
    api_key: str | None = None,
    *,
    max_body_bytes: int = 1 << 20,
    max_batch: int = 1000,
    cache_size: int = 100_000,
    approx_above: int = 100_000,
    target_recall: float = 0.99,
    sources: Sequence[EventSource] = (),
    read_key: str | None = None,
    open_recommendations: bool = False,
    max_clock_skew: float = 300.0,
) -> FastAPI:
    """The service for one run folder.

    Args:
        run_dir: a folder written by ``chronorec train``.
        db: a SQLite file, ``sqlite:///PATH`` or ``postgresql://`` URL for posted events (see
            ``chronorec.serve.stores``); default ``RUN_DIR/events.sqlite``.
        api_key: when set, every request but health, metrics and docs needs a key in
            ``X-API-Key``: writes (events, deletes, reload) this one, reads (a user's events,
            recommendations) this one or ``read_key`` (see ``chronorec.serve.auth``).
        max_body_bytes: larger request bodies get 413.
        max_batch: more events (or session items) in one request get 413.
        cache_size: users whose state is kept in memory (least recently used are dropped).
        approx_above: catalogues with more items use the approximate top-K index.
        target_recall: recall@10 the approximate index is tuned to reach.
        sources: event sources besides HTTP posts, started and stopped with the server (see
            ``chronorec.serve.sources``).
        read_key: a second key, for reads only.
        open_recommendations: recommendations need no key (a user's events still do).
        max_clock_skew: posted timestamps further ahead of the server's clock (seconds) get 422.
    """
    store = open_store(db or Path(run_dir) / DB_FILE)
    engine = _load_engine(Path(run_dir), store, cache_size, approx_above, target_recall)
    http_source = HttpEventSource()
    http_source.start(engine.add_events)  # posts need no background work: live from the start
    metrics = Metrics(engine, store, [http_source, *sources])
    app = _new_app(_lifespan(engine, store, sources))
    app.state.engine, app.state.store, app.state.metrics = engine, store, metrics
    app.state.http_source, app.state.scoring = http_source, ScoringThreads()
    # An empty key (e.g. an empty environment variable) is no key.
    app.state.settings = ServiceSettings(
        api_key or None,
        max_batch,
        max_body_bytes,
        read_key=read_key or None,
        open_recommendations=open_recommendations,
        max_clock_skew=max_clock_skew,
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: it sees the 413s too
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    add_offline_docs(app)
    _document_limits(app, max_batch, max_clock_skew)
    return app


def _new_app(lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> FastAPI:
    return FastAPI(
        title="chronorec",
        version=__version__,
        description="Real-time sequential recommendations from a trained chronorec run.",
        lifespan=lifespan,
        docs_url=None,  # served by add_offline_docs, without a CDN
        redoc_url=None,
    )


def _load_engine(
    run_dir: Path, store: EventStore, cache_size: int, approx_above: int, target_recall: float
) -> Engine:
    """The engine for ``run_dir`` on ``store``; the store is closed if the run fails to load."""
    try:
        return Engine(
            run_dir,
            store,
            cache_size=cache_size,
            approx_above=approx_above,
            target_recall=target_recall,
        )
    except BaseException:  # the store's writer thread must not outlive a failed start
        store.close()
        raise


def _lifespan(
    engine: Engine, store: EventStore, sources: Sequence[EventSource]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the event sources with the server; at shutdown stop them, then close the store."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[EventSource] = []
        try:
            for source in sources:  # in the thread pool: a source may block a little to start
                await run_in_threadpool(source.start, engine.add_events)
                started.append(source)
            yield
        finally:
            for source in reversed(started):
                await run_in_threadpool(source.stop)
            store.close()

    return lifespan


def _document_limits(app: FastAPI, max_batch: int, max_clock_skew: float) -> None:
    """Put this server's limits into its OpenAPI schema: the batch limit as ``maxItems`` (more is
    a 413) and the latest timestamp it takes, now plus the clock skew, as ``maximum``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; setting the limits again is harmless
        components = schema["components"]["schemas"]
        components["EventBatch"]["properties"]["events"]["maxItems"] = max_batch
        components["SessionIn"]["properties"]["items"]["maxItems"] = max_batch
        latest = min(math.floor(time.time() + max_clock_skew), MAX_TIMESTAMP)
        for name in ("EventIn", "SessionItem"):
            components[name]["properties"]["timestamp"]["anyOf"][0]["maximum"] = latest
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
