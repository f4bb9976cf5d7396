"""One ranking rule for every caller: evaluation, the Python API, explanations and the service.

A model says what it knows about a history (see :class:`~chronorec.models.base.Recommender`):
query vectors scored against its item vectors plus a bias on the history items it read, or a score
row of its own (count-based models). The :class:`Ranker` owns everything around that: the events the
model reads (``readable``), padding never ranks, excluded items never rank, ties count against a
target, catalogues above ``chunk`` items are scored chunk by chunk, and an approximate index (when
one is given) answers top-K queries.
"""

from __future__ import annotations

import numpy as np
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.schema import PAD
from chronorec.models.base import Recommender, score_queries
from chronorec.scoring.chunked import chunked_rank_topk
from chronorec.scoring.index import ApproxIndex
from chronorec.scoring.masks import mask_padding_and_seen, pessimistic_rank

ITEM_CHUNK = 65_536  # catalogues larger than this are scored chunk by chunk with a running top-K


class Ranker:
    """Ranks every item of a model's catalogue for histories.

    Args:
        model: a trained recommender, in eval mode.
        index: an approximate top-K index over the model's item vectors (large catalogues in the
            service); None ranks exactly.
        chunk: catalogues above this many items are scored in chunks of it (default ``ITEM_CHUNK``).
    """

    def __init__(
        self, model: Recommender, *, index: ApproxIndex | None = None, chunk: int | None = None
    ) -> None:
        self.model = model
        self.index = index
        self.chunk = chunk or ITEM_CHUNK
        self.by_vectors = model.scores_by_query
        with torch.inference_mode():
            # Fixed for the ranker's life: a model's vectors change only in training,
            # and a ranker is made per use.
            self.vectors = model.item_vectors().detach() if self.by_vectors else None
            bias = model.history_bias()
            self.bias = None if bias is None else bias.detach()

    @property
    def num_items(self) -> int:
        return self.model.num_items

    def read(self, batch: SeqBatch) -> SeqBatch:
        """What the model reads of ``batch``: events on items it never trained on are skipped."""
        return self.model.readable(batch)

    def reads_any(self, items: torch.Tensor) -> torch.Tensor:
        """``(B,)``: whether the model reads at least one event of each row
        of ``items`` ``(B, T)``."""
        return (self.model.readable_items[items] & (items != PAD)).any(1)

    @torch.inference_mode()
    def queries(self, read: SeqBatch) -> torch.Tensor:
        """Query vectors of already-read histories (vector models only), e.g. to cache per user."""
        query = self.model.query_vectors(read)
        assert query is not None, f"{type(self.model).__name__} has no query vectors"
        return query

    @torch.inference_mode()
    def scores(self, batch: SeqBatch, *, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``(B, I + 1)`` of every item after each history;
        padding and ``exclude`` are ``-inf``."""
        read = self.read(batch)
        if self.by_vectors:
            scores = self.scores_for(self.queries(read), read.items)
        else:
            scores = self.model.score(read).float()
        return mask_padding_and_seen(scores, exclude)

    @torch.inference_mode()
    def scores_for(self, queries: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, I + 1)`` of queries ``(B, D)``
        or ``(B, K, D)`` after histories ``(B, T)`` read by the model."""
        assert self.vectors is not None
        return score_queries(queries, self.vectors, history, self.bias).float()

    @torch.inference_mode()
    def rank(
        self, batch: SeqBatch, targets: torch.Tensor, k: int, *, exclude: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pessimistic 0-based ranks ``(B,)`` of ``targets`` and the top-``k`` items ``(B, k)``."""
        if self.by_vectors and self.num_items > self.chunk:
            assert self.vectors is not None
            read = self.read(batch)
            ranks, _, top = chunked_rank_topk(
                self.queries(read),
                self.vectors,
                targets,
                k,
                chunk=self.chunk,
                history=read.items,
                bias=self.bias,
                exclude=exclude,
            )
            assert ranks is not None
            return ranks, top
        scores = self.scores(batch, exclude=exclude)
        return pessimistic_rank(scores, targets), scores.topk(min(k, self.num_items), dim=1).indices

    @torch.inference_mode()
    def top_k(
        self, batch: SeqBatch, k: int, *, exclude: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and items ``(B, k)`` of the best ``k`` items after each history, best first."""
        if self.by_vectors and (self.index is not None or self.num_items > self.chunk):
            read = self.read(batch)
            return self.top_k_for(self.queries(read), read.items, k, exclude=exclude)
        top = self.scores(batch, exclude=exclude).topk(min(k, self.num_items), dim=1)
        return top.values, top.indices

    @torch.inference_mode()
    def top_k_for(
        self,
        queries: torch.Tensor,
        history: torch.Tensor,
        k: int,
        *,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` scores and items for query vectors computed earlier
        (the service caches them)."""
        if self.index is not None:
            return self._search(queries, history, k, exclude)
        if self.num_items > self.chunk:
            assert self.vectors is not None
            _, values, items = chunked_rank_topk(
                queries,
                self.vectors,
                None,
                k,
                chunk=self.chunk,
                history=history,
                bias=self.bias,
                exclude=exclude,
            )
            return values, items
        scores = mask_padding_and_seen(self.scores_for(queries, history), exclude)
        top = scores.topk(min(k, self.num_items), dim=1)
        return top.values, top.indices

    def _search(
        self, queries: torch.Tensor, history: torch.Tensor, k: int, exclude: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate candidates from the index, plus the history items scored exactly (they may
        carry the history bias, which the index does not know)."""
        assert self.index is not None
        rows = [
            self._search_row(queries[b], history[b], k, None if exclude is None else exclude[b])
            for b in range(queries.shape[0])
        ]
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])

    def _search_row(
        self, query: torch.Tensor, history: torch.Tensor, k: int, exclude: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.index is not None
        banned = frozenset(exclude.tolist()) - {PAD} if exclude is not None else frozenset()
        candidates: dict[int, float] = {}
        for vector in query.reshape(-1, query.shape[-1]).float().numpy():  # each of K interests
            values, ids = self.index.search(vector, k, banned)
            for item, score in zip(ids.tolist(), values.tolist()):
                candidates[item] = max(score, candidates.get(item, -np.inf))
        seen = sorted(set(history.tolist()) - {PAD} - banned)
        if seen and self.bias is not None:
            assert self.vectors is not None
            exact = score_queries(query[None], self.vectors[seen])[0].float() + self.bias.float()
            candidates.update(zip(seen, exact.tolist()))
        best = sorted(candidates.items(), key=lambda kv: -kv[1])[:k]
        best += [(PAD, float("-inf"))] * (
            k - len(best)
        )  # fewer candidates than k: padded, never shown
        return (
            torch.tensor([s for _, s in best], dtype=torch.float32),
            torch.tensor([i for i, _ in best], dtype=torch.int64),
        )
