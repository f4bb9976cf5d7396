"""``sasrec``: causal self-attention over the item sequence (Kang & McAuley, 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chronorec.data.batches import SeqBatch
from chronorec.models.base import SequenceModel
from chronorec.models.layers import TransformerTrunk, causal_padding_mask, check_block
from chronorec.models.parts import NO_PARTS, ModelParts


@dataclass(frozen=True)
class SASRecConfig:
    dim: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    ffn_mult: int = 4
    repeat_bias: bool = True  # learn a score offset for items already in the history
    block: str = "prenorm"  # prenorm | ligr (gated residual branches, as in eSASRec)
    # Dropout on item vectors where they are read and where they are scored (training only), as
    # eSASRec drops its whole item table: the output side is regularised too.
    item_dropout: float = 0.0
    # Add an embedding of each event's type (view, cart, buy...) to its input, as `chrono` and
    # `interests` do; off by default, so that runs written before it read the same inputs.
    event_types: bool = False

    def __post_init__(self) -> None:
        check_block(self.block)


class SASRec(SequenceModel):
    name = "sasrec"
    config_class = SASRecConfig

    def __init__(
        self,
        config: SASRecConfig,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim, parts)
        self.trunk = TransformerTrunk(
            config.dim,
            config.layers,
            config.heads,
            config.dropout,
            config.ffn_mult,
            max_len,
            num_event_types=num_event_types if config.event_types else 0,
            block=config.block,
        )

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items[:, -self.max_len :]  # (B, T)
        vectors = self._drop_items(self.item_embedding(items))  # (B, T, D)
        types = batch.event_types if self.config.event_types else None
        x = self.trunk.embed(vectors, items, types)  # (B, T, D)
        return self.trunk(x, causal_padding_mask(items != 0))  # (B, T, D)

    def item_vectors(self) -> torch.Tensor:
        return self._drop_items(super().item_vectors())

    def _drop_items(self, vectors: torch.Tensor) -> torch.Tensor:
        p = self.config.item_dropout
        return F.dropout(vectors, p, training=True) if p > 0 and self.training else vectors
