"""The model contract.

Every model is a :class:`Recommender`: given a batch of left-padded histories it scores every item
(``score``). Neural sequence models subclass :class:`SequenceModel` and only write ``encode``:
hidden states ``(B, T, D)`` for every position, from which the shared code scores items (dot product
with the item embeddings) and computes the training loss at every position in one pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from chronorec.data.batches import SeqBatch, drop_items
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.models.losses import ItemLoss, add_repeat_bias_, dot_scores, full_softmax_loss
from chronorec.models.parts import NO_PARTS, ModelParts


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """Models without settings."""


class Recommender(nn.Module):
    """Scores all items for a batch of histories. Count-based models learn
    in :meth:`learn_counts`."""

    name: ClassVar[str]
    config_class: ClassVar[type] = NoConfig
    trainable: ClassVar[bool] = False  # True: learned by gradient descent in the trainer
    # True: ``score`` is
    # ``score_queries(query_vectors(), item_vectors(), history, history_bias())``, so a ranker may
    # score items from cached queries, in chunks or through an approximate index.
    scores_by_query: ClassVar[bool] = False
    readable_items: torch.Tensor  # buffer (I + 1,) bool, see :meth:`readable`

    def __init__(
        self, config: Any, num_items: int, num_event_types: int = 0, max_len: int = 50
    ) -> None:
        super().__init__()
        self.config = config
        self.num_items = num_items
        self.num_event_types = num_event_types
        self.max_len = max_len
        # Items the model may read in a history (see :meth:`readable`);
        # all until training says otherwise.
        self.register_buffer("readable_items", torch.ones(num_items + 1, dtype=torch.bool))

    def set_readable_items(self, readable: np.ndarray | torch.Tensor) -> None:
        """Flag ``(I + 1,)`` the items whose input vector was learned:
        those with a training event."""
        self.readable_items.copy_(torch.as_tensor(readable, dtype=torch.bool))

    def readable(self, batch: SeqBatch) -> SeqBatch:
        """``batch`` without the events on items the model never trained on,
        as every inference path feeds it.

        Such an item's vector was only ever pushed down as a negative; read as the latest event, it
        derails the state (on Taobao, where 60% of test histories end with one, sasrec's test
        NDCG@10 rose from .064 to .104 once they were skipped). Training never meets one, so
        skipping them changes nothing there.
        """
        return drop_items(batch, self.readable_items)

    def learn_counts(self, data: SequenceData, split: Split) -> None:
        """Count what the model needs in the training part of ``split``
        (count-based models only)."""

    def data_warnings(self, data: SequenceData) -> list[str]:
        """Why this model's settings may not suit ``data``
        (printed before training); none by default."""
        return []

    def score(self, batch: SeqBatch) -> torch.Tensor:
        """Scores ``(B, I + 1)`` for the next item after each history; column 0 is padding.

        Rank through :class:`chronorec.scoring.Ranker`, which adds what every caller must agree on
        (padding, seen items, chunking, the approximate index).
        """
        raise NotImplementedError

    def query_vectors(self, batch: SeqBatch) -> torch.Tensor | None:
        """Query vectors ``(B, D)``, or ``(B, K, D)`` scored by their best match, that :meth:`score`
        compares with :meth:`item_vectors`; None for models that score items another way."""
        return None

    def item_vectors(self) -> torch.Tensor:
        """Output vectors ``(I + 1, D)`` that queries are scored against (models with a query)."""
        raise NotImplementedError(f"{type(self).__name__} scores items without item vectors")

    def history_bias(self) -> torch.Tensor | None:
        """A score offset for the items of the history the model read, or None."""
        return None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @staticmethod
    def _training_events(data: SequenceData, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of training events and a per-event flag
        'the next event is also training'."""
        starts = data.offsets[:-1]
        lengths = split.train_end - starts
        owner = np.repeat(np.arange(len(starts)), np.diff(data.offsets))
        pos = np.arange(len(data.items)) - starts[owner]
        in_train = pos < lengths[owner]
        has_next = in_train & (pos + 1 < lengths[owner])
        return np.flatnonzero(in_train), has_next


def score_queries(
    queries: torch.Tensor,
    item_vectors: torch.Tensor,
    history: torch.Tensor | None = None,
    bias: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Scores ``(B, C)`` of ``item_vectors`` ``(C, D)`` against ``queries`` ``(B, D)`` (or the best
    of ``(B, K, D)``), plus ``bias`` once on each item of each row's ``history`` ``(B, T)``
    (0 = none).

    The one definition of a vector model's score: training's softmax, evaluation and the service
    all rank by it.
    """
    scores = dot_scores(queries, item_vectors)  # (B, C)
    if bias is None or history is None:
        return scores
    if queries.dim() == 3:
        scores = scores.clone()  # amax keeps its output for backward; the bias is added in place
    bias = torch.as_tensor(bias, dtype=scores.dtype, device=scores.device)
    return add_repeat_bias_(scores, distinct_history(history), bias)


def distinct_history(items: torch.Tensor) -> torch.Tensor:
    """``items`` (B, T) with repeats of an earlier item replaced by padding,
    so each item counts once."""
    T = items.shape[1]
    earlier = torch.ones(T, T, dtype=torch.bool, device=items.device).tril(-1)  # (T, T): s' < s
    repeat = ((items[:, :, None] == items[:, None, :]) & earlier[None]).any(-1)  # (B, T)
    return items.masked_fill(repeat, 0)


class SequenceModel(Recommender):
    """A neural model that encodes sequences to hidden states and scores items by dot product.

    Built whole: ``parts`` (:class:`~chronorec.models.parts.ModelParts`) gives the constructor the
    item text features and the item loss, if any.
    """

    trainable = True
    scores_by_query = True

    def __init__(
        self,
        config: Any,
        num_items: int,
        num_event_types: int,
        max_len: int,
        dim: int,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len)
        self.item_embedding = parts.item_embedding(num_items + 1, dim)  # also the output layer
        # A training choice, not a weight: a plain attribute, never saved with the model.
        self.item_loss_fn: ItemLoss = parts.item_loss or full_softmax_loss
        # A learned score offset for items already in the visible history. Whether users come back
        # to what they had (purchases of groceries) or never do (films rated once) is a fact of the
        # data that a dot product with one hidden vector captures poorly; one scalar learns it.
        self.repeat_bias = (
            nn.Parameter(torch.zeros(())) if getattr(config, "repeat_bias", False) else None
        )

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        """Hidden state ``(B, T, D)`` at every position; position t may only use events ``<= t``."""
        raise NotImplementedError

    def item_vectors(self) -> torch.Tensor:
        """Output embeddings ``(I + 1, D)`` that hidden states are scored against."""
        return cast(torch.Tensor, self.item_embedding.weight)

    def query_vectors(self, batch: SeqBatch) -> torch.Tensor:
        """The hidden state after each history ``(B, D)``:
        left padding puts the latest event last."""
        return self.encode(batch)[:, -1]

    def history_bias(self) -> torch.Tensor | None:
        return self.repeat_bias

    def score(self, batch: SeqBatch) -> torch.Tensor:
        return score_queries(
            self.query_vectors(batch), self.item_vectors(), batch.items, self.history_bias()
        )

    def history_logit_index(self, items: torch.Tensor, targets: SeqBatch) -> torch.Tensor | None:
        """Per target position, the distinct items seen up to it:
        ``(N, T)`` for the N targets (0 = none)."""
        if self.repeat_bias is None:
            return None
        T = items.shape[1]
        causal = torch.ones(
            T, T, dtype=torch.bool, device=items.device
        ).tril()  # (T, T): position t sees s <= t
        return targets.select(
            torch.where(causal[None], distinct_history(items)[:, None, :], 0)
        )  # (N, T)

    def forward(
        self, inputs: SeqBatch, targets: SeqBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss (what DistributedDataParallel
        and torch.compile wrap); see :meth:`loss`."""
        return self.loss(inputs, targets)

    def item_loss(self, hidden: torch.Tensor, inputs: SeqBatch, targets: SeqBatch) -> torch.Tensor:
        """Next-item loss from hidden states ``(B, T, D)`` at every position that has a target."""
        return self.item_loss_at(targets.select(hidden), inputs, targets)

    def item_loss_at(
        self, hidden: torch.Tensor, inputs: SeqBatch, targets: SeqBatch
    ) -> torch.Tensor:
        """Next-item loss from hidden states ``(N, D)``
        (or ``(N, K, D)``) already taken at the target positions."""
        history = self.history_logit_index(inputs.items, targets)
        bias = None if history is None else (history, self.repeat_bias)
        return self.item_loss_fn(hidden, self.item_vectors(), targets.select(targets.items), bias)

    def loss(
        self, inputs: SeqBatch, targets: SeqBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss at every non-padding target position, and named parts for logging."""
        loss = self.item_loss(self.encode(inputs), inputs, targets)
        return loss, {"item": loss.detach()}
