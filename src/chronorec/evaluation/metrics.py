"""Ranking metrics as pure tensor functions of the target's 0-based rank among all items.

With one target per case, rank ``r`` (0 = top) gives, for a cut-off ``K``:

- ``HR@K = 1[r < K]`` and ``Recall@K = 1[r < K]`` (one relevant item, so they coincide),
- ``NDCG@K = 1[r < K] / log2(r + 2)``,
- ``MRR@K = 1[r < K] / (r + 1)``,

each averaged over cases. ``Coverage@K`` is the share of the catalogue that appears in at least one
top-K list.
"""

from __future__ import annotations

import torch

from chronorec.data.schema import PAD
from chronorec.errors import ChronorecError


@torch.inference_mode()
def pessimistic_rank(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target when ties are broken against it.

    Every other item with a score greater than *or equal to* the target's is ranked above it, so a
    scorer that gives every item the same score ranks each target last.

    Args:
        scores: ``(B, I + 1)`` scores; column 0 (padding) must already be ``-inf``.
        targets: ``(B,)`` internal item ids.

    Returns:
        ``(B,)`` int64 ranks.
    """
    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    at_or_above = (scores[:, 1:] >= target_scores).sum(dim=1)  # real items only; counts the target itself
    return at_or_above - 1


METRICS = ("HR", "NDCG", "MRR", "Recall")


def parse_metric(name: str) -> tuple[str, int]:
    """``"NDCG@10"`` -> ``("NDCG", 10)``; a clear error for anything else."""
    metric, _, k = name.partition("@")
    if metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise ChronorecError(f"unknown metric '{name}' (use one of {', '.join(METRICS)} with a cut-off, e.g. NDCG@10)")
    return metric, int(k)


@torch.inference_mode()
def per_case_metric(ranks: torch.Tensor, metric: str, k: int) -> torch.Tensor:
    """Each case's ``metric@k`` ``(C,)`` float64 from its target's 0-based rank; their mean is the usual figure."""
    ranks = ranks.to(torch.float64)
    hit = ranks < k
    if metric in ("HR", "Recall"):  # one relevant item per case, so the two coincide
        return hit.to(torch.float64)
    if metric == "NDCG":
        return torch.where(hit, 1.0 / torch.log2(ranks + 2.0), 0.0)
    if metric == "MRR":
        return torch.where(hit, 1.0 / (ranks + 1.0), 0.0)
    raise ChronorecError(f"unknown metric '{metric}' (choose {', '.join(METRICS)})")


@torch.inference_mode()
def metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
    """HR, NDCG, MRR and Recall at every ``K`` in ``ks``, averaged over cases."""
    return {f"{m}@{k}": per_case_metric(ranks, m, k).mean().item() for k in ks for m in METRICS}


@torch.inference_mode()
def mask_padding_and_seen(scores: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
    """Set the padding column, and the items in ``history`` when given, to ``-inf`` (in place)."""
    scores[:, PAD] = float("-inf")
    if history is not None:
        scores.scatter_(1, history, float("-inf"))
        scores[:, PAD] = float("-inf")
    return scores
