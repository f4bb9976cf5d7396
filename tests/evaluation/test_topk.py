"""Chunked full ranking equals scoring every item at once."""

import pytest
import torch

from chronorec.evaluation.metrics import mask_padding_and_seen, pessimistic_rank
from chronorec.evaluation.topk import chunked_rank_topk
from chronorec.models.losses import add_repeat_bias_


@pytest.mark.parametrize("exclude_seen, bias", [(False, None), (False, -1.5), (True, None)])
def test_chunked_equals_exact(exclude_seen, bias):
    torch.manual_seed(0)
    hidden, items = torch.randn(7, 8), torch.randn(1001, 8)
    items[5] = items[9]  # an exact tie
    targets = torch.tensor([5, 9, 1, 1000, 500, 3, 42])
    history = torch.tensor([[0, 5, 2], [0, 0, 7], [3, 4, 1], [0, 0, 0], [8, 9, 10], [0, 0, 3], [11, 12, 13]])
    exact = hidden @ items.T
    if bias is not None:
        exact = add_repeat_bias_(exact, history, torch.tensor(bias))
    mask_padding_and_seen(exact, history if exclude_seen else None)
    ranks, top_scores, top_items = chunked_rank_topk(
        hidden, items, targets, 10, chunk=97, history=history, repeat_bias=bias, exclude_seen=exclude_seen
    )
    assert torch.equal(ranks, pessimistic_rank(exact, targets))
    values, _ = exact.topk(10, dim=1)
    torch.testing.assert_close(top_scores, values)
    torch.testing.assert_close(exact.gather(1, top_items), values)  # same items up to equal-score order


def test_top_k_only_and_small_catalogue():
    hidden, items = torch.randn(2, 4), torch.randn(4, 4)
    ranks, scores, idx = chunked_rank_topk(hidden, items, None, 10, chunk=2)
    assert ranks is None and idx.shape == (2, 3) and not (idx == 0).any()
