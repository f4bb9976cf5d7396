"""Keep a model learning: continue a trained run on its log plus the events collected since.

:func:`refresh` writes a new dataset (the run's events, less forgotten users, plus the new events;
new users and new items appended after the known ones, so every item keeps its row), then trains a
new run that starts from the old run's weights with its item table grown (see
:func:`chronorec.models.weights.load_grown`: new rows from the mean item, or from text under text
features), early-stopped on the newest collected events. Each epoch covers the training windows
that reach the new events and as many older ones drawn at random (``old_per_new``), so a refresh
costs a fraction of a retrain while keeping what the model knew. ``chronorec refresh`` reads the
events from the service's store (:mod:`chronorec.serve.collect`); the temporal-replay benchmark
gives them from a log.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from chronorec._io import write_json
from chronorec.data import schema
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.prepare import write_dataset
from chronorec.data.split import VALIDATION_FROM
from chronorec.errors import ChronorecError
from chronorec.models.text import CACHE_FILE
from chronorec.runs.layout import RunFolder
from chronorec.runs.result import TrainResult
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig

DATA_DIR = "data"  # the refreshed dataset, inside the new run folder
REFRESH_KEY = "refresh"  # manifest key: where the dataset came from, and the store's watermark
VALID_SHARE = 0.2  # the newest share of the collected events that selects the model
# Older training windows per window that reaches the new events: enough of the log to keep what
# the model knew, at a fraction of an epoch over all of it.
OLD_PER_NEW = 1.0


@dataclass(frozen=True)
class NewEvents:
    """What happened since a run was trained: events by original ids, and what the store knows.

    ``events`` has columns ``user_id``, ``item_id`` (str), ``timestamp`` (unix seconds) and
    optionally ``event_type`` (str), in arrival order. ``items`` has ``item_id`` and optionally
    ``title`` and ``categories``: metadata of new items (their text, under text features).
    ``forgotten`` are users whose training events must go; ``through`` is the store's sequence
    number of the last event read, the next refresh's starting point.
    """

    events: pl.DataFrame
    items: pl.DataFrame = field(default_factory=lambda: pl.DataFrame({"item_id": []}))
    forgotten: Collection[str] = ()
    through: int = 0


@dataclass(frozen=True)
class Merged:
    """The refreshed dataset's tables and what the merge found."""

    interactions: pl.DataFrame
    users: pl.DataFrame
    items: pl.DataFrame
    counts: dict[str, int]


def store_watermark(data: SequenceData) -> int:
    """The store sequence number a run's dataset already holds events through (0: none)."""
    return int(data.manifest.get(REFRESH_KEY, {}).get("through", 0))


def merge(data: SequenceData, new: NewEvents) -> Merged:
    """``data``'s events (less the forgotten users') and the new ones, in the prepared layout.

    Known items keep their internal ids; new items follow in order of first appearance. Users are
    renumbered (no model weight belongs to a user). Event types outside ``data``'s are stored as
    its first type, as the service scores them.
    """
    forgotten = set(new.forgotten)
    dropped = sum(str(uid) in forgotten for uid in data.user_ids[1:])  # known users who go
    old = _old_events(data, forgotten)
    fresh = _new_events(data, new.events)
    events = pl.concat([old, fresh], how="vertical")
    item_table, item_of = _items(data, fresh, new.items)
    events = events.with_columns(pl.col("item_id").replace_strict(item_of, return_dtype=pl.Int32))
    users = events["user_id"].unique(maintain_order=True)
    user_of = dict(zip(users.to_list(), range(1, users.len() + 1)))
    events = events.with_columns(pl.col("user_id").replace_strict(user_of, return_dtype=pl.Int32))
    order = ["user_id", "timestamp", "order"]
    events = events.sort(order).rename({"user_id": schema.USER, "item_id": schema.ITEM})
    columns = [schema.USER, schema.ITEM, schema.TIMESTAMP]
    if data.event_types is not None:
        columns.append(schema.EVENT_TYPE)
    user_table = pl.DataFrame(
        {schema.USER: np.arange(1, users.len() + 1, dtype=np.int32), schema.USER_ID: users}
    )
    counts = {
        "new_events": fresh.height,
        "new_items": item_table.height - data.num_items,
        "new_users": users.len() - (data.num_users - dropped),
        "forgotten_users": dropped,
    }
    return Merged(events.select(columns), user_table, item_table, counts)


def _old_events(data: SequenceData, forgotten: set[str]) -> pl.DataFrame:
    owner = np.repeat(np.arange(data.num_users + 1), np.diff(data.offsets)[: data.num_users + 1])
    keep = np.array([uid not in forgotten for uid in data.user_ids])[owner]
    frame = {
        "user_id": data.user_ids[owner[keep]].astype(str),
        "item_id": data.item_ids[data.items[keep]].astype(str),
        schema.TIMESTAMP: data.timestamps[keep],
        "order": np.arange(int(keep.sum()), dtype=np.int64),
    }
    if data.event_types is not None:
        frame[schema.EVENT_TYPE] = data.event_types[keep]
    return pl.DataFrame(frame)


def _new_events(data: SequenceData, events: pl.DataFrame) -> pl.DataFrame:
    missing = {"user_id", "item_id", "timestamp"} - set(events.columns)
    if missing:
        raise ChronorecError(f"new events lack column(s) {', '.join(sorted(missing))}")
    start = len(data.items)  # after every old event: arrival order breaks ties in time
    frame = events.select(
        pl.col("user_id").cast(pl.String),
        pl.col("item_id").cast(pl.String),
        pl.col("timestamp").cast(pl.Float64).floor().cast(pl.Int64).alias(schema.TIMESTAMP),
        (pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("order"),
    )
    if data.event_types is not None:
        number = {name: n + 1 for n, name in enumerate(data.event_type_names)}
        types = events["event_type"].to_list() if "event_type" in events.columns else []
        ids = [number.get(t, 1) for t in types] or [1] * frame.height
        frame = frame.with_columns(pl.Series(schema.EVENT_TYPE, ids, dtype=pl.Int16))
    return frame


def _items(
    data: SequenceData, fresh: pl.DataFrame, metadata: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The item table grown by the new items (first appearance by time, then arrival), and the
    internal id of every item id."""
    item_of = {str(data.item_ids[i]): i for i in range(1, data.num_items + 1)}
    appearing = fresh.sort([schema.TIMESTAMP, "order"])["item_id"].unique(maintain_order=True)
    added = [i for i in appearing.to_list() if i not in item_of]
    item_of.update({item: data.num_items + 1 + n for n, item in enumerate(added)})
    old = pl.read_parquet(data.path / schema.ITEMS_FILE).sort(schema.ITEM)
    grown = pl.DataFrame(
        {schema.ITEM: [item_of[i] for i in added], schema.ITEM_ID: added},
        schema={schema.ITEM: pl.Int32, schema.ITEM_ID: pl.String},
    )
    for column in (schema.TITLE, schema.CATEGORIES):
        values: list[str | None] = [None] * len(added)
        if column in metadata.columns:
            given = dict(zip(metadata["item_id"].cast(pl.String), metadata[column]))
            values = [given.get(i) for i in added]
        grown = grown.with_columns(pl.Series(column, values, pl.String))
        if column not in old.columns:
            old = old.with_columns(pl.lit(None, pl.String).alias(column))
    table = pl.concat([old.with_columns(pl.col(schema.ITEM).cast(pl.Int32)), grown], how="diagonal")
    return table, item_of


def _check(new: NewEvents, valid_share: float) -> None:
    if new.events.height == 0:
        raise ChronorecError(f"nothing to refresh: no event after store sequence {new.through}")
    if not 0 < valid_share < 1:
        raise ChronorecError(f"valid_share must be in (0, 1), got {valid_share}")


def write_refreshed(
    data: SequenceData, new: NewEvents, out: Path, *, source_run: Path, valid_share: float
) -> Path:
    """Write the merged dataset into ``out``; its manifest names the validation window (the newest
    ``valid_share`` of the new events) and where it came from."""
    _check(new, valid_share)
    merged = merge(data, new)
    times = new.events["timestamp"].cast(pl.Float64).to_numpy()
    cutoff = int(np.ceil(np.quantile(times, 1 - valid_share)))
    manifest: dict[str, Any] = {
        **data.manifest,
        "interactions": merged.interactions.height,
        "users": merged.users.height,
        "items": merged.items.height,
        VALIDATION_FROM: cutoff,
        REFRESH_KEY: {
            "from_run": str(source_run),
            "through": new.through,
            "new_from": int(times.min()),
            **merged.counts,
        },
    }
    write_dataset(out, merged.interactions, merged.users, merged.items, manifest)
    cache = data.path / CACHE_FILE
    if cache.is_file():  # text vectors of known items are not encoded again
        shutil.copyfile(cache, out / CACHE_FILE)
    return out


def refresh(
    run: str | Path,
    new: NewEvents,
    out: str | Path,
    *,
    valid_share: float = VALID_SHARE,
    resume: bool = False,
    show_progress: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Continue the run at ``run`` on its events plus ``new`` into the run folder ``out``.

    ``overrides`` are training options (e.g. ``epochs``, ``patience``, ``lr``); the rest are the
    run's own. With ``resume``, a refresh stopped part-way continues from its last epoch.

    Example:
        >>> refresh("runs/sasrec", NewEvents(events), "runs/sasrec-2")  # doctest: +SKIP
    """
    run, out = Path(run), Path(out)
    config = TrainConfig.load(RunFolder(run).require_config())
    data_dir = out / DATA_DIR
    if not resume:
        _check(new, valid_share)
        if out.exists() and any(out.iterdir()):
            raise ChronorecError(f"{out}: exists and is not empty (use --resume to continue it)")
        out.mkdir(parents=True, exist_ok=True)
        write_refreshed(
            load_dataset(config.data), new, data_dir, source_run=run, valid_share=valid_share
        )
    elif not data_dir.is_dir():
        raise ChronorecError(f"{out}: no refresh to resume here")
    settings = {
        "init": "",
        "old_per_new": OLD_PER_NEW,
        **overrides,
        "warm_start": str(run.resolve()),
    }
    refreshed = config.with_overrides(data=str(data_dir.resolve()), split="recent", **settings)
    result = train_run(refreshed, out, resume=resume, show_progress=show_progress)
    _record(out, json.loads((data_dir / schema.MANIFEST_FILE).read_text())[REFRESH_KEY])
    return result


def _record(out: Path, info: dict[str, Any]) -> None:
    """Add what the refresh merged to the new run's ``metrics.json``."""
    path = RunFolder(out).metrics
    write_json(path, {**json.loads(path.read_text()), REFRESH_KEY: info})
