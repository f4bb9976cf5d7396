"""Sequence augmentations and masking for self-supervised pre-training, on left-padded batches.

Every function works row by row on ``(B, T)`` tensors (0 = padding, column -1 = latest event) and
returns tensors of the same shape, still left-padded. A row's output is built from that row alone
and from random numbers, so the views of a sequence never carry another sequence's items.

The crop / mask / reorder operators follow CL4SRec (Xie et al., 2022). Masked positions hold
``mask_id`` (``num_items + 1``, an id no real item has);
:class:`~chronorec.pretrain.objectives.MaskToken` turns it into a learned vector inside the model's
item embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.schema import PAD


def lengths(items: torch.Tensor) -> torch.Tensor:
    """Real events per row ``(B,)``."""
    return (items != PAD).sum(dim=1)


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator)


def repad(keep: torch.Tensor, *values: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Keep the entries where ``keep`` (B, T) is true, in order, pushed to the right; zeros
    elsewhere."""
    # A stable sort on the keep flag moves dropped entries first and keeps both groups in order.
    order = torch.argsort(keep.to(torch.int8), dim=1, stable=True)  # (B, T)
    kept = keep.gather(1, order)
    return tuple(None if v is None else v.gather(1, order) * kept for v in values)


def crop(batch: SeqBatch, ratio: float, generator: torch.Generator | None = None) -> SeqBatch:
    """A random contiguous run of ``max(1, floor(ratio * n))`` events of each row (items, times
    and types)."""
    items = batch.items
    B, T = items.shape
    n = lengths(items)
    keep_n = torch.clamp((ratio * n).floor().long(), min=1)
    keep_n = torch.minimum(keep_n, n)
    start = ((n - keep_n + 1) * _uniform((B,), generator)).floor().long()  # 0 .. n - keep_n
    first = T - n + start  # (B,) column of the first kept event
    cols = torch.arange(T)[None]
    keep = (cols >= first[:, None]) & (cols < (first + keep_n)[:, None]) & (items != PAD)
    new_items, ts, ev = repad(keep, items, batch.timestamps, batch.event_types)
    assert new_items is not None and ts is not None
    return SeqBatch(new_items, ts, ev, batch.users, ts[:, -1].clone())


def mask(
    batch: SeqBatch, ratio: float, mask_id: int, generator: torch.Generator | None = None
) -> SeqBatch:
    """Replace ``floor(ratio * n)`` randomly chosen events of each row by ``mask_id`` (times and
    types stay)."""
    items = batch.items
    n = lengths(items)
    count = torch.minimum((ratio * n).floor().long(), (n - 1).clamp(min=0))  # never the whole row
    scores = _uniform(tuple(items.shape), generator)
    scores = scores.masked_fill(items == PAD, 2.0)  # padding sorts last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, T): rank of each position's random score
    chosen = rank < count[:, None]
    return SeqBatch(
        items.masked_fill(chosen, mask_id),
        batch.timestamps,
        batch.event_types,
        batch.users,
        batch.query_time,
    )


def reorder(batch: SeqBatch, ratio: float, generator: torch.Generator | None = None) -> SeqBatch:
    """Shuffle a random contiguous run of ``floor(ratio * n)`` events of each row.

    Items and event types move; timestamps stay in place, so times still increase along the row and
    time-aware models see a plausible (if reordered) history.
    """
    items = batch.items
    B, T = items.shape
    n = lengths(items)
    seg = (ratio * n).floor().long()
    start = T - n + ((n - seg + 1) * _uniform((B,), generator)).floor().long()
    cols = torch.arange(T)[None].expand(B, T)
    inside = (cols >= start[:, None]) & (cols < (start + seg)[:, None])
    # Sort keys: a position outside the run keeps its own index; inside, a random key within
    # (start - 0.5, start + seg - 0.5), so sorting permutes the run and leaves the rest in place.
    noise = start[:, None] - 0.5 + _uniform((B, T), generator) * seg[:, None]
    order = torch.where(inside, noise, cols.to(noise.dtype)).argsort(dim=1)  # (B, T)
    ev = None if batch.event_types is None else batch.event_types.gather(1, order)
    return SeqBatch(items.gather(1, order), batch.timestamps, ev, batch.users, batch.query_time)


@dataclass(frozen=True)
class AugmentConfig:
    """CL4SRec's settings: crop keeps ``crop`` of the events, mask hides ``mask``, reorder
    shuffles ``reorder``."""

    crop: float = 0.6
    mask: float = 0.3
    reorder: float = 0.3


def random_view(
    batch: SeqBatch, config: AugmentConfig, mask_id: int, generator: torch.Generator | None = None
) -> SeqBatch:
    """One augmented view per row: crop, mask or reorder, chosen uniformly for each row."""
    views = [
        crop(batch, config.crop, generator),
        mask(batch, config.mask, mask_id, generator),
        reorder(batch, config.reorder, generator),
    ]
    pick = torch.randint(0, 3, (batch.items.shape[0],), generator=generator)  # (B,)

    def choose(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
        if tensors[0] is None:
            return None
        out = tensors[0].clone()
        for k in (1, 2):
            t = tensors[k]
            assert t is not None
            out[pick == k] = t[pick == k]
        return out

    items = choose([v.items for v in views])
    ts = choose([v.timestamps for v in views])
    query = choose([v.query_time for v in views]) if batch.query_time is not None else None
    assert items is not None and ts is not None
    return SeqBatch(items, ts, choose([v.event_types for v in views]), batch.users, query)


def cloze_mask(
    items: torch.Tensor, prob: float, mask_id: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose cloze targets and hide them: ``(masked items (B, T), targets (B, T) bool)``.

    Each real event but the row's first is a target with probability ``prob`` (the first has no
    earlier position to be predicted from); a row that drew none gets its latest event, so every row
    with two events or more trains. Every target position holds ``mask_id`` in the masked items.
    """
    real = items != PAD
    first = real & (real.cumsum(dim=1) == 1)  # (B, T): each row's first real event
    candidate = real & ~first
    chosen = candidate & (_uniform(tuple(items.shape), generator) < prob)
    empty = ~chosen.any(dim=1) & candidate[:, -1]
    chosen[:, -1] |= empty
    return items.masked_fill(chosen, mask_id), chosen
