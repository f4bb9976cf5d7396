"""Augmentations and cloze masking: shapes, left padding, and nothing but the row's own items in
its views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronorec.data.batches import SeqBatch
from chronorec.pretrain.augment import (
    AugmentConfig,
    cloze_mask,
    crop,
    lengths,
    mask,
    random_view,
    reorder,
)

MASK = 1000


def _batch(seed: int, B: int = 16, T: int = 12) -> SeqBatch:
    """Left-padded rows of 1..T distinct-ish items with increasing times; every row has at least 2
    events."""
    rng = np.random.default_rng(seed)
    items = np.zeros((B, T), dtype=np.int64)
    ts = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        n = int(rng.integers(2, T + 1))
        items[b, T - n :] = rng.integers(1, 50, n)
        ts[b, T - n :] = np.cumsum(rng.integers(1, 100, n)) + 1_000
    items_t, ts_t = torch.from_numpy(items), torch.from_numpy(ts)
    return SeqBatch(items_t, ts_t, None, torch.arange(B), ts_t[:, -1].clone())


def _rows(t: torch.Tensor) -> list[list[int]]:
    return [[int(x) for x in row if x != 0] for row in t]


def _left_padded(items: torch.Tensor) -> bool:
    real = items != 0
    n = real.sum(1)
    expected = torch.arange(items.shape[1])[None] >= (items.shape[1] - n)[:, None]
    return bool((real == expected).all())


@pytest.mark.parametrize("seed", range(5))
def test_crop_keeps_one_contiguous_run_left_padded(seed):
    batch = _batch(seed)
    g = torch.Generator().manual_seed(seed)
    out = crop(batch, 0.6, g)
    assert _left_padded(out.items)
    for src, dst, src_ts, dst_ts in zip(
        _rows(batch.items), _rows(out.items), _rows(batch.timestamps), _rows(out.timestamps)
    ):
        assert len(dst) == max(1, int(0.6 * len(src)))
        starts = [
            s
            for s in range(len(src) - len(dst) + 1)
            if src[s : s + len(dst)] == dst and src_ts[s : s + len(dst)] == dst_ts
        ]
        assert starts, (src, dst)
    assert torch.equal(out.query_time, out.timestamps[:, -1])


@pytest.mark.parametrize("seed", range(5))
def test_mask_hides_a_fixed_share_and_nothing_else(seed):
    batch = _batch(seed)
    out = mask(batch, 0.3, MASK, torch.Generator().manual_seed(seed))
    n = lengths(batch.items)
    hidden = out.items == MASK
    assert torch.equal(hidden.sum(1), torch.minimum((0.3 * n).floor().long(), n - 1))
    assert not (hidden & (batch.items == 0)).any()
    assert torch.equal(out.items[~hidden], batch.items[~hidden])
    assert torch.equal(out.timestamps, batch.timestamps)


@pytest.mark.parametrize("seed", range(5))
def test_reorder_permutes_one_run_and_keeps_times_in_place(seed):
    batch = _batch(seed)
    out = reorder(batch, 0.5, torch.Generator().manual_seed(seed))
    assert torch.equal(out.timestamps, batch.timestamps)
    assert _left_padded(out.items)
    for src, dst in zip(_rows(batch.items), _rows(out.items)):
        assert sorted(src) == sorted(dst)
        changed = [k for k in range(len(src)) if src[k] != dst[k]]
        if changed:  # all changes inside one run no longer than the reordered share
            assert changed[-1] - changed[0] + 1 <= int(0.5 * len(src))


@pytest.mark.parametrize("seed", range(10))
def test_views_are_built_from_their_own_sequence_only(seed):
    batch = _batch(seed)
    view = random_view(batch, AugmentConfig(), MASK, torch.Generator().manual_seed(seed))
    assert _left_padded(view.items)
    for src, dst in zip(_rows(batch.items), _rows(view.items)):
        real = [x for x in dst if x != MASK]
        assert real and all(real.count(x) <= src.count(x) for x in set(real))
    # Changing another row never changes this row's view (same random draws).
    other = SeqBatch(batch.items.clone(), batch.timestamps, None, batch.users, batch.query_time)
    other.items[1:] = torch.where(other.items[1:] > 0, other.items[1:] + 100, 0)
    view2 = random_view(other, AugmentConfig(), MASK, torch.Generator().manual_seed(seed))
    assert torch.equal(view.items[0], view2.items[0])


@pytest.mark.parametrize("seed", range(10))
def test_cloze_masking_never_leaves_a_target_visible(seed):
    batch = _batch(seed)
    masked, targets = cloze_mask(batch.items, 0.3, MASK, torch.Generator().manual_seed(seed))
    real = batch.items != 0
    first = real & (real.cumsum(1) == 1)
    assert not (targets & ~real).any() and not (targets & first).any()
    assert targets.any(1).all()  # every row (>= 2 events) trains
    assert (masked[targets] == MASK).all()
    assert torch.equal(masked[~targets], batch.items[~targets])
    # The inputs a target is predicted from (columns < its own) never hold it at its own position,
    # and the masked sequence does not depend on what the targets were.
    changed = torch.where(targets, batch.items + 7, batch.items)
    masked2, targets2 = cloze_mask(changed, 0.3, MASK, torch.Generator().manual_seed(seed))
    assert torch.equal(targets, targets2) and torch.equal(masked, masked2)
