"""``lstm-attn``: an LSTM with causal attention over its own states, plus a next-event-type head.

Each position's hidden state combines the LSTM state (the recent order of events) with an attention
summary of every earlier state (longer-range interests). When the data has event types (view, cart,
buy, ...) they are embedded with the items, and a second head predicts the type of the next event;
training adds ``event_weight`` times its class-weighted cross-entropy to the item loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel
from chronorec.models.layers import (
    CausalSelfAttention,
    causal_padding_mask,
    run_rnn_left_padded,
    small_embedding,
)
from chronorec.models.parts import NO_PARTS, ModelParts


@dataclass(frozen=True)
class LSTMAttnConfig:
    dim: int = 64
    layers: int = 1  # stacked LSTM layers
    heads: int = 1  # attention heads over the LSTM states
    dropout: float = 0.2
    # Weight of the next-event-type loss (used only when the data has types).
    event_weight: float = 0.5
    # Class weights (1 / frequency) ** event_balance in the event-type loss: 0 is plain
    # cross-entropy, which on real logs (85% page views) learns to answer the majority class; 1
    # fully balances classes.
    event_balance: float = 0.5
    repeat_bias: bool = True  # learn a score offset for items already in the history


class LSTMAttn(SequenceModel):
    event_counts: torch.Tensor  # (E + 1,) buffer: training targets seen per event type
    name = "lstm-attn"
    config_class = LSTMAttnConfig

    def __init__(
        self,
        config: LSTMAttnConfig,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim, parts)
        D = config.dim
        self.event_embedding = small_embedding(num_event_types + 1, D) if num_event_types else None
        self.drop = nn.Dropout(config.dropout)
        # Dropout only acts between stacked layers.
        lstm_dropout = config.dropout if config.layers > 1 else 0.0
        self.lstm = nn.LSTM(D, D, num_layers=config.layers, batch_first=True, dropout=lstm_dropout)
        self.attn_norm = nn.LayerNorm(D)
        self.attn = CausalSelfAttention(D, config.heads, config.dropout)
        self.project = nn.Linear(2 * D, D)  # [LSTM state, attention summary] -> hidden
        self.event_head = nn.Linear(D, num_event_types + 1) if num_event_types else None
        # Training targets seen per event type, counted as batches arrive (saved with the weights).
        self.register_buffer("event_counts", torch.zeros(num_event_types + 1))

    def _embed(self, batch: SeqBatch) -> torch.Tensor:
        x = self.item_embedding(batch.items)  # (B, T, D)
        if self.event_embedding is not None and batch.event_types is not None:
            x = x + self.event_embedding(batch.event_types)
        return self.drop(x)

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        valid = batch.items != 0  # (B, T), left-padded
        states = run_rnn_left_padded(self.lstm, self._embed(batch), valid.sum(1))  # (B, T, D)
        # Position t attends to states <= t; padding keys are masked, so their values never matter.
        context = self.attn(self.attn_norm(states), causal_padding_mask(valid))  # (B, T, D)
        return self.project(self.drop(torch.cat([states, context], dim=-1)))  # (B, T, D)

    def _event_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-event-type logits ``(N, E + 1)`` from hidden states ``(N, D)``; type 0 (padding)
        is -inf."""
        if self.event_head is None:
            raise ChronorecError(
                "this lstm-attn model was built without event types; it cannot predict them"
            )
        logits = self.event_head(hidden).float()
        padding = torch.zeros_like(logits, dtype=torch.bool)
        padding[:, 0] = True
        return logits.masked_fill(padding, float("-inf"))

    def loss(
        self, inputs: SeqBatch, targets: SeqBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Item cross-entropy plus ``event_weight`` x next-event-type cross-entropy, per target."""
        states = self.encode(inputs)  # (B, T, D)
        item_loss = self.item_loss(states, inputs, targets)
        if self.event_head is None or targets.event_types is None:
            return item_loss, {"item": item_loss.detach()}
        types = targets.select(targets.event_types)
        event_loss = F.cross_entropy(
            self._event_logits(targets.select(states)), types, weight=self._class_weights(types)
        )
        loss = item_loss + self.config.event_weight * event_loss
        return loss, {"item": item_loss.detach(), "event": event_loss.detach()}

    def _class_weights(self, types: torch.Tensor) -> torch.Tensor | None:
        """Per-type loss weights ``(E + 1,)`` from the training targets counted so far; None when
        not balancing."""
        if self.training:
            # index_add_, not bincount: bincount's output size would make CUDA wait for the max.
            self.event_counts.index_add_(
                0, types, torch.ones_like(types, dtype=self.event_counts.dtype)
            )
        if not self.config.event_balance:
            return None
        total = self.event_counts.sum().clamp_min(1.0)
        weights = (total / self.event_counts.clamp_min(1.0)) ** self.config.event_balance
        weights[0] = 0.0  # padding is never a target
        # Only ratios matter: the weighted mean cross-entropy divides by the targets' weights.
        return weights

    def predict_event_types(self, batch: SeqBatch) -> torch.Tensor:
        """Logits ``(B, E + 1)`` for the next event's type after each history; column 0 is -inf."""
        return self._event_logits(self.encode(batch)[:, -1])
