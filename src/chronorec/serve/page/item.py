"""One item on the page: its attributes, its events over time, the items nearest to it and the
users who met it last; and finding items by title or id."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from chronorec.data import schema
from chronorec.data.dataset import SequenceData
from chronorec.embed import nearest_items
from chronorec.serve.bundle import Bundle
from chronorec.serve.page.memo import PerRun
from chronorec.serve.page.overview import finite, time_bins
from chronorec.serve.stores import EventStore

RECENT_USERS = 10
_NOT_ATTRIBUTES = frozenset({schema.ITEM, schema.ITEM_ID, schema.TITLE})


def item_view(bundle: Bundle, memo: PerRun, item_id: str, k: int) -> dict[str, Any] | None:
    """What the item page shows but the next-item ranking (``/v1/items/{id}/similar``) and the
    users (:func:`recent_users`); None for an unknown item."""
    data = bundle.data
    item = data.item_index(item_id)
    if item is None:
        return None
    positions = np.flatnonzero(data.items == item)
    owners = _owner(data, positions)
    times = data.timestamps[positions]
    types = data.event_types[positions] if data.event_types is not None else None
    ranks = memo.get(bundle.run, "popularity_ranks", lambda: _popularity_ranks(bundle))
    catalogue = memo.get(
        bundle.run, "catalogue", lambda: pl.read_parquet(data.path / schema.ITEMS_FILE)
    )
    return finite(
        {
            "item_id": item_id,
            "title": data.title(item),
            "attributes": _attributes(catalogue, item),
            "events": len(positions),
            "users": len(np.unique(owners)),
            "popularity_rank": int(ranks[item]),
            "first": int(times.min()) if len(times) else None,
            "last": int(times.max()) if len(times) else None,
            "read_by_model": bool(bundle.model.readable_items[item]),
            "events_over_time": time_bins(data).histogram(times, types, data.event_type_names),
            "nearest_by_vector": _nearest(bundle, item, k),
        }
    )


def search_items(bundle: Bundle, memo: PerRun, query: str, limit: int) -> list[dict[str, Any]]:
    """Items whose id or title contains ``query`` (any case), most popular first; the most popular
    items for an empty query. An exact id comes first."""
    data, share = bundle.data, bundle.popularity.share
    text = query.strip().lower()
    if not text:
        found = bundle.popularity.order[:limit]
    else:
        keys = memo.get(bundle.run, "search_keys", lambda: _search_keys(data))
        matches = np.flatnonzero(keys.str.contains(text, literal=True).to_numpy()) + 1
        found = matches[np.argsort(-share[matches], kind="stable")]
        exact = data.item_index(query.strip())
        if exact is not None:
            found = np.concatenate([[exact], found[found != exact]])
    return [
        {"item_id": str(data.item_ids[i]), "title": data.title(int(i))}
        for i in found[:limit].tolist()
    ]


def _nearest(bundle: Bundle, item: int, k: int) -> list[dict[str, Any]] | None:
    """Items by cosine of the model's item vectors; None for a model without item vectors."""
    vectors = bundle.ranker.vectors
    if vectors is None:
        return None
    ids, cosines = nearest_items(vectors, item, k)
    data = bundle.data
    return [
        {"item_id": str(data.item_ids[i]), "title": data.title(int(i)), "score": float(s)}
        for i, s in zip(ids.tolist(), cosines.tolist())
    ]


def recent_users(bundle: Bundle, store: EventStore, item_id: str) -> list[dict[str, Any]] | None:
    """The latest events on the item, newest first: posted ones, then the training data's; None
    for an unknown item."""
    data, names = bundle.data, bundle.data.event_type_names
    item = data.item_index(item_id)
    if item is None:
        return None
    recent = [
        {"user_id": e.user_id, "timestamp": e.timestamp, "event_type": e.event_type, "posted": True}
        for e in store.latest(RECENT_USERS, item_id=item_id)
    ]
    positions = np.flatnonzero(data.items == item)
    latest = positions[np.argsort(-data.timestamps[positions], kind="stable")]
    for position in latest[: RECENT_USERS - len(recent)].tolist():
        etype = int(data.event_types[position]) if data.event_types is not None else 0
        recent.append(
            {
                "user_id": str(data.user_ids[_owner(data, position)]),
                "timestamp": int(data.timestamps[position]),
                "event_type": names[etype - 1] if 0 < etype <= len(names) else None,
                "posted": False,
            }
        )
    return recent


def _owner(data: SequenceData, position: int | np.ndarray) -> Any:
    """The internal user id(s) of flat event position(s)."""
    return np.searchsorted(data.offsets, position, side="right") - 1


def _popularity_ranks(bundle: Bundle) -> np.ndarray:
    """Per item (internal id), its 1-based place in the popularity order."""
    ranks = np.zeros(bundle.data.num_items + 1, dtype=np.int64)
    ranks[bundle.popularity.order] = np.arange(1, len(bundle.popularity.order) + 1)
    return ranks


def _attributes(catalogue: pl.DataFrame, item: int) -> dict[str, Any]:
    """The item's other catalogue columns (categories as a list), empty values left out."""
    rows = catalogue.filter(pl.col(schema.ITEM) == item).to_dicts()
    row = rows[0] if rows else {}
    values = {c: v for c, v in row.items() if c not in _NOT_ATTRIBUTES and v not in (None, "")}
    if isinstance(values.get(schema.CATEGORIES), str):
        values[schema.CATEGORIES] = values[schema.CATEGORIES].split("|")
    return values


def _search_keys(data: SequenceData) -> pl.Series:
    """Per item (internal id 1..I, in order), its lower-cased title and id, to search in."""
    titles = data.titles if data.titles is not None else [None] * (data.num_items + 1)
    return pl.Series(
        [f"{titles[i] or ''} {data.item_ids[i]}".lower() for i in range(1, data.num_items + 1)],
        dtype=pl.Utf8,
    )
