import math

import pytest
import torch

from chronorec.evaluation.metrics import metrics_from_ranks
from chronorec.scoring import mask_padding_and_seen, pessimistic_rank


def test_ranks_break_ties_against_the_target():
    scores = torch.tensor([[float("-inf"), 0.5, 0.9, 0.5, 0.1]])
    # Target item 1 (0.5) ties with item 3 and is below item 2: rank 2 (0-based).
    assert pessimistic_rank(scores, torch.tensor([1])).item() == 2
    assert pessimistic_rank(scores, torch.tensor([2])).item() == 0
    assert pessimistic_rank(scores, torch.tensor([4])).item() == 3


def test_constant_scorer_ranks_every_target_last():
    scores = mask_padding_and_seen(torch.zeros(3, 101), None)
    ranks = pessimistic_rank(scores, torch.tensor([1, 50, 100]))
    assert ranks.tolist() == [99, 99, 99]
    m = metrics_from_ranks(ranks, (10,))
    assert m["NDCG@10"] == 0 and m["HR@10"] == 0


def test_metric_values_by_hand():
    ranks = torch.tensor([0, 1, 4, 10, 25])
    m = metrics_from_ranks(ranks, (5, 20))
    assert m["HR@5"] == pytest.approx(3 / 5)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 5)
    assert m["MRR@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 5)
    assert m["HR@20"] == pytest.approx(4 / 5)
    assert m["MRR@20"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 11) / 5)
    assert m["Recall@20"] == m["HR@20"]


def test_exclude_seen_masks_history_but_not_others():
    scores = torch.tensor([[0.0, 5.0, 4.0, 3.0]])
    history = torch.tensor([[0, 1]])  # padding + item 1
    mask_padding_and_seen(scores, history)
    assert scores.tolist() == [[float("-inf"), float("-inf"), 4.0, 3.0]]
    assert pessimistic_rank(scores, torch.tensor([2])).item() == 0


def test_event_type_accuracy_and_macro_f1_by_hand():
    from chronorec.evaluation.harness import event_type_metrics

    predicted = torch.tensor([1, 1, 2, 2, 3])
    actual = torch.tensor([1, 2, 2, 2, 1])
    m = event_type_metrics(predicted, actual)
    assert m["EventType/accuracy"] == pytest.approx(3 / 5)
    # F1: type 1 -> tp 1 fp 1 fn 1 = 0.5; type 2 -> tp 2 fp 0 fn 1 = 0.8; type 3 -> 0.
    assert m["EventType/macroF1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
