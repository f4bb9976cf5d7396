"""Training losses as named functions of hidden states, output embeddings and targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def full_softmax_loss(
    hidden: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    logit_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy over the whole catalogue.

    Args:
        hidden: ``(N, D)`` hidden states at the target positions (padding already removed).
        item_vectors: ``(I + 1, D)``; row 0 is padding and is never a valid answer.
        targets: ``(N,)`` item ids in ``1..I``.
        logit_bias: optional ``(N, I + 1)`` added to the logits (e.g. a learned repeat bias).
    """
    logits = hidden @ item_vectors.T  # (N, I + 1)
    if logit_bias is not None:
        logits = logits + logit_bias
    logits[:, 0] = float("-inf")
    return F.cross_entropy(logits.float(), targets)
