"""``sasrec``: causal self-attention over the item sequence (Kang & McAuley, 2018), trained with full softmax."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chronorec.data.batches import SeqBatch
from chronorec.models.base import SequenceModel
from chronorec.models.layers import TransformerTrunk, causal_padding_mask


@dataclass(frozen=True)
class SASRecConfig:
    dim: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    ffn_mult: int = 4
    repeat_bias: bool = True  # learn a score offset for items already in the history


class SASRec(SequenceModel):
    name = "sasrec"
    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig, num_items: int, num_event_types: int = 0, max_len: int = 50) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim)
        self.trunk = TransformerTrunk(config.dim, config.layers, config.heads, config.dropout, config.ffn_mult, max_len)

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items[:, -self.max_len :]  # (B, T)
        x = self.trunk.embed(self.item_embedding(items), items, None)  # (B, T, D)
        return self.trunk(x, causal_padding_mask(items != 0))  # (B, T, D)
