"""The HTTP API: ``create_app(run_dir)`` returns a FastAPI application (OpenAPI docs at ``/docs``).

Endpoints are plain functions run in the server's thread pool: scoring is CPU work in PyTorch, which
releases the GIL, so a slow request does not hold up the event loop. Errors are always
``{"error": "...", "detail": [...]}``. Request bodies are never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronorec.serve import schemas as s
from chronorec.version import __version__
from chronorec.serve.engine import Engine, Ranking
from chronorec.serve.store import Event, EventStore, open_store

log = logging.getLogger("chronorec.serve")

DB_FILE = "events.sqlite"
UserId = Annotated[
    str, PathParam(min_length=1, max_length=256, description="The user's original id.")
]
ItemId = Annotated[
    str, PathParam(min_length=1, max_length=256, description="The item's original id.")
]

_WRITE = {401: {"model": s.Problem, "description": "Missing or wrong X-API-Key."}}
_BODY = {413: {"model": s.Problem, "description": "Body or batch too large."}}
_NOT_FOUND = {404: {"model": s.Problem, "description": "No such route or item."}}


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
) -> FastAPI:
    """The service for one run folder.

    Args:
        run_dir: a folder written by ``chronorec train``.
        db: SQLite file or ``postgresql://`` URL for posted events; default ``RUN_DIR/events.sqlite``.
        api_key: when set, writes (events, deletes, reload) need it in ``X-API-Key``.
        max_body_bytes: larger request bodies get 413.
        max_batch: more events (or session items) in one request get 413.
        cache_size: users whose state is kept in memory (least recently used are dropped).
        approx_above: catalogues with more items use the approximate top-K index.
        target_recall: recall@10 the approximate index is tuned to reach.
    """
    run_dir = Path(run_dir)
    api_key = api_key or None  # an empty key (e.g. an empty environment variable) is no key
    store = open_store(db or run_dir / DB_FILE)
    try:
        engine = Engine(
            run_dir,
            store,
            cache_size=cache_size,
            approx_above=approx_above,
            target_recall=target_recall,
        )
    except BaseException:
        store.close()
        raise
    metrics = _Metrics(engine, store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        store.close()

    app = FastAPI(
        title="chronorec",
        version=__version__,
        description="Real-time sequential recommendations from a trained chronorec run.",
        lifespan=lifespan,
    )
    app.state.engine, app.state.store, app.state.metrics = engine, store, metrics
    app.add_middleware(_Guard, max_body_bytes=max_body_bytes, metrics=metrics)
    _add_error_handlers(app)
    key_header = APIKeyHeader(
        name="X-API-Key",
        auto_error=False,
        description="Needed by writes when the server has a key.",
    )

    def require_key(key: str | None = Security(key_header)) -> None:
        if api_key is not None and (
            key is None or not hmac.compare_digest(key.encode(), api_key.encode())
        ):
            raise HTTPException(401, "missing or wrong X-API-Key")

    def too_many(n: int, what: str) -> None:
        if n > max_batch:
            raise HTTPException(413, f"{n} {what} in one request; the limit is {max_batch}")

    @app.get(
        "/v1/users/{user_id}/recommendations",
        response_model=s.Recommendations,
        tags=["recommendations"],
        responses=_NOT_FOUND,
    )
    def user_recommendations(
        user_id: UserId,
        k: Annotated[int, Query(ge=1, le=s.MAX_K, description="How many items.")] = 10,
        exclude_seen: Annotated[
            bool | None,
            Query(description="Leave out items in the user's history; default: the run's setting."),
        ] = None,
    ) -> s.Recommendations:
        """Top-K items after the user's training history plus every event posted since; popular items for an unknown user."""
        seen = engine.bundle.exclude_seen if exclude_seen is None else exclude_seen
        ranking = engine.recommend_user(user_id, k, seen)
        metrics.served(ranking)
        return _recommendations(ranking, user_id)

    @app.post(
        "/v1/recommendations",
        response_model=s.SessionRecommendations,
        tags=["recommendations"],
        responses=_BODY,
    )
    def session_recommendations(body: s.SessionIn) -> s.SessionRecommendations:
        """Top-K items after an anonymous session given as a list of items."""
        too_many(len(body.items), "session items")
        events = [(e.item_id, e.timestamp, e.event_type) for e in body.events()]
        ranking, unknown = engine.recommend_session(events, body.k, body.exclude_seen)
        metrics.served(ranking)
        return s.SessionRecommendations(
            **_recommendations(ranking, None).model_dump(), unknown_items=unknown
        )

    @app.post(
        "/v1/events",
        response_model=s.EventsStored,
        tags=["events"],
        dependencies=[Depends(require_key)],
        responses={**_WRITE, **_BODY},
        openapi_extra=_EVENTS_BODY,
    )
    def post_events(body: s.EventBatch) -> s.EventsStored:
        """Store events (durably, before answering); the users' next recommendations reflect them."""
        too_many(len(body.events), "events")
        now = time.time()
        events = [
            Event(e.user_id, e.item_id, now if e.timestamp is None else e.timestamp, e.event_type)
            for e in body.events
        ]
        stored, unknown = engine.add_events(events)
        metrics.posted(len(stored), unknown)
        return s.EventsStored(stored=len(stored), unknown_items=unknown)

    @app.get(
        "/v1/users/{user_id}/events",
        response_model=s.UserEvents,
        tags=["events"],
        responses=_NOT_FOUND,
    )
    def user_events(
        user_id: UserId,
        limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many.")] = 100,
    ) -> s.UserEvents:
        """The events posted for a user, newest first."""
        events = store.for_user(user_id, limit)
        return s.UserEvents(
            user_id=user_id,
            events=[
                s.EventOut(
                    user_id=e.user_id,
                    item_id=e.item_id,
                    timestamp=e.timestamp,
                    event_type=e.event_type,
                )
                for e in events
            ],
        )

    @app.delete(
        "/v1/users/{user_id}",
        response_model=s.UserDeleted,
        tags=["events"],
        dependencies=[Depends(require_key)],
        responses={**_WRITE, **_NOT_FOUND},
    )
    def forget_user(user_id: UserId) -> s.UserDeleted:
        """Forget a user: their posted events and cached state go; they get what an unknown user gets."""
        deleted = engine.forget(user_id)
        # No id in the log: the point is to forget it.
        log.info("forgot a user: %d posted events deleted", deleted)
        return s.UserDeleted(user_id=user_id, deleted_events=deleted)

    @app.get(
        "/v1/items/{item_id}/similar",
        response_model=s.SimilarItems,
        tags=["recommendations"],
        responses=_NOT_FOUND,
    )
    def similar_items(
        item_id: ItemId,
        k: Annotated[int, Query(ge=1, le=s.MAX_K, description="How many items.")] = 10,
    ) -> s.SimilarItems:
        """Items the model ranks highest right after this item alone (the item itself left out)."""
        ranking = engine.similar(item_id, k)
        if ranking is None:
            raise HTTPException(404, f"unknown item '{item_id}'")
        return s.SimilarItems(
            item_id=item_id, similar=_items(ranking), model_version=ranking.model_version
        )

    @app.post(
        "/admin/reload",
        response_model=s.Reloaded,
        tags=["admin"],
        dependencies=[Depends(require_key)],
        responses={
            **_WRITE,
            500: {
                "model": s.Problem,
                "description": "The new checkpoint failed to load; the old one still serves.",
            },
        },
    )
    def reload() -> s.Reloaded:
        """Load the run folder's checkpoint again and swap it in; requests in flight finish on the old model."""
        try:
            old, new = engine.reload()
        except Exception as exc:
            log.exception("reload failed; still serving %s", engine.bundle.version)
            raise HTTPException(
                500, f"reload failed ({exc}); still serving {engine.bundle.version}"
            ) from None
        log.info("model reloaded: %s -> %s", old, new)
        return s.Reloaded(previous_version=old, model_version=new)

    @app.get("/healthz", response_model=s.Health, tags=["admin"])
    def healthz() -> s.Health:
        return s.Health(
            status="ok", model_version=engine.bundle.version, events_stored=store.count()
        )

    @app.get(
        "/metrics",
        tags=["admin"],
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                "description": "Prometheus text format.",
            }
        },
    )
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _document_limits(app, max_batch)
    return app


def _document_limits(app: FastAPI, max_batch: int) -> None:
    """Put this server's batch limit into its OpenAPI schema as ``maxItems`` (exceeding it is a 413)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; setting the limits again is harmless
        components = schema["components"]["schemas"]
        components["EventBatch"]["properties"]["events"]["maxItems"] = max_batch
        components["SessionIn"]["properties"]["items"]["maxItems"] = max_batch
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# The body of POST /v1/events is documented as either shape; the model's validator accepts both.
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/EventBatch"},
                        {"$ref": "#/components/schemas/EventIn"},
                    ]
                }
            }
        },
    }
}


def _items(ranking: Ranking) -> list[s.RecommendedItem]:
    return [
        s.RecommendedItem(item_id=r.item_id, score=r.score, title=r.title)
        for r in ranking.recommendations
    ]


def _recommendations(ranking: Ranking, user_id: str | None) -> s.Recommendations:
    return s.Recommendations(
        user_id=user_id,
        recommendations=_items(ranking),
        fallback=ranking.fallback,
        model_version=ranking.model_version,
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back (it may be large or personal), only where and why.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        message = (
            "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
            or "invalid request"
        )
        return JSONResponse(s.Problem(error=message, detail=detail).model_dump(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            s.Problem(error=str(exc.detail)).model_dump(exclude_none=True),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


class _Metrics:
    """Prometheus metrics in a registry of the app's own (several apps can live in one process)."""

    def __init__(self, engine: Engine, store: EventStore) -> None:
        disable_created_metrics()  # the ``*_created`` series only add noise to every scrape
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
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
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
        self.registry.register(_EngineCollector(engine, store))

    def served(self, ranking: Ranking) -> None:
        if ranking.fallback:
            self.fallbacks.inc()

    def posted(self, stored: int, unknown: int) -> None:
        self.events.inc(stored)
        self.unknown.inc(unknown)


class _EngineCollector:
    """Values read at scrape time: the model in service, events stored, cache and forward-pass counts."""

    def __init__(self, engine: Engine, store: EventStore) -> None:
        self.engine, self.store = engine, store

    def collect(self) -> Iterator[Any]:
        b = self.engine.bundle
        info = InfoMetricFamily("chronorec_model", "The model in service.")
        info.add_metric(
            [],
            {
                "version": b.version,
                "items": str(b.data.num_items),
                "index": type(b.index).__name__ if b.index is not None else "model",
            },
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


class _Guard:
    """ASGI middleware: refuses oversized bodies with 413 before they are read, and records metrics.

    The route label is the route's template (``/v1/users/{user_id}/...``), never the raw path, so
    user ids do not become label values.
    """

    def __init__(self, app: Any, max_body_bytes: int, metrics: _Metrics) -> None:
        self.app, self.max_body_bytes, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_recording(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            fits, body = await self._read_body(scope, receive)
            if not fits:
                await self._too_large(send_recording)
            else:
                await self.app(
                    scope, receive if body is None else _replay(body, receive), send_recording
                )
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)

    async def _read_body(self, scope: dict, receive: Any) -> tuple[bool, bytes | None]:
        """Whether the body fits, and the body if it had to be read to know (else None: the app reads it)."""
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:  # the server has checked it is a number
            return int(length) <= self.max_body_bytes, None
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return True, None
        chunks, size = [], 0  # no length given (chunked): read up to the limit, and not a byte more
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return False, None
            if not message.get("more_body", False):
                return True, b"".join(chunks)

    async def _too_large(self, send: Any) -> None:
        body = s.Problem(
            error=f"request body larger than {self.max_body_bytes} bytes"
        ).model_dump_json(exclude_none=True)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the already-read body to the app, then defers to the real one."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
