"""Full ranking for dot-product models over catalogues too large to score in one block.

Items are scored in chunks; each chunk updates a running top-K and the count of items scoring at
least as high as the target, so memory is ``users x chunk`` whatever the catalogue size.
"""

from __future__ import annotations

import torch

from chronorec.data.schema import PAD


@torch.inference_mode()
def chunked_rank_topk(
    hidden: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor | None,
    k: int,
    *,
    chunk: int = 65_536,
    history: torch.Tensor | None = None,
    repeat_bias: float | None = None,
    exclude_seen: bool = False,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Pessimistic target ranks and the top-``k`` items of ``hidden @ item_vectors.T``, chunk by chunk.

    Args:
        hidden: ``(B, D)`` query vectors.
        item_vectors: ``(I + 1, D)``; row 0 is padding and never ranked.
        targets: ``(B,)`` item ids to rank, or None for top-K only.
        k: how many items to return per row.
        chunk: items scored at once.
        history: ``(B, T)`` distinct history items per row (0 = none), for ``repeat_bias``/``exclude_seen``.
        repeat_bias: added to the scores of history items.
        exclude_seen: history items score ``-inf``.

    Returns:
        ``(ranks (B,) or None, top_scores (B, k), top_items (B, k))``; a rank counts every other item
        scoring at least as high as the target, so ties go against it.
    """
    B, num_rows = hidden.shape[0], item_vectors.shape[0]
    k = min(k, num_rows - 1)
    target_scores = None
    if targets is not None:
        target_scores = (hidden * item_vectors[targets]).sum(-1)  # (B,)
        target_scores = _adjust_targets(target_scores, targets, history, repeat_bias, exclude_seen)
    above = torch.zeros(B, dtype=torch.int64, device=hidden.device)
    top_scores = torch.full((B, 0), float("-inf"), device=hidden.device)
    top_items = torch.zeros((B, 0), dtype=torch.int64, device=hidden.device)
    for lo in range(0, num_rows, chunk):
        hi = min(lo + chunk, num_rows)
        scores = (hidden @ item_vectors[lo:hi].T).float()  # (B, C)
        if lo == 0:
            scores[:, PAD] = float("-inf")
        if history is not None and (repeat_bias is not None or exclude_seen):
            _adjust_history(scores, history, lo, hi, repeat_bias, exclude_seen)
        if target_scores is not None and targets is not None:
            inside = (targets >= lo) & (targets < hi)
            others = scores.clone()
            rows = inside.nonzero(as_tuple=True)[0]
            others[rows, targets[rows] - lo] = float("nan")  # NaN >= x is False: the target never counts itself,
            if lo == 0:
                others[:, PAD] = float("nan")  # nor does padding
            above += (others >= target_scores[:, None]).sum(1)
        chunk_scores, chunk_idx = scores.topk(min(k, hi - lo), dim=1)
        top_scores, order = torch.cat([top_scores, chunk_scores], 1).topk(min(k, top_scores.shape[1] + hi - lo), dim=1)
        top_items = torch.cat([top_items, chunk_idx + lo], 1).gather(1, order)
    return (above if targets is not None else None), top_scores, top_items


def _adjust_history(
    scores: torch.Tensor, history: torch.Tensor, lo: int, hi: int, repeat_bias: float | None, exclude_seen: bool
) -> None:
    inside = (history >= lo) & (history < hi) & (history != PAD)
    rows, cols = inside.nonzero(as_tuple=True)
    idx = history[rows, cols] - lo
    if exclude_seen:
        scores[rows, idx] = float("-inf")
    elif repeat_bias is not None:
        scores[rows, idx] += repeat_bias  # history is distinct per row, so each item once


def _adjust_targets(
    scores: torch.Tensor, targets: torch.Tensor, history: torch.Tensor | None, repeat_bias: float | None, exclude_seen: bool
) -> torch.Tensor:
    if history is None:
        return scores
    seen = (history == targets[:, None]).any(1)
    if exclude_seen:
        return scores.masked_fill(seen, float("-inf"))
    if repeat_bias is not None:
        return scores + repeat_bias * seen
    return scores
