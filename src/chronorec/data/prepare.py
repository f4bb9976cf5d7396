"""Turn a raw interaction log into a prepared dataset folder (see :mod:`chronorec.data.schema`).

The pipeline is a chain of small table-to-table steps::

    read -> validate -> filter_min_rating -> kcore -> pseudonymize -> encode -> write

Fatal problems raise :class:`~chronorec.errors.InputError` before anything is written, and the
folder is written atomically, so a failed run never leaves an output folder behind.

Row-level problems (missing value, unparsable timestamp or rating, exact duplicate) drop the row and
count it in ``dropped`` by reason; with ``strict=True`` the first such row is fatal instead.

Dense ids: users and items are numbered 1..N in order of first appearance in the log sorted by
(timestamp, source order); 0 is padding. This order does not depend on the id strings, so
pseudonymizing users does not change the numbering. Event types are numbered 1..K in sorted name
order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from chronorec._io import atomic_path
from chronorec.data import ingest, schema
from chronorec.data.ingest import EVENT_TYPE, ITEM_ID, RATING, ROW, TIMESTAMP, USER_ID
from chronorec.errors import ChronorecError, InputError

ORDER = "_ord"  # 0-based position in the reader's output: the tie-breaker for equal timestamps
REASON, FIELD = "_reason", "_field"

VALIDATION_REASONS: tuple[str, ...] = (
    "missing_value", "unparsable_timestamp", "unparsable_rating", "duplicate",
)  # fmt: skip
"""Row-level problems found while validating; each dropped row is counted under one of them."""
FILTER_REASONS: tuple[str, ...] = ("below_min_rating", "kcore")
"""Rows removed on purpose by the rating filter and the k-core filter."""

PSEUDONYM_HEX_DIGITS = 16


@dataclass(frozen=True)
class PrepareConfig:
    """Options for :func:`prepare`. Paths may be given as strings.

    Attributes:
        input: the interaction log.
        out: the dataset folder to create (replaced if it already holds a prepared dataset).
        format: ``auto`` or one of :data:`chronorec.data.ingest.FORMATS`.
        delimiter: field separator for csv/tsv (None: tab for tsv, guessed for csv).
        columns: column names for a headerless csv/tsv file.
        user_col, item_col, time_col: column names in the log.
        event_col, rating_col: optional columns; None uses ``event_type``/``rating`` if present.
        items: optional item metadata file (see :func:`chronorec.data.ingest.read_items`).
        times: timestamps file for the ``sequences`` format.
        strict: make the first bad row fatal instead of dropping it.
        min_rating: keep only events with ``rating >= min_rating`` (needs a rating column).
        user_core, item_core: keep the largest sub-log where every user has at least
            ``user_core`` events and every item at least ``item_core`` (0 or 1: no filter).
        pseudonymize_users: a secret salt; when set, user ids are replaced by the first
            16 hex digits of HMAC-SHA256(salt, id) before anything is written. The salt itself is
            not stored.
    """

    input: Path
    out: Path
    format: str = "auto"
    delimiter: str | None = None
    columns: tuple[str, ...] | None = None
    user_col: str = USER_ID
    item_col: str = ITEM_ID
    time_col: str = TIMESTAMP
    event_col: str | None = None
    rating_col: str | None = None
    items: Path | None = None
    times: Path | None = None
    strict: bool = False
    min_rating: float | None = None
    user_core: int = 0
    item_core: int = 0
    pseudonymize_users: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Normalise loosely typed inputs (str paths, list of columns) so the config stays hashable.
        for name in ("input", "out", "items", "times"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.columns is not None and not isinstance(self.columns, tuple):
            object.__setattr__(self, "columns", tuple(self.columns))
        for name in ("user_core", "item_core"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ChronorecError(f"{name} must be a non-negative integer, got {value!r}")
        if self.pseudonymize_users is not None and not self.pseudonymize_users:
            raise ChronorecError("pseudonymize_users needs a non-empty salt")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options, with paths as strings and the salt replaced by a flag."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
            elif isinstance(v, tuple):
                d[k] = list(v)
        d["pseudonymize_users"] = self.pseudonymize_users is not None
        return d


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare` wrote: the folder and the numbers also found in its manifest."""

    out: Path
    interactions: int
    users: int
    items: int
    dropped: dict[str, int]
    counts: dict[str, int]


# --------------------------------------------------------------------------- pipeline steps


def annotate(raw: pl.LazyFrame, field_names: dict[str, str]) -> pl.LazyFrame:
    """Parse timestamps/ratings and mark each bad row with ``_reason`` and ``_field`` (null if fine).

    ``raw`` is a reader's output; ``field_names`` maps canonical names to the names to report.
    Adds ``_ord`` (file order), replaces ``timestamp`` by Int64 seconds and ``rating`` by Float64,
    and keeps the raw values as ``_raw_timestamp``/``_raw_rating`` for error messages.
    """
    sch = raw.collect_schema()
    has_event, has_rating = EVENT_TYPE in sch, RATING in sch
    lf = raw.with_row_index(ORDER).with_columns(
        pl.col(TIMESTAMP).alias("_raw_timestamp"),
        ingest.to_unix_seconds(pl.col(TIMESTAMP), sch[TIMESTAMP]).alias(TIMESTAMP),
    )
    if has_rating:
        lf = lf.with_columns(
            pl.col(RATING).alias("_raw_rating"),
            ingest.to_float(pl.col(RATING), sch[RATING]).alias(RATING),
        )
    # (condition, reason, reported field) in priority order: the first that holds wins.
    raw_cols = [(USER_ID, USER_ID), (ITEM_ID, ITEM_ID), ("_raw_timestamp", TIMESTAMP)]
    raw_cols += [(EVENT_TYPE, EVENT_TYPE)] * has_event + [("_raw_rating", RATING)] * has_rating
    checks = [(pl.col(c).is_null(), "missing_value", field_names[f]) for c, f in raw_cols]
    checks.append((pl.col(TIMESTAMP).is_null(), "unparsable_timestamp", field_names[TIMESTAMP]))
    if has_rating:
        checks.append((pl.col(RATING).is_null(), "unparsable_rating", field_names[RATING]))
    cond, why, name = checks[0]
    reason, fld = pl.when(cond).then(pl.lit(why)), pl.when(cond).then(pl.lit(name))
    for cond, why, name in checks[1:]:
        reason, fld = reason.when(cond).then(pl.lit(why)), fld.when(cond).then(pl.lit(name))
    lf = lf.with_columns(reason.otherwise(None).alias(REASON), fld.otherwise(None).alias(FIELD))
    # An exact duplicate repeats (user, item, timestamp, event type) of an earlier valid row. Rows
    # are still in file order here, so "earlier" is "first distinct" among the valid rows.
    keys = [USER_ID, ITEM_ID, TIMESTAMP] + [EVENT_TYPE] * has_event
    valid = pl.col(REASON).is_null()
    is_dup = valid & ~pl.when(valid).then(pl.struct(keys)).is_first_distinct()
    return lf.with_columns(
        pl.when(is_dup).then(pl.lit("duplicate")).otherwise(pl.col(REASON)).alias(REASON)
    )


def _strict_error(df: pl.DataFrame, bad: dict[str, Any], path: Path, time_path: Path) -> InputError:
    """The InputError for the first bad row ``bad`` of the annotated table ``df``."""
    reason, row, fld = bad[REASON], bad[ROW], bad[FIELD]
    if reason == "missing_value":
        return InputError("missing value", path=path, row=row, field=fld)
    if reason == "unparsable_timestamp":
        return InputError(
            f"cannot parse timestamp {str(bad['_raw_timestamp'])!r} "
            "(expected unix seconds, unix milliseconds or ISO-8601)",
            path=time_path,
            row=row,
            field=fld,
        )
    if reason == "unparsable_rating":
        return InputError(
            f"cannot parse rating {str(bad['_raw_rating'])!r} as a number",
            path=path,
            row=row,
            field=fld,
        )
    same = [
        pl.col(k) == bad[k] for k in (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE) if k in df.columns
    ]
    first = df.filter(*same, pl.col(REASON).is_null()).get_column(ROW)[0]
    return InputError(
        f"duplicate of row {first} (same user, item, timestamp and event type)",
        path=path,
        row=row,
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
    """Collect ``raw``, drop bad rows and count them by reason.

    Returns the valid rows (``_ord``, ``user_id``, ``item_id``, ``timestamp`` Int64 seconds and, when
    present, ``event_type`` and ``rating`` Float64) and ``{reason: count}`` for every reason in
    :data:`VALIDATION_REASONS`.

    Raises:
        InputError: no data rows; with ``strict``, the first bad row (file, row and field).
    """
    time_path = time_path or path
    df = ingest.collect(annotate(raw, field_names), path, what)
    if df.height == 0:
        raise InputError("no data rows", path=path)
    bad = df.filter(pl.col(REASON).is_not_null())
    if strict and bad.height:
        raise _strict_error(df, bad.sort(ORDER).row(0, named=True), path, time_path)
    counts = dict.fromkeys(VALIDATION_REASONS, 0)
    for reason, n in bad.group_by(REASON).len().iter_rows():
        counts[reason] = n
    keep = [ORDER, USER_ID, ITEM_ID, TIMESTAMP] + [
        c for c in (EVENT_TYPE, RATING) if c in df.columns
    ]
    return df.filter(pl.col(REASON).is_null()).select(keep), counts


def filter_min_rating(df: pl.DataFrame, min_rating: float | None) -> pl.DataFrame:
    """Keep rows with ``rating >= min_rating`` (all rows if ``min_rating`` is None)."""
    if min_rating is None:
        return df
    return df.filter(pl.col(RATING) >= min_rating)


def kcore(df: pl.DataFrame, user_core: int, item_core: int) -> pl.DataFrame:
    """Repeatedly drop users with < ``user_core`` and items with < ``item_core`` events until stable.

    Removing a user can push an item under its threshold and vice versa, so one pass is not enough;
    the fixpoint is the largest sub-log where every user and item meets its threshold.
    """
    if user_core <= 1 and item_core <= 1:
        return df
    while True:
        kept = df.filter(
            (pl.len().over(USER_ID) >= user_core) & (pl.len().over(ITEM_ID) >= item_core)
        )
        if kept.height == df.height:
            return kept
        df = kept


def pseudonym(user_id: str, salt: str) -> str:
    """The pseudonym of one user id: first 16 hex digits of HMAC-SHA256 keyed by ``salt``."""
    digest = hmac.new(salt.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_DIGITS]


def pseudonymize(df: pl.DataFrame, salt: str | None) -> pl.DataFrame:
    """Replace ``user_id`` by :func:`pseudonym` (same id + same salt -> same pseudonym)."""
    if salt is None:
        return df
    # Hash each distinct user once, then join: O(users) Python calls, not O(rows).
    users = df.select(pl.col(USER_ID).unique())
    mapping = users.with_columns(
        pl.col(USER_ID)
        .map_elements(lambda u: pseudonym(u, salt), return_dtype=pl.String)
        .alias("_pseudonym")
    )
    if mapping.get_column("_pseudonym").n_unique() != mapping.height:
        raise ChronorecError("pseudonym collision: two user ids hash to the same prefix")
    return (
        df.join(mapping, on=USER_ID, how="left")
        .with_columns(pl.col("_pseudonym").alias(USER_ID))
        .drop("_pseudonym")
    )


@dataclass(frozen=True)
class Encoded:
    """Tables in the prepared-dataset layout, plus the event type names."""

    interactions: pl.DataFrame
    users: pl.DataFrame
    items: pl.DataFrame
    event_types: list[str]


def encode(df: pl.DataFrame) -> Encoded:
    """Assign dense ids and sort the log by (user, timestamp, source order).

    Users and items get 1..N in order of first appearance in the log sorted by (timestamp, source
    order); event types get 1..K in sorted name order.
    """
    by_time = df.sort([TIMESTAMP, ORDER])
    users = (
        by_time.select(pl.col(USER_ID).unique(maintain_order=True))
        .with_row_index(schema.USER, offset=1)
        .with_columns(pl.col(schema.USER).cast(pl.Int32))
    )
    items = (
        by_time.select(pl.col(ITEM_ID).unique(maintain_order=True))
        .with_row_index(schema.ITEM, offset=1)
        .with_columns(pl.col(schema.ITEM).cast(pl.Int32))
    )
    out = df.join(users, on=USER_ID).join(items, on=ITEM_ID)
    cols = [
        pl.col(schema.USER),
        pl.col(schema.ITEM),
        pl.col(TIMESTAMP).cast(pl.Int64).alias(schema.TIMESTAMP),
    ]
    event_types: list[str] = []
    if EVENT_TYPE in df.columns:
        names = df.get_column(EVENT_TYPE).unique().sort()
        if names.len() > 32767:
            raise ChronorecError(f"{names.len()} event types; at most 32767 are supported")
        event_types = names.to_list()  # a small vocabulary, not rows
        codes = pl.DataFrame(
            {
                EVENT_TYPE: names,
                "_code": pl.int_range(1, names.len() + 1, eager=True).cast(pl.Int16),
            }
        )
        out = out.join(codes, on=EVENT_TYPE)
        cols.append(pl.col("_code").alias(schema.EVENT_TYPE))
    if RATING in df.columns:
        cols.append(pl.col(RATING).cast(pl.Float32).alias(schema.RATING))
    interactions = out.sort([schema.USER, TIMESTAMP, ORDER]).select(cols)
    return Encoded(
        interactions=interactions,
        users=users.select(schema.USER, pl.col(USER_ID).alias(schema.USER_ID)),
        items=items.select(schema.ITEM, pl.col(ITEM_ID).alias(schema.ITEM_ID)),
        event_types=event_types,
    )


def attach_item_metadata(items: pl.DataFrame, meta: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``title`` and ``categories`` to the item table (null where ``meta`` has no entry)."""
    if meta is None:
        return items.with_columns(
            pl.lit(None, pl.String).alias(schema.TITLE),
            pl.lit(None, pl.String).alias(schema.CATEGORIES),
        )
    joined = items.join(
        meta, left_on=schema.ITEM_ID, right_on=ingest.ITEM_ID, how="left", maintain_order="left"
    )
    return joined.select(
        schema.ITEM,
        schema.ITEM_ID,
        pl.col(ingest.TITLE).alias(schema.TITLE),
        pl.col(ingest.CATEGORIES).alias(schema.CATEGORIES),
    ).sort(schema.ITEM)


# --------------------------------------------------------------------------- prepare


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_out(out: Path) -> None:
    """Refuse to replace anything but an earlier prepared dataset (guards against out=~ typos)."""
    if out.is_file():
        raise ChronorecError(f"{out}: exists and is a file; expected a dataset folder")
    if out.is_dir() and any(out.iterdir()) and not (out / schema.MANIFEST_FILE).is_file():
        raise ChronorecError(
            f"{out}: exists, is not empty and is not a prepared dataset; refusing to replace it"
        )


def _field_names(cfg: PrepareConfig, fmt: str) -> dict[str, str]:
    if fmt in ("movielens", "sequences"):
        return {c: c for c in (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, RATING)}
    return {
        USER_ID: cfg.user_col,
        ITEM_ID: cfg.item_col,
        TIMESTAMP: cfg.time_col,
        EVENT_TYPE: cfg.event_col or EVENT_TYPE,
        RATING: cfg.rating_col or RATING,
    }


def prepare(config: PrepareConfig) -> PrepareResult:
    """Read, validate, filter and encode a log, and write the dataset folder ``config.out``.

    Raises:
        InputError: bad input (named file, and row/field where it applies), or nothing left to write.
        ChronorecError: invalid options, or ``out`` is something other than a prepared dataset.
    """
    cfg = config
    _check_out(cfg.out)
    fmt = ingest.resolve_format(cfg.input, cfg.format)
    raw = ingest.read_interactions(
        cfg.input,
        format=fmt,
        delimiter=cfg.delimiter,
        columns=cfg.columns,
        user_col=cfg.user_col,
        item_col=cfg.item_col,
        time_col=cfg.time_col,
        event_col=cfg.event_col,
        rating_col=cfg.rating_col,
        times=cfg.times,
    )
    if cfg.min_rating is not None and RATING not in raw.collect_schema():
        raise InputError("min_rating was given but the log has no rating column", path=cfg.input)
    meta = ingest.read_items(cfg.items) if cfg.items is not None else None

    table, dropped = validate(
        raw,
        path=cfg.input,
        field_names=_field_names(cfg, fmt),
        strict=cfg.strict,
        time_path=cfg.times,
        what=ingest.FORMAT_LABELS[fmt],
    )
    counts = {"rows_read": table.height + sum(dropped.values()), "after_validation": table.height}
    table = filter_min_rating(table, cfg.min_rating)
    dropped["below_min_rating"] = counts["after_validation"] - table.height
    counts["after_rating_filter"] = table.height
    table = kcore(table, cfg.user_core, cfg.item_core)
    dropped["kcore"] = counts["after_rating_filter"] - table.height
    counts["after_kcore"] = table.height
    if table.height == 0:
        steps = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise InputError(f"no interactions left to write ({steps})", path=cfg.input)

    enc = encode(pseudonymize(table, cfg.pseudonymize_users))
    items = attach_item_metadata(enc.items, meta)

    source: dict[str, Any] = {
        "path": str(cfg.input.resolve()),
        "format": fmt,
        "sha256": sha256_file(cfg.input),
    }
    for role in ("items", "times"):
        p = getattr(cfg, role)
        source[role] = None if p is None else {"path": str(p.resolve()), "sha256": sha256_file(p)}
    manifest = {
        "format_version": schema.FORMAT_VERSION,
        "source": source,
        "options": cfg.to_dict(),
        "counts": counts,
        "interactions": enc.interactions.height,
        "users": enc.users.height,
        "items": items.height,
        "dropped": dropped,
        "event_types": enc.event_types,
        "has_ratings": schema.RATING in enc.interactions.columns,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_dataset(cfg.out, enc.interactions, enc.users, items, manifest)
    return PrepareResult(
        out=cfg.out,
        interactions=enc.interactions.height,
        users=enc.users.height,
        items=items.height,
        dropped=dict(dropped),
        counts=dict(counts),
    )


def write_dataset(
    out: str | os.PathLike[str],
    interactions: pl.DataFrame,
    users: pl.DataFrame,
    items: pl.DataFrame,
    manifest: dict[str, Any],
) -> Path:
    """Write the four files of a prepared dataset into ``out`` atomically."""
    with atomic_path(out) as tmp:
        tmp.mkdir()
        interactions.write_parquet(tmp / schema.INTERACTIONS_FILE)
        users.write_parquet(tmp / schema.USERS_FILE)
        items.write_parquet(tmp / schema.ITEMS_FILE)
        (tmp / schema.MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
    return Path(out)
