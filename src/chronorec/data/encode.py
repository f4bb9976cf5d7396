"""Turn the filtered log into the prepared-dataset tables: dense ids, sorted events, pseudonyms,
item metadata.

Dense ids: users and items are numbered 1..N in order of first appearance in the log sorted by
(timestamp, source order); 0 is padding. This order does not depend on the id strings, so
pseudonymizing users does not change the numbering. Event types are numbered 1..K in sorted name
order.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import polars as pl

from chronorec.data import schema
from chronorec.data.codes import as_categorical, category_codes
from chronorec.data.reading import (
    CATEGORIES,
    EVENT_TYPE,
    ITEM_ID,
    RATING,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from chronorec.data.validate import ORDER
from chronorec.errors import ChronorecError

PSEUDONYM_HEX_DIGITS = 16
_MAX_EVENT_TYPES = 32767  # event type ids are int16


@dataclass(frozen=True)
class Encoded:
    """Tables in the prepared-dataset layout, plus the event type names."""

    interactions: pl.DataFrame
    users: pl.DataFrame
    items: pl.DataFrame
    event_types: list[str]


def _dense_ids(ids: pl.Series, by_time: np.ndarray, dense: str) -> tuple[pl.DataFrame, np.ndarray]:
    """Number ``ids`` 1..N by first appearance in the row order ``by_time``.

    Returns the id table (``dense`` Int32 beside the id as a string) and every row's dense id.
    """
    ids = as_categorical(ids)
    codes = category_codes(ids)
    first = ids.gather(by_time).unique(maintain_order=True)
    numbers = np.arange(1, first.len() + 1, dtype=np.int32)
    # Code -> dense id lookup table: one gather instead of a hash lookup per row.
    lookup = np.zeros(int(codes.max()) + 1, dtype=np.int32)
    lookup[category_codes(first)] = numbers
    table = pl.DataFrame([pl.Series(dense, numbers), first.cast(pl.String)])
    return table, lookup[codes]


def _event_type_ids(events: pl.Series, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Event type names in sorted order, and each row's 1-based type id in the order ``rows``."""
    events = as_categorical(events)
    names = events.unique().cast(pl.String).sort()
    if names.len() > _MAX_EVENT_TYPES:
        raise ChronorecError(f"{names.len()} event types; at most {_MAX_EVENT_TYPES} are supported")
    codes = category_codes(events)
    lookup = np.zeros(int(codes.max()) + 1, dtype=np.int16)
    lookup[category_codes(names.cast(events.dtype))] = np.arange(1, names.len() + 1)
    return names.to_list(), lookup[codes[rows]]


def encode(df: pl.DataFrame) -> Encoded:
    """Assign dense ids and sort the log by (user, timestamp, source order).

    Users and items get 1..N in order of first appearance in the log sorted by (timestamp, source
    order); event types get 1..K in sorted name order.

    Consumes ``df`` (it is left without columns): each input column is released once it has been
    turned into its sorted output, so the log is never held twice in full.
    """
    cols = {c: df.drop_in_place(c) for c in df.columns}
    seconds, source = cols[TIMESTAMP].to_numpy(), cols.pop(ORDER).to_numpy()
    # NumPy's sorts need far less scratch memory than polars' multi-column ones.
    by_time = np.lexsort((source, seconds))
    users, user = _dense_ids(cols.pop(USER_ID), by_time, schema.USER)
    items, item = _dense_ids(cols.pop(ITEM_ID), by_time, schema.ITEM)
    del by_time
    rows = np.lexsort((source, seconds, user))  # the output order: user, timestamp, source order
    del source, seconds
    out = {schema.USER: user[rows]}
    del user
    out[schema.ITEM] = item[rows]
    del item
    out[schema.TIMESTAMP] = cols.pop(TIMESTAMP).to_numpy()[rows]
    event_types: list[str] = []
    if EVENT_TYPE in cols:
        event_types, out[schema.EVENT_TYPE] = _event_type_ids(cols.pop(EVENT_TYPE), rows)
    if RATING in cols:
        out[schema.RATING] = cols.pop(RATING).to_numpy()[rows].astype(np.float32)
    return Encoded(
        interactions=pl.DataFrame([pl.Series(name, values) for name, values in out.items()]),
        users=users,
        items=items,
        event_types=event_types,
    )


def pseudonym(user_id: str, salt: str) -> str:
    """The pseudonym of one user id: first 16 hex digits of HMAC-SHA256 keyed by ``salt``."""
    digest = hmac.new(salt.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_DIGITS]


def pseudonymize(users: pl.DataFrame, salt: str | None) -> pl.DataFrame:
    """Replace ``user_id`` in the user table (one row per user) by :func:`pseudonym`.

    The same id and salt always give the same pseudonym. Raises ChronorecError if two users of
    the table would get the same one.
    """
    if salt is None:
        return users
    # O(users) Python calls: the id table, not the log.
    hashed = users.get_column(schema.USER_ID).map_elements(
        lambda u: pseudonym(u, salt), return_dtype=pl.String
    )
    if hashed.n_unique() != users.height:
        raise ChronorecError("pseudonym collision: two user ids hash to the same prefix")
    return users.with_columns(hashed)


def attach_item_metadata(items: pl.DataFrame, meta: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``title`` and ``categories`` to the item table (null where ``meta`` has no entry)."""
    if meta is None:
        return items.with_columns(
            pl.lit(None, pl.String).alias(schema.TITLE),
            pl.lit(None, pl.String).alias(schema.CATEGORIES),
        )
    joined = items.join(
        meta, left_on=schema.ITEM_ID, right_on=ITEM_ID, how="left", maintain_order="left"
    )
    return joined.select(
        schema.ITEM,
        schema.ITEM_ID,
        pl.col(TITLE).alias(schema.TITLE),
        pl.col(CATEGORIES).alias(schema.CATEGORIES),
    ).sort(schema.ITEM)
