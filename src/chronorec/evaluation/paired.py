"""Paired comparison of two models on the same evaluation cases,
with a bootstrap confidence interval.

Two leaderboard means that differ by a few percent say little on a thousand users: one NDCG@10
figure on MovieLens-100K has a standard error near .007. Comparing the models case by case removes
the spread between users that both share, and resampling the cases gives an interval for the
difference of means.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chronorec.errors import ChronorecError


@dataclass(frozen=True)
class PairedComparison:
    """``candidate`` against ``baseline`` on the same cases:
    difference of means and its bootstrap interval."""

    metric: str
    cases: int
    baseline_mean: float
    candidate_mean: float
    difference: float  # candidate - baseline
    ci_low: float
    ci_high: float
    confidence: float
    better: int  # cases where the candidate scores higher
    worse: int  # cases where it scores lower

    @property
    def relative(self) -> float:
        """Difference as a fraction of the baseline mean (``nan`` when the baseline mean is 0)."""
        return self.difference / self.baseline_mean if self.baseline_mean else float("nan")

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def paired_bootstrap(
    baseline: torch.Tensor,
    candidate: torch.Tensor,
    *,
    metric: str = "",
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare per-case values ``(C,)`` of two models on the same cases (same order).

    The interval is the percentile bootstrap of the mean difference: cases are drawn with
    replacement ``resamples`` times, and the same draw is used for both models
    (that is the pairing).
    """
    if baseline.shape != candidate.shape or baseline.dim() != 1:
        raise ChronorecError(
            "paired comparison needs two equal-length case vectors, "
            f"got {tuple(baseline.shape)} and {tuple(candidate.shape)}"
        )
    if resamples < 1:
        raise ChronorecError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ChronorecError(f"confidence must be between 0 and 1, got {confidence}")
    n = baseline.numel()
    if n == 0:
        raise ChronorecError("paired comparison needs at least one case")
    diff = candidate.to(torch.float64) - baseline.to(torch.float64)  # (C,)
    generator = torch.Generator().manual_seed(seed)
    means = torch.empty(resamples, dtype=torch.float64)
    # Resample in blocks so that (block, C) indices stay small for large evaluation sets.
    block = max(1, 2**22 // n)
    for lo in range(0, resamples, block):
        hi = min(lo + block, resamples)
        idx = torch.randint(n, (hi - lo, n), generator=generator)
        means[lo:hi] = diff[idx].mean(dim=1)
    tail = (1 - confidence) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return PairedComparison(
        metric=metric,
        cases=n,
        baseline_mean=baseline.double().mean().item(),
        candidate_mean=candidate.double().mean().item(),
        difference=diff.mean().item(),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        better=int((diff > 0).sum()),
        worse=int((diff < 0).sum()),
    )
