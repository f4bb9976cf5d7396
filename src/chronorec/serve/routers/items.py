"""Items to show beside one item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_recommendation_key
from chronorec.serve.dependencies import EngineDep, ScoringDep
from chronorec.serve.routers.common import NOT_FOUND, READ, ItemId, ranked_items

router = APIRouter()


@router.get(
    "/v1/items/{item_id:id}/similar",
    response_model=s.SimilarItems,
    tags=["recommendations"],
    dependencies=[Depends(require_recommendation_key)],
    responses={**READ, **NOT_FOUND},
)
async def similar_items(
    item_id: ItemId,
    engine: EngineDep,
    scoring: ScoringDep,
    k: Annotated[int, Query(ge=1, le=s.MAX_K, description="How many items.")] = 10,
) -> s.SimilarItems:
    """Items the model ranks highest right after this item alone (the item itself left out)."""
    ranking = await scoring.run(engine.similar, item_id, k)
    if ranking is None:
        raise HTTPException(404, f"unknown item '{item_id}'")
    return s.SimilarItems(
        item_id=item_id, similar=ranked_items(ranking), model_version=ranking.model_version
    )
