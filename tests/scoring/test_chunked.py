"""Chunked full ranking equals scoring every item at once."""

import pytest
import torch

from chronorec.models.base import score_queries
from chronorec.scoring import mask_padding_and_seen, pessimistic_rank
from chronorec.scoring.chunked import chunked_rank_topk


@pytest.mark.parametrize("exclude_seen, bias", [(False, None), (False, -1.5), (True, None)])
def test_chunked_equals_exact(exclude_seen, bias):
    torch.manual_seed(0)
    hidden, items = torch.randn(7, 8), torch.randn(1001, 8)
    items[5] = items[9]  # an exact tie
    targets = torch.tensor([5, 9, 1, 1000, 500, 3, 42])
    history = torch.tensor(
        [[0, 5, 2], [0, 0, 7], [3, 4, 1], [0, 0, 0], [8, 9, 10], [0, 0, 3], [11, 12, 13]]
    )
    exact = score_queries(hidden, items, history, bias)
    mask_padding_and_seen(exact, history if exclude_seen else None)
    ranks, top_scores, top_items = chunked_rank_topk(
        hidden,
        items,
        targets,
        10,
        chunk=97,
        history=history,
        bias=bias,
        exclude=history if exclude_seen else None,
    )
    assert torch.equal(ranks, pessimistic_rank(exact, targets))
    values, _ = exact.topk(10, dim=1)
    torch.testing.assert_close(top_scores, values)
    torch.testing.assert_close(
        exact.gather(1, top_items), values
    )  # same items up to equal-score order


def test_top_k_only_and_small_catalogue():
    hidden, items = torch.randn(2, 4), torch.randn(4, 4)
    ranks, scores, idx = chunked_rank_topk(hidden, items, None, 10, chunk=2)
    assert ranks is None and idx.shape == (2, 3) and not (idx == 0).any()


def test_several_queries_per_row_score_by_their_best_match():
    torch.manual_seed(1)
    queries, items = torch.randn(5, 3, 8), torch.randn(300, 8)
    targets = torch.tensor([1, 2, 3, 299, 150])
    history = torch.tensor([[0, 1], [2, 2], [0, 0], [7, 8], [150, 0]])
    exact = mask_padding_and_seen(score_queries(queries, items, history, 0.5), None)
    ranks, _, top_items = chunked_rank_topk(
        queries, items, targets, 5, chunk=64, history=history, bias=0.5
    )
    assert torch.equal(ranks, pessimistic_rank(exact, targets))
    torch.testing.assert_close(exact.gather(1, top_items), exact.topk(5, dim=1).values)
