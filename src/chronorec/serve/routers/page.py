"""The web page: ``/`` serves it, ``/page/assets`` its files, ``/page/api`` the data its views show.

The page reads recommendations through the public API (``/v1/...``) like any client, and posts
events there with the key the person entered. The routes here give it what the public API does
not: dataset and model summaries, the live counters, a user's history, an item's neighbours.
Whatever names users (histories, the event feed, an item's users) needs the key that reads a
user's events; aggregates and the catalogue are open, as ``/metrics`` is. The routes are left out
of the OpenAPI schema: they serve this page and change with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse

from chronorec.data.dataset import SequenceData
from chronorec.serve.auth import require_key, require_read_key, require_recommendation_key
from chronorec.serve.dependencies import (
    EngineDep,
    MetricsDep,
    ServiceSettings,
    SettingsDep,
    StoreDep,
)
from chronorec.serve.page import STATIC
from chronorec.serve.page.item import item_view, recent_users, search_items
from chronorec.serve.page.live import LiveWindow
from chronorec.serve.page.memo import PerRun
from chronorec.serve.page.overview import dataset_summary, model_card, most_active_users
from chronorec.serve.page.user import average_scales, user_view
from chronorec.serve.routers.common import ItemId, UserId

router = APIRouter(include_in_schema=False)
READS = [Depends(require_read_key)]

# Asset files never change while a server runs, but a new version of the package may serve
# others at the same names: the browser revalidates (cheap: an ETag answers 304).
_REVALIDATE = {"Cache-Control": "no-cache"}


@dataclass
class PageState:
    """What the page keeps per app: values computed once per loaded run, the live window."""

    memo: PerRun = field(default_factory=PerRun)
    live: LiveWindow = field(default_factory=LiveWindow)


_STATES: weakref.WeakKeyDictionary[Any, PageState] = weakref.WeakKeyDictionary()


async def _page_state(request: Request) -> PageState:
    return _STATES.setdefault(request.app, PageState())


PageStateDep = Annotated[PageState, Depends(_page_state)]


@router.get("/")
async def index() -> FileResponse:
    """The page itself."""
    return FileResponse(STATIC / "index.html", headers=_REVALIDATE)


@router.get("/page/assets/{name:path}")
async def asset(name: str) -> FileResponse:
    """One of the page's files (scripts, styles, the chart library)."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise HTTPException(404, f"no page asset '{name[:100]}'")
    return FileResponse(path, headers=_REVALIDATE)


@router.get("/page/api/access")
async def access(
    settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None
) -> dict[str, bool]:
    """What the request's key opens (always 200: a wrong key is an answer, not an error)."""
    return {
        "keys": settings.api_key is not None or settings.read_key is not None,
        "write": await _allows(require_key, settings, x_api_key),
        "read": await _allows(require_read_key, settings, x_api_key),
        "recommendations": await _allows(require_recommendation_key, settings, x_api_key),
    }


async def _allows(
    check: Callable[[ServiceSettings, str | None], Awaitable[None]],
    settings: ServiceSettings,
    key: str | None,
) -> bool:
    try:
        await check(settings, key)
    except HTTPException:
        return False
    return True


@router.get("/page/api/overview")
def overview(engine: EngineDep, store: StoreDep, state: PageStateDep) -> dict[str, Any]:
    """The dataset, the model card and what the page needs to know about the service."""
    bundle = engine.bundle
    return {
        "dataset": state.memo.get(bundle.run, "dataset", lambda: dataset_summary(bundle.data)),
        "model": state.memo.get(
            bundle.run, "model", lambda: model_card(bundle.run, bundle.version)
        ),
        "service": {
            "model_version": bundle.version,
            "events_stored": store.count(),
            "event_types": list(bundle.data.event_type_names),
        },
    }


@router.get("/page/api/live")
def live(metrics: MetricsDep, store: StoreDep, state: PageStateDep) -> dict[str, Any]:
    """Requests per second, latency quantiles and events, from the counters of ``/metrics``."""
    return {**state.live.look(metrics), "events_stored": store.count()}


@router.get("/page/api/feed", dependencies=READS)
def feed(
    store: StoreDep,
    engine: EngineDep,
    after: Annotated[int, Query(ge=0, description="Only events after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The latest events posted, newest first."""
    data = engine.bundle.data
    return {
        "events": [
            {
                "seq": e.seq,
                "user_id": e.user_id,
                "item_id": e.item_id,
                "title": _title(data, e.item_id),
                "timestamp": e.timestamp,
                "event_type": e.event_type,
            }
            for e in store.latest(limit, after=after)
        ],
    }


def _title(data: SequenceData, item_id: str) -> str | None:
    item = data.item_index(item_id)
    return None if item is None else data.title(item)


@router.get("/page/api/users", dependencies=READS)
def users(engine: EngineDep, state: PageStateDep) -> dict[str, Any]:
    """A few users worth a look: the most active of the training data."""
    bundle = engine.bundle
    most_active = state.memo.get(bundle.run, "most_active", lambda: most_active_users(bundle.data))
    return {"most_active": most_active}


@router.get("/page/api/users/{user_id:id}/history", dependencies=READS)
def user(
    user_id: UserId,
    engine: EngineDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The user's history (latest ``limit`` events) and, for some models, how the model reads it."""
    return user_view(engine, store, user_id, limit)


@router.get("/page/api/scales")
def scales(engine: EngineDep, state: PageStateDep) -> dict[str, Any]:
    """A multiscale run's mean weight per time scale over every test case (None otherwise)."""
    return {"average": average_scales(engine.bundle, state.memo)}


@router.get("/page/api/items")
def find_items(
    engine: EngineDep,
    state: PageStateDep,
    q: Annotated[str, Query(max_length=256)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Items whose title or id contains ``q``, most popular first."""
    return {"items": search_items(engine.bundle, state.memo, q, limit)}


@router.get("/page/api/items/{item_id:id}/view")
def item(
    item_id: ItemId,
    engine: EngineDep,
    state: PageStateDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The item's attributes, events over time and nearest items by vector."""
    view = item_view(engine.bundle, state.memo, item_id, k)
    if view is None:
        raise HTTPException(404, f"unknown item '{item_id}'")
    return view


@router.get("/page/api/items/{item_id:id}/users", dependencies=READS)
def item_users(item_id: ItemId, engine: EngineDep, store: StoreDep) -> dict[str, Any]:
    """The users who met the item last, newest first."""
    recent = recent_users(engine.bundle, store, item_id)
    if recent is None:
        raise HTTPException(404, f"unknown item '{item_id}'")
    return {"recent": recent}
