"""``sequences``: one line per user, whitespace-separated, ``user item item ...`` oldest first.

An optional times file of the same shape (``user t t ...``, option ``times``) gives the
timestamps; without one an event's timestamp is its position in the user's history (0, 1, 2, ...
counted across all of that user's lines). ``_row`` is the line number.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from chronorec.data.formats.base import InputFormat, never
from chronorec.data.reading import (
    ITEM_ID,
    ROW,
    TIMESTAMP,
    USER_ID,
    ReadOptions,
    check_file,
    collect,
    peek_text,
    scan_lines,
)
from chronorec.errors import InputError

LABEL = "sequences"


def matches_text(lines: Sequence[str]) -> bool:
    """Any text: whitespace-separated ``user item item ...`` also covers ``user item`` per line."""
    return True


def _tokens(path: Path) -> pl.LazyFrame:
    """``_row``, ``user_id``, ``values`` (the further tokens, at least one) per non-blank line."""
    tok = pl.col("line").str.extract_all(r"\S+")
    return (
        scan_lines(path)
        .select(ROW, tok.alias("tok"))
        .filter(pl.col("tok").list.len() > 0)
        .select(
            ROW,
            pl.col("tok").list.first().alias(USER_ID),
            pl.col("tok").list.slice(1).alias("values"),
        )
        .filter(pl.col("values").list.len() > 0)
    )


def _shape_mismatch(row: dict[str, object]) -> str:
    """Why one line of the times file does not mirror the sequences file."""
    if row["u"] is None:
        return "line has no counterpart in the sequences file"
    if row["tu"] is None:
        return "missing line: the sequences file has a sequence here"
    if row["u"] != row["tu"]:
        return (
            f"user '{row['tu']}' does not match user '{row['u']}' on the same line of the "
            "sequences file"
        )
    return f"{row['tn']} timestamp(s) but {row['n']} item(s) on the same line of the sequences file"


def _check_times_shape(seq: pl.LazyFrame, times: pl.LazyFrame, times_path: Path) -> None:
    """Raise InputError at the first line where the times file does not mirror the sequences."""
    a = seq.select(ROW, pl.col(USER_ID).alias("u"), pl.col("values").list.len().alias("n"))
    b = times.select(ROW, pl.col(USER_ID).alias("tu"), pl.col("values").list.len().alias("tn"))
    joined = a.join(b, on=ROW, how="full", coalesce=True)
    bad = joined.filter(
        (pl.col("u") != pl.col("tu")).fill_null(True)
        | (pl.col("n") != pl.col("tn")).fill_null(True)
    )
    first = collect(bad.sort(ROW).head(1), times_path, "times file")
    if first.height == 0:
        return
    row = first.row(0, named=True)
    raise InputError(
        f"times file does not match the sequences file: {_shape_mismatch(row)}",
        path=times_path,
        row=row[ROW],
    )


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """``_row``, ``user_id``, ``item_id``, ``timestamp`` (Int64 positions without a times file)."""
    peek_text(path)
    seq = _tokens(path)
    if options.times is None:
        return (
            seq.explode("values")
            .rename({"values": ITEM_ID})
            # Position within the user's whole history, in file order.
            .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over(USER_ID).alias(TIMESTAMP))
        )
    times_path = check_file(options.times)
    peek_text(times_path)
    times = _tokens(times_path)
    _check_times_shape(seq, times, times_path)
    return (
        seq.join(
            times.select(ROW, pl.col("values").alias(TIMESTAMP)),
            on=ROW,
            how="inner",
            maintain_order="left",
        )
        .rename({"values": ITEM_ID})
        .explode([ITEM_ID, TIMESTAMP])
    )


FORMAT = InputFormat(
    name="sequences",
    label=LABEL,
    description="one line per user: user item item ... (timestamps from --times)",
    read=read,
    matches_file=never,
    matches_text=matches_text,
    options=frozenset({"times"}),
)
