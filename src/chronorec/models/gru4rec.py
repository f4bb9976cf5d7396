"""``gru4rec``: a GRU over the item sequence (Hidasi et al., 2016), trained with full softmax at every step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from chronorec.data.batches import SeqBatch
from chronorec.models.base import SequenceModel


@dataclass(frozen=True)
class GRU4RecConfig:
    dim: int = 64
    layers: int = 1
    dropout: float = 0.2
    repeat_bias: bool = True  # learn a score offset for items already in the history


def left_to_right_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move each row's last ``lengths[b]`` steps to the front (``x`` is (B, T, ...)). Inverse: negative lengths."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None] + (T - lengths)[:, None]) % T  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class GRU4Rec(SequenceModel):
    name = "gru4rec"
    config_class = GRU4RecConfig

    def __init__(self, config: GRU4RecConfig, num_items: int, num_event_types: int = 0, max_len: int = 50) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.dim, num_layers=config.layers, batch_first=True)
        self.project = nn.Linear(config.dim, config.dim)

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        items = batch.items  # (B, T), left-padded
        T = items.shape[1]
        lengths = (items != 0).sum(1)
        # A GRU would carry state through leading padding; pack the real steps so padding never counts.
        x = left_to_right_padding(self.drop(self.item_embedding(items)), lengths)  # (B, T, D), right-padded
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, D)
        out = left_to_right_padding(out, T - lengths)  # back to left padding
        return self.project(self.drop(out))
