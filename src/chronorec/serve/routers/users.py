"""One user's recommendations and posted events, and forgetting a user."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_key, require_read_key, require_recommendation_key
from chronorec.serve.dependencies import EngineDep, MetricsDep, ScoringDep, StoreDep
from chronorec.serve.routers.common import NOT_FOUND, READ, WRITE, UserId, recommendations_body

log = logging.getLogger("chronorec.serve")

router = APIRouter()

_UNKNOWN_USER: dict[int | str, dict[str, Any]] = {
    404: {"model": s.Problem, "description": "No such user: nothing was changed."}
}


@router.get(
    "/v1/users/{user_id:id}/recommendations",
    response_model=s.Recommendations,
    tags=["recommendations"],
    dependencies=[Depends(require_recommendation_key)],
    responses={**READ, **NOT_FOUND},
)
async def user_recommendations(
    user_id: UserId,
    engine: EngineDep,
    metrics: MetricsDep,
    scoring: ScoringDep,
    k: Annotated[int, Query(ge=1, le=s.MAX_K, description="How many items.")] = 10,
    exclude_seen: Annotated[
        bool | None,
        Query(description="Leave out items in the user's history; default: the run's setting."),
    ] = None,
) -> s.Recommendations:
    """Top-K items after the user's training history plus every event posted since;
    popular items for an unknown user."""
    seen = engine.bundle.exclude_seen if exclude_seen is None else exclude_seen
    ranking = engine.cached_answer(user_id, k, seen)
    if ranking is None:  # scored in a thread; a cached answer is served from the event loop
        ranking = await scoring.run(engine.recommend_user, user_id, k, seen)
    metrics.served(ranking)
    return recommendations_body(ranking, user_id)


@router.get(
    "/v1/users/{user_id:id}/events",
    response_model=s.UserEvents,
    tags=["events"],
    dependencies=[Depends(require_read_key)],
    responses={**READ, **NOT_FOUND},
)
def user_events(
    user_id: UserId,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many.")] = 100,
) -> s.UserEvents:
    """The events posted for a user, newest first."""
    events = [
        s.EventOut(
            user_id=e.user_id,
            item_id=e.item_id,
            timestamp=e.timestamp,
            event_type=e.event_type,
            event_id=e.event_id,
        )
        for e in store.for_user(user_id, limit)
    ]
    return s.UserEvents(user_id=user_id, events=events)


@router.delete(
    "/v1/users/{user_id:id}",
    response_model=s.UserDeleted,
    tags=["events"],
    dependencies=[Depends(require_key)],
    responses={**WRITE, **_UNKNOWN_USER},
)
def forget_user(user_id: UserId, engine: EngineDep) -> s.UserDeleted:
    """Forget a user: their posted events and cached state go, on every server sharing the store;
    they get what an unknown user gets. 404, changing nothing, for an id nobody knows."""
    deleted = engine.forget(user_id)
    if deleted is None:
        raise HTTPException(404, "unknown user: no posted events and no training history")
    # No id in the log: the point is to forget it.
    log.info("forgot a user: %d posted events deleted", deleted)
    return s.UserDeleted(user_id=user_id, deleted_events=deleted)
