"""The model contract.

Every model is a :class:`Recommender`: given a batch of left-padded histories it scores every item
(``score``). Neural sequence models subclass :class:`SequenceModel` and only write ``encode``: hidden
states ``(B, T, D)`` for every position, from which the shared code scores items (dot product with
the item embeddings) and computes the training loss at every position in one pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from chronorec.data.batches import SeqBatch, drop_items
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.models.layers import small_embedding
from chronorec.models.losses import ItemLoss, add_repeat_bias_, full_softmax_loss


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """Models without settings."""


class Recommender(nn.Module):
    """Scores all items for a batch of histories. Count-based models learn in :meth:`fit`."""

    name: ClassVar[str]
    config_class: ClassVar[type] = NoConfig
    trainable: ClassVar[bool] = False  # True: learned by gradient descent in the trainer

    def __init__(self, config: Any, num_items: int, num_event_types: int = 0, max_len: int = 50) -> None:
        super().__init__()
        self.config = config
        self.num_items = num_items
        self.num_event_types = num_event_types
        self.max_len = max_len
        # Items the model may read in a history (see :meth:`readable`); all until training says otherwise.
        self.register_buffer("readable_items", torch.ones(num_items + 1, dtype=torch.bool))

    def set_readable_items(self, readable: np.ndarray | torch.Tensor) -> None:
        """Flag ``(I + 1,)`` the items whose input vector was learned: those with a training event."""
        self.readable_items.copy_(torch.as_tensor(readable, dtype=torch.bool))

    def readable(self, batch: SeqBatch) -> SeqBatch:
        """``batch`` without the events on items the model never trained on, as every inference path feeds it.

        Such an item's vector was only ever pushed down as a negative; read as the latest event, it
        derails the state (on Taobao, where 60% of test histories end with one, sasrec's test NDCG@10
        rose from .064 to .104 once they were skipped). Training never meets one, so skipping them
        changes nothing there.
        """
        return drop_items(batch, self.readable_items)

    def fit(self, data: SequenceData, split: Split) -> None:
        """Learn from the training part of ``split`` (count-based models); neural models do nothing here."""

    def data_warnings(self, data: SequenceData) -> list[str]:
        """Why this model's settings may not suit ``data`` (printed before training); none by default."""
        return []

    def score(self, batch: SeqBatch) -> torch.Tensor:
        """Scores ``(B, I + 1)`` for the next item after each history; column 0 is padding."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @staticmethod
    def _training_events(data: SequenceData, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of training events and a per-event flag 'the next event is also training'."""
        starts = data.offsets[:-1]
        lengths = split.train_end - starts
        owner = np.repeat(np.arange(len(starts)), np.diff(data.offsets))
        pos = np.arange(len(data.items)) - starts[owner]
        in_train = pos < lengths[owner]
        has_next = in_train & (pos + 1 < lengths[owner])
        return np.flatnonzero(in_train), has_next


def distinct_history(items: torch.Tensor) -> torch.Tensor:
    """``items`` (B, T) with repeats of an earlier item replaced by padding, so each item counts once."""
    T = items.shape[1]
    earlier = torch.ones(T, T, dtype=torch.bool, device=items.device).tril(-1)  # (T, T): s' < s
    repeat = ((items[:, :, None] == items[:, None, :]) & earlier[None]).any(-1)  # (B, T)
    return items.masked_fill(repeat, 0)


class SequenceModel(Recommender):
    """A neural model that encodes sequences to hidden states and scores items by dot product."""

    trainable = True

    def __init__(self, config: Any, num_items: int, num_event_types: int, max_len: int, dim: int) -> None:
        super().__init__(config, num_items, num_event_types, max_len)
        self.item_embedding = small_embedding(num_items + 1, dim)  # also the output layer
        # A learned score offset for items already in the visible history. Whether users come back to
        # what they had (purchases of groceries) or never do (films rated once) is a fact of the data
        # that a dot product with one hidden vector captures poorly; one scalar learns it.
        self.repeat_bias = nn.Parameter(torch.zeros(())) if getattr(config, "repeat_bias", False) else None

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        """Hidden state ``(B, T, D)`` at every position; position t may only use events ``<= t``."""
        raise NotImplementedError

    def item_vectors(self) -> torch.Tensor:
        """Output embeddings ``(I + 1, D)`` that hidden states are scored against."""
        return self.item_embedding.weight

    def score(self, batch: SeqBatch) -> torch.Tensor:
        hidden = self.encode(batch)[:, -1]  # (B, D): left padding puts the latest event last
        scores = hidden @ self.item_vectors().T  # (B, I + 1)
        if self.repeat_bias is not None:
            add_repeat_bias_(scores, distinct_history(batch.items), self.repeat_bias)  # in place
        return scores

    def history_logit_index(self, items: torch.Tensor, targets: SeqBatch) -> torch.Tensor | None:
        """Per target position, the distinct items seen up to it: ``(N, T)`` for the N targets (0 = none)."""
        if self.repeat_bias is None:
            return None
        T = items.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=items.device).tril()  # (T, T): position t sees s <= t
        return targets.select(torch.where(causal[None], distinct_history(items)[:, None, :], 0))  # (N, T)

    def forward(self, inputs: SeqBatch, targets: SeqBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss (what DistributedDataParallel and torch.compile wrap); see :meth:`loss`."""
        return self.loss(inputs, targets)

    def use_item_loss(self, loss_fn: ItemLoss) -> None:
        """Train the next-item prediction with ``loss_fn`` (default: full softmax); not saved with the model."""
        object.__setattr__(self, "_item_loss_fn", loss_fn)  # a plain attribute: never a submodule or a weight

    def item_loss(self, hidden: torch.Tensor, inputs: SeqBatch, targets: SeqBatch) -> torch.Tensor:
        """Next-item loss from hidden states ``(B, T, D)`` at every position that has a target."""
        return self.item_loss_at(targets.select(hidden), inputs, targets)

    def item_loss_at(self, hidden: torch.Tensor, inputs: SeqBatch, targets: SeqBatch) -> torch.Tensor:
        """Next-item loss from hidden states ``(N, D)`` (or ``(N, K, D)``) already taken at the target positions."""
        history = self.history_logit_index(inputs.items, targets)
        bias = None if history is None else (history, self.repeat_bias)
        loss_fn = self.__dict__.get("_item_loss_fn", full_softmax_loss)
        return loss_fn(hidden, self.item_vectors(), targets.select(targets.items), bias)

    def loss(self, inputs: SeqBatch, targets: SeqBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss at every non-padding target position, and named parts for logging."""
        loss = self.item_loss(self.encode(inputs), inputs, targets)
        return loss, {"item": loss.detach()}
