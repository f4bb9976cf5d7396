"""Turn a raw interaction log into a prepared dataset folder (see :mod:`chronorec.data.schema`).

The pipeline is a chain of small table-to-table steps::

    read -> validate -> filter_min_rating -> kcore -> encode -> pseudonymize -> write

Memory: reading, parsing and checking run on polars' streaming engine, and ids become categorical
codes as they are read, so the log is never held as strings or Python objects. What is held is one
fixed-width row per event (file position, user, item and event codes, timestamp, rating: 20 to 32
bytes) and each distinct id string once; no step holds two full copies of the rows.

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

import numpy as np
import polars as pl

from chronorec._io import atomic_path
from chronorec.data import ingest, schema
from chronorec.data.ingest import EVENT_TYPE, ITEM_ID, RATING, ROW, TIMESTAMP, USER_ID
from chronorec.errors import ChronorecError, InputError

ORDER = "_ord"  # 0-based position in the reader's output: the tie-breaker for equal timestamps
REASON, FIELD = "_reason", "_field"
POSITION = "_pos"  # row position in an in-memory table

VALIDATION_REASONS: tuple[str, ...] = (
    "missing_value", "unparsable_timestamp", "unparsable_rating", "duplicate",
)  # fmt: skip
"""Row-level problems found while validating; each dropped row is counted under one of them."""
_REASON_DTYPE = pl.Enum(VALIDATION_REASONS)  # one byte per row, where a string would take sixteen
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
    """Parse timestamps/ratings, encode ids as categoricals, and mark each bad row.

    ``raw`` is a reader's output; ``field_names`` maps canonical names to the names to report.
    Adds ``_ord`` (file order), replaces ``timestamp`` by Int64 seconds and ``rating`` by Float64,
    turns ``user_id``/``item_id``/``event_type`` into :class:`polars.Categorical` (a 4-byte code per
    row instead of a string, so the collected log holds no strings), and adds ``_reason`` (an Enum
    of :data:`VALIDATION_REASONS`, null if fine) and ``_field``. Raw values stay available as
    ``_raw_timestamp``/``_raw_rating`` for error messages. Duplicates need the whole log and are
    marked by :func:`validate`.
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
    reason = pl.when(cond).then(pl.lit(why, _REASON_DTYPE))
    fld = pl.when(cond).then(pl.lit(name))
    for cond, why, name in checks[1:]:
        reason = reason.when(cond).then(pl.lit(why, _REASON_DTYPE))
        fld = fld.when(cond).then(pl.lit(name))
    # A private Categories (not the process-wide one) is freed with the data it encodes.
    codes = pl.Categorical(pl.Categories.random("chronorec"))
    ids = [USER_ID, ITEM_ID] + [EVENT_TYPE] * has_event
    return lf.with_columns(
        reason.otherwise(None).alias(REASON),
        fld.otherwise(None).alias(FIELD),
        *(pl.col(c).cast(codes) for c in ids),
    )


def _position() -> pl.Expr:
    """Row positions 0..n-1 as a column named ``_pos``."""
    return pl.int_range(pl.len(), dtype=pl.get_index_type()).alias(POSITION)


def duplicates(df: pl.DataFrame) -> pl.Series:
    """Positions of valid rows that repeat (user, item, timestamp, event type) of an earlier one.

    ``df`` is :func:`annotate`'s output, collected: valid rows have a null ``_reason`` and "earlier"
    means a smaller ``_ord``. Hashing or sorting the whole key of every row would take several
    times the memory of the table itself, so candidates come first: duplicates share user and
    timestamp, which fit in one 64-bit number, and sorting those numbers finds the ones that occur
    more than once. Only the valid rows with such a number (a few percent of a real log) get the
    exact check.
    """
    keys = [USER_ID, ITEM_ID, TIMESTAMP] + [EVENT_TYPE] * (EVENT_TYPE in df.columns)
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


def _take(df: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """The rows of ``df`` at the positions ``rows``, gathered column by column.

    Consumes ``df`` (it is left without columns): each input column is released as soon as its
    output exists, so two full tables never coexist. The output columns are contiguous, which
    keeps :func:`encode`'s random-order gathers fast.
    """
    return pl.DataFrame([df.drop_in_place(c).gather(rows) for c in df.columns])


def _strict_error(
    annotated: pl.LazyFrame, df: pl.DataFrame, path: Path, time_path: Path, what: str
) -> InputError:
    """The InputError for the first bad row of ``df``, the collected ``annotated``."""
    bad = df.lazy().filter(pl.col(REASON).is_not_null()).sort(ORDER).head(1).collect()
    bad = bad.row(0, named=True)
    ords = [bad[ORDER]]
    if bad[REASON] == "duplicate":
        same = [pl.col(k) == bad[k] for k in (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE) if k in df]
        ords.append(df.filter(*same, pl.col(REASON).is_null()).get_column(ORDER).min())
    # Row numbers and raw values are not kept for the whole log: read them again for these rows.
    rows = ingest.collect(annotated.filter(pl.col(ORDER).is_in(ords)), path, what)
    detail = {r[ORDER]: r for r in rows.iter_rows(named=True)}
    first = detail[ords[0]]
    row, fld = first[ROW], first[FIELD]
    if bad[REASON] == "missing_value":
        return InputError("missing value", path=path, row=row, field=fld)
    if bad[REASON] == "unparsable_timestamp":
        return InputError(
            f"cannot parse timestamp {str(first['_raw_timestamp'])!r} "
            "(expected unix seconds, unix milliseconds or ISO-8601)",
            path=time_path,
            row=row,
            field=fld,
        )
    if bad[REASON] == "unparsable_rating":
        return InputError(
            f"cannot parse rating {str(first['_raw_rating'])!r} as a number",
            path=path,
            row=row,
            field=fld,
        )
    return InputError(
        f"duplicate of row {detail[ords[1]][ROW]} (same user, item, timestamp and event type)",
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
    df = ingest.collect(
        annotated.select(c for c in annotated.collect_schema() if c in fixed), path, what
    )
    if df.height == 0:
        raise InputError("no data rows", path=path)
    df = df.with_columns(df.get_column(REASON).scatter(duplicates(df), "duplicate"))
    counts = dict.fromkeys(VALIDATION_REASONS, 0)
    for reason, n in df.get_column(REASON).drop_nulls().value_counts().iter_rows():
        counts[reason] = n
    if strict and any(counts.values()):
        raise _strict_error(annotated, df, path, time_path, what)
    return _take(df, df.drop_in_place(REASON).is_null().arg_true()), counts


def filter_min_rating(df: pl.DataFrame, min_rating: float | None) -> pl.DataFrame:
    """Keep rows with ``rating >= min_rating`` (all rows if ``min_rating`` is None)."""
    if min_rating is None:
        return df
    return df.filter(pl.col(RATING) >= min_rating)


def _as_categorical(ids: pl.Series) -> pl.Series:
    """``ids`` as a categorical (as :func:`validate` returns them), else with a private encoding."""
    if isinstance(ids.dtype, pl.Categorical):
        return ids
    return ids.cast(pl.Categorical(pl.Categories.random("chronorec")))


def _codes(ids: pl.Series) -> np.ndarray:
    """The integer codes of categorical ``ids`` (no nulls), as a NumPy array."""
    return ids.to_physical().to_numpy()


def kcore(df: pl.DataFrame, user_core: int, item_core: int) -> pl.DataFrame:
    """Repeatedly drop users with < ``user_core`` and items with < ``item_core`` events until stable.

    Removing a user can push an item under its threshold and vice versa, so one pass is not enough;
    the fixpoint is the largest sub-log where every user and item meets its threshold.
    """
    if user_core <= 1 and item_core <= 1:
        return df
    # Integer codes of the two id columns, counted with bincount: no hashing, and after the first
    # pass only the dropped rows are counted again, to update the per-id counts.
    users, items = (_codes(_as_categorical(df.get_column(c))) for c in (USER_ID, ITEM_ID))
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
    ids = _as_categorical(ids)
    first = ids.gather(by_time).unique(maintain_order=True)
    numbers = np.arange(1, first.len() + 1, dtype=np.int32)
    # Code -> dense id lookup table: one gather instead of a hash lookup per row.
    lookup = np.zeros(int(ids.to_physical().max()) + 1, dtype=np.int32)
    lookup[_codes(first)] = numbers
    table = pl.DataFrame([pl.Series(dense, numbers), first.cast(pl.String)])
    return table, lookup[_codes(ids)]


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
        events = _as_categorical(cols.pop(EVENT_TYPE))
        names = events.unique().cast(pl.String).sort()
        if names.len() > 32767:
            raise ChronorecError(f"{names.len()} event types; at most 32767 are supported")
        event_types = names.to_list()  # a small vocabulary, not rows
        lookup = np.zeros(int(events.to_physical().max()) + 1, dtype=np.int16)
        lookup[_codes(names.cast(events.dtype))] = np.arange(1, names.len() + 1)
        out[schema.EVENT_TYPE] = lookup[_codes(events)[rows]]
        del events
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
    # The filters run on a narrow table (row position, ids, rating if needed); the full rows are
    # gathered once at the end, column by column.
    needed = [USER_ID, ITEM_ID] + [RATING] * (cfg.min_rating is not None)
    kept = filter_min_rating(table.select(_position(), *needed), cfg.min_rating)
    dropped["below_min_rating"] = counts["after_validation"] - kept.height
    counts["after_rating_filter"] = kept.height
    kept = kcore(kept, cfg.user_core, cfg.item_core)
    dropped["kcore"] = counts["after_rating_filter"] - kept.height
    counts["after_kcore"] = kept.height
    if kept.height == 0:
        steps = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise InputError(f"no interactions left to write ({steps})", path=cfg.input)
    if kept.height < table.height:
        table = _take(table, kept.get_column(POSITION))
    del kept

    enc = encode(table)
    users = pseudonymize(enc.users, cfg.pseudonymize_users)
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
        "users": users.height,
        "items": items.height,
        "dropped": dropped,
        "event_types": enc.event_types,
        "has_ratings": schema.RATING in enc.interactions.columns,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_dataset(cfg.out, enc.interactions, users, items, manifest)
    return PrepareResult(
        out=cfg.out,
        interactions=enc.interactions.height,
        users=users.height,
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
