"""``lstm-attn``: padding and the future never leak, the event-type head trains and predicts, it
learns."""

import dataclasses

import numpy as np
import pytest
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.dataset import load_dataset
from chronorec.errors import ChronorecError
from chronorec.models import MODELS
from chronorec.models.lstm_attn import LSTMAttn, LSTMAttnConfig
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig
from tests.conftest import synthetic_sequences, write_prepared


def _batch(items: list[list[int]], width: int, types: bool = True) -> SeqBatch:
    rows = torch.zeros(len(items), width, dtype=torch.int64)
    for r, seq in enumerate(items):
        rows[r, width - len(seq) :] = torch.tensor(seq)
    ts = torch.where(rows > 0, 1_600_000_000 + torch.arange(width) * 3600, 0)
    ev = torch.where(rows > 0, rows % 3 + 1, 0) if types else None
    return SeqBatch(rows, ts, ev, torch.arange(len(items)), ts[:, -1])


def _model(num_event_types: int = 3, **settings) -> LSTMAttn:
    torch.manual_seed(0)
    return LSTMAttn(
        LSTMAttnConfig(**{"dim": 16, "heads": 2, **settings}), 30, num_event_types, 12
    ).eval()


@pytest.mark.parametrize("layers", [1, 2])
def test_shapes_padding_and_causality(layers):
    model = _model(layers=layers)
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8)
    assert model.encode(batch).shape == (2, 8, 16) and model.score(batch).shape == (2, 31)
    seq = [5, 9, 2, 17]
    narrow = model.score(_batch([seq], 4))
    wide = model.score(_batch([seq, [1, 2, 3, 4, 5, 6, 7, 8]], 12))[:1]
    torch.testing.assert_close(narrow, wide, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        model.predict_event_types(_batch([seq], 4)),
        model.predict_event_types(_batch([seq, [1, 2]], 12))[:1],
        rtol=1e-5,
        atol=1e-5,
    )
    h1, h2 = (
        model.encode(_batch([[3, 4, 5, 6, 7, 8]], 8)),
        model.encode(_batch([[3, 4, 5, 6, 7, 22]], 8)),
    )
    torch.testing.assert_close(h1[:, :-1], h2[:, :-1])  # the last event's item and type differ
    assert not torch.allclose(h1[:, -1], h2[:, -1])


def test_event_types_are_embedded_and_predicted():
    model = _model()
    typed, plain = _batch([[3, 4, 5]], 5), _batch([[3, 4, 5]], 5, types=False)
    assert not torch.allclose(model.score(typed), model.score(plain))
    logits = model.predict_event_types(_batch([[1, 2, 3], [4]], 5))
    assert logits.shape == (2, 4)
    assert torch.isneginf(logits[:, 0]).all() and torch.isfinite(logits[:, 1:]).all()
    with pytest.raises(ChronorecError, match="event types"):
        _model(num_event_types=0).predict_event_types(typed)


def test_loss_adds_the_weighted_event_part_and_trains_the_head():
    model = _model()
    inputs, targets = (
        _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 6),
        _batch([[2, 3, 9], [5, 6, 7, 8, 10]], 6),
    )
    loss, parts = model.loss(inputs, targets)
    assert set(parts) == {"item", "event"}
    assert loss.item() == pytest.approx(
        parts["item"].item() + 0.5 * parts["event"].item(), rel=1e-6
    )
    assert parts["event"].item() == pytest.approx(
        np.log(3), abs=0.5
    )  # near chance over 3 types at init
    loss.backward()
    assert (
        model.event_head.weight.grad.abs().sum() > 0
        and model.event_embedding.weight.grad.abs().sum() > 0
    )
    model.config = dataclasses.replace(model.config, event_weight=0.0)
    unweighted, _ = model.loss(inputs, targets)
    assert unweighted.item() == pytest.approx(parts["item"].item(), rel=1e-6)
    assert unweighted.item() < loss.item()
    _, parts = model.loss(inputs, dataclasses.replace(targets, event_types=None))
    assert set(parts) == {"item"}


def test_event_loss_weights_rare_types_up_by_their_training_frequency():
    model = _model()  # 3 event types
    model.train()
    weights = model._class_weights(
        torch.tensor([1, 1, 1, 1, 1, 1, 2, 2, 3])
    )  # counts 6, 2, 1 (of 9)
    expected = torch.tensor([0.0, (9 / 6) ** 0.5, (9 / 2) ** 0.5, (9 / 1) ** 0.5])
    torch.testing.assert_close(weights, expected)
    assert model.event_counts.tolist() == [0, 6, 2, 1]
    model.eval()  # evaluation never counts
    model._class_weights(torch.tensor([3, 3]))
    assert model.event_counts.tolist() == [0, 6, 2, 1]
    model.config = dataclasses.replace(model.config, event_balance=0.0)
    assert model._class_weights(torch.tensor([1])) is None  # plain cross-entropy
    assert "event_counts" in model.state_dict()


def test_learns_the_ring_and_the_next_event_type(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "lstm-attn", LSTMAttn)
    seqs = synthetic_sequences()
    # The type follows the item (ring position mod 3), so the next type is predictable from the
    # history.
    types = {u: [int(i[1:]) % 3 + 1 for i, _ in seq] for u, seq in seqs.items()}
    data = load_dataset(write_prepared(tmp_path / "ring", seqs, types, ["view", "cart", "buy"]))
    common = dict(
        data=str(data.path), max_len=10, batch_size=16, patience=50, threads=1, device="cpu"
    )
    pop = train_run(
        TrainConfig(model="pop", epochs=1, **common), tmp_path / "pop", show_progress=False
    )
    params = {"dim": 16, "dropout": 0.1}
    cfg = TrainConfig(model="lstm-attn", model_params=params, epochs=25, lr=5e-3, **common)
    run = train_run(cfg, tmp_path / "lstm", show_progress=False)
    assert run.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2
    assert run.valid["EventType/accuracy"] > 0.6  # chance is about 1/3
