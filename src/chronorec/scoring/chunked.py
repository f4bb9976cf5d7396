"""Full ranking over catalogues too large to score in one block.

Items are scored in chunks; each chunk updates a running top-K and the count of items scoring at
least as high as the target, so memory is ``users x chunk`` whatever the catalogue size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from chronorec.data.schema import PAD
from chronorec.models.base import distinct_history, score_queries


@torch.inference_mode()
def chunked_rank_topk(
    queries: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor | None,
    k: int,
    *,
    chunk: int = 65_536,
    history: torch.Tensor | None = None,
    bias: torch.Tensor | float | None = None,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Pessimistic target ranks and the top-``k`` items, chunk by chunk, of the scores that
    :func:`~chronorec.models.base.score_queries` gives over the whole catalogue at once.

    Args:
        queries: ``(B, D)`` (or ``(B, K, D)``) query vectors.
        item_vectors: ``(I + 1, D)``; row 0 is padding and never ranked.
        targets: ``(B,)`` item ids to rank, or None for top-K only.
        k: how many items to return per row.
        chunk: items scored at once.
        history: ``(B, T)`` history items per row (0 = none) that get ``bias``.
        bias: added once to the score of each history item.
        exclude: ``(B, L)`` items per row (0 = none) that never rank.

    Returns:
        ``(ranks (B,) or None, top_scores (B, k), top_items (B, k))``; a rank counts every other
        item scoring at least as high as the target, so ties go against it.
    """
    B, num_rows = queries.shape[0], item_vectors.shape[0]
    k = min(k, num_rows - 1)
    history = None if history is None or bias is None else distinct_history(history)
    target_scores = None
    if targets is not None:
        target_scores = _target_scores(queries, item_vectors, targets, history, bias, exclude)
    above = torch.zeros(B, dtype=torch.int64, device=queries.device)
    top_scores = torch.full((B, 0), float("-inf"), device=queries.device)
    top_items = torch.zeros((B, 0), dtype=torch.int64, device=queries.device)
    for lo in range(0, num_rows, chunk):
        hi = min(lo + chunk, num_rows)
        scores = score_queries(queries, item_vectors[lo:hi]).float()  # (B, C)
        if lo == 0:
            scores[:, PAD] = float("-inf")
        if history is not None and bias is not None:
            _edit_at(scores, history, lo, hi, lambda s: s + torch.as_tensor(bias).float())
        if exclude is not None:
            _edit_at(scores, exclude, lo, hi, lambda s: torch.full_like(s, float("-inf")))
        if target_scores is not None and targets is not None:
            above += _count_above(scores, targets, target_scores, lo, hi)
        chunk_scores, chunk_idx = scores.topk(min(k, hi - lo), dim=1)
        merged = torch.cat([top_scores, chunk_scores], 1)
        top_scores, order = merged.topk(min(k, merged.shape[1]), dim=1)
        top_items = torch.cat([top_items, chunk_idx + lo], 1).gather(1, order)
    return (above if targets is not None else None), top_scores, top_items


def _edit_at(scores: torch.Tensor, items: torch.Tensor, lo: int, hi: int, edit: Callable) -> None:
    """Apply ``edit`` to ``scores[b, item - lo]`` for each non-padding item
    of row b inside ``[lo, hi)``."""
    inside = (items >= lo) & (items < hi) & (items != PAD)
    rows, cols = inside.nonzero(as_tuple=True)
    idx = items[rows, cols] - lo
    scores[rows, idx] = edit(scores[rows, idx])


def _target_scores(
    queries: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    history: torch.Tensor | None,
    bias: torch.Tensor | float | None,
    exclude: torch.Tensor | None,
) -> torch.Tensor:
    """Each row's score ``(B,)`` for its own target,
    with the same bias and exclusions as the chunks."""
    vectors = item_vectors[targets]  # (B, D)
    if queries.dim() == 3:
        scores = (queries * vectors[:, None]).sum(-1).amax(1)  # (B,): the best of the K queries
    else:
        scores = (queries * vectors).sum(-1)  # (B,)
    scores = scores.float()
    if history is not None and bias is not None:
        scores = scores + torch.as_tensor(bias).float() * (history == targets[:, None]).any(1)
    if exclude is not None:
        scores = scores.masked_fill((exclude == targets[:, None]).any(1), float("-inf"))
    return scores


def _count_above(
    scores: torch.Tensor, targets: torch.Tensor, target_scores: torch.Tensor, lo: int, hi: int
) -> torch.Tensor:
    """Items of the chunk scoring at least the target's score,
    the target itself and padding aside."""
    others = scores.clone()
    rows = ((targets >= lo) & (targets < hi)).nonzero(as_tuple=True)[0]
    others[rows, targets[rows] - lo] = float(
        "nan"
    )  # NaN >= x is False: the target never counts itself,
    if lo == 0:
        others[:, PAD] = float("nan")  # nor does padding
    return (others >= target_scores[:, None]).sum(1)
