"""Filters on the validated log: a minimum rating and the k-core, each counting what it removes."""

from __future__ import annotations

import numpy as np
import polars as pl

from chronorec.data.codes import as_categorical, category_codes
from chronorec.data.reading import ITEM_ID, RATING, USER_ID
from chronorec.data.validate import POSITION, positions, take

FILTER_REASONS: tuple[str, ...] = ("below_min_rating", "kcore")
"""Rows removed on purpose by the rating filter and the k-core filter."""


def filter_min_rating(df: pl.DataFrame, min_rating: float | None) -> pl.DataFrame:
    """Keep rows with ``rating >= min_rating`` (all rows if ``min_rating`` is None)."""
    if min_rating is None:
        return df
    return df.filter(pl.col(RATING) >= min_rating)


def kcore(df: pl.DataFrame, user_core: int, item_core: int) -> pl.DataFrame:
    """Drop users with < ``user_core`` and items with < ``item_core`` events until none is left.

    Removing a user can push an item under its threshold and vice versa, so one pass is not enough;
    the fixpoint is the largest sub-log where every user and item meets its threshold.
    """
    if user_core <= 1 and item_core <= 1:
        return df
    # Integer codes of the two id columns, counted with bincount: no hashing, and after the first
    # pass only the dropped rows are counted again, to update the per-id counts.
    users, items = (category_codes(as_categorical(df.get_column(c))) for c in (USER_ID, ITEM_ID))
    user_counts, item_counts = np.bincount(users), np.bincount(items)
    keep = np.ones(df.height, dtype=bool)
    while True:
        ok = (user_counts >= user_core)[users] & (item_counts >= item_core)[items]
        drop = keep & ~ok
        if not drop.any():
            break
        keep &= ok
        user_counts -= np.bincount(users[drop], minlength=user_counts.size)
        item_counts -= np.bincount(items[drop], minlength=item_counts.size)
    return df if keep.all() else df.filter(pl.Series(keep))


def apply_filters(
    table: pl.DataFrame, min_rating: float | None, user_core: int, item_core: int
) -> tuple[pl.DataFrame, dict[str, int], dict[str, int]]:
    """Run the rating filter, then the k-core, on the validated log.

    Consumes ``table`` when rows are removed (see :func:`~chronorec.data.validate.take`).

    Returns:
        The kept rows, the row count after each filter (``after_rating_filter``,
        ``after_kcore``) and the rows each removed (by :data:`FILTER_REASONS`).
    """
    # The filters run on a narrow table (row position, ids, rating if needed); the full rows are
    # gathered once at the end, column by column.
    needed = [USER_ID, ITEM_ID] + [RATING] * (min_rating is not None)
    kept = filter_min_rating(table.select(positions(), *needed), min_rating)
    after_rating = kept.height
    kept = kcore(kept, user_core, item_core)
    counts = {"after_rating_filter": after_rating, "after_kcore": kept.height}
    removed = dict(zip(FILTER_REASONS, (table.height - after_rating, after_rating - kept.height)))
    if kept.height < table.height:
        table = take(table, kept.get_column(POSITION))
    return table, counts, removed
