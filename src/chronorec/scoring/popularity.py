"""The fallback ranking: items by their share of all recorded events.

Used wherever a model has nothing to read (an unknown user, a history of items it never trained
on), by the API and the service alike, and always flagged as a fallback to the caller.
"""

from __future__ import annotations

import numpy as np

from chronorec.data.dataset import SequenceData


class Popularity:
    """Items ranked by how many events of ``data`` they have (ties: the smaller id first)."""

    def __init__(self, data: SequenceData) -> None:
        counts = np.bincount(data.items, minlength=data.num_items + 1).astype(np.float64)
        counts[0] = 0.0
        self.share = counts / max(counts.sum(), 1.0)  # (I + 1,)
        self.order = np.argsort(-counts[1:], kind="stable") + 1  # internal ids, most popular first

    def top_k(self, k: int, exclude: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """The ``k`` most popular items outside ``exclude``, as ``(internal id, share)``."""
        picked = [int(i) for i in self.order[: k + len(exclude)].tolist() if i not in exclude][:k]
        return [(i, float(self.share[i])) for i in picked]
