"""Training losses as named functions of hidden states, output embeddings and targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def full_softmax_loss(
    hidden: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    repeat_bias: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Cross-entropy over the whole catalogue.

    Args:
        hidden: ``(N, D)`` hidden states at the target positions (padding already removed).
        item_vectors: ``(I + 1, D)``; row 0 is padding and is never a valid answer.
        targets: ``(N,)`` item ids in ``1..I``.
        repeat_bias: optional ``(history (N, T), bias)``: ``bias`` is added to the logits of each row's
            distinct history items (see :func:`add_repeat_bias`).
    """
    logits = hidden @ item_vectors.T  # (N, I + 1)
    if repeat_bias is not None:
        logits = add_repeat_bias(logits, *repeat_bias)
    logits[:, 0] = float("-inf")
    return F.cross_entropy(logits.float(), targets)


def add_repeat_bias(logits: torch.Tensor, history: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Add ``bias`` to ``logits[n, history[n, s]]`` for every distinct item of each row (column 0 is padding).

    Gather/scatter over the history touches ``T`` entries per row instead of building an ``(N, I)`` mask.
    """
    return logits.scatter(1, history, logits.gather(1, history) + bias)
