"""Recommendations for an anonymous session posted as a list of items."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_recommendation_key
from chronorec.serve.dependencies import (
    EngineDep,
    MetricsDep,
    ScoringDep,
    SettingsDep,
    check_batch,
    check_timestamps,
)
from chronorec.serve.routers.common import BODY, READ, recommendations_body

router = APIRouter()


@router.post(
    "/v1/recommendations",
    response_model=s.SessionRecommendations,
    tags=["recommendations"],
    dependencies=[Depends(require_recommendation_key)],
    responses={**READ, **BODY},
)
async def session_recommendations(
    body: s.SessionIn,
    engine: EngineDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    scoring: ScoringDep,
) -> s.SessionRecommendations:
    """Top-K items after an anonymous session given as a list of items."""
    check_batch(len(body.items), "session items", settings)
    events = [(e.item_id, e.timestamp, e.event_type) for e in body.events()]
    check_timestamps((t for _, t, _ in events), ("body", "items"), settings)
    ranking, unknown = await scoring.run(
        engine.recommend_session, events, body.k, body.exclude_seen
    )
    metrics.served(ranking)
    return s.SessionRecommendations(
        **recommendations_body(ranking, None).model_dump(), unknown_items=unknown
    )
