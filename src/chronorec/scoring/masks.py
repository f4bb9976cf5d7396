"""The rules every ranking shares: padding never ranks, excluded items never rank,
ties count against a target."""

from __future__ import annotations

import torch

from chronorec.data.schema import PAD


@torch.inference_mode()
def mask_padding_and_seen(scores: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
    """Set the padding column, and the items of ``exclude`` ``(B, L)`` when given,
    to ``-inf`` (in place)."""
    if exclude is not None:
        scores.scatter_(1, exclude, float("-inf"))
    scores[:, PAD] = float("-inf")
    return scores


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
    at_or_above = (scores[:, 1:] >= target_scores).sum(
        dim=1
    )  # real items only; counts the target itself
    return at_or_above - 1
