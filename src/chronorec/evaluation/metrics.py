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

from chronorec.errors import ChronorecError

METRICS = ("HR", "NDCG", "MRR", "Recall")


def parse_metric(name: str) -> tuple[str, int]:
    """``"NDCG@10"`` -> ``("NDCG", 10)``; a clear error for anything else."""
    metric, _, k = name.partition("@")
    if metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise ChronorecError(
            f"unknown metric '{name}' "
            f"(use one of {', '.join(METRICS)} with a cut-off, e.g. NDCG@10)"
        )
    return metric, int(k)


@torch.inference_mode()
def per_case_metric(ranks: torch.Tensor, metric: str, k: int) -> torch.Tensor:
    """Each case's ``metric@k`` ``(C,)`` float64 from its target's 0-based rank;
    their mean is the usual figure."""
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
