"""Training a built model on a given split: the shared loop and early stopping, best weights
kept."""

from __future__ import annotations

import pytest
import torch

from chronorec.data.split import leave_one_out
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import evaluate_cases
from chronorec.models import build_model
from chronorec.pretrain.finetune import train_on_split, user_subset
from chronorec.training.config import TrainConfig


def _config(**kw) -> TrainConfig:
    base = dict(
        model="sasrec",
        model_params={"dim": 16, "layers": 1, "heads": 1},
        max_len=10,
        batch_size=16,
        epochs=6,
        lr=5e-3,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


def test_the_model_ends_with_its_best_weights(ring_dataset):
    config = _config()
    split = leave_one_out(ring_dataset)
    torch.manual_seed(0)
    model = build_model("sasrec", config.model_params, num_items=ring_dataset.num_items, max_len=10)
    result = train_on_split(model, ring_dataset, split, config)
    assert result.epochs == len(result.history) <= 6 and result.windows > 0
    scores = [h["valid"]["NDCG@10"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert result.valid == result.history[result.best_epoch - 1]["valid"]
    again = evaluate_cases(model, ring_dataset, split.valid, max_len=10, ks=(10, 20)).metrics
    assert again == result.valid


def test_patience_stops_early_and_no_epoch_is_an_error(ring_dataset):
    split = leave_one_out(ring_dataset)
    model = build_model(
        "sasrec", {"dim": 8, "layers": 1, "heads": 1}, num_items=ring_dataset.num_items, max_len=10
    )
    # A learning rate this small never improves on the first epoch's score by much: patience 1 ends
    # training as soon as one epoch does not improve.
    result = train_on_split(model, ring_dataset, split, _config(epochs=50, patience=1, lr=1e-9))
    assert result.epochs < 50
    with pytest.raises(
        ChronorecError, match="training ran no epoch"
    ):  # a time limit already passed
        train_on_split(model, ring_dataset, split, _config(max_train_seconds=-1.0))


def test_user_subset_is_a_fixed_share_of_the_users(ring_dataset):
    split = leave_one_out(ring_dataset)
    a, b = (
        user_subset(ring_dataset, split, 0.5, seed=1),
        user_subset(ring_dataset, split, 0.5, seed=1),
    )
    assert (a == b).all() and 0 < len(a) < ring_dataset.num_users
