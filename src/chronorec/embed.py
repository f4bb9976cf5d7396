"""User and item vectors from a trained or pre-trained run, and nearest items by cosine.

A user's vector is the model's last hidden state after the user's history (the state it scores the
next item from); with ``as_of``, after the events strictly before that moment. An item's vector is
its row of ``item_vectors()`` (with text features, the fused ID + text vector). Both tables keep the
dataset's original ids::

    # emb/users.parquet (user_id, embedding), emb/items.parquet (item_id, title, embedding)
    embed("runs/sasrec", "emb/")
    nearest("runs/sasrec", item="50", k=10)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

import numpy as np
import polars as pl
import torch

from chronorec._io import atomic_path, write_json
from chronorec.data.batches import SeqBatch, gather_padded
from chronorec.data.dataset import SequenceData
from chronorec.errors import ChronorecError
from chronorec.models import SequenceModel
from chronorec.runs.load import Run, load_run

USERS_FILE = "users.parquet"
ITEMS_FILE = "items.parquet"
META_FILE = "embeddings.json"


def load_neural_run(run_dir: str | Path, device: str = "cpu") -> Run:
    """A run folder (trained or pre-trained) whose model has hidden states;
    a one-line error otherwise."""
    run = load_run(run_dir, device)
    if not isinstance(run.model, SequenceModel):
        raise ChronorecError(
            f"{run_dir}: model '{run.model.name}' has no hidden states to embed with "
            "(use a neural model)"
        )
    return run


def parse_timestamp(value: str | float | datetime) -> int:
    """Unix seconds from unix seconds (number or digits) or ISO-8601
    (a naive time is taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)):
        return int(value)
    else:
        text = value.strip()
        try:
            return int(float(text))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ChronorecError(
                f"cannot read '{value}' as a time: give unix seconds or ISO-8601 (2024-05-01T12:00)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def history_ends(data: SequenceData, as_of: int | None = None) -> np.ndarray:
    """Per user (internal id, index 0 unused),
    the flat index just past their last event before ``as_of``."""
    starts, ends = data.offsets[:-1], data.offsets[1:]
    if as_of is None:
        return ends.copy()
    owner = np.repeat(np.arange(len(starts)), np.diff(data.offsets))
    before = np.bincount(owner[data.timestamps < as_of], minlength=len(starts))
    return starts + before  # events are time-ordered within each user


@torch.inference_mode()
def user_vectors(
    model: SequenceModel,
    data: SequenceData,
    users: np.ndarray,
    ends: np.ndarray,
    *,
    max_len: int,
    query_time: int | None = None,
    batch_size: int = 512,
) -> np.ndarray:
    """Last hidden state ``(U, D)`` float32 after ``data``'s events ``offsets[u]:ends[k]``
    of each user ``users[k]``."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for lo in range(0, len(users), batch_size):
        u, e = users[lo : lo + batch_size], ends[lo : lo + batch_size]
        starts = np.maximum(data.offsets[u], e - max_len)
        items = torch.from_numpy(gather_padded(data.items, starts, e, max_len, np.int64))
        ts = torch.from_numpy(gather_padded(data.timestamps, starts, e, max_len, np.int64))
        ev = None
        if data.event_types is not None:
            ev = torch.from_numpy(gather_padded(data.event_types, starts, e, max_len, np.int64))
        # The moment of prediction: the as-of time when given
        # (time-aware models see the gap), else the last event.
        now = (
            ts[:, -1].clone()
            if query_time is None
            else torch.full((len(u),), int(query_time), dtype=torch.int64)
        )
        batch = model.readable(
            SeqBatch(items, ts, ev, torch.from_numpy(u.astype(np.int64)), now).to(device)
        )
        out.append(model.encode(batch)[:, -1].float().cpu())
    if not out:
        return np.zeros((0, int(model.item_vectors().shape[1])), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


@torch.inference_mode()
def item_vectors(model: SequenceModel) -> np.ndarray:
    """Item vectors ``(I, D)`` float32 in internal id order 1..I (padding row dropped)."""
    return model.item_vectors()[1:].float().cpu().numpy()


def _embedding_column(matrix: np.ndarray) -> pl.Series:
    return pl.Series("embedding", np.ascontiguousarray(matrix, dtype=np.float32)).cast(
        pl.List(pl.Float32)
    )


@dataclass(frozen=True)
class EmbedResult:
    out: Path
    users: int
    items: int
    dim: int
    as_of: int | None


def embed(
    run_dir: str | Path, out: str | Path, *, as_of: str | int | None = None, device: str = "cpu"
) -> EmbedResult:
    """Write ``users.parquet`` (``user_id``, ``embedding``) and ``items.parquet`` (``item_id``,
    ``title``, ``embedding``).

    Each file is written atomically. Users with no event before ``as_of`` have no state and are left
    out; ``embeddings.json`` records the run, the time and the counts.
    """
    run = load_neural_run(run_dir, device)
    config, data = run.config, run.data
    model = cast(SequenceModel, run.model)  # load_neural_run checked it
    moment = None if as_of is None else parse_timestamp(as_of)
    ends = history_ends(data, moment)
    users = np.arange(1, data.num_users + 1)
    users = users[ends[users] > data.offsets[users]]
    user_matrix = user_vectors(
        model, data, users, ends[users], max_len=config.max_len, query_time=moment
    )
    item_matrix = item_vectors(model)
    out = Path(out)
    user_frame = pl.DataFrame(
        [
            pl.Series("user_id", data.user_ids[users].astype(str), dtype=pl.Utf8),
            _embedding_column(user_matrix),
        ]
    )
    titles = [data.title(i) for i in range(1, data.num_items + 1)]
    item_frame = pl.DataFrame(
        [
            pl.Series("item_id", data.item_ids[1:].astype(str), dtype=pl.Utf8),
            pl.Series("title", titles, dtype=pl.Utf8),
            _embedding_column(item_matrix),
        ]
    )
    for name, frame in ((USERS_FILE, user_frame), (ITEMS_FILE, item_frame)):
        with atomic_path(out / name) as tmp:
            frame.write_parquet(tmp)
    dim = int(item_matrix.shape[1])
    write_json(
        out / META_FILE,
        {
            "run_dir": str(Path(run_dir).resolve()),
            "model": model.name,
            "dataset": str(data.path),
            "dim": dim,
            "as_of": moment,
            "users": len(users),
            "items": data.num_items,
            "user_vector": "last hidden state after the history"
            + ("" if moment is None else " before as_of"),
        },
    )
    return EmbedResult(out, len(users), data.num_items, dim, moment)


def read_embeddings(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Ids (first column) and the ``(N, D)`` float32 matrix
    of a ``users.parquet`` / ``items.parquet``."""
    frame = pl.read_parquet(path)
    ids = frame[frame.columns[0]].cast(pl.Utf8).to_list()
    if frame.height == 0:
        return ids, np.zeros((0, 0), dtype=np.float32)
    dim = len(frame["embedding"][0])
    return ids, frame["embedding"].cast(pl.Array(pl.Float32, dim)).to_numpy().astype(np.float32)


@dataclass(frozen=True)
class NearestItem:
    item_id: str
    score: float  # cosine similarity
    title: str | None = None


def nearest_items(
    vectors: np.ndarray | torch.Tensor, item: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Internal ids and cosines of the ``k`` items closest to ``item`` in ``vectors`` (I + 1, D),
    itself excluded."""
    v = torch.nn.functional.normalize(
        torch.as_tensor(vectors).float(), dim=1
    )  # padding row stays zero
    scores = v @ v[item]  # (I + 1,)
    scores[0] = float("-inf")
    scores[item] = float("-inf")
    top = scores.topk(min(k, len(scores) - 2))
    return top.indices.numpy(), top.values.numpy()


@torch.inference_mode()
def nearest(
    run_dir: str | Path, item: str, k: int = 10, *, device: str = "cpu"
) -> list[NearestItem]:
    """The ``k`` items nearest to ``item`` (original id) by cosine
    of the run's item vectors, with titles."""
    run = load_neural_run(run_dir, device)
    model, data = run.model, run.data
    index = data.item_index(item)
    if index is None:
        raise ChronorecError(f"unknown item '{item}' in dataset {data.path}")
    ids, cosines = nearest_items(model.item_vectors().cpu(), index, k)
    return [
        NearestItem(str(data.item_ids[i]), float(s), data.title(int(i)))
        for i, s in zip(ids, cosines)
    ]
