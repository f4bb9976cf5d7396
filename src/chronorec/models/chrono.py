"""``chrono``: a time-aware causal Transformer.

SASRec's pre-norm causal Transformer plus (a) a learned per-head attention bias from the time gap
between the query event and each key event, bucketed on a log2 scale, (b) event-type embeddings when
the data has them, and (c) named sizes (``tiny`` ... ``large``) with explicit overrides. With
``time_bias=False`` it is SASRec plus event types, for ablations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel
from chronorec.models.layers import TransformerTrunk, causal_padding_mask, check_block
from chronorec.models.parts import NO_PARTS, ModelParts

SIZES: dict[str, tuple[int, int, int]] = {  # name -> (layers, dim, heads)
    "tiny": (1, 32, 1),
    "small": (2, 64, 2),
    "base": (4, 128, 4),
    "large": (8, 256, 8),
}


@dataclass(frozen=True)
class ChronoConfig:
    size: str = "small"  # one of SIZES
    layers: int = 0  # 0: from size
    dim: int = 0  # 0: from size
    heads: int = 0  # 0: from size
    dropout: float = 0.2
    ffn_mult: int = 4
    block: str = "prenorm"  # prenorm | ligr (gated residual branches, as in eSASRec)
    time_bias: bool = True  # False: plain causal mask (ablation)
    repeat_bias: bool = True  # learn a score offset for items already in the history
    # Bucket 0 is a gap under 1 s, bucket b covers [2^(b-1), 2^b) s; 27 buckets put the last
    # boundary at 2^25 s (~1.06 years), and longer gaps share the last bucket.
    num_time_buckets: int = 27

    def __post_init__(self) -> None:
        check_block(self.block)
        if self.size not in SIZES:
            raise ChronorecError(f"unknown chrono size '{self.size}' (choose {', '.join(SIZES)})")
        if self.num_time_buckets < 2:
            raise ChronorecError(
                f"chrono num_time_buckets must be >= 2, got {self.num_time_buckets}"
            )
        layers, dim, heads = self.shape
        if min(layers, dim, heads) < 1 or dim % heads:
            raise ChronorecError(
                f"chrono needs layers, dim, heads >= 1, dim divisible by heads; got {self.shape}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(layers, dim, heads)`` after applying the explicit overrides to the named size."""
        layers, dim, heads = SIZES[self.size]
        return self.layers or layers, self.dim or dim, self.heads or heads


def time_gap_buckets(timestamps: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """Log2 bucket ``(B, T, T)`` of the gap ``|t_q - t_k|`` between every two events of
    ``timestamps`` ``(B, T)``.

    Bucket 0: gap < 1 s; bucket b >= 1: gap in ``[2^(b-1), 2^b)`` s; clamped at ``num_buckets - 1``.
    Integer boundaries keep powers of two exact (no float log rounding).
    """
    gaps = (timestamps[:, :, None] - timestamps[:, None, :]).abs()  # (B, T, T)
    exponents = torch.arange(num_buckets - 1, device=gaps.device, dtype=gaps.dtype)
    boundaries = 2**exponents  # 1, 2, 4, ... s
    return torch.bucketize(gaps, boundaries, right=True)  # number of boundaries <= gap


class Chrono(SequenceModel):
    name = "chrono"
    config_class = ChronoConfig

    def __init__(
        self,
        config: ChronoConfig,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        layers, dim, heads = config.shape
        super().__init__(config, num_items, num_event_types, max_len, dim, parts)
        self.trunk = TransformerTrunk(
            dim,
            layers,
            heads,
            config.dropout,
            config.ffn_mult,
            max_len,
            num_event_types,
            block=config.block,
        )
        # One bias table shared by all layers (as in T5); zero init: training starts as SASRec.
        self.time_bias = nn.Embedding(config.num_time_buckets, heads) if config.time_bias else None
        if self.time_bias is not None:
            nn.init.zeros_(self.time_bias.weight)

    @classmethod
    def parameter_count(
        cls,
        size: str,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        **overrides: Any,
    ) -> int:
        """Trainable parameters of a ``size`` model (with ``overrides``), counted without
        allocating weights."""
        config = replace(ChronoConfig(size=size), **overrides)
        with torch.device("meta"):
            return cls(config, num_items, num_event_types, max_len).num_parameters()

    def attention_mask(self, batch: SeqBatch) -> torch.Tensor:
        """Boolean mask ``(B, 1, T, T)``; with ``time_bias``, a float bias ``(B, H, T, T)``, -inf
        where hidden."""
        items = batch.items[:, -self.max_len :]
        mask = causal_padding_mask(items != 0)  # (B, 1, T, T)
        if self.time_bias is None:
            return mask
        timestamps = batch.timestamps[:, -self.max_len :]  # (B, T)
        buckets = time_gap_buckets(timestamps, self.config.num_time_buckets)  # (B, T, T)
        bias = self.time_bias(buckets).permute(0, 3, 1, 2)  # (B, H, T, T)
        # Padding and future keys get -inf, so their (meaningless) gaps never reach the softmax.
        return bias.masked_fill(~mask, float("-inf"))

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items[:, -self.max_len :]  # (B, T)
        x = self.trunk.embed(self.item_embedding(items), items, batch.event_types)  # (B, T, D)
        return self.trunk(x, self.attention_mask(batch))  # (B, T, D)
