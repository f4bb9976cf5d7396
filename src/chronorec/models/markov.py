"""``markov``: first-order item-to-item transitions counted in training, popularity breaks ties.

Transitions are kept as a CSR matrix (rows: previous item) so that a catalogue of millions of items
costs memory in proportion to the observed pairs, not to items squared.
"""

from __future__ import annotations

import numpy as np
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.models.base import NoConfig, Recommender


class Markov(Recommender):
    name = "markov"

    def __init__(
        self, config: NoConfig, num_items: int, num_event_types: int = 0, max_len: int = 50
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len)
        self.register_buffer("row_ptr", torch.zeros(num_items + 2, dtype=torch.int64))
        self.register_buffer("next_items", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("pair_counts", torch.zeros(0))
        self.register_buffer("popularity", torch.zeros(num_items + 1))

    def learn_counts(self, data: SequenceData, split: Split) -> None:
        train_idx, has_next = self._training_events(data, split)
        counts = np.bincount(data.items[train_idx], minlength=self.num_items + 1).astype(np.float32)
        src = np.flatnonzero(has_next)
        prev, nxt = data.items[src].astype(np.int64), data.items[src + 1].astype(np.int64)
        pair_key, pair_count = np.unique(prev * (self.num_items + 1) + nxt, return_counts=True)
        rows, cols = pair_key // (self.num_items + 1), pair_key % (self.num_items + 1)
        row_ptr = np.zeros(self.num_items + 2, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.num_items + 1), out=row_ptr[1:])
        self.row_ptr = torch.from_numpy(row_ptr)
        self.next_items = torch.from_numpy(cols)
        self.pair_counts = torch.from_numpy(pair_count.astype(np.float32))
        self.popularity = torch.from_numpy(counts)

    def score(self, batch: SeqBatch) -> torch.Tensor:
        # Popularity scaled into [0, 1) only orders items that share a transition count.
        base = self.popularity / (self.popularity.max() + 1.0)
        scores = base.expand(batch.items.shape[0], -1).clone()  # (B, I + 1)
        last = batch.items[:, -1]
        for r, item in enumerate(last.tolist()):
            lo, hi = self.row_ptr[item].item(), self.row_ptr[item + 1].item()
            scores[r, self.next_items[lo:hi]] += self.pair_counts[lo:hi]
        return scores
