"""Shared fixtures: tiny synthetic datasets written in the prepared format,
and the real-data location."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from chronorec.data import schema
from chronorec.data.dataset import SequenceData, load_dataset

REPO = Path(__file__).resolve().parents[1]

# Tests run in parallel workers (pytest -n 2):
# one thread each keeps the cores from being oversubscribed.
torch.set_num_threads(1)


def shared_data_root() -> Path | None:
    """Real datasets: $CHRONOREC_DATA, else ../shared/data beside the repository."""
    # Absolute: tests run commands from other folders (the main job, the README tour).
    root = Path(os.environ.get("CHRONOREC_DATA", REPO.parent / "shared" / "data")).resolve()
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found (set CHRONOREC_DATA)")
    return root


def write_prepared(
    path: Path,
    sequences: dict[str, list[tuple[str, int]]],
    event_types: dict[str, list[int]] | None = None,
    event_type_names: list[str] | None = None,
) -> Path:
    """Write a prepared dataset from ``{user_id: [(item_id, timestamp), ...]}``
    (already time-ordered)."""
    path.mkdir(parents=True, exist_ok=True)
    users = list(sequences)
    items = sorted({i for seq in sequences.values() for i, _ in seq})
    item_index = {i: k + 1 for k, i in enumerate(items)}
    rows = {"user": [], "item": [], "timestamp": []}
    ev: list[int] = []
    for u, uid in enumerate(users, 1):
        for n, (iid, ts) in enumerate(sequences[uid]):
            rows["user"].append(u)
            rows["item"].append(item_index[iid])
            rows["timestamp"].append(ts)
            if event_types:
                ev.append(event_types[uid][n])
    frame = pl.DataFrame(rows, schema={"user": pl.Int32, "item": pl.Int32, "timestamp": pl.Int64})
    if event_types:
        frame = frame.with_columns(pl.Series("event_type", ev, dtype=pl.Int16))
    frame.write_parquet(path / schema.INTERACTIONS_FILE)
    pl.DataFrame(
        {"user": list(range(1, len(users) + 1)), "user_id": users},
        schema={"user": pl.Int32, "user_id": pl.Utf8},
    ).write_parquet(path / schema.USERS_FILE)
    pl.DataFrame(
        {
            "item": list(range(1, len(items) + 1)),
            "item_id": items,
            "title": [f"title {i}" for i in items],
        },
        schema={"item": pl.Int32, "item_id": pl.Utf8, "title": pl.Utf8},
    ).write_parquet(path / schema.ITEMS_FILE)
    (path / schema.MANIFEST_FILE).write_text(
        json.dumps(
            {
                "interactions": frame.height,
                "users": len(users),
                "items": len(items),
                "dropped": {},
                "event_types": event_type_names or [],
            }
        )
    )
    return path


def synthetic_sequences(
    num_users: int = 60, num_items: int = 40, seed: int = 0
) -> dict[str, list[tuple[str, int]]]:
    """Users walk a ring of items (item k is usually followed by k + 1):
    a sequence model can learn it, pop cannot."""
    rng = np.random.default_rng(seed)
    out = {}
    for u in range(num_users):
        length = int(rng.integers(5, 30))
        start = int(rng.integers(0, num_items))
        steps = np.where(rng.random(length) < 0.9, 1, rng.integers(2, num_items, length))
        positions = (start + np.cumsum(steps)) % num_items
        t0 = int(rng.integers(1_600_000_000, 1_600_100_000))
        gaps = rng.integers(60, 86_400, length)
        out[f"u{u}"] = [(f"i{p}", t0 + int(g)) for p, g in zip(positions, np.cumsum(gaps))]
    return out


@pytest.fixture
def ring_dataset(tmp_path: Path) -> SequenceData:
    return load_dataset(write_prepared(tmp_path / "ring", synthetic_sequences()))
