"""Load a prepared dataset folder into compact per-user sequences (CSR arrays,
no per-event objects)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from chronorec.data import schema
from chronorec.errors import ChronorecError


@dataclass(frozen=True)
class SequenceData:
    """Every user's events, oldest first, as flat arrays with per-user offsets.

    User ``u`` (internal id, 1-based) owns ``items[offsets[u]:offsets[u + 1]]``; ``offsets[0] ==
    offsets[1] == 0`` because id 0 is padding. ``user_ids[u]`` / ``item_ids[i]`` give original ids.
    """

    path: Path
    manifest: dict
    offsets: np.ndarray  # (U + 2,) int64
    items: np.ndarray  # (N,) int32
    timestamps: np.ndarray  # (N,) int64 unix seconds
    event_types: np.ndarray | None  # (N,) int16, 1-based, or None when the source has none
    user_ids: np.ndarray  # (U + 1,) object, index 0 is ""
    item_ids: np.ndarray  # (I + 1,) object, index 0 is ""
    titles: np.ndarray | None = None  # (I + 1,) object or None
    event_type_names: tuple[str, ...] = field(default=())

    @property
    def num_users(self) -> int:
        return len(self.user_ids) - 1

    @property
    def num_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def num_event_types(self) -> int:
        return len(self.event_type_names)

    @property
    def name(self) -> str:
        return self.path.name

    def lengths(self) -> np.ndarray:
        """Events per user, indexed by internal user id (index 0 is 0)."""
        return np.diff(self.offsets)[: self.num_users + 1]

    @cached_property
    def _user_index(self) -> dict[str, int]:
        return {uid: u for u, uid in enumerate(self.user_ids) if u > 0}

    @cached_property
    def _item_index(self) -> dict[str, int]:
        return {iid: i for i, iid in enumerate(self.item_ids) if i > 0}

    def user_index(self, user_id: object) -> int | None:
        """Internal id of an original user id, or None if unknown."""
        return self._user_index.get(str(user_id))

    def item_index(self, item_id: object) -> int | None:
        """Internal id of an original item id, or None if unknown."""
        return self._item_index.get(str(item_id))

    def title(self, item: int) -> str | None:
        if self.titles is None:
            return None
        t = self.titles[item]
        return None if t is None else str(t)


def load_dataset(path: str | Path) -> SequenceData:
    """Read a folder written by :func:`chronorec.prepare`.

    Example:
        >>> data = load_dataset("data/ml-100k")  # doctest: +SKIP
        >>> data.num_users, data.num_items
        (943, 1682)
    """
    path = Path(path)
    manifest_path = path / schema.MANIFEST_FILE
    if not manifest_path.is_file():
        raise ChronorecError(
            f"{path}: not a prepared dataset (no {schema.MANIFEST_FILE}); "
            "run `chronorec prepare` first"
        )
    manifest = json.loads(manifest_path.read_text())
    inter = pl.read_parquet(path / schema.INTERACTIONS_FILE)
    users = pl.read_parquet(path / schema.USERS_FILE).sort(schema.USER)
    items = pl.read_parquet(path / schema.ITEMS_FILE).sort(schema.ITEM)
    num_users = users.height
    user_col = inter[schema.USER].to_numpy().astype(np.int64)
    counts = np.bincount(user_col, minlength=num_users + 1)
    offsets = np.zeros(num_users + 2, dtype=np.int64)
    np.cumsum(counts, out=offsets[1 : num_users + 2])
    user_ids = np.array([""] + users[schema.USER_ID].cast(pl.Utf8).to_list(), dtype=object)
    item_ids = np.array([""] + items[schema.ITEM_ID].cast(pl.Utf8).to_list(), dtype=object)
    titles = None
    if schema.TITLE in items.columns and items[schema.TITLE].null_count() < items.height:
        titles = np.array([None] + items[schema.TITLE].to_list(), dtype=object)
    event_types = None
    if schema.EVENT_TYPE in inter.columns:
        event_types = inter[schema.EVENT_TYPE].to_numpy().astype(np.int16)
    return SequenceData(
        path=path,
        manifest=manifest,
        offsets=offsets,
        items=inter[schema.ITEM].to_numpy().astype(np.int32),
        timestamps=inter[schema.TIMESTAMP].to_numpy().astype(np.int64),
        event_types=event_types,
        user_ids=user_ids,
        item_ids=item_ids,
        titles=titles,
        event_type_names=tuple(manifest.get("event_types", []) or []),
    )
