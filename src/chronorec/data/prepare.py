"""Turn a raw interaction log into a prepared dataset folder (see :mod:`chronorec.data.schema`).

The pipeline is a chain of small table-to-table steps::

    read (ingest, items) -> validate -> filters -> encode -> write

Fatal problems raise :class:`~chronorec.errors.InputError` before anything is written, and the
folder is written atomically, so a failed run never leaves an output folder behind. Row-level
problems are dropped and counted (see :mod:`chronorec.data.validate`), and so are the rows the
filters remove; the manifest records both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from chronorec._io import atomic_path
from chronorec.data import schema
from chronorec.data.encode import Encoded, attach_item_metadata, encode, pseudonymize
from chronorec.data.filters import apply_filters
from chronorec.data.formats import FORMATS, resolve_format
from chronorec.data.ingest import read_interactions
from chronorec.data.items import read_items
from chronorec.data.reading import EVENT_TYPE, ITEM_ID, RATING, TIMESTAMP, USER_ID
from chronorec.data.validate import validate
from chronorec.errors import ChronorecError, InputError


@dataclass(frozen=True)
class PrepareConfig:
    """Options for :func:`prepare`. Paths may be given as strings.

    Attributes:
        input: the interaction log.
        out: the dataset folder to create (replaced if it already holds a prepared dataset).
        format: ``auto`` or a name in :data:`chronorec.data.formats.FORMATS`.
        delimiter: field separator for csv/tsv (None: tab for tsv, guessed for csv).
        columns: column names for a headerless csv/tsv file.
        user_col, item_col, time_col: column names in the log.
        event_col, rating_col: optional columns; None uses ``event_type``/``rating`` if present.
        items: optional item metadata file (see :func:`chronorec.data.items.read_items`).
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
    """What error messages call each canonical column (the user's name, if the format has one)."""
    if not FORMATS[fmt].names_columns:
        return {c: c for c in (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, RATING)}
    return {
        USER_ID: cfg.user_col,
        ITEM_ID: cfg.item_col,
        TIMESTAMP: cfg.time_col,
        EVENT_TYPE: cfg.event_col or EVENT_TYPE,
        RATING: cfg.rating_col or RATING,
    }


def _read(cfg: PrepareConfig, fmt: str) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """The log as a reader's lazy table, and the item metadata if an items file is given."""
    raw = read_interactions(
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
    return raw, read_items(cfg.items) if cfg.items is not None else None


def _manifest(
    cfg: PrepareConfig,
    fmt: str,
    enc: Encoded,
    counts: dict[str, int],
    dropped: dict[str, int],
) -> dict[str, Any]:
    """The manifest.json content: source files and their hashes, options, counts, vocabulary."""
    source: dict[str, Any] = {
        "path": str(cfg.input.resolve()),
        "format": fmt,
        "sha256": sha256_file(cfg.input),
    }
    for role in ("items", "times"):
        p = getattr(cfg, role)
        source[role] = None if p is None else {"path": str(p.resolve()), "sha256": sha256_file(p)}
    return {
        "format_version": schema.FORMAT_VERSION,
        "source": source,
        "options": cfg.to_dict(),
        "counts": counts,
        "interactions": enc.interactions.height,
        "users": enc.users.height,
        "items": enc.items.height,
        "dropped": dropped,
        "event_types": enc.event_types,
        "has_ratings": schema.RATING in enc.interactions.columns,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def prepare(config: PrepareConfig) -> PrepareResult:
    """Read, validate, filter and encode a log, and write the dataset folder ``config.out``.

    Raises:
        InputError: bad input (naming the file, and row/field where it applies), or nothing left
            to write.
        ChronorecError: invalid options, or ``out`` is something other than a prepared dataset.
    """
    cfg = config
    _check_out(cfg.out)
    fmt = resolve_format(cfg.input, cfg.format)
    raw, meta = _read(cfg, fmt)
    table, dropped = validate(
        raw,
        path=cfg.input,
        field_names=_field_names(cfg, fmt),
        strict=cfg.strict,
        time_path=cfg.times,
        what=FORMATS[fmt].label,
    )
    counts = {"rows_read": table.height + sum(dropped.values()), "after_validation": table.height}
    table, filter_counts, removed = apply_filters(
        table, cfg.min_rating, cfg.user_core, cfg.item_core
    )
    counts.update(filter_counts)
    dropped.update(removed)
    if table.height == 0:
        steps = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise InputError(f"no interactions left to write ({steps})", path=cfg.input)
    enc = encode(table)
    enc = dataclasses.replace(
        enc,
        users=pseudonymize(enc.users, cfg.pseudonymize_users),
        items=attach_item_metadata(enc.items, meta),
    )
    manifest = _manifest(cfg, fmt, enc, counts, dropped)
    write_dataset(cfg.out, enc.interactions, enc.users, enc.items, manifest)
    return PrepareResult(
        out=cfg.out,
        interactions=enc.interactions.height,
        users=enc.users.height,
        items=enc.items.height,
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
