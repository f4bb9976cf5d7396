"""``movielens``: MovieLens ratings, ``u.data`` (tab: user item rating timestamp, no header) or
``ratings.dat`` (``user::item::rating::timestamp``).

The columns are fixed; the only option used is ``event_col="rating"``, which makes the rating
levels the event types.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from chronorec.data.formats.base import FileSniff, InputFormat
from chronorec.data.reading import (
    EVENT_TYPE,
    ITEM_ID,
    RATING,
    ROW,
    TIMESTAMP,
    USER_ID,
    ReadOptions,
    first_line,
    scan_lines,
)
from chronorec.errors import ChronorecError

LABEL = "MovieLens ratings"
_FIELDS = (USER_ID, ITEM_ID, RATING, TIMESTAMP)


def matches_file(sniff: FileSniff) -> bool:
    """File name ``u.data`` or ending in ``ratings.dat``."""
    return sniff.name == "u.data" or sniff.name.endswith("ratings.dat")


def matches_text(lines: Sequence[str]) -> bool:
    """``::`` separators on the first line."""
    return "::" in lines[0]


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """``_row``, ``user_id``, ``item_id``, ``rating``, ``timestamp`` (and ``event_type``)."""
    sep = "::" if "::" in first_line(path) else "\t"
    fields = pl.col("line").str.split(sep, literal=True)
    lf = (
        scan_lines(path)
        .filter(pl.col("line").str.strip_chars().str.len_bytes() > 0)
        .select(
            ROW,
            *(
                fields.list.get(i, null_on_oob=True).str.strip_chars().alias(name)
                for i, name in enumerate(_FIELDS)
            ),
        )
    )
    if options.event_col is None:
        return lf
    if options.event_col != RATING:
        raise ChronorecError(
            f"a MovieLens log's only possible event column is 'rating', got '{options.event_col}'"
        )
    # Rating levels as event types: the stand-in for view/cart/buy on data that has none.
    return lf.with_columns(pl.col(RATING).alias(EVENT_TYPE))


FORMAT = InputFormat(
    name="movielens",
    label=LABEL,
    description="MovieLens u.data or ratings.dat",
    read=read,
    matches_file=matches_file,
    matches_text=matches_text,
    options=frozenset({"event_col"}),
)
