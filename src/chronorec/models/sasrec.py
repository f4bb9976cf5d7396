"""``sasrec``: causal self-attention over the item sequence (Kang & McAuley, 2018), trained with full softmax."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.models.base import SequenceModel
from chronorec.models.layers import TransformerBlock, causal_padding_mask, reversed_positions


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
        self.position_embedding = nn.Embedding(max_len, config.dim)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.dim, config.heads, config.dropout, config.ffn_mult) for _ in range(config.layers)
        )
        self.final_norm = nn.LayerNorm(config.dim)

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items[:, -self.max_len :]  # (B, T)
        valid = items != 0
        x = self.item_embedding(items) + self.position_embedding(reversed_positions(items.shape[1], items.device))
        x = self.drop(x * valid[..., None])  # (B, T, D); padding stays exactly zero
        mask = causal_padding_mask(valid)  # (B, 1, T, T)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)  # (B, T, D)
