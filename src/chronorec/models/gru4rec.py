"""``gru4rec``: a GRU over the item sequence (Hidasi et al., 2016), full softmax at every step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.models.base import SequenceModel
from chronorec.models.layers import run_rnn_left_padded
from chronorec.models.parts import NO_PARTS, ModelParts


@dataclass(frozen=True)
class GRU4RecConfig:
    dim: int = 64
    layers: int = 1
    dropout: float = 0.2
    repeat_bias: bool = True  # learn a score offset for items already in the history


class GRU4Rec(SequenceModel):
    name = "gru4rec"
    config_class = GRU4RecConfig

    def __init__(
        self,
        config: GRU4RecConfig,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim, parts)
        self.drop = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.dim, num_layers=config.layers, batch_first=True)
        self.project = nn.Linear(config.dim, config.dim)

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items  # (B, T), left-padded
        x = self.drop(self.item_embedding(items))  # (B, T, D)
        out = run_rnn_left_padded(self.gru, x, (items != 0).sum(1))  # (B, T, D)
        return self.project(self.drop(out))
