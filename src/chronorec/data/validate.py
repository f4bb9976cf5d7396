"""Validate a reader's output: parse values, find bad rows, drop and count them (or fail on one).

Row-level problems (missing value, unparsable timestamp or rating, exact duplicate) drop the row and
count it by reason; with ``strict=True`` the first such row is fatal instead.

Memory: reading, parsing and checking run on polars' streaming engine, and ids become categorical
codes as they are read, so the log is never held as strings or Python objects. What is held is one
fixed-width row per event (file position, user, item and event codes, timestamp, rating: 20 to 32
bytes) and each distinct id string once; no step holds two full copies of the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from chronorec.data.codes import private_categorical
from chronorec.data.reading import EVENT_TYPE, ITEM_ID, RATING, ROW, TIMESTAMP, USER_ID, collect
from chronorec.data.values import to_float, to_unix_seconds
from chronorec.errors import InputError

ORDER = "_ord"  # 0-based position in the reader's output: the tie-breaker for equal timestamps
REASON, FIELD = "_reason", "_field"
POSITION = "_pos"  # row position in an in-memory table

VALIDATION_REASONS: tuple[str, ...] = (
    "missing_value", "unparsable_timestamp", "unparsable_rating", "duplicate",
)  # fmt: skip
"""Row-level problems found while validating; each dropped row is counted under one of them."""
_REASON_DTYPE = pl.Enum(VALIDATION_REASONS)  # one byte per row, where a string would take sixteen
_DUPLICATE_KEY = (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE)


def positions() -> pl.Expr:
    """Row positions 0..n-1 as a column named ``_pos``."""
    return pl.int_range(pl.len(), dtype=pl.get_index_type()).alias(POSITION)


def take(df: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """The rows of ``df`` at the positions ``rows``, gathered column by column.

    Consumes ``df`` (it is left without columns): each input column is released as soon as its
    output exists, so two full tables never coexist. The output columns are contiguous, which
    keeps later random-order gathers fast.
    """
    return pl.DataFrame([df.drop_in_place(c).gather(rows) for c in df.columns])


def _parse_values(raw: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Add ``_ord``; parse ``timestamp`` and ``rating``, keeping the raw values beside them."""
    lf = raw.with_row_index(ORDER).with_columns(
        pl.col(TIMESTAMP).alias("_raw_timestamp"),
        to_unix_seconds(pl.col(TIMESTAMP), schema[TIMESTAMP]).alias(TIMESTAMP),
    )
    if RATING in schema:
        lf = lf.with_columns(
            pl.col(RATING).alias("_raw_rating"),
            to_float(pl.col(RATING), schema[RATING]).alias(RATING),
        )
    return lf


def _reason_and_field(schema: pl.Schema, field_names: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """Expressions for the first problem of a row (or null) and the field to report for it."""
    has_event, has_rating = EVENT_TYPE in schema, RATING in schema
    # (condition, reason, reported field) in priority order: the first that holds wins.
    raw_cols = [(USER_ID, USER_ID), (ITEM_ID, ITEM_ID), ("_raw_timestamp", TIMESTAMP)]
    raw_cols += [(EVENT_TYPE, EVENT_TYPE)] * has_event + [("_raw_rating", RATING)] * has_rating
    checks = [(pl.col(c).is_null(), "missing_value", field_names[f]) for c, f in raw_cols]
    checks.append((pl.col(TIMESTAMP).is_null(), "unparsable_timestamp", field_names[TIMESTAMP]))
    if has_rating:
        checks.append((pl.col(RATING).is_null(), "unparsable_rating", field_names[RATING]))
    reason, fld = pl.lit(None, _REASON_DTYPE), pl.lit(None, pl.String)
    for cond, why, name in reversed(checks):  # built inside out, so the first check is outermost
        reason = pl.when(cond).then(pl.lit(why, _REASON_DTYPE)).otherwise(reason)
        fld = pl.when(cond).then(pl.lit(name)).otherwise(fld)
    return reason, fld


def annotate(raw: pl.LazyFrame, field_names: dict[str, str]) -> pl.LazyFrame:
    """Parse timestamps/ratings, encode ids as categoricals, and mark each bad row.

    ``raw`` is a reader's output; ``field_names`` maps canonical names to the names to report.
    Adds ``_ord`` (file order), replaces ``timestamp`` by Int64 seconds and ``rating`` by Float64,
    turns ``user_id``/``item_id``/``event_type`` into :class:`polars.Categorical` (a 4-byte code per
    row instead of a string, so the collected log holds no strings), and adds ``_reason`` (an Enum
    of :data:`VALIDATION_REASONS`, null if fine) and ``_field``. Raw values stay available as
    ``_raw_timestamp``/``_raw_rating`` for error messages. Duplicates need the whole log and are
    marked by :func:`validate`.
    """
    schema = raw.collect_schema()
    reason, fld = _reason_and_field(schema, field_names)
    codes = private_categorical()
    ids = [USER_ID, ITEM_ID] + [EVENT_TYPE] * (EVENT_TYPE in schema)
    return _parse_values(raw, schema).with_columns(
        reason.alias(REASON), fld.alias(FIELD), *(pl.col(c).cast(codes) for c in ids)
    )


def duplicates(df: pl.DataFrame) -> pl.Series:
    """Positions of valid rows that repeat (user, item, timestamp, event type) of an earlier one.

    ``df`` is :func:`annotate`'s output, collected: valid rows have a null ``_reason`` and "earlier"
    means a smaller ``_ord``. Hashing or sorting the whole key of every row would take several
    times the memory of the table itself, so candidates come first: duplicates share user and
    timestamp, which fit in one 64-bit number, and sorting those numbers finds the ones that occur
    more than once. Only the valid rows with such a number (a few percent of a real log) get the
    exact check.
    """
    keys = [k for k in _DUPLICATE_KEY if k in df.columns]
    # user code * 2^32 xor timestamp bits: equal pairs give equal numbers; an unequal pair with an
    # equal number (timestamps 2^32 s apart) is only an extra candidate.
    pair = df.get_column(USER_ID).to_physical().cast(pl.UInt64) * 2**32
    pair ^= df.get_column(TIMESTAMP).reinterpret(signed=False)
    ordered = pair.drop_nulls().sort()
    later, earlier = ordered.tail(-1), ordered.head(-1)  # zero-copy views, shifted by one
    repeated = later.filter(later == earlier).unique().implode()
    del ordered, later, earlier
    is_candidate = pair.is_in(repeated) & df.get_column(REASON).is_null()
    del pair
    rows = is_candidate.fill_null(False).arg_true()
    candidates = df[rows].with_columns(rows.alias(POSITION)).sort(ORDER)
    return candidates.filter(~pl.struct(keys).is_first_distinct()).get_column(POSITION)


def _row_error(reason: str, row: dict[str, Any], path: Path, time_path: Path) -> InputError:
    """The InputError for a row with a missing or unparsable value (``row`` has the raw values)."""
    line, fld = row[ROW], row[FIELD]
    if reason == "missing_value":
        return InputError("missing value", path=path, row=line, field=fld)
    if reason == "unparsable_timestamp":
        return InputError(
            f"cannot parse timestamp {str(row['_raw_timestamp'])!r} "
            "(expected unix seconds, unix milliseconds or ISO-8601)",
            path=time_path,
            row=line,
            field=fld,
        )
    return InputError(
        f"cannot parse rating {str(row['_raw_rating'])!r} as a number",
        path=path,
        row=line,
        field=fld,
    )


def _strict_error(
    annotated: pl.LazyFrame, df: pl.DataFrame, path: Path, time_path: Path, what: str
) -> InputError:
    """The InputError for the first bad row of ``df``, the collected ``annotated``."""
    bad = df.lazy().filter(pl.col(REASON).is_not_null()).sort(ORDER).head(1).collect()
    first = bad.row(0, named=True)
    reason = str(first[REASON])
    ords: list[Any] = [first[ORDER]]
    if reason == "duplicate":
        same = [pl.col(k) == first[k] for k in _DUPLICATE_KEY if k in df]
        ords.append(df.filter(*same, pl.col(REASON).is_null()).get_column(ORDER).min())
    # Row numbers and raw values are not kept for the whole log: read them again for these rows.
    rows = collect(annotated.filter(pl.col(ORDER).is_in(ords)), path, what)
    detail = {r[ORDER]: r for r in rows.iter_rows(named=True)}
    if reason != "duplicate":
        return _row_error(reason, detail[ords[0]], path, time_path)
    return InputError(
        f"duplicate of row {detail[ords[1]][ROW]} (same user, item, timestamp and event type)",
        path=path,
        row=detail[ords[0]][ROW],
    )


def validate(
    raw: pl.LazyFrame,
    *,
    path: Path,
    field_names: dict[str, str],
    strict: bool = False,
    time_path: Path | None = None,
    what: str = "interactions",
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Collect ``raw`` with the streaming engine, drop bad rows and count them by reason.

    Returns the valid rows (``_ord``, ``user_id`` and ``item_id`` as categoricals, ``timestamp``
    Int64 seconds and, when present, ``event_type`` as a categorical and ``rating`` Float64) and
    ``{reason: count}`` for every reason in :data:`VALIDATION_REASONS`.

    Raises:
        InputError: no data rows; with ``strict``, the first bad row (file, row and field).
    """
    time_path = time_path or path
    annotated = annotate(raw, field_names)
    # Only fixed-width columns are collected: codes, numbers and the reason.
    fixed = [ORDER, USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, RATING, REASON]
    df = collect(annotated.select(c for c in annotated.collect_schema() if c in fixed), path, what)
    if df.height == 0:
        raise InputError("no data rows", path=path)
    df = df.with_columns(df.get_column(REASON).scatter(duplicates(df), "duplicate"))
    counts = dict.fromkeys(VALIDATION_REASONS, 0)
    for reason, n in df.get_column(REASON).drop_nulls().value_counts().iter_rows():
        counts[reason] = n
    if strict and any(counts.values()):
        raise _strict_error(annotated, df, path, time_path, what)
    return take(df, df.drop_in_place(REASON).is_null().arg_true()), counts
