"""Items: adding one to the catalogue, and the items to show beside one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_key, require_recommendation_key
from chronorec.serve.dependencies import EngineDep, ScoringDep
from chronorec.serve.routers.common import NOT_FOUND, READ, WRITE, ItemId, ranked_items
from chronorec.serve.stores import Item

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


@router.put(
    "/v1/items/{item_id:id}",
    response_model=s.ItemStored,
    tags=["items"],
    dependencies=[Depends(require_key)],
    responses=WRITE,
)
def put_item(item_id: ItemId, body: s.ItemIn, engine: EngineDep) -> s.ItemStored:
    """Add an item to the catalogue (or update its title and categories), durably. With a model
    trained with text features a new item is recommendable at once, on every server sharing the
    store, scored by its text; otherwise once ``chronorec refresh`` has trained on it."""
    categories = "|".join(body.categories) if body.categories else None
    [(known, recommendable)] = engine.put_items([Item(item_id, body.title, categories)])
    return s.ItemStored(item_id=item_id, known=known, recommendable=recommendable)
