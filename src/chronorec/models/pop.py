"""``pop``: recommend the items seen most often in training, the same list for everyone."""

from __future__ import annotations

import numpy as np
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.models.base import NoConfig, Recommender


class Popularity(Recommender):
    name = "pop"
    counts: torch.Tensor  # buffer (I + 1,): training events per item

    def __init__(
        self, config: NoConfig, num_items: int, num_event_types: int = 0, max_len: int = 50
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len)
        self.register_buffer("counts", torch.zeros(num_items + 1))

    def learn_counts(self, data: SequenceData, split: Split) -> None:
        train_idx, _ = self._training_events(data, split)
        counts = np.bincount(data.items[train_idx], minlength=self.num_items + 1)
        self.counts.copy_(torch.from_numpy(counts.astype(np.float32)))

    def score(self, batch: SeqBatch) -> torch.Tensor:
        return self.counts.expand(batch.items.shape[0], -1).clone()  # (B, I + 1)
