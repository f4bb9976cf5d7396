"""Padded tensors for training and evaluation.

Convention (see :mod:`chronorec.data.schema`): sequences are left-padded with 0, so column -1 is the
most recent event. Training cuts each user's training prefix into windows of ``max_len`` targets
(stride ``max_len`` by default) so that every event is a target once per epoch, in one pass, without
building one example per prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from chronorec.data.dataset import SequenceData
from chronorec.data.schema import PAD
from chronorec.data.split import EvalCases


@dataclass
class SeqBatch:
    """A batch of left-padded sequences. ``items == 0`` marks padding."""

    items: torch.Tensor  # (B, T) int64
    timestamps: torch.Tensor  # (B, T) int64 unix seconds (0 at padding)
    event_types: torch.Tensor | None = None  # (B, T) int64, 0 at padding
    users: torch.Tensor | None = None  # (B,) int64 internal user ids, where known
    query_time: torch.Tensor | None = None  # (B,) int64: the moment of prediction, where known
    positions: torch.Tensor | None = (
        None  # (N,) flat indices of the non-padding positions, found on the host
    )

    @property
    def mask(self) -> torch.Tensor:
        return self.items != PAD  # (B, T) bool

    def select(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` ``(B, T, ...)`` at the non-padding positions, row-major: ``(N, ...)``.

        Boolean indexing must learn N from the device (a host-device sync); with :attr:`positions`,
        found on the host before the batch moved, it is a plain gather.
        """
        if self.positions is None:
            return values[self.mask]
        return values.flatten(0, 1).index_select(0, self.positions)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SeqBatch:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=non_blocking)

        def move_optional(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else move(t)

        positions = self.positions
        if (
            positions is None
            and self.items.device.type == "cpu"
            and torch.device(device).type == "cuda"
        ):
            positions = self.mask.flatten().nonzero().squeeze(1)
            positions = positions.pin_memory() if non_blocking else positions
        return SeqBatch(
            move(self.items),
            move(self.timestamps),
            move_optional(self.event_types),
            move_optional(self.users),
            move_optional(self.query_time),
            move_optional(positions),
        )

    def __getitem__(self, idx: slice | torch.Tensor) -> SeqBatch:
        def take(t: torch.Tensor) -> torch.Tensor:
            return t[idx]

        def take_optional(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else take(t)

        return SeqBatch(
            take(self.items),
            take(self.timestamps),
            take_optional(self.event_types),
            take_optional(self.users),
            take_optional(self.query_time),
        )


def gather_padded(
    values: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int, dtype: npt.DTypeLike
) -> np.ndarray:
    """Rows ``values[starts[r]:ends[r]]`` (at most ``width``, keeping the last ones),
    left-padded with 0."""
    lengths = np.minimum(ends - starts, width)
    out = np.zeros((len(starts), width), dtype=dtype)
    cols = np.arange(width)
    # Column c of row r holds values[ends[r] - width + c] when that index is inside the row.
    src = ends[:, None] - width + cols[None, :]
    valid = cols[None, :] >= (width - lengths)[:, None]
    out[valid] = values[src[valid]]
    return out


@dataclass(frozen=True)
class TrainWindows:
    """All training windows of a split as one padded matrix: inputs are ``[:, :-1]``,
    targets ``[:, 1:]``."""

    items: torch.Tensor  # (W, L + 1)
    timestamps: torch.Tensor  # (W, L + 1)
    event_types: torch.Tensor | None  # (W, L + 1)
    users: torch.Tensor  # (W,)

    def __len__(self) -> int:
        return self.items.shape[0]

    def subset(self, rows: torch.Tensor) -> TrainWindows:
        """The windows at ``rows``."""
        types = None if self.event_types is None else self.event_types[rows]
        return TrainWindows(self.items[rows], self.timestamps[rows], types, self.users[rows])

    @property
    def num_targets(self) -> int:
        return int(((self.items[:, :-1] != PAD) & (self.items[:, 1:] != PAD)).sum())

    def batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        rank: int = 0,
        world_size: int = 1,
        pin_memory: bool = False,
    ) -> Iterator[tuple[SeqBatch, SeqBatch]]:
        """Yield ``(inputs, targets)`` batches;
        shuffled when a generator is given; rank-sharded for DDP.

        Every tensor is contiguous; with ``pin_memory`` (needs CUDA) it is gathered straight into
        page-locked memory, so ``SeqBatch.to(cuda, non_blocking=True)`` is an asynchronous copy.
        """
        order = (
            torch.randperm(len(self), generator=generator)
            if generator is not None
            else torch.arange(len(self))
        )
        if world_size > 1:
            # Every rank gets the same number of batches (DDP needs it):
            # drop the tail that does not divide.
            per_rank = len(order) // world_size
            order = order[rank * per_rank : (rank + 1) * per_rank]

        def rows(source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            # Gathering into a contiguous buffer: a strided view (e.g. [:, :-1]) would be copied to
            # pageable memory first on its way to the GPU, and that copy blocks the host.
            out = torch.empty(
                (len(idx), *source.shape[1:]), dtype=source.dtype, pin_memory=pin_memory
            )
            return torch.index_select(source, 0, idx, out=out)

        ev = self.event_types
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            items = rows(self.items[:, :-1], idx)
            # The first real event of a window has no input before it: it is not a target.
            target_items = rows(self.items[:, 1:], idx).mul_(items != PAD)
            inputs = SeqBatch(
                items,
                rows(self.timestamps[:, :-1], idx),
                None if ev is None else rows(ev[:, :-1], idx),
                rows(self.users, idx),
                rows(self.timestamps[:, -2], idx),
            )
            targets = SeqBatch(
                target_items,
                rows(self.timestamps[:, 1:], idx),
                None if ev is None else rows(ev[:, 1:], idx),
            )
            yield inputs, targets


def focus_on_new(
    windows: TrainWindows, since: int, old_per_new: float, seed: int = 0
) -> TrainWindows:
    """The windows whose last target is at or after ``since`` (unix seconds), plus ``old_per_new``
    times as many of the others drawn at random (a fixed draw for the seed).

    What a refresh trains on: the new events, and enough of the old ones that the model keeps
    what it knew (experience replay), at a fraction of an epoch over everything.
    """
    is_new = windows.timestamps[:, -1] >= since
    new, old = torch.nonzero(is_new).flatten(), torch.nonzero(~is_new).flatten()
    generator = torch.Generator().manual_seed(seed)
    count = min(len(old), round(old_per_new * len(new)))
    drawn = old[torch.randperm(len(old), generator=generator)[:count]]
    return windows.subset(torch.sort(torch.cat([new, drawn])).values)


def train_windows(
    data: SequenceData, train_end: np.ndarray, max_len: int, stride: int | None = None
) -> TrainWindows:
    """Cut each user's training prefix into windows of up to ``max_len`` targets, newest first.

    A window is ``max_len + 1`` events: ``max_len`` inputs each predicting the next one. Consecutive
    windows overlap by one event so that, with the default stride,
    each event is a target exactly once.
    """
    stride = stride or max_len
    starts = data.offsets[:-1]
    win_users, win_ends = [], []
    for u in range(1, len(starts)):
        lo, end = starts[u], train_end[u]
        while end - lo >= 2:  # at least one (input, target) pair
            win_users.append(u)
            win_ends.append(end)
            end -= stride
    users = np.asarray(win_users, dtype=np.int64)
    ends = np.asarray(win_ends, dtype=np.int64)
    lo = np.maximum(starts[users], ends - (max_len + 1))
    width = max_len + 1
    items = gather_padded(data.items, lo, ends, width, np.int64)
    ts = gather_padded(data.timestamps, lo, ends, width, np.int64)
    ev = (
        None
        if data.event_types is None
        else gather_padded(data.event_types, lo, ends, width, np.int64)
    )
    return TrainWindows(
        torch.from_numpy(items),
        torch.from_numpy(ts),
        None if ev is None else torch.from_numpy(ev),
        torch.from_numpy(users),
    )


def eval_batch(data: SequenceData, cases: EvalCases, max_len: int) -> tuple[SeqBatch, torch.Tensor]:
    """Histories (last ``max_len`` events before each target) and the target items
    of evaluation cases."""
    starts = data.offsets[cases.users]
    ends = cases.targets
    lo = np.maximum(starts, ends - max_len)
    items = torch.from_numpy(gather_padded(data.items, lo, ends, max_len, np.int64))
    ts = torch.from_numpy(gather_padded(data.timestamps, lo, ends, max_len, np.int64))
    ev = None
    if data.event_types is not None:
        ev = torch.from_numpy(gather_padded(data.event_types, lo, ends, max_len, np.int64))
    # Offline, the moment of prediction is the last known event's time.
    query_time = ts[:, -1].clone()
    batch = SeqBatch(items, ts, ev, torch.from_numpy(cases.users.astype(np.int64)), query_time)
    return batch, torch.from_numpy(data.items[cases.targets].astype(np.int64))


def seen_items(data: SequenceData, users: np.ndarray, ends: np.ndarray) -> torch.Tensor:
    """Every item of each user's history before ``ends`` (flat event indices),
    left-padded ``(B, L)``.

    The whole history, not only the last ``max_len`` events a model reads: what "already seen" means
    when seen items are excluded from recommendations.
    """
    starts = data.offsets[users]
    width = max(1, int((ends - starts).max())) if len(users) else 1
    return torch.from_numpy(gather_padded(data.items, starts, ends, width, np.int64))


def drop_items(batch: SeqBatch, keep: torch.Tensor) -> SeqBatch:
    """``batch`` without the events whose item has ``keep[item]`` False, each row left-padded again.

    The moment of prediction stays that of the latest event, dropped or not: the user did act then.
    """
    kept = keep[batch.items] & (batch.items != PAD)  # (B, T)
    if bool((kept == (batch.items != PAD)).all()):
        return batch
    # A stable sort on the flag moves the dropped and padding columns
    # to the left, in order otherwise.
    order = torch.sort(kept.to(torch.int8), dim=1, stable=True).indices
    padding = torch.arange(kept.shape[1], device=kept.device)[None] < (~kept).sum(1, keepdim=True)

    def compact(values: torch.Tensor) -> torch.Tensor:
        return values.gather(1, order).masked_fill_(padding, 0)

    query_time = (
        batch.query_time if batch.query_time is not None else batch.timestamps[:, -1].clone()
    )
    return SeqBatch(
        compact(batch.items),
        compact(batch.timestamps),
        None if batch.event_types is None else compact(batch.event_types),
        batch.users,
        query_time,
    )


def user_batch(data: SequenceData, users: list[int], max_len: int) -> SeqBatch:
    """Each user's whole recorded history (its last ``max_len`` events), left-padded: what
    recommendations for a known user start from."""
    rows = [(int(data.offsets[u]), int(data.offsets[u + 1])) for u in users]
    events = (
        None if data.event_types is None else [data.event_types[lo:hi].tolist() for lo, hi in rows]
    )
    items = [data.items[lo:hi].tolist() for lo, hi in rows]
    return history_batch(
        items, [data.timestamps[lo:hi].tolist() for lo, hi in rows], events, max_len
    )


def history_batch(
    item_rows: list[list[int]],
    time_rows: list[list[int]],
    event_rows: list[list[int]] | None,
    max_len: int,
) -> SeqBatch:
    """Left-padded batch from explicit per-row histories (used when serving and recommending)."""
    n = len(item_rows)
    items = torch.zeros((n, max_len), dtype=torch.int64)
    ts = torch.zeros((n, max_len), dtype=torch.int64)
    ev = torch.zeros((n, max_len), dtype=torch.int64) if event_rows is not None else None
    for r in range(n):
        row = item_rows[r][-max_len:]
        if not row:
            continue
        items[r, -len(row) :] = torch.as_tensor(row)
        ts[r, -len(row) :] = torch.as_tensor(time_rows[r][-max_len:])
        if ev is not None and event_rows is not None:
            ev[r, -len(row) :] = torch.as_tensor(event_rows[r][-max_len:])
    return SeqBatch(items, ts, ev, None, ts[:, -1].clone())
