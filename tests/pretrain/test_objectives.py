"""Pre-training objectives: each loss goes down on real MovieLens-100K, and masking never shows a
target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronorec.data.batches import SeqBatch, train_windows
from chronorec.data.split import leave_one_out
from chronorec.errors import ChronorecError
from chronorec.models import build_model
from chronorec.pretrain.objectives import OBJECTIVES, ObjectiveConfig, build_objective
from chronorec.pretrain.runner import select_users, window_batches
from tests.pretrain.realdata import prepared_ml100k

TINY = {"dim": 16, "layers": 1, "heads": 1, "dropout": 0.0}
MAX_LEN = 20


@pytest.fixture(scope="module")
def ml100k(real_data_root, tmp_path_factory):
    return prepared_ml100k(real_data_root, tmp_path_factory.mktemp("ml") / "ml-100k")


@pytest.fixture(scope="module")
def windows(ml100k):
    """The training windows of 300 users (about 1,700 windows of 21 events)."""
    split = leave_one_out(ml100k)
    users = np.random.default_rng(0).choice(np.arange(1, ml100k.num_users + 1), 300, replace=False)
    return select_users(train_windows(ml100k, split.train_end, MAX_LEN), users)


def _model(num_items: int, name: str = "sasrec", **params):
    torch.manual_seed(0)
    return build_model(name, {**TINY, **params}, num_items=num_items, max_len=MAX_LEN)


def _eval_loss(objective, batch: SeqBatch) -> float:
    objective.eval()
    with torch.no_grad():
        return float(objective(batch, torch.Generator().manual_seed(123))[0])


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_loss_decreases_on_real_movielens(name, ml100k, windows):
    objective = build_objective(name, _model(ml100k.num_items), ObjectiveConfig())
    held_out = window_batches(windows, 256, torch.Generator().manual_seed(99))[0]
    before = _eval_loss(objective, held_out)
    optimizer = torch.optim.Adam(objective.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    for batch in window_batches(windows, 64, torch.Generator().manual_seed(1))[:25]:
        objective.train()
        loss, _ = objective(batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = _eval_loss(objective, held_out)
    assert after < before - 0.05, (name, before, after)


def test_cloze_prediction_does_not_depend_on_the_hidden_target(ml100k, windows):
    """The state a masked event is predicted from is the same whatever that event was."""
    model = _model(ml100k.num_items).eval()
    objective = build_objective("cloze", model, ObjectiveConfig(mask_prob=0.3))
    batch = window_batches(windows, 32, torch.Generator().manual_seed(5))[0]
    inputs, targets, items = objective.prepare(batch, torch.Generator().manual_seed(7))
    mask_id = objective.mask_token.mask_id
    # Column t of the inputs predicts window column t + 1; that column is masked in the inputs (when
    # inside them).
    inside = targets[:, :-1]
    assert (inputs.items[:, 1:][inside] == mask_id).all()
    assert not (inputs.items[:, 1:][inside] == items[:, :-1][inside]).any()
    with torch.no_grad(), objective.mask_token.installed(model):
        hidden = model.encode(inputs)
    # Replace every target by another item: the hidden states at the predicting positions do not
    # move.
    changed = SeqBatch(
        torch.where(
            torch.cat([torch.zeros_like(targets[:, :1]), targets], 1),
            batch.items % ml100k.num_items + 1,
            batch.items,
        ),
        batch.timestamps,
        None,
        batch.users,
        batch.query_time,
    )
    inputs2, targets2, items2 = objective.prepare(changed, torch.Generator().manual_seed(7))
    assert torch.equal(targets, targets2) and not torch.equal(items[targets], items2[targets])
    with torch.no_grad(), objective.mask_token.installed(model):
        hidden2 = model.encode(inputs2)
    assert torch.allclose(hidden[targets], hidden2[targets], atol=1e-6)


def test_mask_token_is_spliced_in_only_while_installed(ml100k):
    model = _model(ml100k.num_items).eval()
    objective = build_objective("cloze", model, ObjectiveConfig())
    ids = torch.tensor([[0, 3, ml100k.num_items + 1]])
    with objective.mask_token.installed(model):
        vectors = model.item_embedding(ids)
    assert torch.equal(vectors[0, 2], objective.mask_token.vector.detach())
    assert torch.equal(vectors[0, 0], torch.zeros(16)) and torch.equal(
        vectors[0, 1], model.item_embedding.weight[3]
    )
    with pytest.raises(IndexError):  # hooks removed: the mask id is no item
        model.item_embedding(ids)


def test_contrastive_views_come_from_the_sequence_and_positives_pair_up(ml100k, windows):
    objective = build_objective("contrastive", _model(ml100k.num_items), ObjectiveConfig())
    batch = window_batches(windows, 32, torch.Generator().manual_seed(3))[0]
    a, b = objective.prepare(batch, torch.Generator().manual_seed(4))
    mask_id = objective.mask_token.mask_id
    for k in range(batch.items.shape[0]):
        own = batch.items[k, 1:].tolist()
        for view in (a, b):
            real = [x for x in view.items[k].tolist() if x not in (0, mask_id)]
            assert all(real.count(x) <= own.count(x) for x in set(real))
    loss, parts = objective.loss(a, b)
    assert torch.isfinite(loss) and 0.0 <= float(parts["accuracy"]) <= 1.0


def test_autoencoder_reconstructs_the_uncorrupted_bag(ml100k, windows):
    objective = build_objective(
        "autoencoder", _model(ml100k.num_items), ObjectiveConfig(corrupt=0.3)
    )
    batch = window_batches(windows, 16, torch.Generator().manual_seed(3))[0]
    inputs, bag = objective.prepare(batch, torch.Generator().manual_seed(4))
    assert torch.equal(bag, batch.items[:, 1:])
    assert (inputs.items == objective.mask_token.mask_id).any()


@pytest.mark.parametrize("model_name", ["gru4rec", "lstm-attn", "interests"])
def test_any_sequence_model_can_be_pretrained(model_name, ml100k, windows):
    params = {"dim": 16, "dropout": 0.0} | (
        {"layers": 1, "heads": 1} if model_name == "interests" else {}
    )
    model = build_model(model_name, params, num_items=ml100k.num_items, max_len=MAX_LEN)
    batch = window_batches(windows, 16, torch.Generator().manual_seed(3))[0]
    for name in OBJECTIVES:
        loss, _ = build_objective(name, model, ObjectiveConfig())(
            batch, torch.Generator().manual_seed(0)
        )
        loss.backward()
        assert torch.isfinite(loss)


def test_bad_objective_and_settings_are_clear_errors(ml100k):
    with pytest.raises(ChronorecError, match="unknown pre-training objective"):
        build_objective("jigsaw", _model(ml100k.num_items), ObjectiveConfig())
    with pytest.raises(ChronorecError, match="temperature"):
        build_objective("contrastive", _model(ml100k.num_items), ObjectiveConfig(temperature=0))
    with pytest.raises(ChronorecError, match="not a neural sequence model"):
        build_objective(
            "cloze", build_model("pop", {}, num_items=ml100k.num_items), ObjectiveConfig()
        )
