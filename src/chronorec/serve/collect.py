"""What ``chronorec refresh`` reads from the service's event store: the events since a run's data,
the catalogue additions, and who asked to be forgotten."""

from __future__ import annotations

from typing import Any

import polars as pl

from chronorec.data.dataset import SequenceData
from chronorec.refresh import NewEvents, store_watermark
from chronorec.serve.stores import EventStore

PAGE = 10_000  # events read per query


def collect(store: EventStore, data: SequenceData) -> NewEvents:
    """The events stored after those ``data`` already holds (by its watermark), in the order
    stored; every catalogue addition; the users of ``data`` that were forgotten since."""
    through = store_watermark(data)
    rows: list[tuple[Any, ...]] = []
    while page := store.scan(after=through, limit=PAGE):
        rows += [(e.user_id, e.item_id, e.timestamp, e.event_type) for e in page]
        through = page[-1].seq
    events = pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "item_id": pl.String,
            "timestamp": pl.Float64,
            "event_type": pl.String,
        },
        orient="row",
    )
    forgotten = [str(uid) for uid in data.user_ids[1:] if store.is_forgotten(str(uid))]
    return NewEvents(events, _catalogue(store), forgotten, through)


def _catalogue(store: EventStore) -> pl.DataFrame:
    items = [(i.item_id, i.title, i.categories) for i in store.items()]
    return pl.DataFrame(
        items,
        schema={"item_id": pl.String, "title": pl.String, "categories": pl.String},
        orient="row",
    )
